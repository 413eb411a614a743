//! V1 interoperability: old agents with the real hub, the real agent with an old hub, and the
//! real hub and agent on V1 (hub with `v2: false`). The old peers are the independent V1
//! implementation in `nowconnect_e2e::v1peer`, written from the SPEC's JSON table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::SinkExt;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack, start_agent, start_hub};
use nowconnect_e2e::targets;
use nowconnect_e2e::v1peer::{V1Agent, V1Hub};
use nowconnect_e2e::wait::wait_routable;
use nowconnect_e2e::{logcap, rawws};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Stream sizes of every integrity check: one byte, around one V1 frame, and up to 1 MiB.
const SIZES: [usize; 8] = [1, 100, 8191, 8192, 8193, 65_536, 300_001, 1 << 20];

/// How long a log event may take to show up after the fact it reports.
const LOG_WAIT: Duration = Duration::from_secs(5);

/// Sends `len` random bytes, half-closes, reads the echo to EOF; panics unless it matches.
async fn echo_once(addr: SocketAddr, len: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    let sent: [u8; 32] = Sha256::digest(&data).into();
    let socket = TcpStream::connect(addr).await.expect("connect listener");
    let (mut r, mut w) = socket.into_split();
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(29 * 1024) {
            w.write_all(chunk).await.expect("write");
        }
        w.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::with_capacity(len);
    r.read_to_end(&mut got).await.expect("read echo");
    writer.await.expect("writer");
    assert_eq!(got.len(), len, "length of a {len}-byte echo");
    let got: [u8; 32] = Sha256::digest(&got).into();
    assert_eq!(sent, got, "sha256 of a {len}-byte echo");
}

/// Every size in [`SIZES`], all streams at once on the same tunnel.
async fn concurrent_echoes(addr: SocketAddr) {
    let tasks: Vec<_> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &len)| tokio::spawn(echo_once(addr, len, i as u64)))
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("echo finished in time")
            .expect("echo task");
    }
}

/// Half-close: the target only answers after our EOF, and the whole answer still arrives.
async fn half_close(addr: SocketAddr) {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&[7u8; 12345]).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("read answer");
    let header = b"got 12345 bytes\n";
    assert!(answer.starts_with(header), "answer starts with the count");
    assert_eq!(
        answer.len(),
        header.len() + 200_000,
        "the whole answer arrives after our EOF"
    );
    let tail = &answer[header.len()..];
    assert!(
        tail.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
        "answer bytes intact"
    );
}

