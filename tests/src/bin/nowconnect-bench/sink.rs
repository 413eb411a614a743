//! A minimal OTLP HTTP/protobuf collector: accepts `/v1/traces` and `/v1/metrics`, counts the
//! requests, bytes and spans, and answers with the (empty) protobuf export response. Unlike the
//! test collector (`nowconnect_e2e::otlp`), which keeps every decoded request for assertions,
//! it keeps no spans (a bench run exports hundreds of thousands), only the trace ids of `stream`
//! spans: one trace per traced client connection, so their number is how many were sampled.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Distinct traces with a `stream` span: client connections traced (hub and agent spans of
    /// one connection share its trace).
    pub(crate) traced_streams: u64,
}

#[derive(Debug, Default)]
struct Counters {
    trace_requests: AtomicU64,
    spans: AtomicU64,
    metric_requests: AtomicU64,
    bytes: AtomicU64,
    stream_traces: Mutex<HashSet<Vec<u8>>>,
}

/// The span count of an export request and the trace ids of its `stream` spans.
fn scan(req: &ExportTraceServiceRequest) -> (u64, Vec<&[u8]>) {
    let spans = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans);
    let (mut count, mut streams) = (0, Vec::new());
    for span in spans {
        count += 1;
        if span.name == "stream" {
            streams.push(span.trace_id.as_slice());
        }
    }
    (count, streams)
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
            traced_streams: c.stream_traces.lock().map_or(0, |t| t.len() as u64),
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
        let (spans, streams) = scan(&req);
        c.spans.fetch_add(spans, Ordering::Relaxed);
        if let Ok(mut seen) = c.stream_traces.lock() {
            seen.extend(streams.into_iter().map(<[u8]>::to_vec));
        }
    }
    protobuf(ExportTraceServiceResponse::default().encode_to_vec())
}

async fn metrics(State(c): State<Arc<Counters>>, body: Bytes) -> impl IntoResponse {
    c.metric_requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    protobuf(ExportMetricsServiceResponse::default().encode_to_vec())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn span(name: &str, trace: u8) -> Span {
        Span {
            name: name.into(),
            trace_id: vec![trace; 16],
            ..Span::default()
        }
    }

    #[test]
    fn streams_are_counted_once_per_trace() {
        // Hub and agent `stream` spans of trace 1 (in two resources), frames, a tunnel span.
        let resource = |spans: Vec<Span>| ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                resource(vec![span("stream", 1), span("frame", 1), span("tunnel", 9)]),
                resource(vec![span("stream", 1), span("frame", 1), span("stream", 2)]),
            ],
        };
        let (count, streams) = scan(&req);
        assert_eq!(count, 6);
        let distinct: HashSet<&[u8]> = streams.into_iter().collect();
        assert_eq!(distinct.len(), 2);
    }

    #[tokio::test]
    async fn the_sink_answers_and_counts() {
        let sink = Sink::start().await.unwrap_or_else(|e| panic!("{e:#}"));
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("stream", 3), span("stream", 3), span("frame", 3)],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let answer = reqwest::Client::new()
            .post(format!("http://{}/v1/traces", sink.addr))
            .header("content-type", "application/x-protobuf")
            .body(req.encode_to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert!(matches!(answer, Ok(200)), "{answer:?}");
        let got = sink.received();
        assert_eq!(
            (got.trace_requests, got.spans, got.traced_streams),
            (1, 3, 1)
        );
    }
}
