//! Bulk traffic: streams of pseudo-random bytes (a seeded xorshift, different per stream)
//! written through the `echo` connector and checked byte by byte as they come back, so any
//! corruption, loss, duplication or reordering is an integrity failure at its offset.

use crate::tally::{EOF_DETAIL, Failure, Kind, Tally};
use rand::Rng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A read or write that makes no progress for this long is a hung stream.
pub(crate) const STALL: Duration = Duration::from_secs(30);
/// Pause after a failed stream (the agent may be down: do not spin).
const BACKOFF: Duration = Duration::from_millis(250);

/// A deterministic byte stream from a seed (xorshift64*).
#[derive(Debug, Clone)]
struct Pattern(u64);

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern(seed | 1)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

/// One worker: stream after stream (`pause` between two) until `stop`, sizes uniform in
/// `1 KiB..=max_bytes`.
pub(crate) async fn worker(
    addr: SocketAddr,
    max_bytes: usize,
    pause: Duration,
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let (seed, len) = {
            let mut rng = rand::thread_rng();
            (
                rng.r#gen::<u64>(),
                rng.gen_range(1024..=max_bytes.max(1024)),
            )
        };
        let start = Instant::now();
        match one_stream(addr, seed, len, &tally).await {
            Ok(()) => tally.ok(Kind::Bulk),
            Err((failure, detail)) => {
                tally.failed(Kind::Bulk, failure, start, detail);
                tokio::time::sleep(BACKOFF).await;
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// Writes `len` bytes of `Pattern::new(seed)` (in random chunk sizes) and half-closes while
/// reading the echo back; Ok when exactly those bytes came back followed by EOF.
async fn one_stream(
    addr: SocketAddr,
    seed: u64,
    len: usize,
    tally: &Tally,
) -> Result<(), (Failure, String)> {
    let socket = match tokio::time::timeout(STALL, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err((Failure::Interrupted, format!("connect: {e}"))),
        Err(_) => return Err((Failure::Hung, "connect stalled".into())),
    };
    let (mut rd, mut wr) = socket.into_split();
    let writer = async move {
        let mut pattern = Pattern::new(seed);
        let mut sent = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while sent < len {
            let n = rand::thread_rng().gen_range(1..=buf.len()).min(len - sent);
            pattern.fill(&mut buf[..n]);
            match tokio::time::timeout(STALL, wr.write_all(&buf[..n])).await {
                Ok(Ok(())) => sent += n,
                Ok(Err(e)) => return Err((Failure::Interrupted, format!("write at {sent}: {e}"))),
                Err(_) => return Err((Failure::Hung, format!("write stalled at {sent}"))),
            }
        }
        let _ = wr.shutdown().await;
        Ok(())
    };
    let reader = async move {
        let mut expected = Pattern::new(seed);
        let (mut got, mut buf, mut want) = (0usize, vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
        loop {
            let n = match tokio::time::timeout(STALL, rd.read(&mut buf)).await {
                Ok(Ok(0)) if got == len => return Ok(got),
                Ok(Ok(0)) => {
                    let detail = format!("{EOF_DETAIL} {got}/{len}");
                    return Err((Failure::Interrupted, detail));
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err((Failure::Interrupted, format!("read at {got}: {e}"))),
                Err(_) => return Err((Failure::Hung, format!("read stalled at {got}/{len}"))),
            };
            if got + n > len {
                let detail = format!("{} bytes more than the {len} sent", got + n - len);
                return Err((Failure::Integrity, detail));
            }
            expected.fill(&mut want[..n]);
            if let Some(i) = buf[..n].iter().zip(&want[..n]).position(|(a, b)| a != b) {
                let detail = format!("byte {} of {len} differs", got + i);
                return Err((Failure::Integrity, detail));
            }
            got += n;
        }
    };
    let (w, r) = tokio::join!(writer, reader);
    // The reader's verdict first: it has seen what actually came back.
    match r {
        Ok(got) => {
            tally.bytes(got as u64);
            w
        }
        Err(e) => Err(e),
    }
}
