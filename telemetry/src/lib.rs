//! NowConnect telemetry: the one place that sets up logs, metrics and traces for a service.
//!
//! Main types: [`LogSettings`] and [`OtelSettings`] (the standard `OTEL_*` variables, read
//! through an injected lookup), [`init`] / [`init_with`], which install the process subscriber
//! and return a [`TelemetryGuard`] that flushes and shuts down on drop, and [`Telemetry`], the
//! cloneable metrics handle (`meter()`, `metrics_text()`, `render()`). [`trace_context`] carries
//! a stream's trace across the tunnel.
//!
//! - Metrics: one OpenTelemetry `SdkMeterProvider`. Its Prometheus bridge is always on (a
//!   private `prometheus::Registry`, rendered by [`Telemetry::render`] for `/metrics`); an OTLP
//!   periodic reader is added when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - Traces: spans from `tracing` reach OpenTelemetry through `tracing-opentelemetry`, only for
//!   targets starting with `nowconnect` (never tonic, h2, hyper, tower, reqwest or the SDK's
//!   own), exported over OTLP in batches; sampler from `OTEL_TRACES_SAMPLER` (default
//!   `parentbased_traceidratio` at [`DEFAULT_TRACE_RATIO`], or at `OTEL_TRACES_SAMPLER_ARG`).
//! - `OTEL_SDK_DISABLED=true`: neither of the above — no OTLP, no OpenTelemetry layer, the no-op
//!   meter provider (instruments record nothing; `/metrics` is an empty exposition).
//!   Logs are unchanged. Meant for measuring telemetry's own cost and for minimal deployments.
//! - Resource: `service.name` and `service.instance.id` (a random UUID per process unless
//!   `OTEL_RESOURCE_ATTRIBUTES` sets one) are always set.
//!
//! A service serves `/metrics` from axum with `let (content_type, body) = telemetry.render();`
//! and `([(header::CONTENT_TYPE, content_type)], body)`; this crate does not depend on axum.
//!
//! Deliberately absent: any global meter or tracer provider (libraries get a [`Meter`] passed
//! in, never `opentelemetry::global`), metric names (each service declares its instruments in
//! its own `metrics.rs`), OTLP logs, TLS for gRPC export (use `http/protobuf` for `https://`).
//! Libraries never install a subscriber; only binaries call [`init`]; tests use
//! [`Telemetry::for_tests`] or [`init_for_tests`].
//!
//! # Naming instruments so Prometheus names come out exact
//!
//! The Prometheus bridge always appends the unit word and, for counters, `_total` — even when
//! the name already ends with them. Prometheus's own OTLP ingestion de-duplicates suffixes, the
//! bridge does not. So name instruments the OpenTelemetry way, without unit or `_total`, and let
//! the unit produce the suffix; the two paths then agree:
//!
//! | instrument | name | unit | Prometheus |
//! |---|---|---|---|
//! | histogram (f64, [`LATENCY_BUCKETS`]) | `nowconnect.write_drain` | `s` | `nowconnect_write_drain_seconds` |
//! | counter | `nowconnect.listener.errors` | `{error}` | `nowconnect_listener_errors_total` |
//! | counter | `nowconnect.tcp` | `By` | `nowconnect_tcp_bytes_total` |
//! | up-down counter | `nowconnect.tcp.active_connections` | `{connection}` | `nowconnect_tcp_active_connections` |
//! | gauge | `nowconnect.tunnel.uptime` | `s` | `nowconnect_tunnel_uptime_seconds` |
//! | gauge | `nowconnect.connector.up` | (none) | `nowconnect_connector_up` |
//!
//! Rules: `.` becomes `_`; unit `s` adds `_seconds`, `By` adds `_bytes`, `1` adds `_ratio`
//! (avoid it), `{annotation}` adds nothing; counters add `_total`; up-down counters export as
//! gauges. The byte counter is the trap: `nowconnect.tcp.bytes` + `By` gives
//! `…_bytes_bytes_total`, hence the name `nowconnect.tcp` (alternatively
//! `nowconnect.tcp.bytes` + `{byte}`, which loses the unit on OTLP). The full table for
//! SPEC §6.1 is proven by `tests/naming.rs`. Always set a description (it becomes `# HELP`);
//! give every histogram explicit boundaries ([`LATENCY_BUCKETS`], [`DURATION_BUCKETS`]): the
//! SDK's defaults are millisecond-sized; exponential histograms are dropped by the bridge.
//! Record `add(0, …)` at start-up for every label set an alert reads with `increase()`.

mod env;
mod guard;
mod metrics;
mod otlp;
mod settings;
pub mod trace_context;
mod traces;

pub use env::{
    EnvError, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_METRIC_EXPORT_INTERVAL, OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG,
};
pub use guard::{TelemetryError, TelemetryGuard, init, init_for_tests, init_with, start};
pub use metrics::{CONTENT_TYPE, DURATION_BUCKETS, LATENCY_BUCKETS, Telemetry};
pub use settings::{
    DEFAULT_METRIC_EXPORT_INTERVAL, DEFAULT_OTLP_TIMEOUT, DEFAULT_TRACE_RATIO, LogFormat,
    LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings, Settings, TraceSampler,
};
pub use traces::{SPAN_TARGET_PREFIX, otel_filter};

/// Re-exported so services name instruments without depending on `opentelemetry` directly.
pub use opentelemetry::KeyValue;
pub use opentelemetry::metrics::Meter;
