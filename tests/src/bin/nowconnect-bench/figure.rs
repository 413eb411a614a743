//! The figures the bench compares, so tables and verdicts loop over one list.

use nowconnect_perf::report::{self, Figures, Ratios};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    BulkOne,
    BulkMany,
    RttP50,
    RttP99,
    Setup,
}

pub(crate) const ALL: [Figure; 5] = [
    Figure::BulkOne,
    Figure::BulkMany,
    Figure::RttP50,
    Figure::RttP99,
    Figure::Setup,
];

impl Figure {
    pub(crate) fn label(self, streams: usize) -> String {
        match self {
            Figure::BulkOne => "throughput, 1 stream".into(),
            Figure::BulkMany => format!("throughput, {streams} streams"),
            Figure::RttP50 => "round trip p50 (64 B)".into(),
            Figure::RttP99 => "round trip p99 (64 B)".into(),
            Figure::Setup => "connection set-up".into(),
        }
    }

    /// Short key for JSON.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Figure::BulkOne => "bulk_1_mb_s",
            Figure::BulkMany => "bulk_n_mb_s",
            Figure::RttP50 => "rtt_p50_us",
            Figure::RttP99 => "rtt_p99_us",
            Figure::Setup => "setup_per_s",
        }
    }

    pub(crate) fn value(self, f: &Figures) -> f64 {
        match self {
            Figure::BulkOne => f.bulk_1_mb_s,
            Figure::BulkMany => f.bulk_n_mb_s,
            Figure::RttP50 => f.rtt.p50_us,
            Figure::RttP99 => f.rtt.p99_us,
            Figure::Setup => f.setup.conns_per_s,
        }
    }

    pub(crate) fn ratio(self, r: &Ratios) -> f64 {
        match self {
            Figure::BulkOne => r.bulk_1,
            Figure::BulkMany => r.bulk_n,
            Figure::RttP50 => r.rtt_p50,
            Figure::RttP99 => r.rtt_p99,
            Figure::Setup => r.setup_rate,
        }
    }

    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Figure::BulkOne | Figure::BulkMany => report::mb(v),
            Figure::RttP50 | Figure::RttP99 => report::us(v),
            Figure::Setup => report::per_s(v),
        }
    }

    /// The relative cost a ratio to a baseline stands for: the throughput lost, or the latency
    /// added (positive = worse than the baseline).
    pub(crate) fn cost(self, ratio: f64) -> f64 {
        match self {
            Figure::RttP50 | Figure::RttP99 => ratio - 1.0,
            _ => 1.0 - ratio,
        }
    }

    /// The issue 3 target applies to throughput and p50 latency.
    pub(crate) fn has_target(self) -> bool {
        matches!(self, Figure::BulkOne | Figure::BulkMany | Figure::RttP50)
    }
}
