//! SPEC §6.2 end to end with the real binaries: a hub and an agent process, configured only
//! through the standard `OTEL_*` variables, export metrics and spans to the harness's
//! in-process OTLP collector over gRPC and over HTTP/protobuf. One client connection yields a
//! hub `stream` span and an agent `stream` span in one trace (the agent's is the child, through
//! the OPEN frame's traceparent), `frame` spans under both, and each service's metrics under its
//! own `service.name`. A SIGTERM flushes what is still batched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::otlp::{Received, Receiver, start_grpc, start_http, string_attr};
use nowconnect_e2e::proc_stack::ProcStack;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HUB: &str = "nowconnect-cloud";
const AGENT: &str = "nowconnect-premise";

fn otel_env(endpoint: SocketAddr, protocol: &str) -> HashMap<String, String> {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{endpoint}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300".to_owned()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Hub and agent processes exporting to `endpoint`; one echo round trip through the tunnel;
/// then both are stopped with SIGTERM (exit 0, flushing what is batched).
async fn run_stack(endpoint: SocketAddr, protocol: &str, receiver: &Receiver) {
    let mut stack = ProcStack::start(&otel_env(endpoint, protocol)).await;
    let mut client = TcpStream::connect(stack.listener).await.expect("dial");
    client.write_all(b"traced bytes").await.unwrap();
    client.shutdown().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"traced bytes");

    // Metrics arrive on the export interval while both run.
    wait_until(receiver, "tcp byte counters from both services", |r| {
        let names = r.metric_names();
        [HUB, AGENT]
            .iter()
            .all(|svc| names.contains(&((*svc).to_owned(), "nowconnect.tcp".to_owned())))
    })
    .await;
    let (agent, hub) = stack.stop().await;
    assert!(
        agent.is_some_and(|s| s.success()) && hub.is_some_and(|s| s.success()),
        "{agent:?} {hub:?}\n{}",
        stack.logs()
    );
    wait_until(receiver, "stream spans from both services", |r| {
        let spans = r.spans_by_service();
        [HUB, AGENT].iter().all(|svc| {
            spans
                .iter()
                .any(|(s, span)| s == svc && span.name == "stream")
        })
    })
    .await;
}

async fn wait_until(receiver: &Receiver, what: &str, done: impl Fn(&Received) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !receiver.with(|r| done(r)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collector never got {what}: {:?}",
            receiver.with(|r| r.metric_names())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Both services' stream spans share one trace and one cid, the agent's under the hub's, and
/// each has frame spans; both resources carry a `service.instance.id`.
fn check(receiver: &Receiver) {
    receiver.with(|r| {
        let spans = r.spans_by_service();
        let stream = |svc: &str| {
            let mine: Vec<_> = spans
                .iter()
                .filter(|(s, span)| s == svc && span.name == "stream")
                .map(|(_, span)| span.clone())
                .collect();
            assert_eq!(mine.len(), 1, "{svc}: one stream span");
            mine.into_iter().next().unwrap()
        };
        let (hub, agent) = (stream(HUB), stream(AGENT));
        assert_eq!(agent.trace_id, hub.trace_id, "one trace across the tunnel");
        assert_eq!(agent.parent_span_id, hub.span_id);
        let cid = string_attr(&hub.attributes, "cid").expect("cid on the hub span");
        assert_eq!(string_attr(&agent.attributes, "cid"), Some(cid));
        for (svc, parent) in [(HUB, &hub), (AGENT, &agent)] {
            let frames = spans
                .iter()
                .filter(|(s, span)| s == svc && span.name == "frame")
                .filter(|(_, span)| span.parent_span_id == parent.span_id)
                .count();
            assert!(frames >= 2, "{svc}: frame spans both ways, got {frames}");
        }
        for req in &r.metrics {
            for rm in &req.resource_metrics {
                let id = nowconnect_e2e::otlp::resource_attr(
                    rm.resource.as_ref(),
                    "service.instance.id",
                );
                assert!(id.is_some_and(|id| !id.is_empty()));
            }
        }
        let names = r.metric_names();
        for family in ["nowconnect.write_drain", "nowconnect.connection.duration"] {
            for svc in [HUB, AGENT] {
                assert!(
                    names.contains(&(svc.to_owned(), family.to_owned())),
                    "{svc} {family}: {names:?}"
                );
            }
        }
        assert!(names.contains(&(HUB.to_owned(), "nowconnect.tcp.connections".to_owned())));
        assert!(names.contains(&(AGENT.to_owned(), "nowconnect.tunnel.reconnects".to_owned())));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_agent_export_metrics_and_joined_spans_over_grpc() {
    let receiver = Receiver::default();
    let endpoint = start_grpc(receiver.clone()).await;
    run_stack(endpoint, "grpc", &receiver).await;
    check(&receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_agent_export_metrics_and_joined_spans_over_http_protobuf() {
    let receiver = Receiver::default();
    let endpoint = start_http(receiver.clone()).await;
    run_stack(endpoint, "http/protobuf", &receiver).await;
    check(&receiver);
}
