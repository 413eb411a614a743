//! SPEC §6.2 traces across the tunnel: the hub's `stream` span and the agent's `stream` span
//! join into one trace through the OPEN frame's `traceparent` (V1 and V2), sampled streams get
//! one `frame` span per DATA frame, and an unsampled stream exports nothing.
//!
//! Hub, agent and an in-process OTLP HTTP/protobuf receiver share one current-thread runtime,
//! so the subscriber installed with `set_default` sees every span; flushes run on
//! `spawn_blocking` so the receiver keeps being served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nowconnect_e2e::otlp::{Receiver, int_attr as int, start_http, string_attr as string};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_e2e::targets;
use nowconnect_telemetry::{
    LogFormat, LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings, Settings,
    TelemetryGuard, TraceSampler, start,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn str_attr(span: &Span, key: &str) -> Option<String> {
    string(&span.attributes, key)
}

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    int(&span.attributes, key)
}

fn settings(addr: SocketAddr, sampler: TraceSampler) -> Settings {
    Settings {
        log: LogSettings {
            service: "nowconnect-traces-test",
            level: "warn".into(),
            format: LogFormat::Plain,
        },
        otel: OtelSettings {
            otlp: Some(OtlpSettings {
                endpoint: format!("http://{addr}"),
                protocol: OtlpProtocol::HttpProtobuf,
                headers: OtlpHeaders(Vec::new()),
                timeout: Duration::from_secs(5),
            }),
            sampler,
            ..OtelSettings::default()
        },
    }
}

async fn flush(guard: TelemetryGuard) -> TelemetryGuard {
    tokio::task::spawn_blocking(move || {
        guard.flush().expect("flush");
        guard
    })
    .await
    .expect("flush task")
}

/// Starts telemetry with `sampler`, runs a hub + agent, relays one echo connection, and returns
/// what the receiver got. With `want_streams`, waits until both `stream` spans arrived.
async fn one_stream(v2: bool, sampler: TraceSampler, want_streams: bool) -> Vec<Span> {
    let receiver = Receiver::default();
    let addr = start_http(receiver.clone()).await;
    let guard = start(&settings(addr, sampler)).expect("telemetry starts");
    let _subscriber = tracing::subscriber::set_default(guard.subscriber().expect("subscriber"));

    let echo = targets::echo_server().await;
    let hub = HubOpts {
        v2,
        ..HubOpts::default()
    };
    let agent = AgentOpts {
        v2,
        ..AgentOpts::default()
    };
    let stack = Stack::start(&[("echo", echo)], hub, agent).await;
    let mut socket = TcpStream::connect(stack.hub.listener("echo"))
        .await
        .expect("connect listener");
    socket.write_all(b"hello, trace").await.expect("write");
    socket.shutdown().await.expect("half-close");
    let mut got = Vec::new();
    socket.read_to_end(&mut got).await.expect("read echo");
    assert_eq!(got, b"hello, trace");
    drop(socket);

    let mut guard = guard;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        guard = flush(guard).await;
        let spans = receiver.with(|r| r.all_spans());
        let streams = spans.iter().filter(|s| s.name == "stream").count();
        if !want_streams || streams >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stream spans never arrived: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !want_streams {
        // Let the streams end (their spans close) and flush once more: still nothing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        guard = flush(guard).await;
    }
    stack.agent.stop().await;
    stack.hub.stop().await;
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("shutdown");
    receiver.with(|r| r.all_spans())
}

/// The hub's and agent's `stream` spans share the trace (agent's parent = hub's span), and the
/// sampled stream has `frame` spans both ways on both sides, children of their stream span.
fn check_joined(spans: &[Span]) {
    let streams: Vec<&Span> = spans.iter().filter(|s| s.name == "stream").collect();
    assert_eq!(streams.len(), 2, "one stream span per side");
    let cid = str_attr(streams[0], "cid").expect("cid");
    assert_eq!(str_attr(streams[1], "cid").as_deref(), Some(cid.as_str()));
    let (hub, agent) = if streams[1].parent_span_id == streams[0].span_id {
        (streams[0], streams[1])
    } else {
        (streams[1], streams[0])
    };
    assert_eq!(agent.trace_id, hub.trace_id, "one trace across the tunnel");
    assert_eq!(
        agent.parent_span_id, hub.span_id,
        "the agent's stream span is a child of the hub's"
    );

    let frames: Vec<&Span> = spans.iter().filter(|s| s.name == "frame").collect();
    for side in [hub, agent] {
        let mine: Vec<&&Span> = frames
            .iter()
            .filter(|f| f.parent_span_id == side.span_id)
            .collect();
        for dir in ["c2a", "a2c"] {
            let f = mine
                .iter()
                .find(|f| str_attr(f, "dir").as_deref() == Some(dir))
                .unwrap_or_else(|| panic!("no {dir} frame span under {:?}", side.span_id));
            assert_eq!(f.trace_id, hub.trace_id);
            assert_eq!(int_attr(f, "seq"), Some(0), "{:?}", f.attributes);
            assert!(int_attr(f, "bytes").is_some_and(|b| b > 0));
        }
        let total: i64 = mine
            .iter()
            .filter(|f| str_attr(f, "dir").as_deref() == Some("c2a"))
            .filter_map(|f| int_attr(f, "bytes"))
            .sum();
        assert_eq!(total, 12, "every c2a byte is in some frame span");
    }
    assert!(
        frames
            .iter()
            .all(|f| f.parent_span_id == hub.span_id || f.parent_span_id == agent.span_id),
        "frame spans hang under the stream spans"
    );
}

#[tokio::test]
async fn v1_stream_spans_join_across_the_tunnel_with_frame_spans() {
    let spans = one_stream(false, TraceSampler::ParentBasedAlwaysOn, true).await;
    check_joined(&spans);
}

#[tokio::test]
async fn v2_stream_spans_join_across_the_tunnel_with_frame_spans() {
    let spans = one_stream(true, TraceSampler::ParentBasedAlwaysOn, true).await;
    check_joined(&spans);
}

#[tokio::test]
async fn unsampled_stream_exports_no_spans() {
    let spans = one_stream(true, TraceSampler::AlwaysOff, false).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.is_empty(), "always_off exports nothing: {names:?}");
}
