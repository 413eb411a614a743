# nowconnect-premise image: multi-stage. The builder compiles the one binary; the runtime is Debian slim
# with ca-certificates only (no compiler, no package manager cache, no curl: the health check is
# compose/docker/healthcheck.sh, plain bash). Runs as uid 10001. Build from the repository root:
#   docker build -f compose/docker/nowconnect-premise.Dockerfile -t nowconnect/nowconnect-premise .
FROM rust:1-bookworm AS builder
WORKDIR /src
# Every workspace member's manifest must be present for --locked; only nowconnect-premise is compiled.
COPY Cargo.toml Cargo.lock ./
COPY services services
COPY telemetry telemetry
COPY tests tests
COPY tools tools
RUN cargo build --release --locked -p nowconnect-premise --bin nowconnect-premise \
    && cp target/release/nowconnect-premise /usr/local/bin/nowconnect-premise

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 nowconnect \
    && useradd --system --uid 10001 --gid nowconnect --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin nowconnect
COPY --from=builder /usr/local/bin/nowconnect-premise /usr/local/bin/nowconnect-premise
COPY compose/docker/healthcheck.sh /usr/local/bin/nc-healthcheck
# Configured by NC_* variables (compose/nowconnect/premise.env); health port 8090, admin 8000.
ENV NC_HEALTH_PORT=8090 NC_METRICS_PORT=8000
USER 10001:10001
EXPOSE 8000 8090
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["nc-healthcheck", "line", "8090", "READY"]
ENTRYPOINT ["/usr/local/bin/nowconnect-premise"]
