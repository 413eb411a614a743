//! A malicious hub against the real agent: garbage, truncated and misdirected frames in both
//! protocol versions, sent by a fake hub. Nothing panics; the tunnel (or only the stream) is
//! closed with the documented close code and a logged reason; frames for unknown streams are
//! dropped; and afterwards the agent reconnects.
//!
//! The fake hub is a raw tokio-tungstenite listener ([`nowconnect_e2e::rawws::RawHub`]) with V1
//! JSON and V2 frames built by hand from `docs/protocol.md`, not with the product's codec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::SinkExt;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::logcap;
use nowconnect_e2e::rawws::{
    PROMPT, RawHub, ServerWs, assert_closed_with, expect_close, next_frames, next_json, text,
};
use nowconnect_e2e::stack::{AgentOpts, TestAgent, start_agent};
use nowconnect_e2e::targets;
use nowconnect_e2e::v2frames::{CREDIT, DATA, FIN, RST, frame, open_frame};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// The next agent connection to `fake`, with its HELLO read and checked.
async fn next_agent(fake: &mut RawHub, agent_id: &str) -> (ServerWs, Value) {
    let mut ws = fake.accept(Duration::from_secs(15)).await;
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

/// A real agent (offering V2) started against a fake hub; it exports `echo`. The credentials
/// live as long as the agent: it re-reads its token file on every reconnect.
struct Victim {
    _agent: TestAgent,
    _creds: Creds,
}

async fn victim(fake: &RawHub, agent_id: &str) -> Victim {
    logcap::install();
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
    let mut fake = RawHub::start().await;
    let agent_id = "victim-v1";
    let _agent = victim(&fake, agent_id).await;
    let (mut ws, _) = next_agent(&mut fake, agent_id).await;
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
    let e = logcap::wait_event(PROMPT, "tunnel_down protocol_error", |e| {
        logcap::has(e, "event", "tunnel_down")
            && logcap::has(e, "agent_id", agent_id)
            && logcap::has(e, "reason", "protocol_error")
    })
    .await;
    assert!(
        e.contains_key("detail"),
        "the reason detail is logged: {e:?}"
    );
    let (mut ws2, _) = next_agent(&mut fake, agent_id).await;
    ws2.send(text(&json!({"t": "HELLO_ACK"}))).await.unwrap();

    // And a binary message on the V1 tunnel: closed again, reconnects again.
    ws2.send(Message::binary(vec![0u8; 16])).await.unwrap();
    let closed = expect_close(&mut ws2).await;
    assert_closed_with(&closed, 1002, "binary on V1 from the hub");
    let _ws3 = next_agent(&mut fake, agent_id).await;
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_survives_a_malicious_v2_hub() {
    let mut fake = RawHub::start().await;
    let agent_id = "victim-v2";
    let _agent = victim(&fake, agent_id).await;
    let (mut ws, hello) = next_agent(&mut fake, agent_id).await;
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
    let (mut ws2, _) = next_agent(&mut fake, agent_id).await;
    ws2.send(text(&ack)).await.unwrap();

    // A text message on the V2 tunnel: the same.
    ws2.send(Message::text(
        r#"{"t":"OPEN","cid":"x","connector":"echo"}"#,
    ))
    .await
    .unwrap();
    let closed = expect_close(&mut ws2).await;
    assert_closed_with(&closed, 1002, "text on V2 from the hub");
    let _ws3 = next_agent(&mut fake, agent_id).await;
    logcap::wait_event(PROMPT, "protocol_error on the agent", |e| {
        logcap::has(e, "event", "protocol_error") && logcap::has(e, "agent_id", agent_id)
    })
    .await;
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}
