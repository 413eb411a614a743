//! Two sessions (hub and agent roles) joined by an in-memory WebSocket, relaying to a real
//! loopback echo target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::future::BoxFuture;
use nowconnect_mux::{DialError, Dialer, Role, Session, SessionConfig, SessionEnd, SessionHandle};
use nowconnect_protocol::hello::Negotiated;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
use tokio_util::sync::CancellationToken;

struct ToAddr(SocketAddr);

impl Dialer for ToAddr {
    fn dial<'a>(&'a self, connector: &'a str) -> BoxFuture<'a, Result<TcpStream, DialError>> {
        Box::pin(async move {
            if connector != "echo" {
                return Err(DialError::UnknownConnector(connector.into()));
            }
            TcpStream::connect(self.0)
                .await
                .map_err(|e| DialError::Failed {
                    target: self.0.to_string(),
                    reason: e.to_string(),
                })
        })
    }
}

fn cfg(role: Role, protocol: Negotiated) -> SessionConfig {
    SessionConfig {
        role,
        protocol,
        max_ws_payload: 8192,
        queue_depth: 100,
        ping_interval: Duration::from_secs(1),
        ping_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(60),
        max_streams: 100,
        peer: "agent-1".into(),
        observer: Arc::new(nowconnect_mux::NoopObserver),
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
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

struct Pair {
    hub: SessionHandle,
    hub_task: JoinHandle<SessionEnd>,
    agent_task: JoinHandle<SessionEnd>,
    _stop: CancellationToken,
}

async fn pair(protocol: Negotiated, target: SocketAddr) -> Pair {
    let (a, b) = tokio::io::duplex(1 << 20);
    let hub_ws = WebSocketStream::from_raw_socket(a, WsRole::Server, None).await;
    let agent_ws = WebSocketStream::from_raw_socket(b, WsRole::Client, None).await;
    let stop = CancellationToken::new();
    let (hub, hub_task) = Session::spawn(hub_ws, cfg(Role::Hub, protocol), None, &stop);
    let (_agent, agent_task) = Session::spawn(
        agent_ws,
        cfg(Role::Agent, protocol),
        Some(Arc::new(ToAddr(target))),
        &stop,
    );
    Pair {
        hub,
        hub_task,
        agent_task,
        _stop: stop,
    }
}

/// A client socket pair: the test keeps one end, the hub session gets the other.
async fn client_into(hub: &SessionHandle, connector: &str) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    hub.open_stream(connector, accepted, None, ()).unwrap();
    client
}

async fn round_trip(protocol: Negotiated) {
    let pair = pair(protocol, echo_server().await).await;
    let mut client = client_into(&pair.hub, "echo").await;
    let data: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    client.write_all(&data).await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_v1() {
    round_trip(Negotiated::V1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_v2_with_a_small_window() {
    round_trip(Negotiated::V2 {
        max_frame: 4096,
        window: 8192,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_connector_is_reset_and_the_client_closed() {
    let pair = pair(
        Negotiated::V2 {
            max_frame: 65536,
            window: 262144,
        },
        echo_server().await,
    )
    .await;
    let mut client = client_into(&pair.hub, "nope").await;
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    tokio::time::timeout(Duration::from_secs(5), async {
        while pair.hub.stream_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the stream leaves the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_tunnel_resets_every_stream_at_once() {
    let pair = pair(
        Negotiated::V2 {
            max_frame: 65536,
            window: 262144,
        },
        echo_server().await,
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut c = client_into(&pair.hub, "echo").await;
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
        clients.push(c);
    }
    pair.hub.close(1001, "test");
    for mut c in clients {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)));
    }
    let end = pair.hub_task.await.unwrap();
    assert_eq!(
        end,
        SessionEnd::Closed {
            code: 1001,
            reason: "test".into()
        }
    );
    let agent_end = pair.agent_task.await.unwrap();
    assert_eq!(
        agent_end,
        SessionEnd::PeerClosed {
            code: 1001,
            reason: "test".into()
        }
    );
}

/// Records the close reason of every stream of a session.
#[derive(Debug, Default)]
struct Closes(std::sync::Mutex<Vec<nowconnect_mux::CloseReason>>);

#[derive(Debug)]
struct CloseProbe(Arc<Closes>);

impl nowconnect_mux::StreamObserver for CloseProbe {
    fn closed(&self, reason: &nowconnect_mux::CloseReason, _duration: Duration) {
        self.0.0.lock().unwrap().push(reason.clone());
    }
}

impl nowconnect_mux::Observer for CloseProbe {
    fn stream(&self, _connector: &str) -> Arc<dyn nowconnect_mux::StreamObserver> {
        Arc::new(CloseProbe(self.0.clone()))
    }
}

/// Every stream lost with its tunnel reports `TunnelLost` (so it is counted as a `ws_broken`
/// reset), never `Completed` — whichever of the session's cancel and the per-stream abort its
/// relay notices first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_lost_with_the_tunnel_report_tunnel_lost() {
    let target = echo_server().await;
    for _ in 0..20 {
        let closes = Arc::new(Closes::default());
        let (a, b) = tokio::io::duplex(1 << 20);
        let hub_ws = WebSocketStream::from_raw_socket(a, WsRole::Server, None).await;
        let agent_ws = WebSocketStream::from_raw_socket(b, WsRole::Client, None).await;
        let stop = CancellationToken::new();
        let mut hub_cfg = cfg(Role::Hub, Negotiated::V1);
        hub_cfg.observer = Arc::new(CloseProbe(closes.clone()));
        let (hub, hub_task) = Session::spawn(hub_ws, hub_cfg, None, &stop);
        let agent_stop = CancellationToken::new();
        let mut agent_cfg = cfg(Role::Agent, Negotiated::V1);
        agent_cfg.observer = Arc::new(CloseProbe(closes.clone()));
        let (_agent, agent_task) = Session::spawn(
            agent_ws,
            agent_cfg,
            Some(Arc::new(ToAddr(target))),
            &agent_stop,
        );
        let mut clients = Vec::new();
        for _ in 0..32 {
            let mut c = client_into(&hub, "echo").await;
            c.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).await.unwrap();
            clients.push(c);
        }
        agent_stop.cancel(); // the agent goes away: the hub's tunnel breaks under its streams
        agent_task.await.unwrap();
        hub_task.await.unwrap();
        let closes = closes.0.lock().unwrap().clone();
        assert_eq!(closes.len(), 64, "32 streams on each side");
        assert!(
            closes
                .iter()
                .all(|r| *r == nowconnect_mux::CloseReason::TunnelLost),
            "{closes:?}"
        );
    }
}
