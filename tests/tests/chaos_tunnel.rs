//! Fault injection on the tunnel: a black-holed, reset, delayed or briefly black-holed path
//! between agent and hub, agents SIGKILLed and restarted under load, the hub SIGKILLed with
//! streams open, and failover to a second agent when the active one is killed. The binaries run as processes ([`ChaosStack`]); each
//! test checks what clients see, the counters both sides export and the log events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chaos.rs"]
mod chaos;
#[allow(dead_code)]
#[path = "support/prom.rs"]
mod prom;
#[path = "support/transfer.rs"]
mod transfer;

use chaos::{CLOSE_BOUND, metrics, open_echo, pattern, served_within, wait_closed, wait_metric};
use nowconnect_e2e::chaos_stack::{ChaosStack, field, wait_log_events};
use nowconnect_e2e::stack::{AgentOpts, HubOpts};
use nowconnect_e2e::targets;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use transfer::{Progress, worker};

const ECHO: &str = "echo";

fn hub_opts() -> HubOpts {
    HubOpts {
        ping_interval_sec: 1,
        ping_timeout_sec: 2,
        ..HubOpts::default()
    }
}

/// Ping every 1 s, dead after 2 s of silence, on both sides.
const AGENT_PING: [(&str, &str); 2] = [("NC_PING_INTERVAL_SEC", "1"), ("NC_PING_TIMEOUT_SEC", "2")];

fn rst(err: &'static str) -> [(&'static str, &'static str); 2] {
    [("connector", ECHO), ("err", err)]
}

/// The path between agent and hub drops everything, without FIN or RST. Both ends notice by
/// the ping timeout, every stream is reset (its client closed), and when the path heals the
/// agent reconnects and serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_tunnel_is_detected_on_both_sides_and_heals() {
    let stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let agent = &stack.agents[0];
    let (hub, admin) = (stack.hub.tunnel, agent.admin);
    let mut clients = Vec::new();
    for seed in 0..4 {
        clients.push(open_echo(stack.hub.listener, seed, 1000).await);
    }
    let who = [("agent", "agent-0")];
    assert_eq!(
        metrics(hub)
            .await
            .value("nowconnect_agents_connected", &who),
        1.0
    );

    stack.hub_relay.blackhole();
    let (hub_saw, agent_saw) = tokio::join!(
        wait_metric(hub, "nowconnect_agents_connected", &who, |v| v == 0.0),
        wait_metric(admin, "nowconnect_tunnel_uptime_seconds", &who, |v| v
            == 0.0),
    );
    let mut closed = Vec::new();
    for s in &mut clients {
        closed.push(wait_closed(s).await);
    }
    eprintln!(
        "blackhole (ping 1 s + timeout 2 s): hub dropped the agent after {hub_saw:?}, agent dropped the tunnel after {agent_saw:?}, clients closed after {closed:?}"
    );
    // Ping interval + timeout = 3 s; the rest is slack for a loaded machine.
    let bound = Duration::from_secs(3) + Duration::from_secs(7);
    assert!(hub_saw <= bound && agent_saw <= bound, "{}", stack.logs());
    // Not before the timeout could have run out: the last ping arrived at most an interval
    // before the black hole, and 2 s of silence must follow it.
    assert!(
        hub_saw >= Duration::from_secs(1) && agent_saw >= Duration::from_secs(1),
        "dropped before any ping could time out: hub {hub_saw:?}, agent {agent_saw:?}"
    );

    // Why: the ping timeout on both sides (not a close the black hole could not have carried).
    let ping = |v: &serde_json::Value| field(v, "reason") == "ping_timeout";
    wait_log_events(&stack.hub.log, "agent_disconnected", 1, |v| {
        ping(v) && field(v, "agent_id") == "agent-0"
    })
    .await;
    wait_log_events(&agent.log, "tunnel_down", 1, ping).await;
    // Every stream was reset as `ws_broken`, on both sides, and none is left open.
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_rst_sent_total", &rst("ws_broken"), |v| {
            v == 4.0
        })
        .await;
        wait_metric(
            addr,
            "nowconnect_tcp_active_connections",
            &[("connector", ECHO)],
            |v| v == 0.0,
        )
        .await;
    }
    let reconnects = [("agent", "agent-0"), ("reason", "ping_timeout")];
    let agent_metrics = metrics(admin).await;
    assert_eq!(
        agent_metrics.value("nowconnect_tunnel_reconnects_total", &reconnects),
        1.0
    );
    let hub_metrics = metrics(hub).await;
    assert_eq!(
        hub_metrics.value("nowconnect_connector_up", &[("connector", ECHO)]),
        0.0
    );
    // While the path is dead, new clients are refused at once rather than left hanging.
    let mut s = TcpStream::connect(stack.hub.listener).await.unwrap();
    assert!(wait_closed(&mut s).await < CLOSE_BOUND);

    stack.hub_relay.heal();
    let healed = served_within(stack.hub.listener, Duration::from_secs(30)).await;
    eprintln!("blackhole healed: served again after {healed:?}");
    agent.wait_ready().await;
    assert!(stack.hub_relay.accepted() >= 2, "the agent dialled again");
    wait_metric(hub, "nowconnect_agents_connected", &who, |v| v == 1.0).await;
    let mut again = open_echo(stack.hub.listener, 9, 64 * 1024).await;
    again.shutdown().await.unwrap();
    assert!(wait_closed(&mut again).await < CLOSE_BOUND);
    // Still exactly one ping timeout: the healed tunnel is a new, healthy one.
    let agent_metrics = metrics(admin).await;
    assert_eq!(
        agent_metrics.value("nowconnect_tunnel_reconnects_total", &reconnects),
        1.0
    );
}

