//! An independent, minimal V1-only peer: an old agent ([`V1Agent`]) and an old hub ([`V1Hub`]).
//!
//! Written from the SPEC's V1 JSON table (§2.1) with `serde_json::Value` and `base64` directly,
//! deliberately without the `nowconnect-protocol` crate, so that talking to the real hub and
//! agent is a genuine interoperability check rather than the product talking to itself.
//!
//! What it speaks: one JSON object per WebSocket text message; `HELLO` / `HELLO_ACK`; `OPEN`
//! (hub → agent, UUID cid); `DATA` (standard padded base64, `seq` counted per cid and per
//! direction from 0, at most [`MAX_WS_PAYLOAD`] raw bytes); `FIN` (`c2a` when the client side
//! finished, `a2c` when the target side finished) with real half-close; `RST`. Objects are
//! written by `serde_json::Value`, whose map sorts keys (so `"t"` is not first), which a V1
//! reader must accept.
//!
//! What it checks about the other side, recorded in [`Observed::violations`] (tests assert it
//! stays empty): non-text messages, invalid JSON, unknown `t`, strict padded base64, DATA larger
//! than [`MAX_WS_PAYLOAD`], `seq` gaps, a FIN whose `dir` names the wrong side, OPEN cids that are
//! not UUIDs, duplicate cids.
//!
//! Also here, for the interop and hostile tests: [`wait_routable`] (poll until a listener
//! carries an echo) and [`logs`] (capture of the product's log events and panics).
//!
//! Not here: V2, reconnects (each peer serves one tunnel), flow control beyond what TCP gives.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Raw bytes per DATA this peer sends, and the most it accepts (SPEC `max_ws_payload` default).
pub const MAX_WS_PAYLOAD: usize = 8192;

/// How long the handshake steps and target dials may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a peer saw on its tunnel(s); see [`V1Agent::observed`] and [`V1Hub::observed`].
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Departures from the V1 protocol by the other side. Must stay empty.
    pub violations: Vec<String>,
    /// OPENs sent (hub) or received (agent): `(cid, connector)`.
    pub opens: Vec<(String, String)>,
    /// RSTs received: `(cid, err)`.
    pub resets_received: Vec<(String, String)>,
    /// DATA / FIN / RST that named a cid this peer does not know (dropped).
    pub unknown_cid_frames: usize,
    /// DATA messages received.
    pub data_frames: usize,
    /// The close frame the other side sent, if it closed the tunnel: `(code, reason)`.
    pub peer_close: Option<(u16, String)>,
}

type Log = Arc<Mutex<Observed>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn note(log: &Log, f: impl FnOnce(&mut Observed)) {
    f(&mut lock(log));
}

fn violation(log: &Log, what: String) {
    tracing::warn!(what, "v1 peer: protocol violation by the other side");
    note(log, |o| o.violations.push(what));
}

/// Which end of the tunnel a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Agent,
    Hub,
}

impl Side {
    /// Direction word of what this side reads from its local socket (and sends FIN for).
    fn up_dir(self) -> &'static str {
        match self {
            Side::Agent => "a2c",
            Side::Hub => "c2a",
        }
    }

    /// Direction word of the FIN this side expects from the other.
    fn down_dir(self) -> &'static str {
        match self {
            Side::Agent => "c2a",
            Side::Hub => "a2c",
        }
    }
}

/// What the tunnel reader hands a stream.
#[derive(Debug)]
enum Inbound {
    Data(Vec<u8>),
    Fin,
}

#[derive(Debug)]
struct Slot {
    tx: mpsc::UnboundedSender<Inbound>,
    cancel: CancellationToken,
    /// Next `seq` expected from the other side.
    next_seq: u64,
}

/// One V1 tunnel after the handshake: a reader, a writer, and one relay task per stream.
#[derive(Debug)]
struct Tunnel {
    side: Side,
    targets: HashMap<String, SocketAddr>,
    out: mpsc::UnboundedSender<Message>,
    streams: Mutex<HashMap<String, Slot>>,
    log: Log,
    cancel: CancellationToken,
}

