//! The hub's `/readyz` (SPEC §6.3) over real HTTP: ready only while its listeners serve and
//! every configured connector has a live agent; it names the connectors that have none, flips
//! as agents leave and come back, and turns 503 as soon as the shutdown drain starts.
//! (`/readyz` of the agent: tests/agent_admin.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/http.rs"]
mod http;

use http::{get, wait_readyz};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, start_agent, start_hub};
use nowconnect_e2e::targets;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn body(reply: &http::Reply) -> Value {
    assert_eq!(reply.content_type, "application/json", "{reply:?}");
    serde_json::from_str(&reply.body).expect("JSON body")
}

/// Waits until `/readyz` is 503 naming exactly `down`.
async fn wait_down(addr: SocketAddr, down: &[&str]) {
    let want = json!({"status": "degraded", "reason": "no_agent", "connectors_down": down});
    let deadline = tokio::time::Instant::now() + http::WITHIN;
    loop {
        let reply = wait_readyz(addr, 503).await;
        if body(&reply) == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never said {want}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_ready(addr: SocketAddr) {
    let reply = wait_readyz(addr, 200).await;
    assert_eq!(body(&reply), json!({"status": "ready"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_readyz_follows_the_agents_of_every_connector() {
    let creds = Creds::new();
    let (echo, ldap) = (targets::echo_server().await, targets::echo_server().await);
    let hub = start_hub(&creds, &["ldap", "echo"], HubOpts::default()).await;
    let addr = hub.addrs.tunnel;
    wait_down(addr, &["echo", "ldap"]).await;

    let url = hub.url();
    let opts = AgentOpts::default();
    let first = start_agent(&creds, &url, "agent-echo", &[("echo", echo)], opts.clone()).await;
    first.wait_ready().await;
    wait_down(addr, &["ldap"]).await;

    let second = start_agent(&creds, &url, "agent-ldap", &[("ldap", ldap)], opts.clone()).await;
    second.wait_ready().await;
    wait_ready(addr).await;

    // The tunnel goes down: the hub is degraded again, then ready when the agent is back.
    second.stop().await;
    wait_down(addr, &["ldap"]).await;
    let again = start_agent(&creds, &url, "agent-ldap", &[("ldap", ldap)], opts).await;
    again.wait_ready().await;
    wait_ready(addr).await;

    let health = get(addr, "/healthz").await;
    assert_eq!(
        (health.status, body(&health)),
        (200, json!({"status": "ok"}))
    );
    first.stop().await;
    again.stop().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_readyz_turns_503_when_the_drain_starts() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let opts = HubOpts {
        shutdown_grace_ms: 10_000,
        ..HubOpts::default()
    };
    let hub = start_hub(&creds, &["echo"], opts).await;
    let agent = start_agent(
        &creds,
        &hub.url(),
        "agent-1",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;
    agent.wait_ready().await;
    let addr = hub.addrs.tunnel;
    wait_ready(addr).await;

    // A live stream keeps the drain going while we look.
    let mut client = TcpStream::connect(hub.listener("echo"))
        .await
        .expect("dial");
    client.write_all(b"ping").await.expect("write");
    let mut echoed = [0u8; 4];
    client.read_exact(&mut echoed).await.expect("echo");
    let stopping = tokio::spawn(hub.stop());
    let reply = wait_readyz(addr, 503).await;
    assert_eq!(
        body(&reply),
        json!({"status": "degraded", "reason": "not_serving"})
    );
    drop(client);
    let report = stopping.await.expect("hub stops");
    assert_eq!(report.reset_streams, 0, "the stream ended inside the grace");
    agent.stop().await;
}