/// 32 streams transfer through the agent while it is SIGKILLed and started again, 5 times.
/// No stream ever delivers a byte that is not the next one it sent; every interrupted stream is
/// closed; the hub counts each of them as reset (`ws_broken`); the connector is served again
/// soon after each restart (median ≤ 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sigkill_loop_never_corrupts_and_recovers() {
    const STREAMS: u64 = 32;
    const ROUNDS: usize = 5;
    let mut stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let (hub, listener) = (stack.hub.tunnel, stack.hub.listener);
    let who = [("agent", "agent-0")];
    let active = [("connector", ECHO)];
    let p = Arc::new(Progress::default());
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..STREAMS)
        .map(|id| tokio::spawn(worker(listener, id, stop.clone(), p.clone())))
        .collect();
    let mut restarts = Vec::new();
    for round in 1..=ROUNDS {
        // Traffic flows on most streams before the kill.
        let from = p.verified.load(Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while p.live.load(Ordering::SeqCst) < 24
            || p.verified.load(Ordering::SeqCst) < from + 256 * 1024
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: traffic never flowed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let live = p.live.load(Ordering::SeqCst);
        stack.agents[0].kill();
        // The hub sees the agent go and resets every stream it carried.
        wait_metric(hub, "nowconnect_agents_connected", &who, |v| v == 0.0).await;
        let drained = wait_metric(hub, "nowconnect_tcp_active_connections", &active, |v| {
            v == 0.0
        })
        .await;
        stack.agents[0].spawn();
        let served = served_within(listener, Duration::from_secs(30)).await;
        eprintln!(
            "round {round}: killed with {live} streams live; hub had no stream left {drained:?} after the kill; restart -> served in {served:?}"
        );
        restarts.push(served);
    }
    // Let the workers run on the last agent, then finish every stream cleanly.
    let from = p.verified.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while p.verified.load(Ordering::SeqCst) < from + 256 * 1024 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "traffic never resumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("worker ends")
            .expect("worker passed its checks");
    }
    let (interrupted, opened) = (
        p.interrupted.load(Ordering::SeqCst),
        p.opened.load(Ordering::SeqCst),
    );
    let verified = p.verified.load(Ordering::SeqCst);
    eprintln!(
        "{opened} streams carried data, {interrupted} interrupted by the kills, {verified} echoed bytes verified"
    );
    assert!(
        interrupted >= ROUNDS * 24,
        "every kill interrupted the live streams"
    );
    // Every interrupted stream is a `ws_broken` reset on the hub (streams opened but not yet
    // echoing when a kill came count there too).
    let reset = metrics(hub)
        .await
        .value("nowconnect_rst_sent_total", &rst("ws_broken"));
    assert!(
        reset >= interrupted as f64 && reset <= (opened + ROUNDS * STREAMS as usize) as f64,
        "hub ws_broken resets {reset}, interrupted streams {interrupted}"
    );
    wait_log_events(&stack.hub.log, "agent_disconnected", ROUNDS, |v| {
        field(v, "agent_id") == "agent-0"
    })
    .await;
    restarts.sort();
    let median = restarts[ROUNDS / 2];
    eprintln!("restart -> served: median {median:?}, all {restarts:?}");
    assert!(
        median <= Duration::from_secs(5),
        "median restart -> served {median:?}"
    );
}

