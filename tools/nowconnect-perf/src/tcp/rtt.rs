//! Small-message round trips: write a message, read its echo, repeat. A [`RoundTripper`] keeps
//! its connection, so a caller can interleave short runs on several targets (the bench does, so
//! that load bursts hit every target alike). A [`RoundTripPool`] spreads the round trips over
//! several kept connections, a chunk on each in turn: through a hub that traces one connection
//! in ten, the figures then stand for traced and untraced streams in their proportion.

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

/// Round trips on one connection of a [`RoundTripPool`] before the next one's turn, at most.
pub const RTT_CHUNK: usize = 20;

/// Several kept connections to one echo target, used in turn.
#[derive(Debug)]
pub struct RoundTripPool {
    conns: Vec<RoundTripper>,
    next: usize,
}

impl RoundTripPool {
    /// Opens `connections` connections (at least one) to `addr`, one after the other, and warms
    /// each up with its share of `warmup` unrecorded round trips (`warmup / connections`,
    /// rounded up: the first round trip of a tunnel stream also waits for its OPEN).
    pub async fn connect(
        addr: SocketAddr,
        size: usize,
        connections: usize,
        warmup: usize,
    ) -> Result<RoundTripPool, PerfError> {
        let n = connections.max(1);
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let mut rt = RoundTripper::connect(addr, size).await?;
            rt.run(warmup.div_ceil(n), &mut Vec::new()).await?;
            conns.push(rt);
        }
        Ok(RoundTripPool { conns, next: 0 })
    }

    /// How many connections the pool keeps.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// `count` round trips on the connection whose turn it is; the next call uses the next one.
    pub async fn run_next(
        &mut self,
        count: usize,
        samples: &mut Vec<Duration>,
    ) -> Result<(), PerfError> {
        let i = self.next % self.conns.len();
        self.next = (i + 1) % self.conns.len();
        match self.conns.get_mut(i) {
            Some(rt) => rt.run(count, samples).await,
            None => Err(PerfError::Task("round-trip pool has no connection".into())),
        }
    }
}

/// The chunk each connection of a `connections`-strong pool gets per turn so that `count` round
/// trips visit every connection (when there are as many round trips) and no chunk is longer
/// than [`RTT_CHUNK`].
pub fn chunk_size(count: usize, connections: usize) -> usize {
    count.div_ceil(connections.max(1)).clamp(1, RTT_CHUNK)
}

/// Latency of `count` round trips of `size`-byte messages spread over `connections` kept
/// connections, after `warmup` unrecorded ones spread likewise.
pub(crate) async fn round_trips(
    addr: SocketAddr,
    size: usize,
    warmup: usize,
    count: usize,
    connections: usize,
) -> Result<Summary, PerfError> {
    let mut pool = RoundTripPool::connect(addr, size, connections, warmup).await?;
    let step = chunk_size(count, pool.connections());
    let mut samples = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let n = left.min(step);
        pool.run_next(n, &mut samples).await?;
        left -= n;
    }
    Summary::of(&samples).ok_or(PerfError::Task("no round trips recorded".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_visit_every_connection_and_stay_short() {
        use super::{RTT_CHUNK, chunk_size};
        assert_eq!(chunk_size(4000, 100), RTT_CHUNK);
        assert_eq!(chunk_size(3000, 50), RTT_CHUNK, "60 each, in 3 turns");
        assert_eq!(chunk_size(500, 50), 10);
        assert_eq!(chunk_size(30, 50), 1, "some connections get none");
        assert_eq!(chunk_size(7, 1), 7);
        assert_eq!(chunk_size(0, 0), 1);
    }
}
