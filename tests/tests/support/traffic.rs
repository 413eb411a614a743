//! A hub and one agent with traffic helpers for the metrics tests.

use crate::prom::wait_for;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, TestAgent, TestHub, start_agent, start_hub};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) struct Running {
    _creds: Creds,
    pub(crate) hub: TestHub,
    pub(crate) agent: TestAgent,
}

/// Hub with listeners for `targets` and `orphans`; one agent (`agent-1`) serving `targets`;
/// returns once the hub reports every target connector up.
pub(crate) async fn start(targets: &[(&str, SocketAddr)], orphans: &[&str]) -> Running {
    let creds = Creds::new();
    let mut connectors: Vec<&str> = targets.iter().map(|(c, _)| *c).collect();
    connectors.extend_from_slice(orphans);
    let hub = start_hub(&creds, &connectors, HubOpts::default()).await;
    let agent = start_agent(&creds, &hub.url(), "agent-1", targets, AgentOpts::default()).await;
    agent.wait_ready().await;
    wait_for(hub.addrs.tunnel, "every connector up", |s| {
        targets
            .iter()
            .all(|(c, _)| s.value("nowconnect_connector_up", &[("connector", c)]) == 1.0)
    })
    .await;
    Running {
        _creds: creds,
        hub,
        agent,
    }
}

/// Sends `data`, half-closes, reads to EOF; returns what came back.
pub(crate) async fn round_trip(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let socket = TcpStream::connect(addr).await.expect("connect");
    let (mut r, mut w) = socket.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .expect("read echo");
    writer.await.expect("writer");
    back
}

/// Connects and reads until the hub closes the connection (refused or reset streams).
pub(crate) async fn closed_by_hub(addr: SocketAddr) {
    let mut socket = match TcpStream::connect(addr).await {
        Ok(socket) => socket,
        // A reset stream is closed with RST, which can beat `connect` returning.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Err(e) => panic!("connect: {e}"),
    };
    let mut sink = Vec::new();
    let read = socket.read_to_end(&mut sink);
    let _ = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("closed in time");
}
