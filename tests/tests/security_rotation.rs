//! Token rotation: an agent whose token expires in a few seconds opens a new tunnel with the
//! token the harness rewrote on disk, keeps serving its connector, and a client connection open
//! across the rotation keeps working (the old tunnel drains instead of cutting it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_auth::keys::TokenRequest;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{
    AgentOpts, HubOpts, TestAgent, agent_env, start_agent_with_env, start_hub,
};
use nowconnect_e2e::{targets, wait};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENT: &str = "agent-rot";

fn token(creds: &Creds, ttl: Duration) -> String {
    creds
        .key
        .issue_agent_token(&TokenRequest {
            agent_id: AGENT.into(),
            audience: "nowconnect".into(),
            issuer: None,
            ttl,
            connectors: None,
        })
        .unwrap()
}

fn reconnects(agent: &TestAgent, reason: &str) -> f64 {
    let (_, body) = agent.telemetry.render();
    body.lines()
        .filter(|l| l.starts_with("nowconnect_tunnel_reconnects_total{"))
        .filter(|l| l.contains(&format!("reason=\"{reason}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn echo_round(socket: &mut TcpStream, msg: &[u8]) {
    socket.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut got))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(got, msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_rotates_before_expiry_and_drains_the_old_tunnel() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let echo = targets::echo_server().await;
    // Expires in 6 s: the agent renews at ~80 % of that (≈ 4.8 s).
    let token_file = creds.token_file(AGENT, &token(&creds, Duration::from_secs(6)));
    let env = agent_env(
        &hub.url(),
        AGENT,
        &token_file,
        &[("echo", echo)],
        &AgentOpts::default(),
    );
    let agent = start_agent_with_env(env).await;
    agent.wait_ready().await;
    let listener = hub.listener("echo");
    wait::wait_routable(listener, Duration::from_secs(10)).await;
    assert_eq!(reconnects(&agent, "token_refresh"), 0.0);

    // A client connection opened on the first tunnel.
    let mut long_lived = TcpStream::connect(listener).await.unwrap();
    echo_round(&mut long_lived, b"before rotation").await;

    // The token renewer writes a fresh token (atomically: write, then rename).
    let fresh = creds.dir().join("fresh.jwt");
    std::fs::write(&fresh, token(&creds, Duration::from_secs(3600))).unwrap();
    std::fs::rename(&fresh, &token_file).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    while reconnects(&agent, "token_refresh") < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "no rotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the settle time: the old tunnel now only drains.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // New connections go over the new tunnel; the old connection still works.
    wait::wait_routable(listener, Duration::from_secs(5)).await;
    echo_round(&mut long_lived, b"after rotation").await;
    // No other kind of reconnect happened: the tunnel never dropped.
    for reason in [
        "connect_failed",
        "unauthorized",
        "ws_broken",
        "ping_timeout",
    ] {
        assert_eq!(reconnects(&agent, reason), 0.0, "{reason}");
    }
    // Once the old connection ends, the old tunnel closes; the connector stays served.
    drop(long_lived);
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait::wait_routable(listener, Duration::from_secs(5)).await;
    // The fresh token lives an hour: no further rotation soon.
    assert_eq!(reconnects(&agent, "token_refresh"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_not_yet_renewed_keeps_the_current_tunnel() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let echo = targets::echo_server().await;
    let token_file = creds.token_file(AGENT, &token(&creds, Duration::from_secs(3)));
    let env = agent_env(
        &hub.url(),
        AGENT,
        &token_file,
        &[("echo", echo)],
        &AgentOpts::default(),
    );
    let agent = start_agent_with_env(env).await;
    agent.wait_ready().await;
    let listener = hub.listener("echo");
    let mut socket = TcpStream::connect(listener).await.unwrap();
    echo_round(&mut socket, b"one").await;
    // Past the renewal time with the same token on disk: no rotation, tunnel kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(reconnects(&agent, "token_refresh"), 0.0);
    echo_round(&mut socket, b"two").await;
    wait::wait_routable(listener, Duration::from_secs(5)).await;
}
