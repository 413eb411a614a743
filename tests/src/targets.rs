//! Small real TCP targets: echo, answer-after-EOF, firehose, one that never reads, one that
//! never completes a handshake, and free ports.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echoes every byte back; honours half-close (EOF from the client → shutdown after echoing).
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Reads until EOF, then answers `"got N bytes"` followed by `extra` bytes of a pattern.
pub async fn answer_after_eof_server(extra: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if socket.read_to_end(&mut all).await.is_err() {
                    return;
                }
                let mut answer = format!("got {} bytes\n", all.len()).into_bytes();
                answer.extend((0..extra).map(|i| (i % 251) as u8));
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

/// Streams `pattern` bytes forever to whoever connects (for slow-reader tests).
pub async fn firehose_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    firehose(listener)
}

/// [`firehose_server`] whose sockets keep at most `sndbuf` bytes in the kernel (`SO_SNDBUF`
/// set on the listener, inherited by every accepted socket, which also stops autotuning): for
/// tests that stall hundreds of firehoses at once without filling the kernel's `tcp_mem`.
pub async fn firehose_server_with_sndbuf(sndbuf: u32) -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(sndbuf).expect("SO_SNDBUF");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    firehose(socket.listen(1024).expect("listen"))
}

/// Serves `listener`: every accepted socket gets 64 KiB chunks until a write fails.
fn firehose(listener: TcpListener) -> SocketAddr {
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let chunk = vec![0x5a_u8; 64 * 1024];
                while socket.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    addr
}

/// Accepts and never reads (for tests of a target that stops draining); each socket is held
/// for a minute, then dropped.
pub async fn stuck_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                drop(socket);
            });
        }
    });
    addr
}

/// A loopback port with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// Reads until EOF or error; returns the bytes and whether it ended cleanly.
pub async fn read_all(socket: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let ok = socket.read_to_end(&mut all).await.is_ok();
    (all, ok)
}

/// A listening port that never completes a TCP handshake: its accept queue is full and never
/// drained, and Linux drops SYNs to such a listener, so a connect hangs until the caller's own
/// timeout. Lives as long as the returned [`SynSink`].
pub async fn syn_sink() -> SynSink {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let listener = socket.listen(1).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..16 {
        let attempt = TcpStream::connect(addr);
        match tokio::time::timeout(std::time::Duration::from_millis(300), attempt).await {
            Ok(Ok(s)) => fillers.push(s),
            Ok(Err(e)) => panic!("connect to the SYN sink failed: {e}"),
            Err(_) => {
                return SynSink {
                    addr,
                    _listener: listener,
                    _fillers: fillers,
                };
            }
        }
    }
    panic!("the accept queue of {addr} never filled");
}

/// See [`syn_sink`].
#[derive(Debug)]
pub struct SynSink {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}
