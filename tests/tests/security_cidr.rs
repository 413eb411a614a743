//! The client allowlist (SPEC §4, `security.allow_cidrs`): clients from other addresses are
//! closed at accept, before any stream or OPEN, logged `cidr_blocked` and counted in
//! `nowconnect_listener_refused_total{reason="cidr_blocked"}` (not a listener error). Sources
//! are real loopback aliases: Linux routes all of 127/8 to `lo`, so a client socket bound to
//! 127.0.0.2 reaches the hub from that address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/prom.rs"]
#[allow(dead_code)]
mod prom;
#[path = "support/security.rs"]
#[allow(dead_code)]
mod security;

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, hub_yaml, start_agent, start_hub, start_hub_yaml};
use nowconnect_e2e::{logcap, rawws::PROMPT, wait};
use prom::wait_for;
use security::CountingEcho;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to` from `from` (port 0).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .expect("socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind the source address");
    socket
        .connect(to)
        .await
        .expect("the kernel accepts the connection")
}

/// Echo round trip from `from`; `Some(bytes)` echoed, or `None` when the hub closed the client.
async fn try_echo(from: IpAddr, to: SocketAddr) -> Option<Vec<u8>> {
    let mut s = connect_from(from, to).await;
    let _ = s.write_all(b"ping").await;
    let mut got = vec![0u8; 4];
    let read = tokio::time::timeout(PROMPT, s.read_exact(&mut got))
        .await
        .expect("an echo or a close within 5 s");
    read.ok().map(|_| got)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_sources_outside_the_allowlist_are_closed_at_accept() {
    logcap::install();
    let echo = CountingEcho::start().await;
    let creds = Creds::new();
    let opts = HubOpts {
        security_yaml: "  allow_cidrs: [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n".into(),
        ..HubOpts::default()
    };
    let hub = start_hub(&creds, &["cidr4"], opts).await;
    let agent = start_agent(
        &creds,
        &hub.url(),
        "agent-cidr4",
        &[("cidr4", echo.addr)],
        AgentOpts::default(),
    )
    .await;
    agent.wait_ready().await;
    let listener = hub.listener("cidr4");
    wait::wait_routable(listener, Duration::from_secs(15)).await;
    let opened = echo.accepted();

    assert_eq!(
        try_echo(ip("127.0.0.1"), listener).await.as_deref(),
        Some(&b"ping"[..])
    );
    for blocked in ["127.0.0.2", "127.0.0.3"] {
        assert_eq!(
            try_echo(ip(blocked), listener).await,
            None,
            "{blocked} is closed"
        );
        logcap::wait_event(PROMPT, "cidr_blocked", |e| {
            logcap::has(e, "event", "cidr_blocked")
                && logcap::has(e, "connector", "cidr4")
                && e.get("peer")
                    .is_some_and(|p| p.starts_with(&format!("{blocked}:")))
        })
        .await;
    }
    let s = wait_for(hub.addrs.tunnel, "two CIDR refusals", |s| {
        s.value(
            "nowconnect_listener_refused_total",
            &[("connector", "cidr4"), ("reason", "cidr_blocked")],
        ) == 2.0
    })
    .await;
    assert_eq!(
        echo.accepted(),
        opened + 1,
        "no OPEN reached the agent for a blocked client"
    );
    assert_eq!(
        s.value(
            "nowconnect_listener_errors_total",
            &[("connector", "cidr4"), ("type", "session")]
        ),
        0.0,
        "a CIDR block is not a listener error"
    );
    for reason in ["max_conn_total", "no_agent", "session_refused", "pdp"] {
        assert_eq!(
            s.get(
                "nowconnect_listener_refused_total",
                &[("connector", "cidr4"), ("reason", reason)]
            ),
            Some(0.0),
            "{reason} exists at 0"
        );
    }
    assert!(logcap::product_panics().is_empty());
}

/// An IPv6 allowlist entry admits `[::1]` on an IPv6 listener and blocks IPv4 clients; an
/// IPv4-only allowlist blocks `[::1]`. Skipped (with a note) where `[::1]` cannot be bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_sources_follow_the_allowlist() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: IPv6 allowlist case not run");
        return;
    }
    logcap::install();
    let echo = CountingEcho::start().await;
    let creds = Creds::new();
    for (allow, v6_ok, v4_ok) in [
        ("\"::1/128\"", true, false),
        ("\"127.0.0.0/8\"", false, true),
    ] {
        let opts = HubOpts {
            security_yaml: format!("  allow_cidrs: [{allow}]\n"),
            ..HubOpts::default()
        };
        let yaml = hub_yaml(&creds, &["v4", "v6"], &opts).replace(
            "bind: \"127.0.0.1:0\", connector: v6",
            "bind: \"[::1]:0\", connector: v6",
        );
        let hub = start_hub_yaml(&yaml).await;
        let agent = start_agent(
            &creds,
            &hub.url(),
            "agent-cidr6",
            &[("v4", echo.addr), ("v6", echo.addr)],
            AgentOpts::default(),
        )
        .await;
        agent.wait_ready().await;
        let (l4, l6) = (hub.listener("v4"), hub.listener("v6"));
        assert!(l6.is_ipv6(), "{l6}");
        let routable = if v6_ok { l6 } else { l4 };
        wait::wait_routable(routable, Duration::from_secs(15)).await;
        let before = echo.accepted();
        let got6 = try_echo(ip("::1"), l6).await;
        let got4 = try_echo(ip("127.0.0.1"), l4).await;
        assert_eq!(got6.is_some(), v6_ok, "allow {allow}: [::1]");
        assert_eq!(got4.is_some(), v4_ok, "allow {allow}: 127.0.0.1");
        let blocked = if v6_ok { "v4" } else { "v6" };
        wait_for(hub.addrs.tunnel, "one CIDR refusal", |s| {
            s.value(
                "nowconnect_listener_refused_total",
                &[("connector", blocked), ("reason", "cidr_blocked")],
            ) == 1.0
        })
        .await;
        assert_eq!(
            echo.accepted(),
            before + 1,
            "only the allowed client was opened"
        );
        agent.stop().await;
        hub.stop().await;
    }
}
