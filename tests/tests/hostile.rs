//! Hostile peers: garbage, truncated and misdirected frames in both protocol versions, sent to
//! the real hub by a fake agent and to the real agent by a fake hub. Nothing panics; the tunnel
//! (or only the stream) is closed with the documented close code and a logged reason; frames
//! for unknown streams are dropped; and afterwards the hub still serves real agents and the
//! agent reconnects.
//!
//! The fake peers are raw tokio-tungstenite sockets with V1 JSON and V2 frames built by hand
//! from `docs/protocol.md`, not with the product's codec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, TestHub, start_agent, start_hub};
use nowconnect_e2e::targets;
use nowconnect_e2e::v1peer::{logs, wait_routable};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// Generous bound for anything that should happen "at once".
const PROMPT: Duration = Duration::from_secs(5);

type ClientWs = WebSocketStream<MaybeTlsStream<TcpStream>>;
type ServerWs = WebSocketStream<TcpStream>;

// ---------------------------------------------------------------------------------------------
// Raw WebSocket helpers (both ends)

fn text(v: &Value) -> Message {
    Message::text(v.to_string())
}

/// The next message that is not a ping or pong; `None` when the connection ended.
async fn next_msg<S>(ws: &mut WebSocketStream<S>, within: Duration) -> Option<Message>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(msg)) => return Some(msg),
                Some(Err(_)) | None => return None,
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("no message within {within:?}"))
}

/// The next message, which must be one JSON text object.
async fn next_json<S>(ws: &mut WebSocketStream<S>, what: &str) -> Value
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match next_msg(ws, PROMPT).await {
        Some(Message::Text(t)) => serde_json::from_str(t.as_str())
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {t}")),
        other => panic!("expected {what} as JSON text, got {other:?}"),
    }
}

/// The next binary message, parsed into V2 frames.
async fn next_frames<S>(ws: &mut WebSocketStream<S>, what: &str) -> Vec<Frame>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match next_msg(ws, PROMPT).await {
        Some(Message::Binary(b)) => parse_frames(&b),
        other => panic!("expected {what} as a binary message, got {other:?}"),
    }
}

/// How the other side ended the WebSocket.
#[derive(Debug)]
struct Closed {
    /// The close code; `None` for a close frame without one, or no close frame at all.
    code: Option<u16>,
    reason: String,
    /// Whether a close frame arrived at all (not just a dropped connection).
    frame: bool,
}

/// Reads until the other side closes; other messages are skipped.
async fn expect_close<S>(ws: &mut WebSocketStream<S>) -> Closed
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        frame: true,
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Closed {
                        code: None,
                        reason: String::new(),
                        frame: false,
                    };
                }
            }
        }
    };
    tokio::time::timeout(PROMPT, read)
        .await
        .expect("the peer closes the tunnel within 5 s")
}

fn assert_closed_with(closed: &Closed, code: u16, case: &str) {
    assert!(
        closed.frame,
        "{case}: the peer sends a close frame, not just a dropped connection: {closed:?}"
    );
    assert_eq!(
        closed.code,
        Some(code),
        "{case}: expected close code {code}, got {closed:?}"
    );
    assert!(
        !closed.reason.is_empty(),
        "{case}: the close frame carries a reason"
    );
}

// ---------------------------------------------------------------------------------------------
// V2 frames, by hand from docs/protocol.md §4

const OPEN: u8 = 0x01;
const DATA: u8 = 0x02;
const FIN: u8 = 0x03;
const RST: u8 = 0x04;
const CREDIT: u8 = 0x05;

#[derive(Debug, Clone, PartialEq)]
struct Frame {
    kind: u8,
    id: u32,
    payload: Vec<u8>,
}

fn frame(kind: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend(id.to_be_bytes());
    f.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend(payload);
    f
}

