//! Starting and stopping: [`start`] builds the providers, [`init_with`] also installs the
//! process subscriber, and the [`TelemetryGuard`] flushes and shuts everything down on drop.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Runtime;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::{LogSettings, OtelSettings, Settings};
use crate::{EnvError, Telemetry, otlp, traces};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log level {0:?}: {1}")]
    Level(String, String),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("prometheus bridge: {0}")]
    Prometheus(String),
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("telemetry runtime: {0}")]
    Runtime(String),
    #[error("flush: {0}")]
    Flush(String),
}

/// Keeps telemetry alive. Dropping it flushes buffered spans and metrics, shuts the providers
/// down (instruments become no-ops) and stops the exporters' runtime; drop it last in `main`.
/// With OTLP on, the drop blocks until the final export ends: at most about
/// `OTEL_EXPORTER_OTLP_TIMEOUT` when the collector hangs, ~2 s of retries when it refuses.
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    telemetry: Telemetry,
    log: LogSettings,
    span_level: tracing::Level,
    tracer_provider: Option<SdkTracerProvider>,
    /// Where the exporters' connections live; stopped after the providers' final export.
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("log", &self.log)
            .field("otlp", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

/// Installs the global subscriber, reading the `OTEL_*` variables from the process
/// environment. Call once, from `main`.
pub fn init(settings: &LogSettings) -> Result<TelemetryGuard, TelemetryError> {
    let settings = Settings::from_env(settings.clone(), &|name| std::env::var(name).ok())?;
    init_with(&settings)
}

/// [`start`], then install the guard's subscriber as the global default.
pub fn init_with(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    let guard = start(settings)?;
    guard
        .subscriber()?
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    tracing::debug!(service = settings.log.service, "telemetry initialised");
    Ok(guard)
}

/// Builds the meter provider (Prometheus bridge, plus OTLP when configured) and the tracer
/// provider (OTLP only), installing nothing global. Tests use it with a scoped subscriber.
///
/// With `OTEL_SDK_DISABLED=true` ([`OtelSettings::sdk_disabled`]) it builds only the log side and
/// the no-op meter provider: no OTLP, no spans, an empty `/metrics`.
pub fn start(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    if settings.otel.sdk_disabled {
        return Ok(TelemetryGuard {
            telemetry: Telemetry::disabled(),
            log: settings.log.clone(),
            span_level: settings.otel.span_level,
            tracer_provider: None,
            runtime: None,
        });
    }
    let resource = resource(settings.log.service, &settings.otel);
    let exporters = match &settings.otel.otlp {
        Some(otlp) => Some(otlp::build(&settings.otel, otlp)?),
        None => None,
    };
    let (telemetry, tracer_provider, runtime) = match exporters {
        Some(e) => (
            Telemetry::new(resource.clone(), Some(e.metrics))?,
            Some(traces::provider(resource, settings.otel.sampler, e.spans)),
            Some(e.runtime),
        ),
        None => (
            Telemetry::new(resource, None::<opentelemetry_sdk::metrics::ManualReader>)?,
            None,
            None,
        ),
    };
    Ok(TelemetryGuard {
        telemetry,
        log: settings.log.clone(),
        span_level: settings.otel.span_level,
        tracer_provider,
        runtime,
    })
}

/// `service.name` (OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else the service's own
/// name) and `service.instance.id` (from OTEL_RESOURCE_ATTRIBUTES, else a fresh UUID).
pub(crate) fn resource(service: &'static str, otel: &OtelSettings) -> Resource {
    let attr = |key: &str| {
        otel.resource_attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let name = otel
        .service_name
        .clone()
        .or_else(|| attr("service.name"))
        .unwrap_or_else(|| service.to_owned());
    let instance = attr("service.instance.id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(
            otel.resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_attribute(KeyValue::new("service.instance.id", instance))
        .with_service_name(name)
        .build()
}

impl TelemetryGuard {
    /// The metrics handle; clone it into the service.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The subscriber [`init_with`] installs: logs, plus OpenTelemetry spans when OTLP is on.
    pub fn subscriber(
        &self,
    ) -> Result<impl tracing::Subscriber + Send + Sync + 'static, TelemetryError> {
        let tracer = self
            .tracer_provider
            .as_ref()
            .map(|p| (traces::tracer(p), self.span_level));
        traces::subscriber(&self.log, tracer)
    }

    /// Exports what is buffered now. Blocks until the exporters answer (or time out): call it
    /// from a plain thread or `spawn_blocking`, never from a current-thread runtime that also
    /// serves the collector.
    pub fn flush(&self) -> Result<(), TelemetryError> {
        if let Some(p) = &self.tracer_provider {
            p.force_flush()
                .map_err(|e| TelemetryError::Flush(e.to_string()))?;
        }
        self.telemetry.force_flush()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Errors here have nowhere useful to go (the subscriber may be the one shutting down);
        // the SDK logs failed exports itself.
        if let Some(p) = self.tracer_provider.take() {
            let _ = p.shutdown();
        }
        self.telemetry.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Test helper: a plain subscriber writing through the test harness's capture; `RUST_LOG`
/// selects the level (default `warn`). Safe to call from every test.
pub fn init_for_tests() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
