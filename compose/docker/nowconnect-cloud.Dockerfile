# nowconnect-cloud image: multi-stage. The builder compiles the one binary; the runtime is Debian slim
# with ca-certificates only (no compiler, no package manager cache, no curl: the health check is
# compose/docker/healthcheck.sh, plain bash). Runs as uid 10001. Build from the repository root:
#   docker build -f compose/docker/nowconnect-cloud.Dockerfile -t nowconnect/nowconnect-cloud .
FROM rust:1-bookworm AS builder
WORKDIR /src
# Every workspace member's manifest must be present for --locked; only nowconnect-cloud is compiled.
COPY Cargo.toml Cargo.lock ./
COPY services services
COPY telemetry telemetry
COPY tests tests
COPY tools tools
RUN cargo build --release --locked -p nowconnect-cloud --bin nowconnect-cloud \
    && cp target/release/nowconnect-cloud /usr/local/bin/nowconnect-cloud

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 nowconnect \
    && useradd --system --uid 10001 --gid nowconnect --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin nowconnect
COPY --from=builder /usr/local/bin/nowconnect-cloud /usr/local/bin/nowconnect-cloud
COPY compose/docker/healthcheck.sh /usr/local/bin/nc-healthcheck
# cloud.yaml is mounted here (compose/nowconnect/cloud.yaml; a ConfigMap in deploy/k8s).
ENV NC_CONFIG=/etc/nowconnect/cloud.yaml
USER 10001:10001
EXPOSE 389 8765
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["nc-healthcheck", "http", "8765", "/healthz"]
ENTRYPOINT ["/usr/local/bin/nowconnect-cloud"]