impl Tunnel {
    /// Starts the reader and writer tasks on a WebSocket whose handshake is done.
    fn spawn<S>(
        ws: WebSocketStream<S>,
        side: Side,
        targets: HashMap<String, SocketAddr>,
        log: Log,
        cancel: CancellationToken,
    ) -> Arc<Tunnel>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut source) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let tunnel = Arc::new(Tunnel {
            side,
            targets,
            out,
            streams: Mutex::new(HashMap::new()),
            log,
            cancel: cancel.clone(),
        });
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    msg = out_rx.recv() => match msg {
                        Some(msg) => {
                            if sink.send(msg).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = stop.cancelled() => {
                        let frame = CloseFrame { code: CloseCode::Normal, reason: "v1 peer done".into() };
                        let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(frame)))).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
                        break;
                    }
                }
            }
            stop.cancel();
        });
        let reader = tunnel.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = reader.cancel.cancelled() => break,
                    msg = source.next() => msg,
                };
                match msg {
                    Some(Ok(Message::Text(text))) => reader.on_text(text.as_str()),
                    Some(Ok(Message::Binary(_))) => {
                        violation(&reader.log, "binary message on a V1 tunnel".into())
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let close = frame.map_or((1005, String::new()), |f| {
                            (u16::from(f.code), f.reason.to_string())
                        });
                        note(&reader.log, |o| o.peer_close = Some(close));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            // The tunnel is gone: every stream ends at once (ws_broken), the writer closes.
            reader.cancel.cancel();
        });
        tunnel
    }

    fn send(&self, msg: &Value) {
        let _ = self.out.send(Message::text(msg.to_string()));
    }

    fn on_text(self: &Arc<Self>, text: &str) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return violation(&self.log, format!("text message is not JSON: {e}")),
        };
        let Some(obj) = value.as_object() else {
            return violation(&self.log, "text message is not a JSON object".into());
        };
        let str_field = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
        let t = str_field("t").unwrap_or_default();
        let expected = match self.side {
            Side::Agent => ["OPEN", "DATA", "FIN", "RST"].contains(&t.as_str()),
            Side::Hub => ["DATA", "FIN", "RST"].contains(&t.as_str()),
        };
        if !expected {
            return violation(
                &self.log,
                format!(
                    "unexpected message type {t:?} received by the {:?}",
                    self.side
                ),
            );
        }
        let Some(cid) = str_field("cid").filter(|c| !c.is_empty()) else {
            return violation(&self.log, format!("{t:?} message without a cid"));
        };
        match (t.as_str(), self.side) {
            ("OPEN", Side::Agent) => match str_field("connector") {
                Some(connector) => self.on_open(cid, connector),
                None => violation(&self.log, "OPEN without a connector".into()),
            },
            ("DATA", _) => {
                let seq = obj.get("seq").and_then(Value::as_u64);
                let bytes = str_field("b64").map(|b| STANDARD.decode(b.as_bytes()));
                match (seq, bytes) {
                    (Some(seq), Some(Ok(bytes))) => {
                        if bytes.len() > MAX_WS_PAYLOAD {
                            violation(
                                &self.log,
                                format!("DATA of {} bytes > max_ws_payload", bytes.len()),
                            );
                        }
                        note(&self.log, |o| o.data_frames += 1);
                        self.deliver(&cid, Some(seq), Inbound::Data(bytes));
                    }
                    (None, _) => violation(&self.log, "DATA without a numeric seq".into()),
                    (_, None) => violation(&self.log, "DATA without b64".into()),
                    (_, Some(Err(e))) => {
                        violation(&self.log, format!("DATA b64 is not padded base64: {e}"))
                    }
                }
            }
            ("FIN", _) => {
                let dir = str_field("dir").unwrap_or_default();
                if dir != self.side.down_dir() {
                    violation(
                        &self.log,
                        format!(
                            "FIN dir {dir:?} received by the {:?} (want {:?})",
                            self.side,
                            self.side.down_dir()
                        ),
                    );
                }
                self.deliver(&cid, None, Inbound::Fin);
            }
            ("RST", _) => {
                let err = str_field("err").unwrap_or_default();
                if err.is_empty() {
                    violation(&self.log, "RST without err".into());
                }
                let slot = lock(&self.streams).remove(&cid);
                match slot {
                    Some(slot) => slot.cancel.cancel(),
                    None => note(&self.log, |o| o.unknown_cid_frames += 1),
                }
                note(&self.log, |o| o.resets_received.push((cid, err)));
            }
            _ => {}
        }
    }

    /// Hands DATA / FIN to the stream's relay; checks `seq` for DATA.
    fn deliver(&self, cid: &str, seq: Option<u64>, item: Inbound) {
        let mismatch = {
            let mut streams = lock(&self.streams);
            let Some(slot) = streams.get_mut(cid) else {
                drop(streams);
                note(&self.log, |o| o.unknown_cid_frames += 1);
                return;
            };
            let mismatch = seq
                .filter(|&got| got != slot.next_seq)
                .map(|got| (got, slot.next_seq));
            if let Some(got) = seq {
                slot.next_seq = got.wrapping_add(1);
            }
            let _ = slot.tx.send(item);
            mismatch
        };
        if let Some((got, want)) = mismatch {
            violation(
                &self.log,
                format!("DATA seq {got} on cid {cid}, expected {want}"),
            );
        }
    }

    /// Registers a stream so that DATA arriving before its socket is ready is queued.
    fn register(&self, cid: &str) -> Option<(mpsc::UnboundedReceiver<Inbound>, CancellationToken)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = self.cancel.child_token();
        let mut streams = lock(&self.streams);
        if streams.contains_key(cid) {
            drop(streams);
            violation(&self.log, format!("duplicate cid {cid}"));
            return None;
        }
        streams.insert(
            cid.to_owned(),
            Slot {
                tx,
                cancel: cancel.clone(),
                next_seq: 0,
            },
        );
        Some((rx, cancel))
    }

    fn remove(&self, cid: &str) {
        lock(&self.streams).remove(cid);
    }

    /// Agent: dial the connector's target and relay, or answer RST.
    fn on_open(self: &Arc<Self>, cid: String, connector: String) {
        if Uuid::parse_str(&cid).is_err() {
            violation(&self.log, format!("OPEN cid {cid:?} is not a UUID"));
        }
        note(&self.log, |o| {
            o.opens.push((cid.clone(), connector.clone()))
        });
        let Some(&target) = self.targets.get(&connector) else {
            self.send(&json!({"t": "RST", "cid": cid, "err": "unknown_connector"}));
            return;
        };
        let Some((rx, cancel)) = self.register(&cid) else {
            return;
        };
        let tunnel = self.clone();
        tokio::spawn(async move {
            let dialed = tokio::select! {
                _ = cancel.cancelled() => return,
                dialed = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(target)) => dialed,
            };
            match dialed {
                Ok(Ok(socket)) => tunnel.relay(cid, socket, rx, cancel).await,
                _ => {
                    tunnel.remove(&cid);
                    tunnel.send(&json!({"t": "RST", "cid": cid, "err": "connect_failed"}));
                }
            }
        });
    }

    /// Hub: carries a client connection as a new stream.
    fn open_stream(self: &Arc<Self>, connector: &str, socket: TcpStream) {
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

    /// Relays one stream until both sides sent FIN, either side failed, or it is cancelled
    /// (RST from the other side, or the tunnel went away).
    async fn relay(
        &self,
        cid: String,
        socket: TcpStream,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
        cancel: CancellationToken,
    ) {
        let _ = socket.set_nodelay(true);
        let (mut reader, mut writer) = socket.into_split();
        let reset = |err: &str| {
            if !cancel.is_cancelled() {
                self.send(&json!({"t": "RST", "cid": cid, "err": err}));
                cancel.cancel();
            }
        };
        let up = async {
            let mut buf = vec![0u8; MAX_WS_PAYLOAD];
            let mut seq = 0u64;
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) => {
                        self.send(&json!({"t": "FIN", "cid": cid, "dir": self.side.up_dir()}));
                        return;
                    }
                    Ok(n) => {
                        let b64 = STANDARD.encode(&buf[..n]);
                        self.send(&json!({"t": "DATA", "cid": cid, "seq": seq, "b64": b64}));
                        seq += 1;
                    }
                    Err(_) => return reset("peer_reset"),
                }
            }
        };
        let down = async {
            while let Some(item) = rx.recv().await {
                match item {
                    Inbound::Data(bytes) => {
                        if writer.write_all(&bytes).await.is_err() {
                            return reset("peer_reset");
                        }
                    }
                    Inbound::Fin => {
                        let _ = writer.shutdown().await;
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = async { tokio::join!(up, down) } => {}
        }
        self.remove(&cid);
    }
}

/// Reads the next text message, skipping pings and pongs; panics on anything else.
async fn next_text<S>(ws: &mut WebSocketStream<S>, what: &str) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected {what} as a text message, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {STEP_TIMEOUT:?}"))
}

