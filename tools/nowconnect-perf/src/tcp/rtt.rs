//! Small-message round trips on one connection: write a message, read its echo, repeat. A
//! [`RoundTripper`] keeps its connection, so a caller can interleave short runs on several
//! targets (the bench does, so that load bursts hit every target alike).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::PerfError;
use crate::stats::Summary;

/// The deadline of one round trip.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to an echo service, sending `size`-byte messages.
#[derive(Debug)]
pub struct RoundTripper {
    socket: TcpStream,
    message: Vec<u8>,
    echo: Vec<u8>,
}

impl RoundTripper {
    pub async fn connect(addr: SocketAddr, size: usize) -> Result<RoundTripper, PerfError> {
        let socket = TcpStream::connect(addr)
            .await
            .map_err(PerfError::io("round-trip connect"))?;
        socket
            .set_nodelay(true)
            .map_err(PerfError::io("round-trip set_nodelay"))?;
        Ok(RoundTripper {
            socket,
            message: vec![0xa5_u8; size],
            echo: vec![0u8; size],
        })
    }

    /// `count` round trips; the time of each is appended to `samples`.
    pub async fn run(
        &mut self,
        count: usize,
        samples: &mut Vec<Duration>,
    ) -> Result<(), PerfError> {
        for _ in 0..count {
            let started = Instant::now();
            let one = async {
                self.socket.write_all(&self.message).await?;
                self.socket.read_exact(&mut self.echo).await.map(|_| ())
            };
            tokio::time::timeout(ROUND_TRIP_TIMEOUT, one)
                .await
                .map_err(|_| PerfError::Timeout {
                    what: "round trip",
                    after: ROUND_TRIP_TIMEOUT,
                })?
                .map_err(PerfError::io("round trip"))?;
            samples.push(started.elapsed());
        }
        Ok(())
    }
}

/// Latency of `count` round trips of `size`-byte messages after `warmup` unrecorded ones.
pub(crate) async fn round_trips(
    addr: SocketAddr,
    size: usize,
    warmup: usize,
    count: usize,
) -> Result<Summary, PerfError> {
    let mut rt = RoundTripper::connect(addr, size).await?;
    rt.run(warmup, &mut Vec::with_capacity(warmup)).await?;
    let mut samples = Vec::with_capacity(count);
    rt.run(count, &mut samples).await?;
    Summary::of(&samples).ok_or(PerfError::Task("no round trips recorded".into()))
}
