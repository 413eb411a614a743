//! Hostile agents against the real hub: garbage, truncated and misdirected frames in both
//! protocol versions, sent by a fake agent. Nothing panics; the tunnel (or only the stream) is
//! closed with the documented close code and a logged reason; frames for unknown streams are
//! dropped; and afterwards the hub still serves real agents.
//!
//! The fake agent is a raw tokio-tungstenite socket ([`nowconnect_e2e::rawws`]) with V1 JSON
//! and V2 frames built by hand from `docs/protocol.md`, not with the product's codec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::SinkExt;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::logcap;
use nowconnect_e2e::rawws::{
    ClientWs, PROMPT, assert_closed_with, dial, expect_close, next_json, next_msg, text,
};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, TestHub, start_agent, start_hub};
use nowconnect_e2e::targets;
use nowconnect_e2e::v2frames::{CREDIT, DATA, FIN, OPEN, RST, frame, open_frame, parse_frames};
use nowconnect_e2e::wait::wait_routable;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

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
        logcap::install();
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
        dial(&self.hub.url(), &self.creds.token(agent_id), PROMPT).await
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
    async fn assert_logged(&self, event: &str, agent_id: &str) -> logcap::Event {
        let e = logcap::wait_event(PROMPT, &format!("{event} for {agent_id}"), |e| {
            logcap::has(e, "event", event) && logcap::has(e, "agent_id", agent_id)
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
            logcap::product_panics(),
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
    assert_client_closed(&mut client, "a client of an unserved connector").await;
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
    let (buf, _) = tokio::time::timeout(PROMPT, targets::read_all(client))
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
    logcap::wait_event(PROMPT, "unknown_stream for the ghost cid", |e| {
        logcap::has(e, "event", "unknown_stream") && logcap::has(e, "cid", &ghost)
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
    logcap::wait_event(PROMPT, "unknown_stream for the ghost id", |e| {
        logcap::has(e, "event", "unknown_stream") && logcap::has(e, "stream", &ghost_text)
    })
    .await;
    ws.close(None).await.ok();
    scene.assert_serves("unknown-v2").await;
}
