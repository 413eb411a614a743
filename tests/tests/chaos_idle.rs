//! Idle streams reaped at `idle_timeout_ms`, under paused time: a hub session and an agent
//! session joined by an in-memory WebSocket (so only the clock moves them), relaying to a real
//! loopback echo target, with the services' real stream metrics and the log capture.
//!
//! The observer wrapper stamps every byte and reset with the (paused) clock, so the tests
//! know the exact instant of the stream's last activity and assert the reap to the sweep tick:
//! still open just before `idle_timeout`, reset (RST `idle_timeout`, counted on both sides,
//! `stream_idle` logged) no later than one sweep tick after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::future::BoxFuture;
use nowconnect_e2e::logcap;
use nowconnect_mux::{
    CloseReason, DialError, Dialer, Observer, Role, Session, SessionConfig, SessionHandle,
    StreamObserver, WritePhase,
};
use nowconnect_protocol::hello::Negotiated;
use nowconnect_protocol::{Direction, ResetReason};
use nowconnect_stream_metrics::{Connectors, Side, StreamMetrics};
use nowconnect_telemetry::Telemetry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
use tokio_util::sync::CancellationToken;

/// `ping_timeout`: the sessions sweep idle streams every quarter of it.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const SWEEP_TICK: Duration = Duration::from_millis(500);
const IDLE: Duration = Duration::from_secs(30);
/// Activity is kept in whole milliseconds, so a stream can look up to 1 ms idler than it is.
const MS: Duration = Duration::from_millis(1);

/// What a stream did, stamped with the paused clock.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Bytes,
    RstSent(ResetReason),
    RstReceived(ResetReason),
    Closed(CloseReason),
}

type Journal = Arc<Mutex<Vec<(Instant, Seen)>>>;

/// The real stream metrics, plus a journal of what each stream did and when.
#[derive(Debug)]
struct Stamped {
    metrics: StreamMetrics,
    journal: Journal,
}

#[derive(Debug)]
struct StampedStream {
    inner: Arc<dyn StreamObserver>,
    journal: Journal,
}

impl StampedStream {
    fn note(&self, seen: Seen) {
        self.journal.lock().unwrap().push((Instant::now(), seen));
    }
}

impl Observer for Stamped {
    fn stream(&self, connector: &str) -> Arc<dyn StreamObserver> {
        Arc::new(StampedStream {
            inner: self.metrics.stream(connector),
            journal: self.journal.clone(),
        })
    }
}

impl StreamObserver for StampedStream {
    fn bytes(&self, dir: Direction, n: usize) {
        self.note(Seen::Bytes);
        self.inner.bytes(dir, n);
    }
    fn write_phase(&self, phase: WritePhase, elapsed: Duration) {
        self.inner.write_phase(phase, elapsed);
    }
    fn fin_sent(&self) {
        self.inner.fin_sent();
    }
    fn fin_received(&self) {
        self.inner.fin_received();
    }
    fn rst_sent(&self, reason: &ResetReason) {
        self.note(Seen::RstSent(reason.clone()));
        self.inner.rst_sent(reason);
    }
    fn rst_received(&self, reason: &ResetReason) {
        self.note(Seen::RstReceived(reason.clone()));
        self.inner.rst_received(reason);
    }
    fn local_write_failed(&self) {
        self.inner.local_write_failed();
    }
    fn closed(&self, reason: &CloseReason, duration: Duration) {
        self.note(Seen::Closed(reason.clone()));
        self.inner.closed(reason, duration);
    }
}

/// One side: its metrics (rendered as on `/metrics`) and its journal.
struct End {
    telemetry: Telemetry,
    journal: Journal,
}

impl End {
    fn new(side: Side) -> (End, Arc<dyn Observer>) {
        let telemetry = Telemetry::for_tests();
        let meter = telemetry.meter("chaos-idle");
        let metrics = StreamMetrics::new(&meter, side, Connectors::new(["echo".to_owned()]));
        let journal = Journal::default();
        let observer = Arc::new(Stamped {
            metrics,
            journal: journal.clone(),
        });
        (End { telemetry, journal }, observer)
    }

