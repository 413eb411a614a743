//! Per-stream authorization by a PDP (SPEC §4) against a small real AuthZEN server
//! (`nowconnect_e2e::pdp`): one evaluation per new client stream before OPEN, `decision` and
//! `allow` answers, allow cache with TTL (and the answer's `ttl_sec`), timeout, HTTP errors and
//! garbage, `fail_open` both ways. Counters are read from the real `/metrics`; "no OPEN" is
//! checked at the target, which sees a connection only for streams the agent opened.
//!
//! Counting rules checked here: every new stream gets exactly one decision in
//! `nowconnect_pdp_decisions_total{result}` (a cache hit is an `allow`); every non-allow
//! (deny, or error even when `fail_open` let the client in) is also a
//! `nowconnect_listener_errors_total{type="pdp"}`; a client refused by the PDP is a
//! `nowconnect_listener_refused_total{reason="pdp"}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/prom.rs"]
#[allow(dead_code)]
mod prom;
#[path = "support/security.rs"]
#[allow(dead_code)]
mod security;

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::logcap;
use nowconnect_e2e::pdp::{Behaviour, PdpServer, Reply};
use nowconnect_e2e::rawws::PROMPT;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, TestAgent, TestHub, start_agent, start_hub};
use prom::{Scrape, scrape, wait_for};
use security::CountingEcho;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct PdpStack {
    _creds: Creds,
    hub: TestHub,
    _agent: TestAgent,
    echo: CountingEcho,
    connector: &'static str,
    agent_id: &'static str,
}

/// Hub with `pdp` settings and one agent `agent_id` serving `connector` → a counting echo.
/// Returns once the hub reports the connector up (without a probe stream, so no decision has
/// been made yet).
async fn stack(
    pdp: &PdpServer,
    agent_id: &'static str,
    connector: &'static str,
    cache_ttl_sec: u64,
    timeout_ms: u64,
    fail_open: bool,
) -> PdpStack {
    logcap::install();
    let echo = CountingEcho::start().await;
    let creds = Creds::new();
    let opts = HubOpts {
        extra_yaml: format!(
            "pdp:\n  url: \"{}\"\n  cache_ttl_sec: {cache_ttl_sec}\n  timeout_ms: {timeout_ms}\n  fail_open: {fail_open}\n",
            pdp.url()
        ),
        ..HubOpts::default()
    };
    let hub = start_hub(&creds, &[connector], opts).await;
    let agent = start_agent(
        &creds,
        &hub.url(),
        agent_id,
        &[(connector, echo.addr)],
        AgentOpts::default(),
    )
    .await;
    agent.wait_ready().await;
    wait_for(hub.addrs.tunnel, "the connector up", |s| {
        s.value("nowconnect_connector_up", &[("connector", connector)]) == 1.0
    })
    .await;
    assert_eq!(pdp.calls(), 0);
    PdpStack {
        _creds: creds,
        hub,
        _agent: agent,
        echo,
        connector,
        agent_id,
    }
}

impl PdpStack {
    fn listener(&self) -> SocketAddr {
        self.hub.listener(self.connector)
    }

    /// One client: `true` if its bytes came back, `false` if the hub closed it.
    async fn client(&self) -> bool {
        let mut s = TcpStream::connect(self.listener()).await.expect("connect");
        let _ = s.write_all(b"ping").await;
        let mut got = [0u8; 4];
        let read = tokio::time::timeout(PROMPT, s.read_exact(&mut got))
            .await
            .expect("an echo or a close within 5 s");
        read.is_ok() && &got == b"ping"
    }

