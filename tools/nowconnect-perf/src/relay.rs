//! A plain TCP relay: every accepted connection is copied both ways to one upstream address,
//! nothing else (no framing, no multiplexing, no telemetry). Two of them in series, as separate
//! processes, are the floor any two-hop tunnel on the same machine pays: the same extra
//! sockets, copies and wake-ups as hub + agent, none of the protocol. The bench suite measures
//! that chain next to the tunnel so the tunnel's own cost can be told from the hops'.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Buffer per direction, as the echo target's.
const BUF: usize = 64 * 1024;
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// Serves `listener` until the task is dropped, one task per connection. A failed upstream
/// connect or copy just closes that connection.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay(client, upstream));
            }
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUF, BUF).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn two_relays_in_series_carry_an_echo_and_its_eof() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(crate::echo::serve(echo));
        let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let second_addr = second.local_addr().unwrap();
        tokio::spawn(serve(second, target));
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let first_addr = first.local_addr().unwrap();
        tokio::spawn(serve(first, second_addr));

        let mut c = TcpStream::connect(first_addr).await.unwrap();
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (mut r, mut w) = c.split();
        let write = async {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let read = r.read_to_end(&mut got);
        let ((), n) = tokio::join!(write, read);
        assert_eq!(n.unwrap(), sent.len());
        assert_eq!(got, sent);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_closes_the_client() {
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let relay_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = relay_l.local_addr().unwrap();
        tokio::spawn(serve(relay_l, dead_addr));
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("closed, not hung");
        assert!(matches!(n, Ok(0) | Err(_)));
    }
}
