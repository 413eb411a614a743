//! Fault injection between the agent and its target (through [`FaultRelay`] or a target that
//! never answers a SYN): refused, never completing the handshake, accepting then silent,
//! resetting mid-stream, slow. Each test checks what the client sees, the RST counters of both
//! sides (`err` says why) and the agent's log events, and that the connector recovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chaos.rs"]
mod chaos;
#[allow(dead_code)]
#[path = "support/prom.rs"]
mod prom;

use chaos::{CLOSE_BOUND, metrics, open_echo, pattern, served_within, wait_closed, wait_metric};
use nowconnect_e2e::chaos_stack::{ChaosStack, field, log_events, wait_log_events};
use nowconnect_e2e::stack::{AgentOpts, HubOpts};
use nowconnect_e2e::targets;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ECHO: &str = "echo";

fn rst(err: &'static str) -> [(&'static str, &'static str); 2] {
    [("connector", ECHO), ("err", err)]
}

const ACTIVE: [(&str, &str); 1] = [("connector", ECHO)];

/// A client that sends a little and must be closed without getting a byte back; returns how
/// long the close took.
async fn refused_client(listener: std::net::SocketAddr) -> Duration {
    let mut s = TcpStream::connect(listener).await.unwrap();
    s.write_all(b"anyone?").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(CLOSE_BOUND, s.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "no bytes: {read:?}");
    start.elapsed()
}

/// The target's port is closed: every stream is refused by the agent (`connect_failed`), the
/// client is closed at once with nothing, both sides count it; when the port opens again the
/// connector serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_refusing_closes_clients_and_counts_connect_failed() {
    let stack = ChaosStack::start(HubOpts::default(), AgentOpts::default(), &[]).await;
    let (hub, admin, listener) = (stack.hub.tunnel, stack.agents[0].admin, stack.hub.listener);
    stack.target_relay.refuse().await;
    for _ in 0..3 {
        refused_client(listener).await;
    }
    wait_metric(
        admin,
        "nowconnect_rst_sent_total",
        &rst("connect_failed"),
        |v| v == 3.0,
    )
    .await;
    wait_metric(
        hub,
        "nowconnect_rst_recv_total",
        &rst("connect_failed"),
        |v| v == 3.0,
    )
    .await;
    let failed = wait_log_events(&stack.agents[0].log, "connect_failed", 3, |v| {
        field(v, "connector") == ECHO
    })
    .await;
    assert!(
        failed.iter().all(|v| field(v, "error").contains("refused")),
        "{failed:?}"
    );
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
            v == 0.0
        })
        .await;
    }
    let accepted = stack.target_relay.accepted();
    stack.target_relay.heal();
    served_within(listener, Duration::from_secs(15)).await;
    assert!(
        stack.target_relay.accepted() > accepted,
        "the agent dials again"
    );
    assert_eq!(
        metrics(admin)
            .await
            .value("nowconnect_rst_sent_total", &rst("connect_failed")),
        3.0
    );
}

/// The target never completes the TCP handshake: the agent gives up after its connect timeout
/// (`NC_CONNECT_TIMEOUT_MS`), resets the stream as `connect_failed`, and the client is closed
/// then — not before, and not never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_never_answering_the_handshake_hits_the_connect_timeout() {
    let sink = targets::syn_sink().await;
    let agent = AgentOpts {
        connect_timeout_ms: 700,
        ..AgentOpts::default()
    };
    let stack =
        ChaosStack::start_with_target(HubOpts::default(), agent, &[], Some(sink.addr)).await;
    let (hub, admin) = (stack.hub.tunnel, stack.agents[0].admin);
    let took = refused_client(stack.hub.listener).await;
    eprintln!("connect timeout 700 ms: client closed after {took:?}");
    assert!(
        took >= Duration::from_millis(600),
        "closed before the connect timeout: {took:?}"
    );
    wait_metric(
        admin,
        "nowconnect_rst_sent_total",
        &rst("connect_failed"),
        |v| v == 1.0,
    )
    .await;
    wait_metric(
        hub,
        "nowconnect_rst_recv_total",
        &rst("connect_failed"),
        |v| v == 1.0,
    )
    .await;
    let failed = wait_log_events(&stack.agents[0].log, "connect_failed", 1, |_| true).await;
    assert!(
        field(&failed[0], "error").contains("timed out after 700 ms"),
        "{failed:?}"
    );
    wait_metric(admin, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
        v == 0.0
    })
    .await;
}

/// The target accepts and then says nothing (the relay black-holes it): an open stream and a
/// new one are both closed by the agent's idle timeout, counted `idle_timeout` on both sides;
/// after the heal new streams are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_target_streams_are_closed_by_the_idle_timeout() {
    let agent = AgentOpts {
        idle_timeout_ms: 1000,
        ..AgentOpts::default()
    };
    let stack = ChaosStack::start(HubOpts::default(), agent, &[]).await;
    let (hub, admin, listener) = (stack.hub.tunnel, stack.agents[0].admin, stack.hub.listener);
    let mut open = open_echo(listener, 1, 1000).await;
    stack.target_relay.blackhole();
    let mut fresh = TcpStream::connect(listener).await.unwrap();
    fresh.write_all(b"hello?").await.unwrap();
    let start = tokio::time::Instant::now();
    let (a, b) = tokio::join!(wait_closed(&mut open), wait_closed(&mut fresh));
    eprintln!("idle timeout 1000 ms: open stream closed after {a:?}, new one after {b:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "closed before the idle timeout"
    );
    wait_metric(
        admin,
        "nowconnect_rst_sent_total",
        &rst("idle_timeout"),
        |v| v == 2.0,
    )
    .await;
    wait_metric(
        hub,
        "nowconnect_rst_recv_total",
        &rst("idle_timeout"),
        |v| v == 2.0,
    )
    .await;
    assert_eq!(log_events(&stack.agents[0].log, "stream_idle").len(), 2);
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
            v == 0.0
        })
        .await;
    }
    stack.target_relay.heal();
    served_within(listener, Duration::from_secs(15)).await;
}

