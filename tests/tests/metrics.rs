//! The hub's metrics contract (SPEC §6.1), scraped over real HTTP from a real in-process stack:
//! the exact families, types and label names (golden file), `promtool check metrics`, byte
//! counts against what the client moved, slow and resetting clients, zero-initialised alert
//! series, and the separate metrics port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/prom.rs"]
mod prom;
#[path = "support/traffic.rs"]
mod traffic;

use nowconnect_cloud::Hub;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{HubOpts, hub_yaml, start_hub};
use nowconnect_e2e::targets;
use nowconnect_telemetry::Telemetry;
use prom::{Scrape, promtool_check, scrape, wait_for};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use traffic::{closed_by_hub, round_trip, start};

const GOLDEN: &str = include_str!("../fixtures/metrics-hub.txt");
const GOLDEN_AGENT: &str = include_str!("../fixtures/metrics-agent.txt");

/// The golden file's lines (`family type label,label`), blank lines skipped.
fn golden(file: &str) -> Vec<&str> {
    file.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scrape_matches_the_golden_contract_and_passes_promtool() {
    let echo = targets::echo_server().await;
    let down = targets::closed_port().await;
    let stack = start(&[("echo", echo), ("down", down)], &["orphan"]).await;
    let hub = &stack.hub;
    for i in 0..3 {
        let data = vec![i as u8; 10_000 * (i + 1)];
        assert_eq!(round_trip(hub.listener("echo"), data.clone()).await, data);
    }
    closed_by_hub(hub.listener("orphan")).await;
    closed_by_hub(hub.listener("down")).await;

    let addr = hub.addrs.tunnel;
    let s = wait_for(addr, "the streams closed", |s| {
        s.value(
            "nowconnect_rst_recv_total",
            &[("connector", "down"), ("err", "connect_failed")],
        ) == 1.0
            && s.value(
                "nowconnect_connection_duration_seconds_count",
                &[("connector", "echo")],
            ) == 3.0
            && s.value(
                "nowconnect_tcp_active_connections",
                &[("connector", "echo")],
            ) == 0.0
    })
    .await;
    let text = scrape(addr).await;
    let got = Scrape::parse(&text).contract();
    assert_eq!(
        got,
        golden(GOLDEN),
        "hub families, types and labels differ from the golden file\n{text}"
    );
    promtool_check(&text);

    let agent = stack.agent.admin;
    let a = wait_for(agent, "the agent saw the streams close", |a| {
        a.value(
            "nowconnect_connection_duration_seconds_count",
            &[("connector", "echo")],
        ) == 3.0
            && a.value(
                "nowconnect_rst_sent_total",
                &[("connector", "down"), ("err", "connect_failed")],
            ) == 1.0
    })
    .await;
    let agent_text = scrape(agent).await;
    assert_eq!(
        Scrape::parse(&agent_text).contract(),
        golden(GOLDEN_AGENT),
        "agent families, types and labels differ from the golden file\n{agent_text}"
    );
    promtool_check(&agent_text);
    let echo = [("connector", "echo")];
    let moved = (10_000 + 20_000 + 30_000) as f64;
    for dir in ["c2a", "a2c"] {
        let both = [("connector", "echo"), ("direction", dir)];
        assert_eq!(a.value("nowconnect_tcp_bytes_total", &both), moved, "{dir}");
        assert_eq!(s.value("nowconnect_tcp_bytes_total", &both), moved, "{dir}");
    }
    assert_eq!(a.value("nowconnect_tcp_active_connections", &echo), 0.0);
    assert_eq!(a.value("nowconnect_fin_sent_total", &echo), 3.0);
    assert_eq!(a.value("nowconnect_fin_recv_total", &echo), 3.0);
    assert_eq!(a.value("nowconnect_inbound_queue_limit", &echo), 100.0);
    assert_eq!(a.value("nowconnect_inbound_queue_size", &echo), 0.0);
    assert_eq!(
        a.value(
            "nowconnect_tunnel_reconnects_total",
            &[("agent", "agent-1"), ("reason", "ws_broken")]
        ),
        0.0
    );
    assert!(a.value("nowconnect_tunnel_uptime_seconds", &[("agent", "agent-1")]) > 0.0);

    let orphan = [("connector", "orphan")];
    assert_eq!(s.value("nowconnect_tcp_connections_total", &orphan), 1.0);
    assert_eq!(
        s.value(
            "nowconnect_listener_errors_total",
            &[("connector", "orphan"), ("type", "session")]
        ),
        1.0
    );
    assert_eq!(s.value("nowconnect_connector_up", &orphan), 0.0);
    assert_eq!(
        s.value("nowconnect_tcp_connections_total", &[("connector", "echo")]),
        3.0
    );
    assert_eq!(
        s.value("nowconnect_fin_sent_total", &[("connector", "echo")]),
        3.0
    );
    assert_eq!(
        s.value("nowconnect_fin_recv_total", &[("connector", "echo")]),
        3.0
    );
    assert_eq!(
        s.value("nowconnect_agents_connected", &[("agent", "agent-1")]),
        1.0
    );
    assert!(s.value("nowconnect_tunnel_uptime_seconds", &[("agent", "agent-1")]) > 0.0);
    assert_eq!(
        s.value("nowconnect_inbound_queue_limit", &[("connector", "echo")]),
        100.0
    );
    assert_eq!(
        s.value("nowconnect_inbound_queue_size", &[("connector", "echo")]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn byte_counters_equal_what_the_client_moved_both_ways() {
    let echo = targets::echo_server().await;
    let stack = start(&[("echo", echo)], &[]).await;
    let mut sent = 0usize;
    let mut received = 0usize;
    for (i, len) in [1usize, 4_096, 300_001].into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
        let back = round_trip(stack.hub.listener("echo"), data.clone()).await;
        assert_eq!(back, data);
        sent += data.len();
        received += back.len();
    }
    let (sent, received) = (sent as f64, received as f64);
    wait_for(stack.hub.addrs.tunnel, "byte counts", |s| {
        s.value(
            "nowconnect_tcp_active_connections",
            &[("connector", "echo")],
        ) == 0.0
            && s.value(
                "nowconnect_tcp_bytes_total",
                &[("connector", "echo"), ("direction", "c2a")],
            ) == sent
            && s.value(
                "nowconnect_tcp_bytes_total",
                &[("connector", "echo"), ("direction", "a2c")],
            ) == received
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_client_shows_in_drain_latency_and_queue_size() {
    let hose = targets::firehose_server().await;
    let stack = start(&[("hose", hose)], &[]).await;
    let addr = stack.hub.addrs.tunnel;
    let started = tokio::time::Instant::now();
    let mut client = TcpStream::connect(stack.hub.listener("hose"))
        .await
        .expect("connect");
    // Read nothing: the kernel buffers fill, the hub's drain blocks, frames queue up until
    // the queue passes the alert's 75% of its limit (100).
    wait_for(addr, "a queue past 75% while the client is stuck", |s| {
        s.value("nowconnect_inbound_queue_size", &[("connector", "hose")]) > 75.0
    })
    .await;
    tokio::time::sleep_until(started + Duration::from_secs(3)).await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 8 << 20 {
        let n = tokio::time::timeout(Duration::from_secs(20), client.read(&mut buf))
            .await
            .expect("firehose keeps coming")
            .expect("read");
        assert!(n > 0, "firehose ended");
        got += n;
    }
    let drain = [("connector", "hose"), ("phase", "drain")];
    wait_for(addr, "a drain sample above 0.1 s", |s| {
        let fast = s.value(
            "nowconnect_write_drain_seconds_bucket",
            &[("connector", "hose"), ("phase", "drain"), ("le", "0.1")],
        );
        s.value("nowconnect_write_drain_seconds_count", &drain) > fast
    })
    .await;
    // The hub counts a write once it returns, which can be just after the client read it.
    wait_for(addr, "every byte the client read counted", |s| {
        s.value(
            "nowconnect_tcp_bytes_total",
            &[("connector", "hose"), ("direction", "a2c")],
        ) >= got as f64
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_reset_mid_write_counts_a_write_error() {
    let hose = targets::firehose_server().await;
    let stack = start(&[("hose", hose)], &[]).await;
    let addr = stack.hub.addrs.tunnel;
    let client = TcpStream::connect(stack.hub.listener("hose"))
        .await
        .expect("connect");
    wait_for(addr, "the hub stuck writing to the client", |s| {
        s.value("nowconnect_inbound_queue_size", &[("connector", "hose")]) > 0.0
    })
    .await;
    client.set_zero_linger().expect("SO_LINGER 0");
    drop(client); // RST while the hub is writing
    wait_for(addr, "a write error", |s| {
        s.value(
            "nowconnect_listener_errors_total",
            &[("connector", "hose"), ("type", "write")],
        ) == 1.0
            && s.value(
                "nowconnect_tcp_active_connections",
                &[("connector", "hose")],
            ) == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_that_stops_reading_fills_the_agents_queue() {
    let stuck = targets::stuck_server().await;
    let stack = start(&[("stuck", stuck)], &[]).await;
    let agent = stack.agent.admin;
    let client = TcpStream::connect(stack.hub.listener("stuck"))
        .await
        .expect("connect");
    let (_r, mut w) = client.into_split();
    // Write until the tunnel pushes back; the agent's queue toward the target fills.
    let writer = tokio::spawn(async move {
        let chunk = vec![0xa5_u8; 64 * 1024];
        while w.write_all(&chunk).await.is_ok() {}
    });
    let stuck_label = [("connector", "stuck")];
    // Bytes written toward the target first (the dial is done), then the queue behind them
    // passes the alert's 75% of its limit (100): a stalled V2 stream fills its credit window,
    // which the gauge reads as 75–100% of the limit.
    let toward_target = [("connector", "stuck"), ("direction", "c2a")];
    let a = wait_for(agent, "a queue behind bytes toward the stuck target", |a| {
        a.value("nowconnect_tcp_bytes_total", &toward_target) > 0.0
            && a.value("nowconnect_inbound_queue_size", &stuck_label) > 75.0
    })
    .await;
    assert!(a.value("nowconnect_inbound_queue_size", &stuck_label) <= 100.0);
    assert_eq!(
        a.value("nowconnect_tcp_active_connections", &stuck_label),
        1.0
    );
    writer.abort();
}

#[tokio::test]
async fn alert_series_exist_at_zero_right_after_start_up() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &["ldap", "db"], HubOpts::default()).await;
    let text = scrape(hub.addrs.tunnel).await;
    promtool_check(&text);
    let s = Scrape::parse(&text);
    let zero = |name: &str, labels: &[(&str, &str)]| {
        assert_eq!(
            s.get(name, labels),
            Some(0.0),
            "{name}{labels:?} not at 0\n{text}"
        );
    };
    for c in ["ldap", "db"] {
        for t in ["write", "session", "pdp"] {
            zero(
                "nowconnect_listener_errors_total",
                &[("connector", c), ("type", t)],
            );
        }
        for err in ["connect_failed", "queue_overflow", "ws_broken"] {
            zero(
                "nowconnect_rst_sent_total",
                &[("connector", c), ("err", err)],
            );
            zero(
                "nowconnect_rst_recv_total",
                &[("connector", c), ("err", err)],
            );
        }
        for result in ["allow", "deny", "error"] {
            zero(
                "nowconnect_pdp_decisions_total",
                &[("connector", c), ("result", result)],
            );
        }
        for reason in [
            "cidr_blocked",
            "max_conn_total",
            "no_agent",
            "session_refused",
            "pdp",
        ] {
            zero(
                "nowconnect_listener_refused_total",
                &[("connector", c), ("reason", reason)],
            );
        }
        for dir in ["c2a", "a2c"] {
            zero(
                "nowconnect_tcp_bytes_total",
                &[("connector", c), ("direction", dir)],
            );
        }
        let one = [("connector", c)];
        zero(
            "nowconnect_queue_overflow_total",
            &[("connector", c), ("side", "hub")],
        );
        zero("nowconnect_fin_sent_total", &one);
        zero("nowconnect_fin_recv_total", &one);
        zero("nowconnect_tcp_connections_total", &one);
        zero("nowconnect_tcp_active_connections", &one);
        zero("nowconnect_connector_up", &one);
        zero("nowconnect_inbound_queue_size", &one);
    }
    for reason in [
        "unauthorized",
        "bad_hello",
        "agent_id_mismatch",
        "connector_not_granted",
    ] {
        zero("nowconnect_tunnel_refused_total", &[("reason", reason)]);
    }
}

#[tokio::test]
async fn the_metrics_port_serves_the_same_families() {
    let creds = Creds::new();
    let yaml = hub_yaml(&creds, &["ldap"], &HubOpts::default()) + "  metrics_port: 0\n";
    let cfg = nowconnect_cloud::config::from_yaml_str(&yaml, &|_| None).expect("config");
    let hub = Hub::bind(cfg, Telemetry::for_tests()).await.expect("bind");
    let addrs = hub.addrs().clone();
    let metrics = addrs.metrics.expect("a separate metrics port");
    assert_ne!(metrics, addrs.tunnel);
    let stop = CancellationToken::new();
    let task = tokio::spawn(hub.run(stop.clone()));
    let (a, b) = (scrape(metrics).await, scrape(addrs.tunnel).await);
    assert_eq!(Scrape::parse(&a).contract(), Scrape::parse(&b).contract());
    assert!(
        a.contains("nowconnect_connector_up{connector=\"ldap\"} 0\n"),
        "{a}"
    );
    stop.cancel();
    task.await.expect("hub task").expect("clean stop");
}
