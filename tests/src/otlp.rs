//! An in-process OTLP collector for tests and benchmarks: the real OTLP services on gRPC
//! (tonic, `opentelemetry-proto`'s generated servers) and on HTTP/protobuf (`/v1/metrics`,
//! `/v1/traces`), keeping every decoded request and the `x-test` header that came with it.

use crate::lock;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What a receiver got: decoded requests and the `x-test` header of each.
#[derive(Debug, Default)]
pub struct Received {
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub spans: Vec<ExportTraceServiceRequest>,
    pub headers: Vec<Option<String>>,
}

impl Received {
    /// Every span with the `service.name` of its resource.
    pub fn spans_by_service(&self) -> Vec<(String, Span)> {
        self.spans
            .iter()
            .flat_map(|req| &req.resource_spans)
            .flat_map(|rs| {
                let service = service_name(rs.resource.as_ref());
                rs.scope_spans
                    .iter()
                    .flat_map(|ss| &ss.spans)
                    .map(move |s| (service.clone(), s.clone()))
            })
            .collect()
    }

    /// Every span, whatever sent it.
    pub fn all_spans(&self) -> Vec<Span> {
        self.spans_by_service()
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    /// Every metric name with the `service.name` of its resource, sorted, each pair once.
    pub fn metric_names(&self) -> Vec<(String, String)> {
        let mut names: Vec<(String, String)> = self
            .metrics
            .iter()
            .flat_map(|req| &req.resource_metrics)
            .flat_map(|rm| {
                let service = service_name(rm.resource.as_ref());
                rm.scope_metrics
                    .iter()
                    .flat_map(|sm| &sm.metrics)
                    .map(move |m| (service.clone(), m.name.clone()))
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A string attribute of a resource.
pub fn resource_attr(resource: Option<&Resource>, key: &str) -> Option<String> {
    string_attr(&resource?.attributes, key)
}

/// A string attribute among `attrs`.
pub fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// An integer attribute among `attrs`.
pub fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        Value::IntValue(i) => Some(i),
        _ => None,
    }
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn service_name(resource: Option<&Resource>) -> String {
    resource_attr(resource, "service.name").unwrap_or_default()
}

/// The collector's state; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Receiver(Arc<Mutex<Received>>);

impl Receiver {
    /// Runs `f` on what has arrived so far.
    pub fn with<T>(&self, f: impl FnOnce(&mut Received) -> T) -> T {
        f(&mut lock(&self.0))
    }

    fn push_metrics(&self, header: Option<String>, req: ExportMetricsServiceRequest) {
        self.with(|r| {
            r.headers.push(header);
            r.metrics.push(req);
        });
    }

    fn push_spans(&self, header: Option<String>, req: ExportTraceServiceRequest) {
        self.with(|r| {
            r.headers.push(header);
            r.spans.push(req);
        });
    }
}

fn grpc_header<T>(request: &tonic::Request<T>) -> Option<String> {
    request
        .metadata()
        .get("x-test")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.push_metrics(grpc_header(&request), request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.push_spans(grpc_header(&request), request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Serves OTLP/gRPC on a fresh loopback port; returns it.
pub async fn start_grpc(receiver: Receiver) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tonic::transport::Server::builder()
        .add_service(MetricsServiceServer::new(receiver.clone()))
        .add_service(TraceServiceServer::new(receiver))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    addr
}

/// Serves OTLP/HTTP with protobuf bodies on a fresh loopback port; returns it. A body that is
/// not the protobuf it should be gets 400.
pub async fn start_http(receiver: Receiver) -> SocketAddr {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    fn header(h: &HeaderMap) -> Option<String> {
        h.get("x-test")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    async fn metrics(
        State(r): State<Receiver>,
        h: HeaderMap,
        body: Bytes,
    ) -> Result<Vec<u8>, StatusCode> {
        let req = ExportMetricsServiceRequest::decode(body).map_err(|_| StatusCode::BAD_REQUEST)?;
        r.push_metrics(header(&h), req);
        Ok(ExportMetricsServiceResponse::default().encode_to_vec())
    }
    async fn traces(
        State(r): State<Receiver>,
        h: HeaderMap,
        body: Bytes,
    ) -> Result<Vec<u8>, StatusCode> {
        let req = ExportTraceServiceRequest::decode(body).map_err(|_| StatusCode::BAD_REQUEST)?;
        r.push_spans(header(&h), req);
        Ok(ExportTraceServiceResponse::default().encode_to_vec())
    }
    let app = axum::Router::new()
        .route("/v1/metrics", axum::routing::post(metrics))
        .route("/v1/traces", axum::routing::post(traces))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
