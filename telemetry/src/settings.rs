//! What telemetry needs to start: log settings (from the services' config layers) and the
//! OpenTelemetry settings (from the standard `OTEL_*` variables, see [`crate::env`]).

use std::fmt;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable single lines.
    Plain,
    /// One JSON object per line (fields flattened: `event`, `cid`, `agent_id`, …).
    Json,
}

/// Logging settings, parsed by the services' config layers (they own `LOG_LEVEL`,
/// `NC_LOG_FORMAT` and friends).
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The service's own name: `service.name` unless `OTEL_SERVICE_NAME` (or a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) overrides it.
    pub service: &'static str,
    /// A level (`info`) or a full `EnvFilter` directive (`info,nowconnect_mux=debug`).
    pub level: String,
    pub format: LogFormat,
}

/// Everything [`crate::init_with`] and [`crate::start`] need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub log: LogSettings,
    pub otel: OtelSettings,
}

impl Settings {
    /// Log settings plus the `OTEL_*` variables read through `env` (inject a map in tests).
    pub fn from_env(
        log: LogSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::EnvError> {
        Ok(Self {
            log,
            otel: OtelSettings::from_env(env)?,
        })
    }
}

/// Default for `OTEL_METRIC_EXPORT_INTERVAL` (the specification's 60 s; set 15000 where
/// `for: 2m` alerts read OTLP-ingested series).
pub const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(60);
/// Default for `OTEL_EXPORTER_OTLP_TIMEOUT` (the specification's 10 s).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// The OpenTelemetry part of [`Settings`]. `Default` is "no OTLP, standard sampler".
#[derive(Debug, Clone)]
pub struct OtelSettings {
    /// `OTEL_SDK_DISABLED=true`: no OpenTelemetry at all — no spans, no OTLP, the no-op meter
    /// provider (instruments record nothing, `/metrics` is empty). Logs still work. The
    /// other fields are still parsed and validated, then ignored.
    pub sdk_disabled: bool,
    /// `OTEL_SERVICE_NAME`: overrides every other source of `service.name`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// Present when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: export metrics and traces over OTLP.
    pub otlp: Option<OtlpSettings>,
    /// `OTEL_TRACES_SAMPLER` + `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: TraceSampler,
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds in the variable).
    pub metric_export_interval: Duration,
    /// The most verbose level of `nowconnect*` spans sent to OpenTelemetry (not from the
    /// environment). Spans below it are not recorded by OpenTelemetry. The mux's per-frame
    /// `frame` spans are `INFO` and exist only on sampled streams (its own check).
    pub span_level: tracing::Level,
}

impl Default for OtelSettings {
    fn default() -> Self {
        Self {
            sdk_disabled: false,
            service_name: None,
            resource_attributes: Vec::new(),
            otlp: None,
            sampler: TraceSampler::default(),
            metric_export_interval: DEFAULT_METRIC_EXPORT_INTERVAL,
            span_level: tracing::Level::INFO,
        }
    }
}

/// Where and how OTLP goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Base URL without a trailing `/` (`http://collector:4317`); HTTP appends `/v1/metrics`
    /// and `/v1/traces`.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub headers: OtlpHeaders,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: the deadline of one export.
    pub timeout: Duration,
}

impl OtlpSettings {
    /// The URL one signal is sent to (`"metrics"` or `"traces"`).
    pub fn signal_url(&self, signal: &str) -> String {
        match self.protocol {
            OtlpProtocol::Grpc => self.endpoint.clone(),
            OtlpProtocol::HttpProtobuf => format!("{}/v1/{signal}", self.endpoint),
        }
    }
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL`. The specification's default is `http/protobuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `grpc` (plaintext `http://` only: no TLS stack is built in for gRPC).
    Grpc,
    /// `http/protobuf` (`http://` or `https://`).
    #[default]
    HttpProtobuf,
}

/// `OTEL_EXPORTER_OTLP_HEADERS`, decoded. Values are often credentials, so `Debug` shows only
/// the names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OtlpHeaders(pub Vec<(String, String)>);

impl fmt::Debug for OtlpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "<redacted>")))
            .finish()
    }
}

/// The fraction of root traces (client connections) sampled when `OTEL_TRACES_SAMPLER` is not
/// set. A sampled stream gets a `frame` span per DATA frame, which costs about 18% p50 latency
/// on small round trips (docs/benchmarks.md); at 10% the tunnel as a whole stays within its
/// 5% telemetry budget while every tenth connection is traced end to end.
pub const DEFAULT_TRACE_RATIO: f64 = 0.1;

/// `OTEL_TRACES_SAMPLER`: the standard values that make sense without a remote service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceSampler {
    AlwaysOn,
    AlwaysOff,
    /// `traceidratio` with `OTEL_TRACES_SAMPLER_ARG` (default 1.0).
    TraceIdRatio(f64),
    /// Follow the parent, sample every root (OpenTelemetry's own default; not ours).
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    /// Follow the parent; sample this fraction of roots. The default (SPEC §6.2: parent-based
    /// ratio) with [`DEFAULT_TRACE_RATIO`], or `OTEL_TRACES_SAMPLER_ARG` when only that is set.
    ParentBasedTraceIdRatio(f64),
}

impl Default for TraceSampler {
    fn default() -> Self {
        TraceSampler::ParentBasedTraceIdRatio(DEFAULT_TRACE_RATIO)
    }
}
