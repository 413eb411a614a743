//! A minimal OTLP HTTP/protobuf collector: accepts `/v1/traces` and `/v1/metrics`, counts the
//! requests, bytes and spans, and answers with the (empty) protobuf export response. Unlike the
//! test collector (`nowconnect_e2e::otlp`), which keeps every decoded request for assertions,
//! it keeps nothing: a bench run exports hundreds of thousands of spans.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

/// What the sink received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) trace_requests: u64,
    pub(crate) spans: u64,
    pub(crate) metric_requests: u64,
    pub(crate) bytes: u64,
}

impl std::ops::Sub for Received {
    type Output = Received;
    fn sub(self, before: Received) -> Received {
        Received {
            trace_requests: self.trace_requests - before.trace_requests,
            spans: self.spans - before.spans,
            metric_requests: self.metric_requests - before.metric_requests,
            bytes: self.bytes - before.bytes,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    trace_requests: AtomicU64,
    spans: AtomicU64,
    metric_requests: AtomicU64,
    bytes: AtomicU64,
}

/// The running sink; it stops with the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    pub(crate) addr: SocketAddr,
    counters: Arc<Counters>,
}

impl Sink {
    pub(crate) async fn start() -> anyhow::Result<Sink> {
        let counters = Arc::new(Counters::default());
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(traces))
            .route("/v1/metrics", axum::routing::post(metrics))
            .with_state(counters.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the OTLP sink")?;
        let addr = listener.local_addr().context("reading the sink address")?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Sink { addr, counters })
    }

    pub(crate) fn received(&self) -> Received {
        let c = &self.counters;
        Received {
            trace_requests: c.trace_requests.load(Ordering::Relaxed),
            spans: c.spans.load(Ordering::Relaxed),
            metric_requests: c.metric_requests.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }
}

fn protobuf(body: Vec<u8>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/x-protobuf")], body)
}

async fn traces(State(c): State<Arc<Counters>>, body: Bytes) -> impl IntoResponse {
    c.trace_requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    if let Ok(req) = ExportTraceServiceRequest::decode(body) {
        let spans = req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len() as u64)
            .sum::<u64>();
        c.spans.fetch_add(spans, Ordering::Relaxed);
    }
    protobuf(ExportTraceServiceResponse::default().encode_to_vec())
}

async fn metrics(State(c): State<Arc<Counters>>, body: Bytes) -> impl IntoResponse {
    c.metric_requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    protobuf(ExportMetricsServiceResponse::default().encode_to_vec())
}
