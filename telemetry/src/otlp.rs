//! OTLP exporters (gRPC through tonic, HTTP/protobuf through reqwest) and the small Tokio
//! runtime they run on.
//!
//! The SDK exports from its own background threads (`PeriodicReader`, `BatchSpanProcessor`),
//! which are not Tokio threads, while tonic and reqwest need a Tokio reactor. So telemetry owns
//! a one-worker runtime: the gRPC channel is created inside it (its connection tasks live
//! there) and every HTTP request is spawned onto it. Owning it, rather than borrowing the
//! service's runtime, lets `main` start telemetry before its runtime and shut it down after,
//! and keeps exports alive while the service's runtime drains.

use std::collections::HashMap;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::PeriodicReader;
use tokio::runtime::{Handle, Runtime};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

use crate::TelemetryError;
use crate::settings::{OtelSettings, OtlpProtocol, OtlpSettings};

/// The exporters, built inside the runtime they need.
pub(crate) struct Exporters {
    pub(crate) runtime: Runtime,
    pub(crate) metrics: PeriodicReader<MetricExporter>,
    pub(crate) spans: SpanExporter,
}

pub(crate) fn build(
    settings: &OtelSettings,
    otlp: &OtlpSettings,
) -> Result<Exporters, TelemetryError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otel-export")
        .enable_all()
        .build()
        .map_err(|e| TelemetryError::Runtime(e.to_string()))?;
    let (metrics, spans) = {
        let _entered = runtime.enter();
        match otlp.protocol {
            OtlpProtocol::Grpc => grpc(otlp)?,
            OtlpProtocol::HttpProtobuf => http(otlp, runtime.handle())?,
        }
    };
    let metrics = PeriodicReader::builder(metrics)
        .with_interval(settings.metric_export_interval)
        .build();
    Ok(Exporters {
        runtime,
        metrics,
        spans,
    })
}

fn exporter_error(e: impl std::fmt::Display) -> TelemetryError {
    TelemetryError::Exporter(e.to_string())
}

fn grpc(otlp: &OtlpSettings) -> Result<(MetricExporter, SpanExporter), TelemetryError> {
    let mut metadata = MetadataMap::new();
    for (name, value) in &otlp.headers.0 {
        let key = AsciiMetadataKey::from_bytes(name.as_bytes())
            .map_err(|_| exporter_error(format!("header {name:?}: not a gRPC metadata key")))?;
        let value = AsciiMetadataValue::try_from(value.as_str())
            .map_err(|_| exporter_error(format!("header {name:?}: value is not ASCII")))?;
        metadata.insert(key, value);
    }
    let metrics = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(otlp.endpoint.clone())
        .with_timeout(otlp.timeout)
        .with_metadata(metadata.clone())
        .build()
        .map_err(exporter_error)?;
    let spans = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(otlp.endpoint.clone())
        .with_timeout(otlp.timeout)
        .with_metadata(metadata)
        .build()
        .map_err(exporter_error)?;
    Ok((metrics, spans))
}

fn http(
    otlp: &OtlpSettings,
    handle: &Handle,
) -> Result<(MetricExporter, SpanExporter), TelemetryError> {
    let client = reqwest::Client::builder()
        .timeout(otlp.timeout)
        .build()
        .map_err(exporter_error)?;
    let client = OnRuntime {
        client,
        handle: handle.clone(),
    };
    let headers: HashMap<String, String> = otlp.headers.0.iter().cloned().collect();
    let metrics = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(otlp.signal_url("metrics"))
        .with_timeout(otlp.timeout)
        .with_headers(headers.clone())
        .with_http_client(client.clone())
        .build()
        .map_err(exporter_error)?;
    let spans = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(otlp.signal_url("traces"))
        .with_timeout(otlp.timeout)
        .with_headers(headers)
        .with_http_client(client)
        .build()
        .map_err(exporter_error)?;
    Ok((metrics, spans))
}

/// A reqwest client whose requests run on telemetry's runtime, whatever thread awaits them.
#[derive(Debug, Clone)]
struct OnRuntime {
    client: reqwest::Client,
    handle: Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.handle
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
