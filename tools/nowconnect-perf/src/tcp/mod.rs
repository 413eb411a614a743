//! The raw TCP mode: the same measurements against the tunnel and directly against the target,
//! alternating between the two phase by phase (the order flips each phase, so drift during the
//! run hits both paths alike).

mod bulk;
mod rtt;
mod setup;

use std::net::SocketAddr;
use std::time::Duration;

pub use setup::Setup;

use crate::PerfError;
use crate::report::{Figures, TcpReport};

/// What to measure and where. Both addresses must lead to an echo service (the tunnel one
/// through a hub listener whose connector's target echoes).
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOpts {
    pub tunnel: SocketAddr,
    pub direct: SocketAddr,
    /// Parallel connections of the multi-stream bulk phase.
    pub streams: usize,
    /// How long each bulk phase writes, per path.
    pub duration: Duration,
    /// Recorded round trips (after `warmup` unrecorded ones).
    pub round_trips: usize,
    pub warmup: usize,
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

/// The measurements, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    BulkOne,
    BulkMany,
    RoundTrips,
    Setups,
}

const PHASES: [Phase; 4] = [
    Phase::BulkOne,
    Phase::BulkMany,
    Phase::RoundTrips,
    Phase::Setups,
];

/// Runs every phase on both paths and reports the figures with their ratios.
pub async fn run(opts: &TcpOpts) -> Result<TcpReport, PerfError> {
    let mut tunnel = Partial::default();
    let mut direct = Partial::default();
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

/// One path's figures as they come in.
#[derive(Default)]
struct Partial {
    bulk_1: Option<f64>,
    bulk_n: Option<f64>,
    rtt: Option<crate::stats::Summary>,
    setup: Option<Setup>,
}

impl Partial {
    async fn measure(
        &mut self,
        phase: Phase,
        addr: SocketAddr,
        opts: &TcpOpts,
    ) -> Result<(), PerfError> {
        match phase {
            Phase::BulkOne => self.bulk_1 = Some(bulk::throughput(addr, 1, opts.duration).await?),
            Phase::BulkMany => {
                self.bulk_n = Some(bulk::throughput(addr, opts.streams, opts.duration).await?)
            }
            Phase::RoundTrips => {
                let rtt = rtt::round_trips(addr, opts.message_size, opts.warmup, opts.round_trips);
                self.rtt = Some(rtt.await?)
            }
            Phase::Setups => self.setup = Some(setup::setups(addr, opts.connections).await?),
        }
        Ok(())
    }

    fn finish(self) -> Result<Figures, PerfError> {
        match (self.bulk_1, self.bulk_n, self.rtt, self.setup) {
            (Some(bulk_1_mb_s), Some(bulk_n_mb_s), Some(rtt), Some(setup)) => Ok(Figures {
                bulk_1_mb_s,
                bulk_n_mb_s,
                rtt,
                setup,
            }),
            _ => Err(PerfError::Task("a phase produced no figure".into())),
        }
    }
}