/// The target resets a stream mid-transfer (and every new one while it keeps resetting): the
/// agent resets the stream toward the hub (`peer_reset`), the client is closed at once, and the
/// connector serves again once the target behaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_reset_mid_stream_closes_the_client_promptly() {
    let stack = ChaosStack::start(HubOpts::default(), AgentOpts::default(), &[]).await;
    let (hub, admin, listener) = (stack.hub.tunnel, stack.agents[0].admin, stack.hub.listener);
    let mut streams = Vec::new();
    for seed in 0..2 {
        streams.push(open_echo(listener, seed, 8192).await);
    }
    stack.target_relay.reset();
    for s in &mut streams {
        let took = wait_closed(s).await;
        eprintln!("target reset: client closed after {took:?}");
    }
    wait_metric(
        admin,
        "nowconnect_rst_sent_total",
        &rst("peer_reset"),
        |v| v == 2.0,
    )
    .await;
    wait_metric(hub, "nowconnect_rst_recv_total", &rst("peer_reset"), |v| {
        v == 2.0
    })
    .await;
    // A new stream while the target keeps resetting: its RST can beat the agent's connect
    // (`connect_failed`) or come right after it (`peer_reset`); either way exactly one more.
    refused_client(listener).await;
    for (addr, family) in [
        (admin, "nowconnect_rst_sent_total"),
        (hub, "nowconnect_rst_recv_total"),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let m = metrics(addr).await;
            let resets =
                m.value(family, &rst("peer_reset")) + m.value(family, &rst("connect_failed"));
            if resets == 3.0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{family}: {resets} resets"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
            v == 0.0
        })
        .await;
    }
    stack.target_relay.heal();
    let mut again = open_echo(listener, 7, 64 * 1024).await;
    again.shutdown().await.unwrap();
    wait_closed(&mut again).await;
}

/// A slow path to the target (every chunk held 50 ms each way) delays but never corrupts or
/// resets: a 256 KiB transfer arrives whole and in order, and nothing is counted as reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_target_path_delays_but_delivers_every_byte_in_order() {
    let stack = ChaosStack::start(HubOpts::default(), AgentOpts::default(), &[]).await;
    let (hub, admin, listener) = (stack.hub.tunnel, stack.agents[0].admin, stack.hub.listener);
    stack.target_relay.delay(Duration::from_millis(50));
    let s = TcpStream::connect(listener).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let data = pattern(42, 0, 256 * 1024);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut got))
        .await
        .expect("transfer in time")
        .expect("read");
    writer.await.unwrap();
    assert!(
        got == data,
        "{} bytes back, not the {} sent",
        got.len(),
        data.len()
    );
    let text = prom::scrape(admin).await;
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("nowconnect_rst_") && !l.ends_with(" 0")),
        "nothing reset:\n{text}"
    );
    wait_metric(hub, "nowconnect_fin_recv_total", &ACTIVE, |v| v == 1.0).await;
}

/// The target stops reading, so the client's stream runs out of V2 credit and the hub stops
/// reading the client; then the client gives up with a reset. The hub sees the reset while it
/// waits for credit — not at the idle timeout (10 min here) — logs `local_read_failed`, resets
/// the stream toward the agent (`peer_reset`) and both sides release it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reset_while_its_stream_waits_for_credit_is_released_at_once() {
    const LONG_IDLE_MS: u64 = 600_000;
    let stuck = targets::stuck_server().await;
    let stack = ChaosStack::start_with_target(
        HubOpts {
            idle_timeout_ms: LONG_IDLE_MS,
            ..HubOpts::default()
        },
        AgentOpts {
            idle_timeout_ms: LONG_IDLE_MS,
            ..AgentOpts::default()
        },
        &[],
        Some(stuck),
    )
    .await;
    let (hub, admin, listener) = (stack.hub.tunnel, stack.agents[0].admin, stack.hub.listener);
    let mut client = TcpStream::connect(listener).await.unwrap();
    let chunk = vec![0x42_u8; 64 * 1024];
    // Write until the path is full (target, agent window, hub and client socket buffers).
    let mut written = 0usize;
    while let Ok(sent) =
        tokio::time::timeout(Duration::from_secs(1), client.write_all(&chunk)).await
    {
        sent.unwrap();
        written += chunk.len();
        assert!(written < 512 << 20, "the path never filled");
    }
    wait_metric(hub, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
        v == 1.0
    })
    .await;
    client.set_zero_linger().unwrap();
    drop(client);
    wait_metric(hub, "nowconnect_rst_sent_total", &rst("peer_reset"), |v| {
        v == 1.0
    })
    .await;
    wait_metric(
        admin,
        "nowconnect_rst_recv_total",
        &rst("peer_reset"),
        |v| v == 1.0,
    )
    .await;
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_tcp_active_connections", &ACTIVE, |v| {
            v == 0.0
        })
        .await;
    }
    let failed = wait_log_events(&stack.hub.log, "local_read_failed", 1, |_| true).await;
    assert_eq!(
        failed[0]
            .get("waiting_for_credit")
            .and_then(serde_json::Value::as_bool),
        Some(true),
        "{failed:?}"
    );
}
