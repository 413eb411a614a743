//! The raw TCP mode: the same measurements against the tunnel and directly against the target,
//! alternating between the two phase by phase (the order flips each phase, so drift during the
//! run hits both paths alike).

mod bulk;
mod phase;
mod rtt;
mod setup;

use std::net::SocketAddr;
use std::time::Duration;

pub use phase::{Collected, PHASES, Phase};
pub use rtt::{RTT_CHUNK, RoundTripPool, RoundTripper, chunk_size};
pub use setup::Setup;

use crate::PerfError;
use crate::report::TcpReport;

/// What to measure and where. Both addresses must lead to an echo service (the tunnel one
/// through a hub listener whose connector's target echoes).
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOpts {
    pub tunnel: SocketAddr,
    pub direct: SocketAddr,
    /// Parallel streams of the multi-stream bulk phase.
    pub streams: usize,
    /// Connections each bulk stream is made of, one after the other (each writes its share of
    /// `duration`), so that a phase crosses many tunnel streams.
    pub connections_per_stream: usize,
    /// How long each bulk phase writes, per path.
    pub duration: Duration,
    /// Recorded round trips (after `warmup` unrecorded ones).
    pub round_trips: usize,
    pub warmup: usize,
    /// Kept connections the round trips are spread over, a chunk on each in turn.
    pub rtt_connections: usize,
    /// Bytes per round-trip message.
    pub message_size: usize,
    /// Sequential connection set-ups.
    pub connections: usize,
}

/// Which path a measurement goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Tunnel,
    Direct,
}

/// Runs every phase on both paths and reports the figures with their ratios.
pub async fn run(opts: &TcpOpts) -> Result<TcpReport, PerfError> {
    let mut tunnel = Collected::default();
    let mut direct = Collected::default();
    for (i, phase) in PHASES.into_iter().enumerate() {
        let order = if i % 2 == 0 {
            [Path::Tunnel, Path::Direct]
        } else {
            [Path::Direct, Path::Tunnel]
        };
        for path in order {
            match path {
                Path::Tunnel => tunnel.measure(phase, opts.tunnel, opts).await?,
                Path::Direct => direct.measure(phase, opts.direct, opts).await?,
            }
        }
    }
    Ok(TcpReport::new(opts, tunnel.finish()?, direct.finish()?))
}

/// Resolves `host:port` once (so connection set-up never includes a name lookup).
pub async fn resolve(host_port: &str) -> Result<SocketAddr, PerfError> {
    let fail = |reason: String| PerfError::Resolve {
        addr: host_port.to_owned(),
        reason,
    };
    let mut addrs = tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| fail(e.to_string()))?;
    addrs.next().ok_or_else(|| fail("no address".into()))
}
