//! Bulk throughput: N connections each write for a fixed time while reading the echo back; the
//! figure is the bytes echoed back per second, from the first connect to the last EOF (so the
//! bytes still in flight when writing stops are counted, and so is the time they take).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::PerfError;

const CHUNK: usize = 64 * 1024;
/// After writing stops, how long the echo may take to return what is in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Megabytes (10^6 bytes) echoed back per second over `streams` parallel connections.
pub(crate) async fn throughput(
    addr: SocketAddr,
    streams: usize,
    duration: Duration,
) -> Result<f64, PerfError> {
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..streams {
        tasks.spawn(one_stream(addr, until));
    }
    let all = async {
        let mut total = 0u64;
        while let Some(done) = tasks.join_next().await {
            total += done.map_err(|e| PerfError::Task(e.to_string()))??;
        }
        Ok::<u64, PerfError>(total)
    };
    let total = tokio::time::timeout(duration + DRAIN_GRACE, all)
        .await
        .map_err(|_| PerfError::Timeout {
            what: "bulk transfer",
            after: duration + DRAIN_GRACE,
        })??;
    let secs = started.elapsed().as_secs_f64();
    Ok(total as f64 / 1e6 / secs)
}

/// One connection: writes until `until`, half-closes, and counts the echo until EOF.
async fn one_stream(addr: SocketAddr, until: Instant) -> Result<u64, PerfError> {
    let socket = TcpStream::connect(addr)
        .await
        .map_err(PerfError::io("bulk connect"))?;
    socket
        .set_nodelay(true)
        .map_err(PerfError::io("bulk set_nodelay"))?;
    let (mut reader, mut writer) = socket.into_split();
    let write = async move {
        let chunk = vec![0x5a_u8; CHUNK];
        let mut sent = 0u64;
        while Instant::now() < until {
            writer
                .write_all(&chunk)
                .await
                .map_err(PerfError::io("bulk write"))?;
            sent += CHUNK as u64;
        }
        writer
            .shutdown()
            .await
            .map_err(PerfError::io("bulk shutdown"))?;
        Ok::<u64, PerfError>(sent)
    };
    let read = async move {
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return Ok::<u64, PerfError>(got),
                Ok(n) => got += n as u64,
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