/// An old (V1-only) agent: HELLO without capabilities, then serves OPENs by dialing `targets`.
/// One tunnel, no reconnects; dropping it closes the tunnel.
#[derive(Debug)]
pub struct V1Agent {
    /// The hub's HELLO_ACK as received.
    pub hello_ack: Value,
    log: Log,
    cancel: CancellationToken,
}

impl V1Agent {
    /// Connects to `url` with `Authorization: Bearer <token>`, sends
    /// `{"t":"HELLO","agent_id":..,"connectors":[..],"ver":"1","tenant":"legacy"}` (the extra
    /// field on purpose) and waits for HELLO_ACK. Panics if the hub refuses.
    pub async fn start(
        url: &str,
        token: &str,
        agent_id: &str,
        targets: &[(&str, SocketAddr)],
    ) -> V1Agent {
        let mut request = url.into_client_request().expect("tunnel URL");
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("token header");
        request.headers_mut().insert("authorization", bearer);
        let (mut ws, _) =
            tokio::time::timeout(STEP_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .expect("upgrade in time")
                .expect("hub accepts the upgrade");
        let connectors: Vec<&str> = targets.iter().map(|(c, _)| *c).collect();
        let hello = json!({
            "t": "HELLO",
            "agent_id": agent_id,
            "connectors": connectors,
            "ver": "1",
            "tenant": "legacy",
        });
        ws.send(Message::text(hello.to_string()))
            .await
            .expect("send HELLO");
        let text = next_text(&mut ws, "HELLO_ACK").await;
        let hello_ack: Value = serde_json::from_str(&text).expect("HELLO_ACK is JSON");
        assert_eq!(hello_ack["t"], "HELLO_ACK", "answer to HELLO: {text}");
        let log = Log::default();
        let cancel = CancellationToken::new();
        let targets = targets.iter().map(|(c, a)| ((*c).to_owned(), *a)).collect();
        Tunnel::spawn(ws, Side::Agent, targets, log.clone(), cancel.clone());
        V1Agent {
            hello_ack,
            log,
            cancel,
        }
    }

    /// A snapshot of what this agent saw.
    pub fn observed(&self) -> Observed {
        lock(&self.log).clone()
    }

    /// Whether the tunnel has ended (closed by either side).
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Closes the tunnel (code 1000) and resets nothing: streams simply end.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for V1Agent {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

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
            tokio::spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        _ = cancel.cancelled() => break,
                        accepted = tunnel.accept() => accepted,
                    };
                    if let Ok((socket, _)) = accepted {
                        tokio::spawn(serve_agent(shared.clone(), socket, cancel.child_token()));
                    }
                }
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
            let cancel = cancel.clone();
            let connector = connector.to_owned();
            tokio::spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        _ = cancel.cancelled() => break,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((socket, _)) = accepted else { continue };
                    let agent = lock(&shared.current)
                        .clone()
                        .filter(|t| !t.cancel.is_cancelled());
                    match agent {
                        Some(tunnel) => tunnel.open_stream(&connector, socket),
                        None => drop(socket), // no agent: close the client at once
                    }
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

/// Waits until a connection to `addr` (a listener whose connector's target echoes) carries
/// bytes both ways: the agent is registered and routable. A listener with no agent behind it
/// closes the client at once, so each attempt is quick; polls until `within` has passed.
pub async fn wait_routable(addr: SocketAddr, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let attempt = async {
            let mut socket = TcpStream::connect(addr).await.ok()?;
            socket.write_all(b"probe").await.ok()?;
            let mut got = [0u8; 5];
            socket.read_exact(&mut got).await.ok()?;
            (&got == b"probe").then_some(())
        };
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(2), attempt).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never carried an echo within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The product's log events and panics, captured in-process so tests can assert that a
/// refused or broken tunnel was closed *with a logged reason*, which protocol a tunnel
/// negotiated, and that nothing panicked.
///
/// [`logs::install`] sets a process-wide `tracing` subscriber (first call wins; later calls
/// are no-ops) that keeps every event of a `nowconnect*` target at DEBUG or above as a map of
/// field name to text, and a panic hook that records panics raised outside this test crate
/// (product code or its dependencies). Spans are ignored. Filter events by a field unique to
/// the test (an `agent_id`, a `cid`), since tests of one binary share the capture.
pub mod logs {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event as TracingEvent, Level, Metadata, Subscriber};

