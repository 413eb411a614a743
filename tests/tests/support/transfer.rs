//! Transfer workers for the kill/restart tests: streams that write a known pattern through the
//! tunnel and check every echoed byte at its offset, counting how they end.

use super::chaos::pattern;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Shared progress of the transfer workers.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Echoed bytes checked against what was sent.
    pub(crate) verified: AtomicU64,
    /// Streams carrying data now.
    pub(crate) live: AtomicUsize,
    /// Streams that ended before their client finished (closed by the fault).
    pub(crate) interrupted: AtomicUsize,
    /// Streams that carried at least one byte.
    pub(crate) opened: AtomicUsize,
}

/// One stream: writes pattern bytes in paced chunks and checks every echoed byte against what
/// it sent, at its offset. Ends when the stream is closed (interrupted) or, after `stop`, once
/// the client's FIN came back with every byte (complete). A stream silent for 20 s fails.
pub(crate) async fn transfer(
    addr: std::net::SocketAddr,
    seed: u64,
    stop: CancellationToken,
    p: Arc<Progress>,
) -> bool {
    let Ok(s) = TcpStream::connect(addr).await else {
        return false;
    };
    let (mut r, mut w) = s.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (sent, stop) = (sent.clone(), stop.clone());
        tokio::spawn(async move {
            let mut off = 0u64;
            while !stop.is_cancelled() {
                let chunk = pattern(seed, off, 2048);
                sent.store(off + 2048, Ordering::SeqCst);
                if w.write_all(&chunk).await.is_err() {
                    return;
                }
                off += 2048;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = w.shutdown().await;
            std::future::pending::<()>().await; // keep the write half until the reader ends
        })
    };
    let mut got = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut counted = false;
    let clean = loop {
        let read = tokio::time::timeout(Duration::from_secs(20), r.read(&mut buf)).await;
        let n = match read {
            Err(_) => panic!("stream {seed:#x} hung: no byte and no close for 20 s"),
            Ok(Ok(0)) => break stop.is_cancelled() && got == sent.load(Ordering::SeqCst),
            Ok(Err(_)) => break false,
            Ok(Ok(n)) => n,
        };
        assert!(
            got + n as u64 <= sent.load(Ordering::SeqCst),
            "stream {seed:#x} received more than it sent"
        );
        assert!(
            buf[..n] == pattern(seed, got, n)[..],
            "stream {seed:#x}: bytes {got}..{} are not what was sent there",
            got + n as u64
        );
        got += n as u64;
        p.verified.fetch_add(n as u64, Ordering::SeqCst);
        if !counted {
            counted = true;
            p.opened.fetch_add(1, Ordering::SeqCst);
            p.live.fetch_add(1, Ordering::SeqCst);
        }
    };
    writer.abort();
    if counted {
        p.live.fetch_sub(1, Ordering::SeqCst);
        if !clean {
            p.interrupted.fetch_add(1, Ordering::SeqCst);
        }
    }
    counted
}

/// Keeps one stream transferring at a time, opening the next when one ends, until `stop`.
pub(crate) async fn worker(
    addr: std::net::SocketAddr,
    id: u64,
    stop: CancellationToken,
    p: Arc<Progress>,
) {
    let mut n = 0u64;
    while !stop.is_cancelled() {
        n += 1;
        let carried = transfer(addr, (id << 32) | n, stop.clone(), p.clone()).await;
        // A refused stream (no agent right now) is retried less eagerly.
        let pause = if carried { 20 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}