fn open_frame(id: u32, cid: Uuid, connector: &str) -> Vec<u8> {
    let mut p = cid.as_bytes().to_vec();
    p.push(u8::try_from(connector.len()).unwrap());
    p.extend(connector.as_bytes());
    p.push(0); // no traceparent
    frame(OPEN, id, &p)
}

/// Parses a whole binary message; panics on a truncated one (the product must never send it).
fn parse_frames(mut b: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 9, "truncated V2 header from the product");
        let id = u32::from_be_bytes(b[1..5].try_into().unwrap());
        let len = u32::from_be_bytes(b[5..9].try_into().unwrap()) as usize;
        assert!(b.len() >= 9 + len, "truncated V2 payload from the product");
        frames.push(Frame {
            kind: b[0],
            id,
            payload: b[9..9 + len].to_vec(),
        });
        b = &b[9 + len..];
    }
    frames
}

// ---------------------------------------------------------------------------------------------
// The scene of a hostile-agent test: a real hub, a fake agent, and real agents afterwards

/// The real hub with two listeners: `fake` (served by the fake agent under test) and `echo`
/// (served by real agents started afterwards to show the hub still works).
struct Scene {
    creds: Creds,
    hub: TestHub,
    echo: SocketAddr,
    label: &'static str,
}

impl Scene {
    async fn start(label: &'static str) -> Scene {
        logs::install();
        let creds = Creds::new();
        let hub = start_hub(&creds, &["fake", "echo"], HubOpts::default()).await;
        let echo = targets::echo_server().await;
        Scene {
            creds,
            hub,
            echo,
            label,
        }
    }

    /// A raw WebSocket to the hub with a valid token for `agent_id`.
    async fn dial(&self, agent_id: &str) -> ClientWs {
        let mut request = self.hub.url().into_client_request().unwrap();
        let bearer = format!("Bearer {}", self.creds.token(agent_id));
        request
            .headers_mut()
            .insert("authorization", HeaderValue::from_str(&bearer).unwrap());
        let (ws, _) = tokio::time::timeout(PROMPT, tokio_tungstenite::connect_async(request))
            .await
            .expect("upgrade in time")
            .expect("the hub accepts a valid token");
        ws
    }

