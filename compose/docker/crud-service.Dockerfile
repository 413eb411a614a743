# crud-service image: multi-stage. The builder compiles the one binary; the runtime is Debian slim
# with ca-certificates only (no compiler, no package manager cache, no curl: the health check is
# compose/docker/healthcheck.sh, plain bash). Runs as uid 10001. Build from the repository root:
#   docker build -f compose/docker/crud-service.Dockerfile -t nowconnect/crud-service .
FROM rust:1-bookworm AS builder
WORKDIR /src
# Every workspace member's manifest must be present for --locked; only crud-service is compiled.
COPY Cargo.toml Cargo.lock ./
COPY services services
COPY telemetry telemetry
COPY tests tests
COPY tools tools
RUN cargo build --release --locked -p crud-service --bin crud-service \
    && cp target/release/crud-service /usr/local/bin/crud-service

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 nowconnect \
    && useradd --system --uid 10001 --gid nowconnect --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin nowconnect
COPY --from=builder /usr/local/bin/crud-service /usr/local/bin/crud-service
COPY compose/docker/healthcheck.sh /usr/local/bin/nc-healthcheck
# System files are mounted here (compose/crud/systems/corp.yaml).
ENV SERVICE_CONFIG_DIR=/etc/crud-service CRUD_LISTEN=0.0.0.0:8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["nc-healthcheck", "http", "8000", "/health"]
ENTRYPOINT ["/usr/local/bin/crud-service"]
