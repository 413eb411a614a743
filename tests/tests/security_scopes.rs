//! Connector scopes (SPEC §4, `security.require_connector_scopes`): with the switch on, every
//! connector an agent's HELLO announces must be granted by its token — the `connectors` claim
//! (list) or `scp` (space-separated string or list). Tokens are real JWTs signed with the
//! stack's real key; the hub is the real one, in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/prom.rs"]
#[allow(dead_code)]
mod prom;
#[path = "support/security.rs"]
#[allow(dead_code)]
mod security;

use futures_util::SinkExt;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::rawws::{self, assert_closed_with, dial, expect_close, text};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, agent_env, start_agent_with_env, start_hub};
use nowconnect_e2e::{logcap, targets, wait};
use prom::{Scrape, scrape, wait_for};
use security::token_with;
use serde_json::{Value, json};
use std::time::Duration;

fn scoped() -> HubOpts {
    HubOpts {
        security_yaml: "  require_connector_scopes: true\n".into(),
        ..HubOpts::default()
    }
}

fn hello(agent_id: &str, connectors: &[&str], v2: bool) -> Value {
    if v2 {
        json!({"t": "HELLO", "agent_id": agent_id, "connectors": connectors, "ver": "2",
               "caps": ["v2"], "max_frame": 65536})
    } else {
        json!({"t": "HELLO", "agent_id": agent_id, "connectors": connectors, "ver": "1"})
    }
}

/// A token missing one announced connector is refused at HELLO with 1008 and a reason naming
/// the connector, in both handshake versions; logged and counted; the connector stays down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lacking_an_announced_connector_is_refused_with_1008() {
    logcap::install();
    let creds = Creds::new();
    let hub = start_hub(&creds, &["ldap", "pg"], scoped()).await;
    let shapes = [
        ("scope-lack-list", json!({"connectors": ["ldap"]})),
        ("scope-lack-scp", json!({"scp": "ldap ssh"})),
        ("scope-lack-none", json!({})),
    ];
    let mut refused = 0.0;
    for (agent_id, claims) in shapes {
        for v2 in [false, true] {
            let token = token_with(&creds, agent_id, claims.clone());
            let mut ws = dial(&hub.url(), &token, rawws::PROMPT).await;
            ws.send(text(&hello(agent_id, &["ldap", "pg"], v2)))
                .await
                .unwrap();
            let closed = expect_close(&mut ws).await;
            let case = format!("{agent_id} v2={v2}");
            assert_closed_with(&closed, 1008, &case);
            let wanted = if agent_id == "scope-lack-none" {
                "ldap"
            } else {
                "pg"
            };
            assert_eq!(
                closed.reason,
                format!("connector \"{wanted}\" not granted by the token"),
                "{case}"
            );
            refused += 1.0;
            logcap::wait_event(rawws::PROMPT, "connector_not_granted", |e| {
                logcap::has(e, "event", "connector_not_granted")
                    && logcap::has(e, "agent_id", agent_id)
                    && logcap::has(e, "connector", wanted)
            })
            .await;
        }
    }
    let s = wait_for(hub.addrs.tunnel, "the refusals counted", |s| {
        s.value(
            "nowconnect_tunnel_refused_total",
            &[("reason", "connector_not_granted")],
        ) == refused
    })
    .await;
    for c in ["ldap", "pg"] {
        assert_eq!(s.value("nowconnect_connector_up", &[("connector", c)]), 0.0);
    }
    assert_eq!(
        s.get(
            "nowconnect_tunnel_refused_total",
            &[("reason", "agent_id_mismatch")]
        ),
        Some(0.0),
        "other reasons exist at 0"
    );
    assert!(logcap::product_panics().is_empty());
}

/// Each claim shape that grants every announced connector lets the real agent register, and
/// traffic flows; a token granting more than announced is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_granting_every_connector_carry_traffic_in_every_claim_shape() {
    let echo = targets::echo_server().await;
    let creds = Creds::new();
    let hub = start_hub(&creds, &["c-list", "c-scp", "c-scp-list"], scoped()).await;
    let shapes = [
        (
            "agent-list",
            "c-list",
            json!({"connectors": ["c-list", "unused"]}),
        ),
        ("agent-scp", "c-scp", json!({"scp": "openid c-scp  other"})),
        (
            "agent-scp-list",
            "c-scp-list",
            json!({"scp": ["c-scp-list"]}),
        ),
    ];
    let mut agents = Vec::new();
    for (agent_id, connector, claims) in shapes {
        let token = token_with(&creds, agent_id, claims);
        let file = creds.token_file(agent_id, &token);
        let env = agent_env(
            &hub.url(),
            agent_id,
            &file,
            &[(connector, echo)],
            &AgentOpts::default(),
        );
        let agent = start_agent_with_env(env).await;
        agent.wait_ready().await;
        agents.push(agent);
        wait::wait_routable(hub.listener(connector), Duration::from_secs(15)).await;
    }
    let s = Scrape::parse(&scrape(hub.addrs.tunnel).await);
    assert_eq!(
        s.value(
            "nowconnect_tunnel_refused_total",
            &[("reason", "connector_not_granted")]
        ),
        0.0
    );
}

/// The real agent sees the refusal and its reason, and keeps retrying (counted as `refused`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_agent_is_told_which_connector_is_not_granted() {
    logcap::install();
    let echo = targets::echo_server().await;
    let creds = Creds::new();
    let hub = start_hub(&creds, &["granted", "missing"], scoped()).await;
    let agent_id = "agent-scope-short";
    let token = token_with(&creds, agent_id, json!({"scp": "granted"}));
    let file = creds.token_file(agent_id, &token);
    let targets = [("granted", echo), ("missing", echo)];
    let env = agent_env(&hub.url(), agent_id, &file, &targets, &AgentOpts::default());
    let agent = start_agent_with_env(env).await;
    logcap::wait_event(
        Duration::from_secs(10),
        "tunnel_connect_failed refused",
        |e| {
            logcap::has(e, "event", "tunnel_connect_failed")
                && logcap::has(e, "agent_id", agent_id)
                && logcap::has(e, "reason", "refused")
                && e.get("error").is_some_and(|m| {
                    m.contains("1008")
                        && m.contains("connector \"missing\" not granted by the token")
                })
        },
    )
    .await;
    wait_for(agent.admin, "the agent counts refused reconnects", |s| {
        s.value(
            "nowconnect_tunnel_reconnects_total",
            &[("agent", agent_id), ("reason", "refused")],
        ) >= 2.0
    })
    .await;
    let s = Scrape::parse(&scrape(hub.addrs.tunnel).await);
    assert_eq!(
        s.value("nowconnect_connector_up", &[("connector", "granted")]),
        0.0
    );
    assert!(
        s.value(
            "nowconnect_tunnel_refused_total",
            &[("reason", "connector_not_granted")]
        ) >= 2.0
    );
}

/// The switch off (the default): a token without any scope claim serves whatever it announces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_scopes_are_not_required() {
    let echo = targets::echo_server().await;
    let creds = Creds::new();
    let hub = start_hub(&creds, &["open"], HubOpts::default()).await;
    let token = token_with(&creds, "agent-open", json!({}));
    let file = creds.token_file("agent-open", &token);
    let env = agent_env(
        &hub.url(),
        "agent-open",
        &file,
        &[("open", echo)],
        &AgentOpts::default(),
    );
    let agent = start_agent_with_env(env).await;
    agent.wait_ready().await;
    wait::wait_routable(hub.listener("open"), Duration::from_secs(15)).await;
}
