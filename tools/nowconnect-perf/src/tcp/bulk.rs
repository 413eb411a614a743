//! Bulk throughput: N parallel streams each write for a fixed time while reading the echo back;
//! the figure is the bytes echoed back per second, from the first connect to the last EOF (so
//! the bytes still in flight when writing stops are counted, and so is the time they take).
//!
//! A stream can be a sequence of K connections, each writing for its K-th of the time (the next
//! one connects once the previous one's echo is complete), so that a phase crosses many tunnel
//! streams: with a sampler that traces one connection in ten, a phase on one long connection
//! would be all traced or all untraced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::PerfError;

const CHUNK: usize = 64 * 1024;
/// After writing stops, how long the echo may take to return what is in flight (normally well
/// under a second). Longer means the transfer stalled: on loopback with large autotuned
/// buffers the kernel occasionally prunes a receive queue (`TcpExtRcvPruned` in `nstat`) and
/// recovery waits on retransmission timeouts.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Bytes one stream has written and read back so far (reported when a transfer stalls).
#[derive(Debug, Default)]
struct Progress {
    sent: AtomicU64,
    got: AtomicU64,
}

/// Megabytes (10^6 bytes) echoed back per second over `streams` parallel streams, each made of
/// `sequence` connections one after the other (at least one).
pub(crate) async fn throughput(
    addr: SocketAddr,
    streams: usize,
    sequence: usize,
    duration: Duration,
) -> Result<f64, PerfError> {
    let started = Instant::now();
    let until = started + duration;
    let progress: Vec<Arc<Progress>> = (0..streams).map(|_| Arc::default()).collect();
    let mut tasks = JoinSet::new();
    for p in &progress {
        tasks.spawn(one_lane(addr, started, duration, sequence, p.clone()));
    }
    let deadline = tokio::time::Instant::from_std(until + DRAIN_GRACE);
    let mut total = 0u64;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(done)) => total += done.map_err(|e| PerfError::Task(e.to_string()))??,
            Ok(None) => break,
            Err(_) => {
                let stuck: Vec<String> = progress
                    .iter()
                    .map(|p| {
                        (
                            p.sent.load(Ordering::Relaxed),
                            p.got.load(Ordering::Relaxed),
                        )
                    })
                    .filter(|(sent, got)| got < sent || *sent == 0)
                    .map(|(sent, got)| format!("{got}/{sent}"))
                    .collect();
                return Err(PerfError::Stalled {
                    what: "bulk transfer",
                    after: duration + DRAIN_GRACE,
                    detail: format!(
                        "{} of {streams} streams still open; echoed/sent bytes of the \
                         unfinished ones: {}",
                        tasks.len(),
                        stuck.join(", ")
                    ),
                });
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(total as f64 / 1e6 / secs)
}

/// The write deadlines of a stream of `sequence` connections: `start + duration × j / sequence`
/// for j = 1 ..= sequence (so the last one is `start + duration`).
pub(crate) fn deadlines(start: Instant, duration: Duration, sequence: usize) -> Vec<Instant> {
    let k = sequence.max(1) as u128;
    (1..=k)
        .map(|j| {
            let nanos = duration.as_nanos() * j / k;
            start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
        .collect()
}

/// One stream: its connections in sequence; the bytes echoed back over all of them.
async fn one_lane(
    addr: SocketAddr,
    start: Instant,
    duration: Duration,
    sequence: usize,
    progress: Arc<Progress>,
) -> Result<u64, PerfError> {
    let mut total = 0;
    for until in deadlines(start, duration, sequence) {
        progress.sent.store(0, Ordering::Relaxed);
        progress.got.store(0, Ordering::Relaxed);
        total += one_stream(addr, until, &progress).await?;
    }
    Ok(total)
}

/// One connection: writes until `until`, half-closes, and counts the echo until EOF.
async fn one_stream(
    addr: SocketAddr,
    until: Instant,
    progress: &Progress,
) -> Result<u64, PerfError> {
    let socket = TcpStream::connect(addr)
        .await
        .map_err(PerfError::io("bulk connect"))?;
    socket
        .set_nodelay(true)
        .map_err(PerfError::io("bulk set_nodelay"))?;
    let (mut reader, mut writer) = socket.into_split();
    let write = async {
        let chunk = vec![0x5a_u8; CHUNK];
        let mut sent = 0u64;
        while Instant::now() < until {
            writer
                .write_all(&chunk)
                .await
                .map_err(PerfError::io("bulk write"))?;
            sent += CHUNK as u64;
            progress.sent.store(sent, Ordering::Relaxed);
        }
        writer
            .shutdown()
            .await
            .map_err(PerfError::io("bulk shutdown"))?;
        Ok::<u64, PerfError>(sent)
    };
    let read = async {
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return Ok::<u64, PerfError>(got),
                Ok(n) => {
                    got += n as u64;
                    progress.got.store(got, Ordering::Relaxed);
                }
                Err(e) => return Err(PerfError::io("bulk read")(e)),
            }
        }
    };
    let (sent, got) = tokio::try_join!(write, read)?;
    if got != sent {
        return Err(PerfError::ShortEcho {
            what: "bulk transfer",
            got,
            want: sent,
        });
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_splits_the_time_evenly_and_ends_on_time() {
        let start = Instant::now();
        let d = deadlines(start, Duration::from_millis(1500), 10);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0] - start, Duration::from_millis(150));
        assert_eq!(d[9] - start, Duration::from_millis(1500));
        assert!(d.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            deadlines(start, Duration::from_secs(1), 0).len(),
            1,
            "at least one"
        );
    }
}