    /// Dials and completes a V1 handshake (no caps); checks the ack stays on V1.
    async fn dial_v1(&self, agent_id: &str) -> ClientWs {
        let mut ws = self.dial(agent_id).await;
        let hello = json!({"t": "HELLO", "agent_id": agent_id, "connectors": ["fake"], "ver": "1"});
        ws.send(text(&hello)).await.unwrap();
        let ack = next_json(&mut ws, "HELLO_ACK").await;
        assert_eq!(ack["t"], "HELLO_ACK");
        assert!(
            !ack["caps"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "v2")),
            "a V1 HELLO gets a V1 ack: {ack}"
        );
        ws
    }

    /// Dials and completes a V2 handshake; returns the socket and the agreed max_frame.
    async fn dial_v2(&self, agent_id: &str) -> (ClientWs, u32) {
        let mut ws = self.dial(agent_id).await;
        let hello = json!({
            "t": "HELLO", "agent_id": agent_id, "connectors": ["fake"],
            "ver": "2", "caps": ["v2"], "max_frame": 65536,
        });
        ws.send(text(&hello)).await.unwrap();
        let ack = next_json(&mut ws, "HELLO_ACK").await;
        assert_eq!(ack["t"], "HELLO_ACK");
        assert_eq!(ack["ver"], "2", "the hub chose V2: {ack}");
        assert!(
            ack["caps"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "v2")),
            "the hub chose V2: {ack}"
        );
        let max_frame = ack["max_frame"].as_u64().expect("max_frame in a V2 ack");
        let window = ack["window"].as_u64().expect("window in a V2 ack");
        assert!((1024..=65536).contains(&max_frame), "max_frame {max_frame}");
        assert!(window >= max_frame, "window {window} >= max_frame");
        (ws, u32::try_from(max_frame).unwrap())
    }

    /// The hub logged `event` for `agent_id` with a non-empty `reason`.
    async fn assert_logged(&self, event: &str, agent_id: &str) -> logs::Event {
        let e = logs::wait_event(PROMPT, &format!("{event} for {agent_id}"), |e| {
            logs::has(e, "event", event) && logs::has(e, "agent_id", agent_id)
        })
        .await;
        assert!(
            e.get("reason").is_some_and(|r| !r.is_empty()),
            "{event} for {agent_id} logs a reason: {e:?}"
        );
        e
    }

    /// After a hostile case: a fresh real agent connects to the same hub and carries an echo.
    async fn assert_serves(&self, case: &str) {
        let agent_id = format!("real-{}-{case}", self.label);
        let agent = start_agent(
            &self.creds,
            &self.hub.url(),
            &agent_id,
            &[("echo", self.echo)],
            AgentOpts::default(),
        )
        .await;
        agent.wait_ready().await;
        let addr = self.hub.listener("echo");
        wait_routable(addr, Duration::from_secs(10)).await;
        let mut data = vec![0u8; 100_000];
        rand::rngs::StdRng::seed_from_u64(1).fill(&mut data[..]);
        let socket = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = socket.into_split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut got))
            .await
            .expect("echo in time")
            .expect("read echo");
        writer.await.unwrap();
        assert_eq!(
            Sha256::digest(&got),
            Sha256::digest(&data),
            "after {case}: echo through a real agent"
        );
        agent.stop().await;
        assert_eq!(
            logs::product_panics(),
            Vec::<String>::new(),
            "after {case}: nothing panicked"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile agents against the real hub: the handshake (1008)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_refuses_a_first_message_that_is_not_a_json_hello_with_1008() {
    let scene = Scene::start("first").await;
    let cases: [(&str, Message); 4] = [
        ("not-json", Message::text("hello there, not JSON")),
        (
            "truncated-json",
            Message::text(r#"{"t":"HELLO","agent_id":"#),
        ),
        (
            "json-not-hello",
            Message::text(r#"{"t":"DATA","cid":"x","seq":0,"b64":"AA=="}"#),
        ),
        ("binary", Message::binary(vec![1u8, 2, 3, 4, 5])),
    ];
    for (case, first) in cases {
        let agent_id = format!("hostile-first-{case}");
        let mut ws = scene.dial(&agent_id).await;
        ws.send(first).await.unwrap();
        let closed = expect_close(&mut ws).await;
        assert_closed_with(&closed, 1008, case);
        scene.assert_logged("hello_rejected", &agent_id).await;
        scene.assert_serves(case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_refuses_a_hello_for_another_agent_id_with_1008() {
    let scene = Scene::start("mismatch").await;
    let mut ws = scene.dial("hostile-owner").await;
    let hello =
        json!({"t": "HELLO", "agent_id": "someone-else", "connectors": ["fake"], "ver": "1"});
    ws.send(text(&hello)).await.unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1008, "agent_id mismatch");
    scene.assert_logged("hello_rejected", "hostile-owner").await;
    // The impostor never got registered: its connector has no agent.
    let mut client = TcpStream::connect(scene.hub.listener("fake"))
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(PROMPT, client.read_to_end(&mut buf))
        .await
        .expect("a client of an unserved connector is closed at once")
        .ok();
    assert!(buf.is_empty());
    scene.assert_serves("mismatch").await;
}

// ---------------------------------------------------------------------------------------------
// Hostile agents against the real hub: broken frames after the handshake (1002)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_closes_a_v1_tunnel_on_garbage_with_1002() {
    let scene = Scene::start("v1garbage").await;
    let cases = [
        ("not-json", r#"{not json"#),
        ("unknown-type", r#"{"t":"NOPE"}"#),
        (
            "bad-base64",
            r#"{"t":"DATA","cid":"x","seq":0,"b64":"!!!"}"#,
        ),
        ("missing-t", r#"{"cid":"x","seq":0,"b64":"AA=="}"#),
        ("fin-bad-dir", r#"{"t":"FIN","cid":"x","dir":"sideways"}"#),
    ];
    for (case, garbage) in cases {
        let agent_id = format!("hostile-v1-{case}");
        let mut ws = scene.dial_v1(&agent_id).await;
        ws.send(Message::text(garbage)).await.unwrap();
        let closed = expect_close(&mut ws).await;
        assert_closed_with(&closed, 1002, case);
        scene.assert_logged("protocol_error", &agent_id).await;
        scene.assert_serves(case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_closes_a_v2_tunnel_on_a_malformed_frame_with_1002() {
    let scene = Scene::start("v2garbage").await;
    // One case per row; `max_frame` is filled in after the handshake.
    type Build = fn(u32) -> Vec<u8>;
    let cases: [(&str, Build); 7] = [
        ("truncated-header", |_| vec![DATA, 0, 0, 0]),
        ("truncated-5-bytes", |_| vec![DATA, 0, 0, 0, 1]),
        ("truncated-payload", |_| {
            let mut f = frame(DATA, 1, &[9u8; 100]);
            f.truncate(9 + 10);
            f
        }),
        ("unknown-type", |_| frame(0x7f, 1, &[])),
        ("data-beyond-max-frame", |max| {
            frame(DATA, 1, &vec![0u8; max as usize + 1])
        }),
        ("empty-data", |_| frame(DATA, 1, &[])),
        ("zero-credit", |_| frame(CREDIT, 1, &0u32.to_be_bytes())),
    ];
    for (case, build) in cases {
        let agent_id = format!("hostile-v2-{case}");
        let (mut ws, max_frame) = scene.dial_v2(&agent_id).await;
        ws.send(Message::binary(build(max_frame))).await.unwrap();
        let closed = expect_close(&mut ws).await;
        assert_closed_with(&closed, 1002, case);
        scene.assert_logged("protocol_error", &agent_id).await;
        scene.assert_serves(case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_closes_on_the_wrong_message_kind_with_1002() {
    let scene = Scene::start("kind").await;

    let mut ws = scene.dial_v1("hostile-binary-on-v1").await;
    ws.send(Message::binary(frame(FIN, 1, &[0]))).await.unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "binary on V1");
    scene
        .assert_logged("protocol_error", "hostile-binary-on-v1")
        .await;
    scene.assert_serves("binary-on-v1").await;

    let (mut ws, _) = scene.dial_v2("hostile-text-on-v2").await;
    let fin = json!({"t": "FIN", "cid": Uuid::new_v4().to_string(), "dir": "a2c"});
    ws.send(text(&fin)).await.unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "text on V2");
    scene
        .assert_logged("protocol_error", "hostile-text-on-v2")
        .await;
    scene.assert_serves("text-on-v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_closes_when_an_agent_sends_open_with_1002() {
    let scene = Scene::start("open").await;

    let mut ws = scene.dial_v1("hostile-open-v1").await;
    let open = json!({"t": "OPEN", "cid": Uuid::new_v4().to_string(), "connector": "echo"});
    ws.send(text(&open)).await.unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "V1 OPEN from an agent");
    scene
        .assert_logged("protocol_error", "hostile-open-v1")
        .await;
    scene.assert_serves("open-v1").await;

    let (mut ws, _) = scene.dial_v2("hostile-open-v2").await;
    ws.send(Message::binary(open_frame(1, Uuid::new_v4(), "echo")))
        .await
        .unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "V2 OPEN from an agent");
    scene
        .assert_logged("protocol_error", "hostile-open-v2")
        .await;
    scene.assert_serves("open-v2").await;
}

// ---------------------------------------------------------------------------------------------
// Hostile agents against the real hub: frames for unknown streams are dropped

/// Connects clients to `addr` until the hub routes one to the fake agent on `ws` (the hub
/// registers a tunnel just after its HELLO_ACK, and closes clients at once until then).
/// Returns the client and the first message the fake agent got after it.
async fn client_until_routed<S>(
    ws: &mut WebSocketStream<S>,
    addr: SocketAddr,
) -> (TcpStream, Message)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut byte = [0u8; 1];
        let routed = tokio::select! {
            msg = next_msg(ws, Duration::from_secs(10)) => Some(msg),
            _ = client.read(&mut byte) => None, // refused: no agent registered yet
        };
        match routed {
            Some(Some(msg)) => return (client, msg),
            Some(None) => panic!("the hub dropped the tunnel instead of routing a client"),
            None => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the hub never routed a client to the fake agent"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The client's connection ends promptly without bytes.
async fn assert_client_closed(client: &mut TcpStream, case: &str) {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PROMPT, client.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{case}: the client is closed within 5 s"));
    assert!(buf.is_empty(), "{case}: no bytes for a reset stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_drops_v1_frames_for_unknown_cids_and_stays_up() {
    let scene = Scene::start("unknown1").await;
    let agent_id = "hostile-unknown-v1";
    let mut ws = scene.dial_v1(agent_id).await;
    let ghost = Uuid::new_v4().to_string();
    for msg in [
        json!({"t": "DATA", "cid": ghost, "seq": 0, "b64": STANDARD.encode(b"hello")}),
        json!({"t": "DATA", "cid": ghost, "seq": 1, "b64": STANDARD.encode(vec![7u8; 8192])}),
        json!({"t": "FIN", "cid": ghost, "dir": "a2c"}),
        json!({"t": "RST", "cid": ghost, "err": "peer_reset"}),
        json!({"t": "DATA", "cid": "not-even-a-uuid", "seq": 0, "b64": ""}),
    ] {
        ws.send(text(&msg)).await.unwrap();
    }
    // The tunnel is still up: a client of `fake` gets an OPEN (and no RST came before it, so
    // the RST for the unknown cid was not answered).
    let (mut client, msg) = client_until_routed(&mut ws, scene.hub.listener("fake")).await;
    let open: Value = match msg {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("expected OPEN, got {other:?}"),
    };
    assert_eq!(open["t"], "OPEN", "first message after the junk: {open}");
    assert_eq!(open["connector"], "fake");
    let cid = open["cid"].as_str().expect("cid").to_owned();
    Uuid::parse_str(&cid).expect("the hub's cid is a UUID");
    // The fake agent cannot reach its target: the client is closed promptly.
    ws.send(text(
        &json!({"t": "RST", "cid": cid, "err": "connect_failed"}),
    ))
    .await
    .unwrap();
    assert_client_closed(&mut client, "RST connect_failed").await;
    // Frames for the now-finished stream are dropped too; a second client still gets an OPEN,
    // and nothing (no RST answering ours) came in between.
    ws.send(text(
        &json!({"t": "DATA", "cid": cid, "seq": 0, "b64": "AA=="}),
    ))
    .await
    .unwrap();
    let (mut client2, msg) = client_until_routed(&mut ws, scene.hub.listener("fake")).await;
    let open2: Value = match msg {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("expected OPEN, got {other:?}"),
    };
    assert_eq!(open2["t"], "OPEN", "{open2}");
    assert_ne!(open2["cid"], open["cid"], "a fresh cid per stream");
    ws.send(text(
        &json!({"t": "RST", "cid": open2["cid"], "err": "connect_failed"}),
    ))
    .await
    .unwrap();
    assert_client_closed(&mut client2, "second RST").await;
    logs::wait_event(PROMPT, "unknown_stream for the ghost cid", |e| {
        logs::has(e, "event", "unknown_stream") && logs::has(e, "cid", &ghost)
    })
    .await;
    ws.close(None).await.ok();
    scene.assert_serves("unknown-v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_drops_v2_frames_for_unknown_streams_and_stays_up() {
    let scene = Scene::start("unknown2").await;
    let (mut ws, max_frame) = scene.dial_v2("hostile-unknown-v2").await;
    let ghost = 0x7fff_0001u32;
    let mut junk = Vec::new();
    junk.extend(frame(DATA, ghost, b"hello"));
    junk.extend(frame(DATA, ghost, &vec![1u8; max_frame as usize]));
    junk.extend(frame(CREDIT, ghost, &4096u32.to_be_bytes()));
    junk.extend(frame(FIN, ghost, &[1]));
    junk.extend(frame(RST, ghost, &[9]));
    ws.send(Message::binary(junk)).await.unwrap();
    ws.send(Message::binary(frame(RST, ghost + 1, &[0, b'x'])))
        .await
        .unwrap();

    let (mut client, msg) = client_until_routed(&mut ws, scene.hub.listener("fake")).await;
    let frames = match msg {
        Message::Binary(b) => parse_frames(&b),
        other => panic!("expected a binary OPEN, got {other:?}"),
    };
    assert_eq!(frames.len(), 1, "only the OPEN: {frames:?}");
    let open = &frames[0];
    assert_eq!(open.kind, OPEN, "{open:?}");
    assert_ne!(open.id, ghost);
    let connector_len = open.payload[16] as usize;
    assert_eq!(&open.payload[17..17 + connector_len], b"fake");
    ws.send(Message::binary(frame(RST, open.id, &[1])))
        .await
        .unwrap();
    assert_client_closed(&mut client, "RST connect_failed").await;

    ws.send(Message::binary(frame(DATA, open.id, b"late")))
        .await
        .unwrap();
    let (mut client2, msg) = client_until_routed(&mut ws, scene.hub.listener("fake")).await;
    let frames = match msg {
        Message::Binary(b) => parse_frames(&b),
        other => panic!("expected a binary OPEN, got {other:?}"),
    };
    assert_eq!(frames.len(), 1, "only the OPEN: {frames:?}");
    assert_eq!(frames[0].kind, OPEN);
    assert_ne!(frames[0].id, open.id, "a fresh stream id");
    ws.send(Message::binary(frame(RST, frames[0].id, &[1])))
        .await
        .unwrap();
    assert_client_closed(&mut client2, "second RST").await;
    let ghost_text = ghost.to_string();
    logs::wait_event(PROMPT, "unknown_stream for the ghost id", |e| {
        logs::has(e, "event", "unknown_stream") && logs::has(e, "stream", &ghost_text)
    })
    .await;
    ws.close(None).await.ok();
    scene.assert_serves("unknown-v2").await;
}

// ---------------------------------------------------------------------------------------------
// A malicious hub against the real agent

/// A tiny fake hub: accepts WebSockets on 127.0.0.1:0 and hands each to the test.
struct FakeHub {
    addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<ServerWs>,
}

impl FakeHub {
    async fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(socket).await {
                        let _ = tx.send(ws);
                    }
                });
            }
        });
        FakeHub { addr, conns }
    }

    fn url(&self) -> String {
        format!("ws://{}/tunnel", self.addr)
    }

    /// The next agent connection, with its HELLO read and checked.
    async fn next_agent(&mut self, agent_id: &str) -> (ServerWs, Value) {
        let mut ws = tokio::time::timeout(Duration::from_secs(15), self.conns.recv())
            .await
            .expect("the agent (re)connects within 15 s")
            .expect("fake hub running");
        let hello = next_json(&mut ws, "HELLO").await;
        assert_eq!(hello["t"], "HELLO", "{hello}");
        assert_eq!(hello["agent_id"], agent_id);
        assert!(
            hello["caps"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "v2")),
            "the real agent offers V2: {hello}"
        );
        (ws, hello)
    }
}

/// A real agent (offering V2) started against a fake hub; it exports `echo`. The credentials
/// live as long as the agent: it re-reads its token file on every reconnect.
struct Victim {
    _agent: nowconnect_e2e::stack::TestAgent,
    _creds: Creds,
}

async fn victim(fake: &FakeHub, agent_id: &str) -> Victim {
    logs::install();
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let agent = start_agent(
        &creds,
        &fake.url(),
        agent_id,
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;
    Victim {
        _agent: agent,
        _creds: creds,
    }
}

/// Reads V1 messages for `cid` until its FIN a2c; returns the DATA bytes. Anything else fails.
async fn v1_echo_reply(ws: &mut ServerWs, cid: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut seq = 0;
    loop {
        let msg = next_json(ws, "DATA or FIN").await;
        assert_eq!(msg["cid"], cid, "only the live stream talks: {msg}");
        match msg["t"].as_str() {
            Some("DATA") => {
                assert_eq!(msg["seq"], seq, "seq counts from 0");
                seq += 1;
                got.extend(STANDARD.decode(msg["b64"].as_str().unwrap()).unwrap());
            }
            Some("FIN") => {
                assert_eq!(msg["dir"], "a2c");
                return got;
            }
            _ => panic!("unexpected message from the agent: {msg}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_survives_a_malicious_v1_hub() {
    let mut fake = FakeHub::start().await;
    let agent_id = "victim-v1";
    let _agent = victim(&fake, agent_id).await;
    let (mut ws, _) = fake.next_agent(agent_id).await;
    ws.send(text(&json!({"t": "HELLO_ACK"}))).await.unwrap(); // an old hub: V1

    // OPEN for a connector the agent does not export: answered with an RST for that cid.
    let nope = Uuid::new_v4().to_string();
    ws.send(text(
        &json!({"t": "OPEN", "cid": nope, "connector": "nope"}),
    ))
    .await
    .unwrap();
    let rst = next_json(&mut ws, "RST").await;
    assert_eq!(rst["t"], "RST", "{rst}");
    assert_eq!(rst["cid"], nope.as_str(), "{rst}");
    let err = rst["err"].as_str().unwrap_or_default();
    assert!(
        ["connect_failed", "unknown_connector"].contains(&err),
        "RST err for an unknown connector: {rst}"
    );

    // Huge DATA (2 MiB, about 2.8 MB of base64), FIN and RST for unknown cids: dropped.
    let ghost = Uuid::new_v4().to_string();
    let huge = STANDARD.encode(vec![0x42u8; 2 << 20]);
    ws.send(text(
        &json!({"t": "DATA", "cid": ghost, "seq": 0, "b64": huge}),
    ))
    .await
    .unwrap();
    ws.send(text(&json!({"t": "FIN", "cid": ghost, "dir": "c2a"})))
        .await
        .unwrap();
    ws.send(text(
        &json!({"t": "RST", "cid": ghost, "err": "peer_reset"}),
    ))
    .await
    .unwrap();

    // The tunnel is still up: a real stream echoes, half-close included.
    let cid = Uuid::new_v4().to_string();
    let payload = b"hello through a hostile hub";
    for msg in [
        json!({"t": "OPEN", "cid": cid, "connector": "echo"}),
        json!({"t": "DATA", "cid": cid, "seq": 0, "b64": STANDARD.encode(payload)}),
        json!({"t": "FIN", "cid": cid, "dir": "c2a"}),
    ] {
        ws.send(text(&msg)).await.unwrap();
    }
    assert_eq!(v1_echo_reply(&mut ws, &cid).await, payload);

    // Garbage: the agent closes the tunnel (1002, logged) and reconnects.
    ws.send(Message::text("{not json")).await.unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "garbage from the hub");
    let e = logs::wait_event(PROMPT, "tunnel_down protocol_error", |e| {
        logs::has(e, "event", "tunnel_down")
            && logs::has(e, "agent_id", agent_id)
            && logs::has(e, "reason", "protocol_error")
    })
    .await;
    assert!(
        e.contains_key("detail"),
        "the reason detail is logged: {e:?}"
    );
    let (mut ws2, _) = fake.next_agent(agent_id).await;
    ws2.send(text(&json!({"t": "HELLO_ACK"}))).await.unwrap();

    // And a binary message on the V1 tunnel: closed again, reconnects again.
    ws2.send(Message::binary(vec![0u8; 16])).await.unwrap();
    let closed = expect_close(&mut ws2).await;
    assert_closed_with(&closed, 1002, "binary on V1 from the hub");
    let _ws3 = fake.next_agent(agent_id).await;
    assert_eq!(logs::product_panics(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_survives_a_malicious_v2_hub() {
    let mut fake = FakeHub::start().await;
    let agent_id = "victim-v2";
    let _agent = victim(&fake, agent_id).await;
    let (mut ws, hello) = fake.next_agent(agent_id).await;
    let max_frame = hello["max_frame"]
        .as_u64()
        .expect("a V2 offer names max_frame");
    assert!(max_frame >= 1024, "{hello}");
    let ack = json!({
        "t": "HELLO_ACK", "ver": "2", "caps": ["v2"],
        "max_frame": max_frame, "window": max_frame.max(819_200),
    });
    ws.send(text(&ack)).await.unwrap();

    // OPEN for a connector the agent does not export: an RST for that stream id.
    ws.send(Message::binary(open_frame(1, Uuid::new_v4(), "nope")))
        .await
        .unwrap();
    let frames = next_frames(&mut ws, "RST").await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!((frames[0].kind, frames[0].id), (RST, 1), "{frames:?}");
    assert!(
        [1u8, 8].contains(&frames[0].payload[0]),
        "RST code connect_failed (1) or unknown_connector (8): {frames:?}"
    );

    // Frames for unknown streams, then a real stream, packed in one message.
    let mut batch = Vec::new();
    batch.extend(frame(
        DATA,
        77,
        &vec![3u8; usize::try_from(max_frame).unwrap()],
    ));
    batch.extend(frame(CREDIT, 77, &1000u32.to_be_bytes()));
    batch.extend(frame(FIN, 77, &[0]));
    batch.extend(frame(RST, 78, &[2]));
    batch.extend(open_frame(2, Uuid::new_v4(), "echo"));
    batch.extend(frame(DATA, 2, b"hello over v2"));
    batch.extend(frame(FIN, 2, &[0]));
    ws.send(Message::binary(batch)).await.unwrap();
    let mut echoed = Vec::new();
    'reply: loop {
        for f in next_frames(&mut ws, "DATA/FIN").await {
            assert_eq!(f.id, 2, "only the live stream talks: {f:?}");
            match f.kind {
                DATA => echoed.extend(f.payload),
                FIN => {
                    assert_eq!(f.payload, [1], "FIN a2c");
                    break 'reply;
                }
                CREDIT => {}
                _ => panic!("unexpected frame {f:?}"),
            }
        }
    }
    assert_eq!(echoed, b"hello over v2");

    // A truncated message: the agent closes with 1002 and reconnects.
    ws.send(Message::binary(vec![DATA, 0, 0, 0, 2, 0, 0]))
        .await
        .unwrap();
    let closed = expect_close(&mut ws).await;
    assert_closed_with(&closed, 1002, "truncated V2 message from the hub");
    let (mut ws2, _) = fake.next_agent(agent_id).await;
    ws2.send(text(&ack)).await.unwrap();

    // A text message on the V2 tunnel: the same.
    ws2.send(Message::text(
        r#"{"t":"OPEN","cid":"x","connector":"echo"}"#,
    ))
    .await
    .unwrap();
    let closed = expect_close(&mut ws2).await;
    assert_closed_with(&closed, 1002, "text on V2 from the hub");
    let _ws3 = fake.next_agent(agent_id).await;
    logs::wait_event(PROMPT, "protocol_error on the agent", |e| {
        logs::has(e, "event", "protocol_error") && logs::has(e, "agent_id", agent_id)
    })
    .await;
    assert_eq!(logs::product_panics(), Vec::<String>::new());
}
