//! Small-message round trips on one connection: write a message, read its echo, repeat; the
//! first `warmup` round trips are not recorded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::PerfError;
use crate::stats::Summary;

/// The deadline of one round trip.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// Latency of `count` round trips of `size`-byte messages after `warmup` unrecorded ones.
pub(crate) async fn round_trips(
    addr: SocketAddr,
    size: usize,
    warmup: usize,
    count: usize,
) -> Result<Summary, PerfError> {
    let mut socket = TcpStream::connect(addr)
        .await
        .map_err(PerfError::io("round-trip connect"))?;
    socket
        .set_nodelay(true)
        .map_err(PerfError::io("round-trip set_nodelay"))?;
    let message = vec![0xa5_u8; size];
    let mut echo = vec![0u8; size];
    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let started = Instant::now();
        let one = async {
            socket.write_all(&message).await?;
            socket.read_exact(&mut echo).await.map(|_| ())
        };
        tokio::time::timeout(ROUND_TRIP_TIMEOUT, one)
            .await
            .map_err(|_| PerfError::Timeout {
                what: "round trip",
                after: ROUND_TRIP_TIMEOUT,
            })?
            .map_err(PerfError::io("round trip"))?;
        if i >= warmup {
            samples.push(started.elapsed());
        }
    }
    Summary::of(&samples).ok_or(PerfError::Task("no round trips recorded".into()))
}