    /// One log event: field name → value as text (`message` holds the message, if any).
    pub type Event = BTreeMap<String, String>;

    static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
    static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static INSTALLED: OnceLock<()> = OnceLock::new();

    struct Capture;

    #[derive(Default)]
    struct Fields(Event);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, meta: &Metadata<'_>) -> bool {
            meta.target().starts_with("nowconnect") && *meta.level() <= Level::DEBUG
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &TracingEvent<'_>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            fields
                .0
                .insert("level".into(), event.metadata().level().to_string());
            fields
                .0
                .insert("target".into(), event.metadata().target().to_owned());
            super::lock(&EVENTS).push(fields.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Installs the capture (idempotent).
    pub fn install() {
        INSTALLED.get_or_init(|| {
            let _ = tracing::subscriber::set_global_default(Capture);
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let outside_tests = info
                    .location()
                    .is_none_or(|l| !l.file().starts_with("tests/"));
                if outside_tests {
                    super::lock(&PANICS).push(info.to_string());
                }
                previous(info);
            }));
        });
    }

    /// Every event captured so far.
    pub fn events() -> Vec<Event> {
        super::lock(&EVENTS).clone()
    }

    /// Polls until an event satisfies `pred`; panics after `within`.
    pub async fn wait_event(within: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(e) = super::lock(&EVENTS).iter().find(|e| pred(e)) {
                return e.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log event {what} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether `event` has `field` equal to `value`.
    pub fn has(event: &Event, field: &str, value: &str) -> bool {
        event.get(field).is_some_and(|v| v == value)
    }

    /// Panics raised outside the test crate since [`install`] (must stay empty).
    pub fn product_panics() -> Vec<String> {
        super::lock(&PANICS).clone()
    }
}