/// The hub is SIGKILLed with streams open: the clients and the agent's target connections
/// are closed, the agent counts the lost tunnel and its failed attempts while the hub is down,
/// and it serves again once the hub is back on the same ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_sigkill_with_open_streams_then_restart() {
    let mut stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let admin = stack.agents[0].admin;
    let mut clients = Vec::new();
    for seed in 0..8 {
        clients.push(open_echo(stack.hub.listener, seed, 4096).await);
    }
    assert_eq!(stack.target_relay.active(), 8);
    stack.hub.kill();
    for s in &mut clients {
        wait_closed(s).await;
    }
    // The agent drops the tunnel, resets its 8 streams and closes their target connections.
    wait_log_events(&stack.agents[0].log, "tunnel_down", 1, |v| {
        field(v, "reason") == "ws_broken"
    })
    .await;
    wait_metric(admin, "nowconnect_rst_sent_total", &rst("ws_broken"), |v| {
        v == 8.0
    })
    .await;
    wait_metric(
        admin,
        "nowconnect_tcp_active_connections",
        &[("connector", ECHO)],
        |v| v == 0.0,
    )
    .await;
    let deadline = tokio::time::Instant::now() + CLOSE_BOUND;
    while stack.target_relay.active() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "target connections left open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While the hub is down, the agent keeps trying (relay reset → connect_failed).
    let failed = [("agent", "agent-0"), ("reason", "connect_failed")];
    wait_metric(admin, "nowconnect_tunnel_reconnects_total", &failed, |v| {
        v >= 1.0
    })
    .await;
    assert_eq!(stack.agents[0].health_answer().await, "OK");

    stack.hub.spawn().await;
    let back = served_within(stack.hub.listener, Duration::from_secs(30)).await;
    eprintln!("hub restart -> served again in {back:?}");
    stack.agents[0].wait_ready().await;
    let broken = [("agent", "agent-0"), ("reason", "ws_broken")];
    assert_eq!(
        metrics(admin)
            .await
            .value("nowconnect_tunnel_reconnects_total", &broken),
        1.0
    );
    let hub_metrics = metrics(stack.hub.tunnel).await;
    assert_eq!(
        hub_metrics.value("nowconnect_agents_connected", &[("agent", "agent-0")]),
        1.0
    );
    assert_eq!(
        hub_metrics.value("nowconnect_connector_up", &[("connector", ECHO)]),
        1.0
    );
}

/// Two agents export one connector; the active one is SIGKILLed mid-stream. Its stream is
/// closed, the hub fails over to the other agent, and new clients are served by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_agent_takes_over_when_the_active_one_is_killed() {
    let mut stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let (hub, listener) = (stack.hub.tunnel, stack.hub.listener);
    // The standby's target answers "got N bytes" after EOF: which agent served shows.
    let other = targets::answer_after_eof_server(0).await;
    let b = stack.add_agent("agent-1", other).await;
    stack.agents[b].wait_ready().await;
    wait_metric(
        hub,
        "nowconnect_agents_connected",
        &[("agent", "agent-1")],
        |v| v == 1.0,
    )
    .await;
    let mut held = open_echo(listener, 1, 1000).await; // the first agent (echo) is active

    stack.agents[0].kill();
    wait_closed(&mut held).await;
    wait_metric(
        hub,
        "nowconnect_agents_connected",
        &[("agent", "agent-0")],
        |v| v == 0.0,
    )
    .await;
    assert_eq!(
        metrics(hub)
            .await
            .value("nowconnect_connector_up", &[("connector", ECHO)]),
        1.0,
        "the standby still serves the connector"
    );
    wait_log_events(&stack.hub.log, "agent_disconnected", 1, |v| {
        field(v, "agent_id") == "agent-0"
    })
    .await;
    for _ in 0..3 {
        let mut s = TcpStream::connect(listener).await.unwrap();
        s.write_all(b"abc").await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(CLOSE_BOUND, s.read_to_string(&mut answer))
            .await
            .expect("answered in time")
            .expect("answer");
        assert_eq!(answer, "got 3 bytes\n", "served by the standby");
    }
    let served = metrics(stack.agents[b].admin).await;
    assert_eq!(
        served.value("nowconnect_fin_recv_total", &[("connector", ECHO)]),
        3.0
    );
}