    fn last(&self, pred: impl Fn(&Seen) -> bool) -> Option<Instant> {
        let journal = self.journal.lock().unwrap();
        journal.iter().rev().find(|(_, s)| pred(s)).map(|(t, _)| *t)
    }

    fn rst_metric(&self, family: &str) -> bool {
        let series = format!("{family}{{connector=\"echo\",err=\"idle_timeout\"");
        self.telemetry
            .metrics_text()
            .lines()
            .any(|l| l.starts_with(&series) && l.ends_with(" 1"))
    }
}

struct ToEcho(SocketAddr);

impl Dialer for ToEcho {
    fn dial<'a>(&'a self, _connector: &'a str) -> BoxFuture<'a, Result<TcpStream, DialError>> {
        Box::pin(async move {
            TcpStream::connect(self.0)
                .await
                .map_err(|e| DialError::Failed {
                    target: self.0.to_string(),
                    reason: e.to_string(),
                })
        })
    }
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn cfg(role: Role, idle: Duration, observer: Arc<dyn Observer>) -> SessionConfig {
    SessionConfig {
        role,
        protocol: Negotiated::V2 {
            max_frame: 16 * 1024,
            window: 64 * 1024,
        },
        max_ws_payload: 8192,
        queue_depth: 16,
        ping_interval: Duration::from_secs(1),
        ping_timeout: PING_TIMEOUT,
        idle_timeout: idle,
        max_streams: 16,
        peer: "agent-idle".into(),
        observer,
    }
}

struct Pair {
    hub: SessionHandle,
    hub_end: End,
    agent_end: End,
    _stop: CancellationToken,
}

/// A hub and an agent session over an in-memory WebSocket, each with its own idle timeout.
async fn pair(hub_idle: Duration, agent_idle: Duration) -> Pair {
    let target = echo_server().await;
    let (a, b) = tokio::io::duplex(1 << 20);
    let hub_ws = WebSocketStream::from_raw_socket(a, WsRole::Server, None).await;
    let agent_ws = WebSocketStream::from_raw_socket(b, WsRole::Client, None).await;
    let stop = CancellationToken::new();
    let (hub_end, hub_obs) = End::new(Side::Hub);
    let (agent_end, agent_obs) = End::new(Side::Agent);
    let (hub, _) = Session::spawn(hub_ws, cfg(Role::Hub, hub_idle, hub_obs), None, &stop);
    let dialer = Arc::new(ToEcho(target));
    let agent_cfg = cfg(Role::Agent, agent_idle, agent_obs);
    let _ = Session::spawn(agent_ws, agent_cfg, Some(dialer), &stop);
    Pair {
        hub,
        hub_end,
        agent_end,
        _stop: stop,
    }
}

/// A client whose other end the hub session carries as a stream; one echo round trip done.
async fn active_client(hub: &SessionHandle) -> (TcpStream, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    let cid = hub.open_stream("echo", accepted, None, ()).unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    (client, cid)
}

/// Lets every ready task run without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Waits (in paused time, so instantly) until `pred` holds; panics after `within`.
async fn eventually(within: Duration, what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The hub reaps: not a tick early, not a tick late; the agent learns it by RST.
#[tokio::test(start_paused = true)]
async fn hub_reaps_an_idle_stream_within_one_sweep_after_idle_timeout() {
    logcap::install();
    let pair = pair(IDLE, Duration::from_secs(3600)).await;
    let (mut client, cid) = active_client(&pair.hub).await;
    settle().await;
    let last = pair
        .hub_end
        .last(|s| *s == Seen::Bytes)
        .expect("the echo moved bytes");

    tokio::time::sleep_until(last + IDLE - MS).await;
    settle().await;
    assert_eq!(pair.hub.stream_count(), 1, "reaped before idle_timeout");
    assert!(
        pair.hub_end
            .last(|s| matches!(s, Seen::RstSent(_)))
            .is_none(),
        "reset before idle_timeout"
    );

    tokio::time::sleep_until(last + IDLE + SWEEP_TICK + MS).await;
    settle().await;
    let reaped = pair
        .hub_end
        .last(|s| *s == Seen::RstSent(ResetReason::IdleTimeout))
        .expect("reset as idle within one sweep tick after idle_timeout");
    let idle_for = reaped - last;
    assert!(
        idle_for >= IDLE - MS && idle_for <= IDLE + SWEEP_TICK,
        "reaped after {idle_for:?} of idleness (idle_timeout {IDLE:?}, tick {SWEEP_TICK:?})"
    );
    eventually(Duration::from_secs(5), "stream gone", || {
        pair.hub.stream_count() == 0
    })
    .await;
    let closed = pair
        .hub_end
        .last(|s| *s == Seen::Closed(CloseReason::LocalReset(ResetReason::IdleTimeout)));
    assert!(closed.is_some(), "closed with reason idle_timeout");
    assert!(pair.hub_end.rst_metric("nowconnect_rst_sent_total"));
    let logged = logcap::events()
        .into_iter()
        .any(|e| logcap::has(&e, "event", "stream_idle") && logcap::has(&e, "cid", &cid));
    assert!(logged, "stream_idle logged with the cid");
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut b))
        .await
        .expect("the client is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    eventually(Duration::from_secs(5), "agent counted the RST", || {
        pair.agent_end.rst_metric("nowconnect_rst_recv_total")
    })
    .await;
    assert!(
        pair.agent_end
            .last(|s| *s == Seen::RstReceived(ResetReason::IdleTimeout))
            .is_some()
    );
}

