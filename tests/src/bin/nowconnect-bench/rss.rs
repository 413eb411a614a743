//! Memory of hub and agent: `VmRSS` (now) and `VmHWM` (peak) from `/proc/<pid>/status`, idle
//! and with many idle streams held open through the tunnel.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Streams connected at once while filling up.
const CONNECT_BATCH: usize = 200;
/// Time for the processes to settle before reading their memory.
const SETTLE: Duration = Duration::from_secs(2);

/// One process's memory, KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct Mem {
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

/// Hub and agent memory with `streams` idle streams open.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Sample {
    pub(crate) streams: usize,
    pub(crate) hub: Mem,
    pub(crate) agent: Mem,
}

pub(crate) fn mem(pid: u32) -> anyhow::Result<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("{name} missing in /proc/{pid}/status"))
    };
    Ok(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Idle, then with each count of `levels` streams held open (each carried one byte each way,
/// so it is fully set up at both ends); the held streams close at the end.
pub(crate) async fn measure(
    listener: SocketAddr,
    pids: (u32, u32),
    levels: &[usize],
    progress: impl Fn(&str),
) -> anyhow::Result<Vec<Sample>> {
    let sample = |streams| -> anyhow::Result<Sample> {
        Ok(Sample {
            streams,
            hub: mem(pids.0)?,
            agent: mem(pids.1)?,
        })
    };
    tokio::time::sleep(SETTLE).await;
    let mut samples = vec![sample(0)?];
    let mut held: Vec<TcpStream> = Vec::new();
    for &level in levels {
        while held.len() < level {
            let batch = (level - held.len()).min(CONNECT_BATCH);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..batch {
                tasks.spawn(open(listener));
            }
            while let Some(done) = tasks.join_next().await {
                held.push(done??);
            }
        }
        tokio::time::sleep(SETTLE).await;
        let s = sample(level)?;
        progress(&format!(
            "{level} idle streams: hub RSS {} KiB, agent RSS {} KiB",
            s.hub.rss_kib, s.agent.rss_kib
        ));
        samples.push(s);
    }
    drop(held);
    Ok(samples)
}

async fn open(listener: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(listener)
        .await
        .context("connecting a held stream")?;
    s.write_all(b"!").await?;
    let mut one = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(30), s.read_exact(&mut one))
        .await
        .context("a held stream got no echo within 30 s")??;
    Ok(s)
}

/// KiB of hub + agent RSS per stream between the idle sample and `s`.
pub(crate) fn per_stream_kib(idle: &Sample, s: &Sample) -> f64 {
    let total = |x: &Sample| (x.hub.rss_kib + x.agent.rss_kib) as f64;
    if s.streams == 0 {
        return f64::NAN;
    }
    (total(s) - total(idle)) / s.streams as f64
}