/// The path between agent and hub resets every connection (and every new one for a while):
/// both ends see the tunnel break at once — no waiting for a ping timeout — every stream is
/// reset as `ws_broken`, the agent counts its failed attempts while the path keeps resetting,
/// and reconnects once it heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_tunnel_is_detected_at_once_and_the_agent_reconnects() {
    let stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let (hub, admin) = (stack.hub.tunnel, stack.agents[0].admin);
    let mut clients = Vec::new();
    for seed in 0..4 {
        clients.push(open_echo(stack.hub.listener, seed, 1000).await);
    }
    stack.hub_relay.reset();
    let mut closed = Vec::new();
    for s in &mut clients {
        closed.push(wait_closed(s).await);
    }
    eprintln!("tunnel reset: clients closed after {closed:?}");
    let broken = |v: &serde_json::Value| field(v, "reason") == "ws_broken";
    wait_log_events(&stack.hub.log, "agent_disconnected", 1, broken).await;
    wait_log_events(&stack.agents[0].log, "tunnel_down", 1, broken).await;
    for addr in [hub, admin] {
        wait_metric(addr, "nowconnect_rst_sent_total", &rst("ws_broken"), |v| {
            v == 4.0
        })
        .await;
    }
    let failed = [("agent", "agent-0"), ("reason", "connect_failed")];
    wait_metric(admin, "nowconnect_tunnel_reconnects_total", &failed, |v| {
        v >= 1.0
    })
    .await;
    let m = metrics(admin).await;
    let reason = |r: &'static str| {
        m.value(
            "nowconnect_tunnel_reconnects_total",
            &[("agent", "agent-0"), ("reason", r)],
        )
    };
    assert_eq!(reason("ws_broken"), 1.0);
    assert_eq!(reason("ping_timeout"), 0.0, "a reset is not a ping timeout");

    stack.hub_relay.heal();
    let back = served_within(stack.hub.listener, Duration::from_secs(30)).await;
    eprintln!("tunnel reset healed: served again after {back:?}");
    stack.agents[0].wait_ready().await;
}

/// A black hole shorter than the ping timeout (1 s against 5 s) is ridden out: the tunnel and
/// its stream survive, the bytes sent during the blip arrive intact and in order, and nothing
/// reconnects or resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_blackhole_is_ridden_out_without_losing_a_byte() {
    let hub = HubOpts {
        ping_interval_sec: 1,
        ping_timeout_sec: 5,
        ..HubOpts::default()
    };
    let ping = [("NC_PING_INTERVAL_SEC", "1"), ("NC_PING_TIMEOUT_SEC", "5")];
    let stack = ChaosStack::start(hub, AgentOpts::default(), &ping).await;
    let (hub, admin) = (stack.hub.tunnel, stack.agents[0].admin);
    let mut s = open_echo(stack.hub.listener, 5, 1000).await;
    stack.hub_relay.blackhole();
    let during = pattern(5, 1000, 32 * 1024);
    s.write_all(&during).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.hub_relay.heal();
    let mut got = vec![0u8; during.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
        .await
        .expect("echo after the blip")
        .unwrap();
    assert!(
        got == during,
        "the bytes sent during the blip came back changed"
    );
    s.shutdown().await.unwrap();
    wait_closed(&mut s).await;
    assert_eq!(
        stack.hub_relay.accepted(),
        1,
        "the tunnel was never re-dialled"
    );
    let m = metrics(admin).await;
    for reason in ["ws_broken", "ping_timeout", "connect_failed"] {
        let labels = [("agent", "agent-0"), ("reason", reason)];
        assert_eq!(
            m.value("nowconnect_tunnel_reconnects_total", &labels),
            0.0,
            "{reason}"
        );
    }
    for addr in [hub, admin] {
        let text = prom::scrape(addr).await;
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("nowconnect_rst_") && !l.ends_with(" 0")),
            "nothing reset:\n{text}"
        );
    }
}

/// Every chunk on the tunnel path held 150 ms each way (pongs too; about 100 KB/s): slower,
/// but the tunnel stays up and a 512 KiB transfer arrives whole. The keepalive only sees whole
/// WebSocket messages: when the writer packed up to 256 KiB (messages of up to 320 KiB), one
/// took longer than the 2 s ping timeout to cross this path and the busy tunnel was dropped as
/// dead; it now stops packing at 64 KiB (messages of up to 128 KiB, about 1.2 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_tunnel_path_keeps_the_tunnel_and_every_byte() {
    let stack = ChaosStack::start(hub_opts(), AgentOpts::default(), &AGENT_PING).await;
    let admin = stack.agents[0].admin;
    stack.hub_relay.delay(Duration::from_millis(150));
    let s = TcpStream::connect(stack.hub.listener).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let data = pattern(77, 0, 512 * 1024);
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
        "{} bytes back, not the {} sent\n{}",
        got.len(),
        data.len(),
        stack.logs()
    );
    // Three more ping intervals under the delay: still the same tunnel.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stack.agents[0].health_answer().await, "READY");
    assert_eq!(stack.hub_relay.accepted(), 1);
    let m = metrics(admin).await;
    let timeouts = [("agent", "agent-0"), ("reason", "ping_timeout")];
    assert_eq!(
        m.value("nowconnect_tunnel_reconnects_total", &timeouts),
        0.0
    );
}
