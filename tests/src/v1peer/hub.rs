//! The old (V1-only) hub: a tunnel port for agents, one client listener per connector.

use super::STEP_TIMEOUT;
use super::observed::{Log, Observed, note, violation};
use super::tunnel::{Side, Tunnel};
use crate::lock;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The HELLO an agent sent to a [`V1Hub`], with the upgrade request's details.
#[derive(Debug, Clone)]
pub struct RecordedHello {
    /// The `Authorization` header of the upgrade request, verbatim.
    pub authorization: Option<String>,
    /// The request path (the product dials `/tunnel`).
    pub path: String,
    pub agent_id: String,
    pub connectors: Vec<String>,
    /// `ver` as text (a number is kept as its digits).
    pub ver: String,
    /// Whether `caps` contained `"v2"`.
    pub offers_v2: bool,
    /// The whole HELLO object.
    pub raw: Value,
}

#[derive(Debug, Default)]
struct HubShared {
    hellos: Mutex<Vec<RecordedHello>>,
    /// The latest agent tunnel: it serves every connector.
    current: Mutex<Option<Arc<Tunnel>>>,
    log: Log,
}

/// An old (V1-only) hub: accepts agent WebSockets on its tunnel port (no JWT check, but the
/// `Authorization` header is recorded), answers every HELLO with a bare `{"t":"HELLO_ACK"}`,
/// and carries client connections of each connector's listener to the latest agent.
#[derive(Debug)]
pub struct V1Hub {
    /// The tunnel port (`ws://<addr>/tunnel`).
    pub tunnel_addr: SocketAddr,
    listeners: Vec<(String, SocketAddr)>,
    shared: Arc<HubShared>,
    cancel: CancellationToken,
}

impl V1Hub {
    /// Binds the tunnel port and one client listener per connector, all on 127.0.0.1:0.
    pub async fn start(connectors: &[&str]) -> V1Hub {
        let shared = Arc::new(HubShared::default());
        let cancel = CancellationToken::new();
        let tunnel = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind tunnel port");
        let tunnel_addr = tunnel.local_addr().expect("tunnel addr");
        {
            let shared = shared.clone();
            let cancel = cancel.clone();
            accept_until(tunnel, cancel.clone(), move |socket| {
                tokio::spawn(serve_agent(shared.clone(), socket, cancel.child_token()));
            });
        }
        let mut listeners = Vec::new();
        for &connector in connectors {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind client listener");
            listeners.push((
                connector.to_owned(),
                listener.local_addr().expect("listener addr"),
            ));
            let shared = shared.clone();
            let connector = connector.to_owned();
            accept_until(listener, cancel.clone(), move |socket| {
                let agent = lock(&shared.current)
                    .clone()
                    .filter(|t| !t.cancel.is_cancelled());
                match agent {
                    Some(tunnel) => tunnel.open_stream(&connector, socket),
                    None => drop(socket), // no agent: close the client at once
                }
            });
        }
        V1Hub {
            tunnel_addr,
            listeners,
            shared,
            cancel,
        }
    }

    /// The URL agents dial.
    pub fn url(&self) -> String {
        format!("ws://{}/tunnel", self.tunnel_addr)
    }

    /// The client listener of `connector`.
    pub fn listener(&self, connector: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(c, _)| c == connector)
            .map(|(_, a)| *a)
            .expect("listener for connector")
    }

    /// Every HELLO received so far.
    pub fn hellos(&self) -> Vec<RecordedHello> {
        lock(&self.shared.hellos).clone()
    }

    /// Waits until at least `count` agents completed the handshake (their tunnels are then
    /// already routable) and returns every HELLO.
    pub async fn wait_hellos(&self, count: usize, within: Duration) -> Vec<RecordedHello> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let hellos = self.hellos();
            if hellos.len() >= count {
                return hellos;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} HELLOs within {within:?}",
                hellos.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A snapshot of what this hub saw on all its tunnels.
    pub fn observed(&self) -> Observed {
        lock(&self.shared.log).clone()
    }
}

impl Drop for V1Hub {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Accepts on `listener` until `cancel`, handing each connection to `serve`.
fn accept_until(
    listener: TcpListener,
    cancel: CancellationToken,
    mut serve: impl FnMut(TcpStream) + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            if let Ok((socket, _)) = accepted {
                serve(socket);
            }
        }
    });
}

/// Upgrade details of one agent connection: `(Authorization header, request path)`.
type Upgrade = Arc<Mutex<(Option<String>, String)>>;

/// Records the upgrade request's `Authorization` header and path, and accepts it.
struct RecordUpgrade(Upgrade);

impl Callback for RecordUpgrade {
    fn on_request(self, req: &Request, res: Response) -> Result<Response, ErrorResponse> {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        *lock(&self.0) = (auth, req.uri().path().to_owned());
        Ok(res)
    }
}

async fn serve_agent(shared: Arc<HubShared>, socket: TcpStream, cancel: CancellationToken) {
    let seen = Upgrade::default();
    let callback = RecordUpgrade(seen.clone());
    let Ok(Ok(mut ws)) = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::accept_hdr_async(socket, callback),
    )
    .await
    else {
        return;
    };
    let first = tokio::time::timeout(STEP_TIMEOUT, ws.next()).await;
    let hello = match first {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(text.as_str()).ok(),
        _ => None,
    };
    let Some(hello) = hello.filter(|h| h["t"] == "HELLO") else {
        violation(&shared.log, "first message is not a JSON HELLO".into());
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: "expected HELLO".into(),
        };
        let _ = ws.close(Some(frame)).await;
        return;
    };
    // An old hub: no ver, no caps, no max_frame, no window.
    if ws
        .send(Message::text(json!({"t": "HELLO_ACK"}).to_string()))
        .await
        .is_err()
    {
        return;
    }
    let (authorization, path) = lock(&seen).clone();
    let recorded = RecordedHello {
        authorization,
        path,
        agent_id: hello["agent_id"].as_str().unwrap_or_default().to_owned(),
        connectors: hello["connectors"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        ver: match &hello["ver"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        },
        offers_v2: hello["caps"]
            .as_array()
            .is_some_and(|caps| caps.iter().any(|c| c == "v2")),
        raw: hello,
    };
    let tunnel = Tunnel::spawn(ws, Side::Hub, HashMap::new(), shared.log.clone(), cancel);
    *lock(&shared.current) = Some(tunnel);
    lock(&shared.hellos).push(recorded);
}

impl Tunnel {
    pub(super) fn open_stream(self: &Arc<Self>, connector: &str, socket: TcpStream) {
        let cid = Uuid::new_v4().to_string();
        let Some((rx, cancel)) = self.register(&cid) else {
            return;
        };
        note(&self.log, |o| {
            o.opens.push((cid.clone(), connector.to_owned()))
        });
        self.send(&json!({"t": "OPEN", "cid": cid, "connector": connector}));
        let tunnel = self.clone();
        tokio::spawn(async move { tunnel.relay(cid, socket, rx, cancel).await });
    }
}
