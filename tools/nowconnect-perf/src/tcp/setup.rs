//! Connection set-up: connect, send one byte, wait for its echo, close — one connection after
//! the other. Through the tunnel this covers accept, OPEN, the agent's dial and the first
//! DATA each way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::PerfError;
use crate::stats::Summary;

/// The deadline of one set-up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Set-up figures: the rate of sequential set-ups and the latency of each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub conns_per_s: f64,
    pub latency: Summary,
}

/// `count` sequential set-ups.
pub(crate) async fn setups(addr: SocketAddr, count: usize) -> Result<Setup, PerfError> {
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        tokio::time::timeout(SETUP_TIMEOUT, one(addr))
            .await
            .map_err(|_| PerfError::Timeout {
                what: "connection set-up",
                after: SETUP_TIMEOUT,
            })??;
        samples.push(t.elapsed());
    }
    let secs = started.elapsed().as_secs_f64();
    let latency = Summary::of(&samples).ok_or(PerfError::Task("no set-ups recorded".into()))?;
    Ok(Setup {
        conns_per_s: count as f64 / secs,
        latency,
    })
}

async fn one(addr: SocketAddr) -> Result<(), PerfError> {
    let mut socket = TcpStream::connect(addr)
        .await
        .map_err(PerfError::io("set-up connect"))?;
    socket
        .set_nodelay(true)
        .map_err(PerfError::io("set-up set_nodelay"))?;
    socket
        .write_all(b"!")
        .await
        .map_err(PerfError::io("set-up write"))?;
    let mut echo = [0u8; 1];
    socket
        .read_exact(&mut echo)
        .await
        .map_err(PerfError::io("set-up read"))?;
    Ok(())
}