/// Traffic resets the clock: a stream that moves a byte halfway through `idle_timeout` lives on
/// for a full `idle_timeout` from that byte, past the first deadline.
#[tokio::test(start_paused = true)]
async fn a_byte_halfway_through_idle_timeout_keeps_the_stream() {
    let pair = pair(IDLE, Duration::from_secs(3600)).await;
    let (mut client, _cid) = active_client(&pair.hub).await;
    settle().await;
    let first = pair.hub_end.last(|s| *s == Seen::Bytes).unwrap();
    tokio::time::sleep_until(first + IDLE / 2).await;
    client.write_all(b"more").await.unwrap();
    let mut got = [0u8; 4];
    client.read_exact(&mut got).await.unwrap();
    settle().await;
    let second = pair.hub_end.last(|s| *s == Seen::Bytes).unwrap();
    assert!(second > first);
    tokio::time::sleep_until(first + IDLE + 2 * SWEEP_TICK).await;
    settle().await;
    assert_eq!(pair.hub.stream_count(), 1, "reaped despite recent traffic");
    tokio::time::sleep_until(second + IDLE + SWEEP_TICK + MS).await;
    settle().await;
    let reaped = pair
        .hub_end
        .last(|s| *s == Seen::RstSent(ResetReason::IdleTimeout))
        .expect("reaped one idle_timeout after the last byte");
    assert!(reaped - second >= IDLE - MS);
}

/// The agent's own sweeper reaps too (its `idle_timeout_ms` shorter than the hub's): the hub
/// counts the RST it receives and closes its client.
#[tokio::test(start_paused = true)]
async fn agent_reaps_with_its_own_idle_timeout_and_the_hub_closes_the_client() {
    let agent_idle = Duration::from_secs(10);
    let pair = pair(Duration::from_secs(3600), agent_idle).await;
    let (mut client, _cid) = active_client(&pair.hub).await;
    settle().await;
    let last = pair.agent_end.last(|s| *s == Seen::Bytes).unwrap();
    tokio::time::sleep_until(last + agent_idle - MS).await;
    settle().await;
    assert!(
        pair.agent_end
            .last(|s| matches!(s, Seen::RstSent(_)))
            .is_none(),
        "agent reaped early"
    );
    tokio::time::sleep_until(last + agent_idle + SWEEP_TICK + MS).await;
    settle().await;
    let reaped = pair
        .agent_end
        .last(|s| *s == Seen::RstSent(ResetReason::IdleTimeout))
        .expect("agent reaped within a tick");
    assert!(reaped - last >= agent_idle - MS);
    assert!(pair.agent_end.rst_metric("nowconnect_rst_sent_total"));
    eventually(Duration::from_secs(5), "hub got the RST", || {
        pair.hub_end.rst_metric("nowconnect_rst_recv_total")
    })
    .await;
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut b))
        .await
        .expect("the client is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
}
