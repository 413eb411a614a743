//! The metrics handle: one `SdkMeterProvider` whose Prometheus bridge renders `/metrics`, plus an
//! OTLP periodic reader when one is configured. See the crate doc for instrument naming.

use opentelemetry::metrics::{Meter, MeterProvider as _, NoopMeterProvider};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::reader::MetricReader;
use prometheus::{Registry, TextEncoder};

use crate::TelemetryError;

/// Histogram boundaries for latencies, in seconds (unit `s`); 0.1 is exact so a
/// `le="0.1"` bucket backs the 100 ms alert.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram boundaries for connection lifetimes, in seconds (unit `s`): 1 ms to 4 h.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0,
];

/// `Content-Type` of [`Telemetry::render`]: the Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Cheap to clone; every clone shares one meter provider and one registry. Services pass it
/// (or a [`Meter`] from it) to their `metrics.rs`; nothing here touches the global provider.
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// `None` with `OTEL_SDK_DISABLED=true`: meters come from OpenTelemetry's no-op provider.
    provider: Option<SdkMeterProvider>,
    registry: Registry,
}

impl Telemetry {
    /// Builds the provider with the Prometheus bridge and, when given, an OTLP reader.
    pub(crate) fn new(
        resource: Resource,
        otlp: Option<impl MetricReader>,
    ) -> Result<Self, TelemetryError> {
        let registry = Registry::new();
        let bridge = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            // No `otel_scope_*` labels and no `target_info` family: the scrape names exactly
            // the families the services declare. The resource still goes out over OTLP.
            .scope_info_enabled(false)
            .without_target_info()
            .build()
            .map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(bridge);
        if let Some(reader) = otlp {
            builder = builder.with_reader(reader);
        }
        Ok(Self {
            provider: Some(builder.build()),
            registry,
        })
    }

    /// `OTEL_SDK_DISABLED=true`: OpenTelemetry's no-op meter provider, so every instrument is a
    /// no-op (a measurement costs a virtual call) and observable callbacks are never run; the
    /// registry stays empty, so `/metrics` answers an empty (valid) exposition. (An SDK provider
    /// without readers would do the same but log an error for every observable instrument.)
    pub(crate) fn disabled() -> Self {
        Self {
            provider: None,
            registry: Registry::new(),
        }
    }

    /// Test helper: the Prometheus bridge only, no OTLP, no global subscriber. Each call is
    /// independent, so tests can run in parallel and scrape their own instruments.
    pub fn for_tests() -> Self {
        let resource = Resource::builder_empty()
            .with_service_name("nowconnect-test")
            .build();
        match Self::new(
            resource.clone(),
            None::<opentelemetry_sdk::metrics::ManualReader>,
        ) {
            Ok(telemetry) => telemetry,
            // A fresh registry always accepts the bridge; keep instruments usable regardless.
            Err(_) => Self::disabled(),
        }
    }

    /// A meter for a service's instruments (`telemetry.meter("nowconnect")`).
    pub fn meter(&self, name: &'static str) -> Meter {
        match &self.provider {
            Some(provider) => provider.meter(name),
            None => NoopMeterProvider::new().meter(name),
        }
    }

    /// The current values in the Prometheus text exposition format.
    pub fn metrics_text(&self) -> String {
        match TextEncoder::new().encode_to_string(&self.registry.gather()) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode metrics");
                String::new()
            }
        }
    }

    /// `(content_type, body)` for a `/metrics` handler.
    pub fn render(&self) -> (&'static str, String) {
        (CONTENT_TYPE, self.metrics_text())
    }

    /// Exports what the readers hold now (nothing to do when disabled).
    pub(crate) fn force_flush(&self) -> Result<(), TelemetryError> {
        match &self.provider {
            Some(p) => p
                .force_flush()
                .map_err(|e| TelemetryError::Flush(e.to_string())),
            None => Ok(()),
        }
    }

    /// Final export; instruments become no-ops. Errors have nowhere useful to go (see the
    /// guard's `Drop`).
    pub(crate) fn shutdown(&self) {
        if let Some(p) = &self.provider {
            let _ = p.shutdown();
        }
    }
}