    /// Waits until the counters read exactly `allow`/`deny`/`error` decisions and `pdp`
    /// listener errors and refusals; returns that scrape.
    async fn counted(
        &self,
        allow: f64,
        deny: f64,
        error: f64,
        errors: f64,
        refused: f64,
    ) -> Scrape {
        let c = self.connector;
        let want = [allow, deny, error, errors, refused];
        let read = |s: &Scrape| {
            [
                s.value(
                    "nowconnect_pdp_decisions_total",
                    &[("connector", c), ("result", "allow")],
                ),
                s.value(
                    "nowconnect_pdp_decisions_total",
                    &[("connector", c), ("result", "deny")],
                ),
                s.value(
                    "nowconnect_pdp_decisions_total",
                    &[("connector", c), ("result", "error")],
                ),
                s.value(
                    "nowconnect_listener_errors_total",
                    &[("connector", c), ("type", "pdp")],
                ),
                s.value(
                    "nowconnect_listener_refused_total",
                    &[("connector", c), ("reason", "pdp")],
                ),
            ]
        };
        let s = wait_for(
            self.hub.addrs.tunnel,
            &format!("[allow, deny, error, pdp errors, pdp refusals] = {want:?}"),
            |s| read(s) == want,
        )
        .await;
        // And it stays there: nothing was counted twice a moment later.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = Scrape::parse(&scrape(self.hub.addrs.tunnel).await);
        assert_eq!(read(&again), want, "counters moved after settling");
        s
    }

