//! `nowconnect-capture`: records the WebSocket messages of real hub ↔ agent sessions as fuzz
//! seeds (see docs/reliability.md, "Fuzzing").
//!
//! An in-process hub and agent (the real product code, configured through their real config
//! loaders, see `nowconnect_e2e::stack`) talk through a recording relay: the agent dials the
//! relay (a [`RawHub`]), the relay dials the hub with a token of its own and forwards every
//! message both ways unchanged, writing each one to a file. It runs one V2 session and one V1
//! session, each carrying echo streams of several sizes (with half-close), a stream to a target
//! that refuses, and idle time for pings. Files are named by the SHA-256 of their content:
//!
//! - `<out>/handshake/`: the first text message in each direction (HELLO, HELLO_ACK);
//! - `<out>/v1_decode/`: every text message;
//! - `<out>/v2_decode/`: every binary message.
//!
//! Usage: `cargo run -p nowconnect-e2e --bin nowconnect-capture -- <out-dir>`, then merge into
//! the committed corpus with `cargo fuzz cmin` (see `fuzz/README.md`).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::rawws::{self, RawHub};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, start_agent, start_hub};
use nowconnect_e2e::{targets, wait};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const AGENT_ID: &str = "capture-agent";
const WITHIN: Duration = Duration::from_secs(15);
/// Stream sizes sent through the echo connector, bytes.
const SIZES: [usize; 6] = [0, 1, 100, 5000, 70_000, 300_000];

#[tokio::main]
async fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "capture".into()));
    for dir in ["handshake", "v1_decode", "v2_decode"] {
        std::fs::create_dir_all(out.join(dir)).expect("create output dir");
    }
    let mut written = 0;
    for v2 in [true, false] {
        written += session(&out, v2).await;
    }
    println!("{written} new files under {}", out.display());
}

/// One hub ↔ agent session through the recorder; returns the number of files written.
async fn session(out: &Path, v2: bool) -> usize {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let refused = targets::closed_port().await;
    let hub = start_hub(
        &creds,
        &["echo", "refused"],
        HubOpts {
            v2,
            ..HubOpts::default()
        },
    )
    .await;
    let mut relay = RawHub::start().await;
    let agent_opts = AgentOpts {
        v2,
        ..AgentOpts::default()
    };
    let targets = [("echo", echo), ("refused", refused)];
    let agent = start_agent(&creds, &relay.url(), AGENT_ID, &targets, agent_opts).await;
    let from_agent = relay.accept(WITHIN).await;
    let to_hub = rawws::dial(&hub.url(), &creds.token(AGENT_ID), WITHIN).await;
    let recorder = tokio::spawn(record(from_agent, to_hub, out.to_path_buf()));
    agent.wait_ready().await;
    let listener = hub.listener("echo");
    wait::wait_routable(listener, WITHIN).await;

    for (i, &size) in SIZES.iter().enumerate() {
        let payload: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
        let mut s = TcpStream::connect(listener).await.expect("connect echo");
        s.write_all(&payload).await.expect("write");
        s.shutdown().await.expect("half-close");
        let (got, _) = targets::read_all(&mut s).await;
        assert_eq!(got, payload, "echo of {size} bytes");
    }
    // A stream the agent cannot open (the target refuses): OPEN answered by a reset.
    if let Ok(mut s) = TcpStream::connect(hub.listener("refused")).await {
        let _ = s.write_all(b"hello?").await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(WITHIN, s.read_to_end(&mut sink)).await;
    }
    // A client that leaves without half-closing (a reset towards the agent).
    if let Ok(mut s) = TcpStream::connect(listener).await {
        let _ = s.write_all(b"bye").await;
        let mut one = [0u8; 3];
        let _ = s.read_exact(&mut one).await;
        drop(s);
    }
    // Idle long enough for pings both ways.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    agent.stop().await;
    let _ = hub.stop().await;
    tokio::time::timeout(WITHIN, recorder)
        .await
        .expect("recorder ends with the session")
        .expect("recorder task")
}

/// Forwards messages between the two ends until either closes, writing each to `out`.
async fn record(mut agent: rawws::ServerWs, mut hub: rawws::ClientWs, out: PathBuf) -> usize {
    let (mut first_from_agent, mut first_from_hub) = (true, true);
    let mut written = 0;
    loop {
        let (msg, from_agent) = tokio::select! {
            m = agent.next() => (m, true),
            m = hub.next() => (m, false),
        };
        let Some(Ok(msg)) = msg else { break };
        let first = if from_agent {
            &mut first_from_agent
        } else {
            &mut first_from_hub
        };
        match &msg {
            Message::Text(t) => {
                if std::mem::take(first) {
                    written += save(&out.join("handshake"), t.as_bytes());
                }
                written += save(&out.join("v1_decode"), t.as_bytes());
            }
            Message::Binary(b) => written += save(&out.join("v2_decode"), b),
            _ => {}
        }
        let close = matches!(msg, Message::Close(_));
        let sent = if from_agent {
            hub.send(msg).await
        } else {
            agent.send(msg).await
        };
        if sent.is_err() || close {
            break;
        }
    }
    written
}

/// Writes `data` as `<dir>/<sha256>`; 1 if the file is new.
fn save(dir: &Path, data: &[u8]) -> usize {
    let name: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = dir.join(name);
    if path.exists() {
        return 0;
    }
    std::fs::write(&path, data).expect("write seed");
    1
}
