//! The phases of the TCP mode and the figures they add up to, so a caller (the bench) can
//! interleave phases across several tunnels itself.

use std::net::SocketAddr;

use super::{Setup, TcpOpts, bulk, rtt, setup};
use crate::PerfError;
use crate::report::Figures;
use crate::stats::Summary;

/// One measurement of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Throughput on one stream (its connections in sequence).
    BulkOne,
    /// Throughput on `streams` parallel streams.
    BulkMany,
    /// Small-message round trips over `rtt_connections` kept connections.
    RoundTrips,
    /// Sequential connection set-ups.
    Setups,
}

/// Every phase, in the order [`run`](super::run) measures them.
pub const PHASES: [Phase; 4] = [
    Phase::BulkOne,
    Phase::BulkMany,
    Phase::RoundTrips,
    Phase::Setups,
];

/// One path's figures as the phases come in; [`Collected::finish`] once all have run.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    bulk_1: Option<f64>,
    bulk_n: Option<f64>,
    rtt: Option<Summary>,
    setup: Option<Setup>,
}

impl Collected {
    /// Measures `phase` on `addr` and keeps the figure (replacing an earlier one).
    pub async fn measure(
        &mut self,
        phase: Phase,
        addr: SocketAddr,
        opts: &TcpOpts,
    ) -> Result<(), PerfError> {
        match phase {
            Phase::BulkOne | Phase::BulkMany => {
                let streams = if phase == Phase::BulkOne {
                    1
                } else {
                    opts.streams
                };
                let per_stream = opts.connections_per_stream;
                let mb_s = bulk::throughput(addr, streams, per_stream, opts.duration).await?;
                match phase {
                    Phase::BulkOne => self.bulk_1 = Some(mb_s),
                    _ => self.bulk_n = Some(mb_s),
                }
            }
            Phase::RoundTrips => {
                let (size, warmup) = (opts.message_size, opts.warmup);
                let (count, conns) = (opts.round_trips, opts.rtt_connections);
                self.rtt = Some(rtt::round_trips(addr, size, warmup, count, conns).await?)
            }
            Phase::Setups => self.setup = Some(setup::setups(addr, opts.connections).await?),
        }
        Ok(())
    }

    /// Keeps round-trip figures measured by the caller (e.g. interleaved across targets with
    /// [`RoundTripPool`](super::RoundTripPool)).
    pub fn set_round_trips(&mut self, rtt: Summary) {
        self.rtt = Some(rtt);
    }

    /// The figures, once every phase has been measured.
    pub fn finish(self) -> Result<Figures, PerfError> {
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
