//! The agent's HTTP admin port (`/healthz`, `/readyz`, `/metrics`) over real HTTP: readiness
//! follows the acknowledged tunnel across a hub restart, and the reconnect and uptime series
//! move with it and pass `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/http.rs"]
mod http;

use http::{WITHIN, get, wait_readyz};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::stack::{self, AgentOpts, HubOpts, start_agent, start_hub, wait_health};
use nowconnect_e2e::targets;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const RECONNECTS: &str = "nowconnect_tunnel_reconnects_total";

/// The value of the series written exactly as `series` (name and label set).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn reconnects(text: &str, agent: &str, reason: &str) -> Option<f64> {
    value(
        text,
        &format!("{RECONNECTS}{{agent=\"{agent}\",reason=\"{reason}\"}}"),
    )
}

fn uptime(text: &str, agent: &str) -> Option<f64> {
    value(
        text,
        &format!("nowconnect_tunnel_uptime_seconds{{agent=\"{agent}\"}}"),
    )
}

fn total_reconnects(text: &str) -> f64 {
    let prefix = format!("{RECONNECTS}{{");
    let values = text.lines().filter(|l| l.starts_with(&prefix));
    values
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Scrapes `/metrics`, checking the status, the content type and `promtool check metrics`.
async fn scrape(addr: SocketAddr) -> String {
    let reply = get(addr, "/metrics").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    promtool_check(&reply.body);
    reply.body
}

fn promtool_check(text: &str) {
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool at /usr/bin/promtool (scripts/install-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{text}");
    assert!(report.trim().is_empty(), "promtool: {report}\n{text}");
}

async fn assert_closed(addr: SocketAddr) {
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "admin port {addr} still open after the agent stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_answers_while_the_hub_is_unreachable() {
    let creds = Creds::new();
    let (echo, dead) = (targets::echo_server().await, targets::closed_port().await);
    let url = format!("ws://{dead}/tunnel");
    let agent = start_agent(
        &creds,
        &url,
        "agent-dark",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;

    let health = get(agent.admin, "/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    assert_eq!(health.content_type, "application/json");
    let ready = get(agent.admin, "/readyz").await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (503, r#"{"status":"degraded"}"#)
    );
    wait_health(agent.health, "OK", WITHIN).await;

    let deadline = Instant::now() + WITHIN;
    let text = loop {
        let text = scrape(agent.admin).await;
        if reconnects(&text, "agent-dark", "connect_failed") >= Some(2.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "failed attempts not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for reason in ["unauthorized", "ws_broken", "ping_timeout"] {
        assert_eq!(
            reconnects(&text, "agent-dark", reason),
            Some(0.0),
            "{reason}\n{text}"
        );
    }
    assert_eq!(uptime(&text, "agent-dark"), Some(0.0), "{text}");
    assert!(
        text.contains("# HELP nowconnect_tunnel_uptime_seconds "),
        "{text}"
    );
    assert_eq!(get(agent.admin, "/nope").await.status, 404);

    let admin = agent.admin;
    agent.stop().await;
    assert_closed(admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_follow_the_tunnel_across_a_hub_restart() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let port = hub.addrs.tunnel.port();
    let agent = start_agent(
        &creds,
        &hub.url(),
        "agent-r",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;

    let ready = wait_readyz(agent.admin, 200).await;
    assert_eq!(ready.body, r#"{"status":"ready"}"#);
    wait_health(agent.health, "READY", WITHIN).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(agent.admin).await;
    let up = uptime(&text, "agent-r").expect("uptime series");
    assert!(up >= 0.05, "uptime {up} while up\n{text}");
    for reason in [
        "connect_failed",
        "unauthorized",
        "ws_broken",
        "ping_timeout",
    ] {
        assert_eq!(
            reconnects(&text, "agent-r", reason),
            Some(0.0),
            "{reason}\n{text}"
        );
    }
    let before = total_reconnects(&text);
    assert_eq!(before, 0.0, "{text}");

    hub.stop().await;
    let degraded = wait_readyz(agent.admin, 503).await;
    assert_eq!(degraded.body, r#"{"status":"degraded"}"#);
    let text = scrape(agent.admin).await;
    assert_eq!(uptime(&text, "agent-r"), Some(0.0), "{text}");
    // The hub's drain closes the tunnel with 1001: counted once as `peer_closed`.
    assert_eq!(
        reconnects(&text, "agent-r", "peer_closed"),
        Some(1.0),
        "{text}"
    );

    let restarted = Instant::now();
    let hub = start_hub(
        &creds,
        &["echo"],
        HubOpts {
            tunnel_port: port,
            ..HubOpts::default()
        },
    )
    .await;
    wait_readyz(agent.admin, 200).await;
    let text = scrape(agent.admin).await;
    let up = uptime(&text, "agent-r").expect("uptime series");
    assert!(
        up > 0.0 && up <= restarted.elapsed().as_secs_f64(),
        "uptime {up} counts from the new tunnel\n{text}"
    );
    assert!(total_reconnects(&text) > before, "{text}");
    assert!(
        reconnects(&text, "agent-r", "peer_closed") >= Some(1.0),
        "{text}"
    );
    // The harness's handle renders what the port serves.
    let direct = agent.telemetry.metrics_text();
    assert_eq!(total_reconnects(&direct), total_reconnects(&text));

    let admin = agent.admin;
    agent.stop().await;
    assert_closed(admin).await;
    drop(hub);
}

/// The real binary binds `NC_METRICS_HOST`/`NC_METRICS_PORT` and serves its own metrics there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_binary_serves_its_admin_port() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let token = creds.token_file("agent-bin", &creds.token("agent-bin"));
    let opts = AgentOpts::default();
    let mut env = stack::agent_env(&hub.url(), "agent-bin", &token, &[("echo", echo)], &opts);
    let admin = targets::closed_port().await;
    env.insert("NC_METRICS_PORT".into(), admin.port().to_string());
    let work = tempfile::tempdir().unwrap();
    let mut proc = Proc::spawn(
        "nowconnect-premise",
        &[],
        &env,
        &work.path().join("agent.log"),
    );

    let deadline = Instant::now() + WITHIN;
    while TcpStream::connect(admin).await.is_err() {
        assert!(Instant::now() < deadline, "admin port {admin} never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(admin, "/healthz").await.status, 200);
    wait_readyz(admin, 200).await;
    let text = scrape(admin).await;
    assert!(
        uptime(&text, "agent-bin").is_some_and(|s| s >= 0.0),
        "{text}"
    );
    assert_eq!(
        reconnects(&text, "agent-bin", "unauthorized"),
        Some(0.0),
        "{text}"
    );
    assert!(proc.terminate(WITHIN).is_some_and(|s| s.success()));
}
