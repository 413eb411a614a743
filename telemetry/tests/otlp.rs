//! OTLP export over gRPC and HTTP/protobuf to in-process receivers on 127.0.0.1:0: a metric and
//! a cross-process-style trace (hub span → traceparent → agent span) arrive after a flush, with
//! the resource, the configured headers, and nothing from filtered targets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nowconnect_telemetry::trace_context::{is_sampled, set_remote_parent, traceparent};
use nowconnect_telemetry::{
    KeyValue, LogFormat, LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings,
    Settings, start,
};
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
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

/// What a receiver got: decoded requests and the `x-test` header of each.
#[derive(Default)]
struct Received {
    metrics: Vec<ExportMetricsServiceRequest>,
    spans: Vec<ExportTraceServiceRequest>,
    headers: Vec<Option<String>>,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Received>>);

impl Receiver {
    fn with<T>(&self, f: impl FnOnce(&mut Received) -> T) -> T {
        f(&mut self.0.lock().expect("receiver lock"))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let header = request
            .metadata()
            .get("x-test")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.with(|r| {
            r.headers.push(header);
            r.metrics.push(request.into_inner());
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let header = request
            .metadata()
            .get("x-test")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.with(|r| {
            r.headers.push(header);
            r.spans.push(request.into_inner());
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_grpc_receiver(receiver: Receiver) -> SocketAddr {
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

async fn start_http_receiver(receiver: Receiver) -> SocketAddr {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::HeaderMap;
    fn header(h: &HeaderMap) -> Option<String> {
        h.get("x-test")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    async fn metrics(State(r): State<Receiver>, h: HeaderMap, body: Bytes) -> Vec<u8> {
        let req = ExportMetricsServiceRequest::decode(body).expect("metrics protobuf");
        r.with(|r| {
            r.headers.push(header(&h));
            r.metrics.push(req);
        });
        ExportMetricsServiceResponse::default().encode_to_vec()
    }
    async fn traces(State(r): State<Receiver>, h: HeaderMap, body: Bytes) -> Vec<u8> {
        let req = ExportTraceServiceRequest::decode(body).expect("traces protobuf");
        r.with(|r| {
            r.headers.push(header(&h));
            r.spans.push(req);
        });
        ExportTraceServiceResponse::default().encode_to_vec()
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

fn settings(addr: SocketAddr, protocol: OtlpProtocol, attrs: Vec<(String, String)>) -> Settings {
    Settings {
        log: LogSettings {
            service: "nowconnect-test-svc",
            level: "warn".into(),
            format: LogFormat::Plain,
        },
        otel: OtelSettings {
            resource_attributes: attrs,
            otlp: Some(OtlpSettings {
                endpoint: format!("http://{addr}"),
                protocol,
                headers: OtlpHeaders(vec![("x-test".into(), "yes".into())]),
                timeout: Duration::from_secs(5),
            }),
            ..OtelSettings::default()
        },
    }
}

/// Records one counter and two joined spans (plus two that must not be exported), flushes,
/// and waits until the receiver has both signals.
async fn export_and_wait(settings: Settings, receiver: &Receiver) {
    let guard = start(&settings).expect("telemetry starts");
    let meter = guard.telemetry().meter("nowconnect");
    let events = meter
        .u64_counter("nowconnect.test.events")
        .with_description("test events")
        .build();
    events.add(3, &[KeyValue::new("connector", "ldap")]);
    let subscriber = guard.subscriber().expect("subscriber");
    tracing::subscriber::with_default(subscriber, || {
        let hub = tracing::info_span!(target: "nowconnect_cloud", "hub.stream", cid = 7);
        assert!(is_sampled(&hub), "parentbased_always_on samples roots");
        let parent = traceparent(&hub).expect("hub span is recorded");
        let agent = tracing::info_span!(target: "nowconnect_premise", "agent.stream");
        assert!(set_remote_parent(&agent, &parent));
        agent.in_scope(|| tracing::info!(target: "nowconnect_premise", "inside"));
        let noise = tracing::info_span!(target: "tonic::transport", "noise");
        assert!(
            traceparent(&noise).is_none(),
            "exporter internals are filtered"
        );
        let frame = tracing::debug_span!(target: "nowconnect_mux", "frame");
        assert!(!is_sampled(&frame), "below span_level: not recorded");
    });
    let guard = tokio::task::spawn_blocking(move || {
        guard.flush().expect("flush");
        guard
    })
    .await
    .expect("flush task");
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.with(|r| r.metrics.is_empty() || r.spans.is_empty()) {
        assert!(Instant::now() < deadline, "receiver got nothing in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("shutdown");
}

fn attr(resource: Option<&Resource>, key: &str) -> Option<String> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value.as_ref()?.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

/// Checks what arrived; returns the `service.instance.id` both signals carried.
fn check(receiver: &Receiver) -> String {
    receiver.with(|r| {
        assert!(
            r.headers.iter().all(|h| h.as_deref() == Some("yes")),
            "{:?}",
            r.headers
        );
        let rm = &r.metrics[0].resource_metrics[0];
        let names: Vec<&str> = rm
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.as_str())
            .collect();
        assert!(names.contains(&"nowconnect.test.events"), "{names:?}");
        let spans: Vec<_> = r
            .spans
            .iter()
            .flat_map(|s| &s.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let mut span_names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        span_names.sort_unstable();
        assert_eq!(
            span_names,
            ["agent.stream", "hub.stream"],
            "only our INFO spans"
        );
        let hub = spans.iter().find(|s| s.name == "hub.stream").expect("hub");
        let agent = spans
            .iter()
            .find(|s| s.name == "agent.stream")
            .expect("agent");
        assert_eq!(agent.trace_id, hub.trace_id, "one trace across the tunnel");
        assert_eq!(agent.parent_span_id, hub.span_id);
        let span_resource = r.spans[0].resource_spans[0].resource.as_ref();
        for resource in [rm.resource.as_ref(), span_resource] {
            assert_eq!(
                attr(resource, "service.name").as_deref(),
                Some("nowconnect-test-svc")
            );
        }
        let instance = attr(rm.resource.as_ref(), "service.instance.id").expect("instance id");
        assert_eq!(
            attr(span_resource, "service.instance.id"),
            Some(instance.clone())
        );
        instance
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_receiver_gets_a_metric_and_a_joined_trace() {
    let receiver = Receiver::default();
    let addr = start_grpc_receiver(receiver.clone()).await;
    export_and_wait(settings(addr, OtlpProtocol::Grpc, Vec::new()), &receiver).await;
    let instance = check(&receiver);
    assert_eq!(uuid_shape(&instance), (36, 4), "a random UUID: {instance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_receiver_gets_a_metric_and_a_joined_trace() {
    let receiver = Receiver::default();
    let addr = start_http_receiver(receiver.clone()).await;
    let attrs = vec![("service.instance.id".to_owned(), "hub-1".to_owned())];
    export_and_wait(settings(addr, OtlpProtocol::HttpProtobuf, attrs), &receiver).await;
    assert_eq!(
        check(&receiver),
        "hub-1",
        "OTEL_RESOURCE_ATTRIBUTES wins over the UUID"
    );
}

fn uuid_shape(s: &str) -> (usize, usize) {
    (s.len(), s.matches('-').count())
}
