//! The telemetry crate's OTLP export over gRPC and HTTP/protobuf to the harness's in-process
//! collector (`nowconnect_e2e::otlp`) on 127.0.0.1:0: a metric and a cross-process-style trace
//! (hub span → traceparent → agent span) arrive after a flush, with the resource, the
//! configured headers, and nothing from filtered targets. (Real hub and agent processes
//! exporting: tests/otlp_export.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nowconnect_e2e::otlp::{Receiver, resource_attr as attr, start_grpc, start_http};
use nowconnect_telemetry::trace_context::{is_sampled, set_remote_parent, traceparent};
use nowconnect_telemetry::{
    KeyValue, LogFormat, LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings,
    Settings, TraceSampler, start,
};

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
            sampler: TraceSampler::ParentBasedAlwaysOn,
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
    let addr = start_grpc(receiver.clone()).await;
    export_and_wait(settings(addr, OtlpProtocol::Grpc, Vec::new()), &receiver).await;
    let instance = check(&receiver);
    assert_eq!(uuid_shape(&instance), (36, 4), "a random UUID: {instance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_receiver_gets_a_metric_and_a_joined_trace() {
    let receiver = Receiver::default();
    let addr = start_http(receiver.clone()).await;
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