    async fn logged(&self, result: &str, extra: (&str, &str)) {
        let (agent_id, connector) = (self.agent_id, self.connector);
        logcap::wait_event(PROMPT, &format!("pdp_decision {result} {extra:?}"), |e| {
            logcap::has(e, "event", "pdp_decision")
                && logcap::has(e, "result", result)
                && logcap::has(e, "agent_id", agent_id)
                && logcap::has(e, "connector", connector)
                && logcap::has(e, extra.0, extra.1)
        })
        .await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_streams_flow_and_the_request_is_authzen() {
    let pdp = PdpServer::start(Behaviour::reply(Reply::Decision(true))).await;
    let st = stack(&pdp, "pdp-allow-agent", "pdp-allow", 0, 2000, false).await;
    assert!(st.client().await && st.client().await);
    assert_eq!(pdp.calls(), 2, "cache off: one evaluation per stream");
    let expected = json!({
        "subject": {"type": "agent", "id": "pdp-allow-agent"},
        "action": {"name": "connect"},
        "resource": {"type": "connector", "id": "pdp-allow"},
        "context": {"replica_id": hostname(), "aud": "nowconnect"},
    });
    assert_eq!(pdp.requests(), vec![expected.clone(), expected]);
    st.counted(2.0, 0.0, 0.0, 0.0, 0.0).await;
    st.logged("allow", ("cached", "false")).await;
    // The older `allow` shape works too.
    pdp.set(Behaviour::reply(Reply::Allow(true)));
    assert!(st.client().await);
    st.counted(3.0, 0.0, 0.0, 0.0, 0.0).await;
    assert_eq!(st.echo.accepted(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_clients_are_closed_without_an_open_in_both_answer_shapes() {
    let pdp = PdpServer::start(Behaviour::reply(Reply::Decision(false))).await;
    let st = stack(&pdp, "pdp-deny-agent", "pdp-deny", 60, 2000, false).await;
    assert!(!st.client().await, "decision:false closes the client");
    pdp.set(Behaviour::reply(Reply::Allow(false)));
    assert!(!st.client().await, "allow:false closes the client");
    assert_eq!(pdp.calls(), 2, "a deny is never cached");
    st.counted(0.0, 2.0, 0.0, 2.0, 2.0).await;
    st.logged("deny", ("connector", "pdp-deny")).await;
    assert_eq!(st.echo.accepted(), 0, "no OPEN reached the agent");
    // The policy changes: the next stream is allowed.
    pdp.set(Behaviour::reply(Reply::Decision(true)));
    assert!(st.client().await);
    st.counted(1.0, 2.0, 0.0, 2.0, 2.0).await;
    assert_eq!(st.echo.accepted(), 1);
}

/// The three error kinds, each in turn, with `fail_open` off (refused) and on (served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_deny_unless_fail_open() {
    let slow = Behaviour::reply(Reply::Decision(true)).delay(Duration::from_secs(3));
    let errors = [
        (slow, "timeout"),
        (Behaviour::reply(Reply::Status(500)), "status"),
        (Behaviour::reply(Reply::Status(503)), "status"),
        (Behaviour::reply(Reply::Garbage), "answer"),
    ];
    for (fail_open, agent_id, connector) in [
        (false, "pdp-closed-agent", "pdp-closed"),
        (true, "pdp-open-agent", "pdp-open"),
    ] {
        let pdp = PdpServer::start(Behaviour::reply(Reply::Decision(true))).await;
        let st = stack(&pdp, agent_id, connector, 60, 1000, fail_open).await;
        for (i, (behaviour, kind)) in errors.iter().enumerate() {
            pdp.set(behaviour.clone());
            assert_eq!(
                st.client().await,
                fail_open,
                "{kind}, fail_open={fail_open}"
            );
            let n = (i + 1) as f64;
            let refused = if fail_open { 0.0 } else { n };
            st.counted(0.0, 0.0, n, n, refused).await;
            st.logged("error", ("error_kind", kind)).await;
        }
        let served = if fail_open { errors.len() } else { 0 };
        assert_eq!(st.echo.accepted(), served, "fail_open={fail_open}");
        assert_eq!(pdp.calls(), errors.len(), "an error is never cached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allows_are_cached_for_the_ttl_then_asked_again() {
    // cache_ttl_sec 60: the second stream is a cache hit (no call) but still a counted allow.
    let pdp = PdpServer::start(Behaviour::reply(Reply::Decision(true))).await;
    let st = stack(&pdp, "pdp-cache-agent", "pdp-cache", 60, 2000, false).await;
    assert!(st.client().await && st.client().await && st.client().await);
    assert_eq!(pdp.calls(), 1, "cache hits do not call the PDP");
    st.counted(3.0, 0.0, 0.0, 0.0, 0.0).await;
    st.logged("allow", ("cached", "true")).await;

    // The answer's ttl_sec (1 s) overrides cache_ttl_sec: once it passes, the PDP is asked again.
    let pdp = PdpServer::start(Behaviour::reply(Reply::Decision(true)).ttl(1.0)).await;
    let st = stack(&pdp, "pdp-ttl-agent", "pdp-ttl", 60, 2000, false).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut streams = 0.0;
    while pdp.calls() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cached allow never expired"
        );
        assert!(st.client().await);
        streams += 1.0;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pdp.calls(), 2);
    st.counted(streams, 0.0, 0.0, 0.0, 0.0).await;

    // ttl_sec 0 in the answer: nothing is cached even with a long cache_ttl_sec.
    let pdp = PdpServer::start(Behaviour::reply(Reply::Allow(true)).ttl(0.0)).await;
    let st = stack(&pdp, "pdp-nocache-agent", "pdp-nocache", 60, 2000, false).await;
    assert!(st.client().await && st.client().await);
    assert_eq!(pdp.calls(), 2);
}

/// A slow PDP does not serialise streams: evaluations for concurrent clients overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_run_concurrently() {
    let slow = Behaviour::reply(Reply::Decision(true)).delay(Duration::from_millis(500));
    let pdp = PdpServer::start(slow).await;
    let st = stack(&pdp, "pdp-conc-agent", "pdp-conc", 0, 5000, false).await;
    let clients: Vec<_> = (0..5).map(|_| st.client()).collect();
    let served = futures_util::future::join_all(clients).await;
    assert_eq!(served, vec![true; 5]);
    assert_eq!(pdp.calls(), 5);
    assert!(
        pdp.max_in_flight() >= 2,
        "the hub waited for one decision before asking the next (max in flight {})",
        pdp.max_in_flight()
    );
    st.counted(5.0, 0.0, 0.0, 0.0, 0.0).await;
}
