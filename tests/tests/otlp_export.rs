//! SPEC §6.2 end to end with the real binaries: a hub and an agent process, configured only
//! through the standard `OTEL_*` variables, export metrics and spans to the harness's
//! in-process OTLP collector over gRPC and over HTTP/protobuf. One client connection yields a
//! hub `stream` span and an agent `stream` span in one trace (the agent's is the child, through
//! the OPEN frame's traceparent), `frame` spans under both, and each service's metrics under its
//! own `service.name`. A SIGTERM flushes what is still batched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::otlp::{Received, Receiver, start_grpc, start_http, string_attr};
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::stack::{self, AgentOpts, HubOpts, hub_yaml, wait_health};
use nowconnect_e2e::targets;
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
/// then both are stopped with SIGTERM (exit 0) and what the collector got is returned.
async fn run_stack(endpoint: SocketAddr, protocol: &str, receiver: &Receiver) {
    let creds = Creds::new();
    let work = tempfile::tempdir().unwrap();
    let echo = targets::echo_server().await;
    let (tunnel, listener, health) = (
        targets::closed_port().await,
        targets::closed_port().await,
        targets::closed_port().await,
    );
    let opts = HubOpts {
        tunnel_port: tunnel.port(),
        ..HubOpts::default()
    };
    let yaml = hub_yaml(&creds, &["echo"], &opts).replace("127.0.0.1:0", &listener.to_string());
    let cloud_yaml = work.path().join("cloud.yaml");
    std::fs::write(&cloud_yaml, yaml).unwrap();
    let hub_log = work.path().join("hub.log");
    let args = ["--config", cloud_yaml.to_str().unwrap()];
    let mut hub = Proc::spawn(HUB, &args, &otel_env(endpoint, protocol), &hub_log);

    let token = creds.token_file("agent-otlp", &creds.token("agent-otlp"));
    let url = format!("ws://{tunnel}/tunnel");
    let mut env = stack::agent_env(
        &url,
        "agent-otlp",
        &token,
        &[("echo", echo)],
        &AgentOpts::default(),
    );
    env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
    env.extend(otel_env(endpoint, protocol));
    let agent_log = work.path().join("agent.log");
    let mut agent = Proc::spawn(AGENT, &[], &env, &agent_log);
    wait_health(health, "READY", Duration::from_secs(20)).await;

    let mut client = TcpStream::connect(listener).await.expect("dial listener");
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
    // SIGTERM: both drain, flush their batches and exit 0.
    let stopped = tokio::task::spawn_blocking(move || {
        let a = agent.terminate(Duration::from_secs(20));
        let h = hub.terminate(Duration::from_secs(20));
        (a, h)
    })
    .await
    .unwrap();
    let logs = || {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("hub:\n{}\nagent:\n{}", read(&hub_log), read(&agent_log))
    };
    assert!(
        stopped.0.is_some_and(|s| s.success()) && stopped.1.is_some_and(|s| s.success()),
        "{stopped:?}\n{}",
        logs()
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
