//! Waiting until a connector's listener carries traffic end to end.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