/// A client of a connector whose target refuses: closed promptly (our hub resets it, an old
/// hub may end it with a FIN), with no bytes. The reset can arrive before `connect` returns.
async fn refused_client_closed_promptly(addr: SocketAddr) {
    let mut socket = match TcpStream::connect(addr).await {
        Ok(socket) => socket,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Err(e) => panic!("connect: {e}"),
    };
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut buf))
        .await
        .expect("the client is closed within 5 s");
    assert!(
        buf.is_empty(),
        "no bytes for a refused stream (read: {read:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_v1_agent_with_real_hub() {
    logcap::install();
    let echo = targets::echo_server().await;
    let lazy = targets::answer_after_eof_server(200_000).await;
    let dead = targets::closed_port().await;
    let creds = Creds::new();
    let hub = start_hub(&creds, &["echo", "lazy", "dead"], HubOpts::default()).await;
    let agent = V1Agent::start(
        &hub.url(),
        &creds.token("legacy-agent"),
        "legacy-agent",
        &[("echo", echo), ("lazy", lazy), ("dead", dead)],
    )
    .await;
    // An old agent offers no caps: the hub must stay on V1 (no "v2" capability in the ack).
    let caps = agent.hello_ack.get("caps").cloned().unwrap_or_default();
    assert!(
        !caps.as_array().is_some_and(|c| c.iter().any(|c| c == "v2")),
        "hub chose V2 for a V1-only agent: {}",
        agent.hello_ack
    );
    wait_routable(hub.listener("echo"), Duration::from_secs(10)).await;

    concurrent_echoes(hub.listener("echo")).await;
    half_close(hub.listener("lazy")).await;
    // The old agent answers RST connect_failed; the hub closes the client.
    refused_client_closed_promptly(hub.listener("dead")).await;

    let seen = agent.observed();
    assert!(
        seen.violations.is_empty(),
        "V1 violations: {:?}",
        seen.violations
    );
    assert!(
        seen.opens
            .iter()
            .all(|(_, c)| ["echo", "lazy", "dead"].contains(&c.as_str())),
        "OPEN connectors: {:?}",
        seen.opens
    );
    assert!(seen.data_frames > 0);
    assert!(!agent.is_closed(), "the tunnel stays up");
    logcap::wait_event(LOG_WAIT, "agent_connected v1 for legacy-agent", |e| {
        logcap::has(e, "event", "agent_connected")
            && logcap::has(e, "agent_id", "legacy-agent")
            && logcap::has(e, "protocol", "v1")
    })
    .await;
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_agent_falls_back_to_v1_with_old_hub() {
    logcap::install();
    let echo = targets::echo_server().await;
    let lazy = targets::answer_after_eof_server(200_000).await;
    let dead = targets::closed_port().await;
    let creds = Creds::new();
    let old_hub = V1Hub::start(&["echo", "lazy", "dead"]).await;
    let agent = start_agent(
        &creds,
        &old_hub.url(),
        "modern-agent",
        &[("echo", echo), ("lazy", lazy), ("dead", dead)],
        AgentOpts {
            v2: true,
            ..AgentOpts::default()
        },
    )
    .await;
    agent.wait_ready().await;
    let hello = old_hub
        .wait_hellos(1, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(hello.agent_id, "modern-agent");
    let mut connectors = hello.connectors.clone();
    connectors.sort();
    assert_eq!(connectors, ["dead", "echo", "lazy"]);
    assert!(hello.offers_v2, "the agent offers V2: {}", hello.raw);
    assert_eq!(hello.ver, "2", "the agent's HELLO ver: {}", hello.raw);
    assert_eq!(hello.path, "/tunnel");
    let token = std::fs::read_to_string(creds.dir().join("modern-agent.jwt")).unwrap();
    assert_eq!(
        hello.authorization.as_deref(),
        Some(format!("Bearer {}", token.trim()).as_str()),
        "the upgrade carries the agent's token as a Bearer credential"
    );

    wait_routable(old_hub.listener("echo"), Duration::from_secs(10)).await;
    concurrent_echoes(old_hub.listener("echo")).await;
    half_close(old_hub.listener("lazy")).await;
    refused_client_closed_promptly(old_hub.listener("dead")).await;

    let seen = old_hub.observed();
    assert!(
        seen.violations.is_empty(),
        "the agent must speak V1 to an old hub: {:?}",
        seen.violations
    );
    let dead_cids: Vec<&String> = seen
        .opens
        .iter()
        .filter(|(_, c)| c == "dead")
        .map(|(cid, _)| cid)
        .collect();
    assert_eq!(dead_cids.len(), 1);
    assert!(
        seen.resets_received
            .iter()
            .any(|(cid, err)| cid == dead_cids[0] && err == "connect_failed"),
        "RST connect_failed for the refused stream: {:?}",
        seen.resets_received
    );
    assert_eq!(old_hub.hellos().len(), 1, "one tunnel, no reconnects");
    logcap::wait_event(LOG_WAIT, "tunnel_up v1 for modern-agent", |e| {
        logcap::has(e, "event", "tunnel_up")
            && logcap::has(e, "agent_id", "modern-agent")
            && logcap::has(e, "protocol", "v1")
    })
    .await;
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_hub_without_v2_and_real_agent_speak_v1() {
    logcap::install();
    let echo = targets::echo_server().await;
    let lazy = targets::answer_after_eof_server(200_000).await;
    let stack = Stack::start(
        &[("echo", echo), ("lazy", lazy)],
        HubOpts {
            v2: false,
            ..HubOpts::default()
        },
        AgentOpts {
            v2: true,
            ..AgentOpts::default()
        },
    )
    .await;
    wait_routable(stack.hub.listener("echo"), Duration::from_secs(10)).await;
    concurrent_echoes(stack.hub.listener("echo")).await;
    half_close(stack.hub.listener("lazy")).await;
    // Both Rust sides agree on V1: the hub logs it, and so does the agent.
    for event in ["agent_connected", "tunnel_up"] {
        logcap::wait_event(LOG_WAIT, event, |e| {
            logcap::has(e, "event", event)
                && logcap::has(e, "agent_id", "agent-1")
                && logcap::has(e, "protocol", "v1")
        })
        .await;
    }
    assert!(
        !logcap::events()
            .iter()
            .any(|e| logcap::has(e, "agent_id", "agent-1") && logcap::has(e, "protocol", "v2")),
        "nothing negotiated V2 with a hub that has it off"
    );
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}

/// HELLOs as older agents write them (docs/protocol.md §2: `ver` as a number or missing,
/// `null` for an absent field, unknown fields, keys in any order) are accepted on V1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_hub_accepts_old_hello_shapes() {
    logcap::install();
    let creds = Creds::new();
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let shapes = [
        r#"{"t":"HELLO","agent_id":"AID","connectors":["echo"],"ver":1}"#,
        r#"{"t":"HELLO","agent_id":"AID","connectors":["echo"]}"#,
        r#"{"connectors":["echo"],"ver":"1","agent_id":"AID","t":"HELLO","caps":null,"max_frame":null}"#,
        r#"{"t":"HELLO","agent_id":"AID","connectors":["echo"],"ver":"1","epoch":7,"tenant":{"id":1}}"#,
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let agent_id = format!("old-shape-{i}");
        let mut ws = rawws::dial(&hub.url(), &creds.token(&agent_id), rawws::PROMPT).await;
        ws.send(Message::text(shape.replace("AID", &agent_id)))
            .await
            .unwrap();
        let ack = rawws::next_json(&mut ws, &format!("HELLO_ACK to HELLO {shape}")).await;
        assert_eq!(ack["t"], "HELLO_ACK", "HELLO {shape}");
        assert!(
            !ack["caps"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "v2")),
            "HELLO {shape}: stays on V1, got {ack}"
        );
        ws.close(None).await.ok();
    }
    assert_eq!(logcap::product_panics(), Vec::<String>::new());
}
