//! From the runs to the figures people read: per mode, the medians through the tunnel, the
//! ratios to `off` and to direct, each a median of per-round ratios (the two sides of a ratio
//! were measured back to back, so drift between rounds cancels out); the direct figures'
//! spread (the machine's noise); and the verdict against issue 3's target.

use nowconnect_perf::report::{TcpReport, ratio};
use nowconnect_perf::stats::median;

use crate::figure::{self, Figure};
use crate::mode::Mode;
use crate::sink::Received;

/// The most telemetry may cost, as a fraction (issue 3: ≤ 5% throughput, ≤ 5% p50 latency).
pub(crate) const TARGET: f64 = 0.05;

/// One mode in one round: its tunnel figures and that round's direct figures.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) mode: Mode,
    pub(crate) round: usize,
    pub(crate) report: TcpReport,
}

/// What one mode's stack did over the whole bench.
#[derive(Debug, Clone)]
pub(crate) struct ModeTotals {
    pub(crate) mode: Mode,
    /// The negotiated protocol (`v2`).
    pub(crate) protocol: String,
    /// What reached the OTLP sink from this mode's hub and agent.
    pub(crate) sink: Received,
    /// Spans the SDK dropped (queue full), from the processes' shutdown log lines.
    pub(crate) dropped_spans: u64,
    /// CPU time hub and agent used over the whole bench (user + system).
    pub(crate) cpu_seconds: f64,
    /// Payload bytes the hub relayed, both directions, over the whole bench.
    pub(crate) relayed_bytes: u64,
    /// Client connections the hub relayed over the whole bench (its `stream_close` lines).
    pub(crate) streams: u64,
}

impl ModeTotals {
    /// CPU seconds per GB (10^9 bytes) relayed: what the tunnel costs, independent of how fast
    /// the machine let it run.
    pub(crate) fn cpu_per_gb(&self) -> f64 {
        ratio(self.cpu_seconds, self.relayed_bytes as f64 / 1e9)
    }

    /// The share of client connections that were traced (NaN without connections).
    pub(crate) fn traced_share(&self) -> f64 {
        ratio(self.sink.traced_streams as f64, self.streams as f64)
    }
}

/// One mode's figures, indexed like [`figure::ALL`].
#[derive(Debug, Clone)]
pub(crate) struct ModeSummary {
    pub(crate) mode: Mode,
    /// Medians through the tunnel.
    pub(crate) tunnel: Vec<f64>,
    /// Medians of the per-round ratios to `off` (`None` without an `off` mode).
    pub(crate) vs_off: Option<Vec<f64>>,
    /// The smallest and largest per-round ratio to `off`.
    pub(crate) vs_off_range: Option<Vec<(f64, f64)>>,
    /// Medians of the per-round ratios to direct.
    pub(crate) vs_direct: Vec<f64>,
}

/// The direct path's figures (shared by every mode of a round): medians and spreads.
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    pub(crate) median: Vec<f64>,
    /// `(max - min) / median` over the rounds.
    pub(crate) spread: Vec<f64>,
}

fn of_mode(runs: &[Run], mode: Mode) -> impl Iterator<Item = &Run> {
    runs.iter().filter(move |r| r.mode == mode)
}

fn per_figure(values: impl Fn(Figure) -> Vec<f64>) -> Vec<f64> {
    figure::ALL
        .iter()
        .map(|&f| median(&values(f)).unwrap_or(f64::NAN))
        .collect()
}

/// Per figure, the per-round ratios of `mode` to `off` (each round's `off` measured beside it).
fn ratios_to_off(runs: &[Run], mode: Mode, f: Figure) -> Vec<f64> {
    of_mode(runs, mode)
        .filter_map(|r| {
            let off = of_mode(runs, Mode::Off).find(|o| o.round == r.round)?;
            Some(ratio(
                f.value(&r.report.tunnel),
                f.value(&off.report.tunnel),
            ))
        })
        .collect()
}

pub(crate) fn summarize(runs: &[Run], modes: &[Mode]) -> Vec<ModeSummary> {
    let has_off = modes.contains(&Mode::Off);
    modes
        .iter()
        .map(|&mode| ModeSummary {
            mode,
            tunnel: per_figure(|f| {
                of_mode(runs, mode)
                    .map(|r| f.value(&r.report.tunnel))
                    .collect()
            }),
            vs_off: has_off.then(|| per_figure(|f| ratios_to_off(runs, mode, f))),
            vs_off_range: has_off.then(|| {
                figure::ALL
                    .iter()
                    .map(|&f| {
                        let v = ratios_to_off(runs, mode, f);
                        let min = v.iter().copied().fold(f64::NAN, f64::min);
                        let max = v.iter().copied().fold(f64::NAN, f64::max);
                        (min, max)
                    })
                    .collect()
            }),
            vs_direct: per_figure(|f| {
                of_mode(runs, mode)
                    .map(|r| f.ratio(&r.report.ratio))
                    .collect()
            }),
        })
        .collect()
}

pub(crate) fn direct(runs: &[Run], modes: &[Mode]) -> Direct {
    // Every mode of a round shares that round's direct figures: take them once.
    let first = modes.first().copied().unwrap_or(Mode::Off);
    let values = |f: Figure| -> Vec<f64> {
        of_mode(runs, first)
            .map(|r| f.value(&r.report.direct))
            .collect()
    };
    Direct {
        median: per_figure(values),
        spread: figure::ALL
            .iter()
            .map(|&f| {
                let v = values(f);
                let max = v.iter().copied().fold(f64::NAN, f64::max);
                let min = v.iter().copied().fold(f64::NAN, f64::min);
                ratio(max - min, median(&v).unwrap_or(f64::NAN))
            })
            .collect(),
    }
}

/// How a figure stands against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The median cost is within the target.
    Met,
    /// Every round cost more than the target.
    Missed,
    /// The median cost is over the target but some rounds were within it: the machine's noise
    /// is as large as the effect.
    Unclear,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "MISSED",
            Status::Unclear => "unclear (within noise)",
        }
    }
}

/// One targeted figure against `off`: the median cost and the best and worst round's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cost {
    pub(crate) figure: Figure,
    pub(crate) median: f64,
    pub(crate) best: f64,
    pub(crate) worst: f64,
    pub(crate) status: Status,
}

/// The targeted figures of `s` against `off` and the overall status (the worst one).
pub(crate) fn verdict(s: &ModeSummary) -> Option<(Status, Vec<Cost>)> {
    let (vs_off, range) = (s.vs_off.as_ref()?, s.vs_off_range.as_ref()?);
    let costs: Vec<Cost> = figure::ALL
        .iter()
        .zip(vs_off.iter().zip(range))
        .filter(|(f, _)| f.has_target())
        .map(|(&figure, (&r, &(lo, hi)))| {
            let (a, b) = (figure.cost(lo), figure.cost(hi));
            let (best, worst) = (a.min(b), a.max(b));
            let median = figure.cost(r);
            let status = if median <= TARGET {
                Status::Met
            } else if best > TARGET {
                Status::Missed
            } else {
                Status::Unclear
            };
            Cost {
                figure,
                median,
                best,
                worst,
                status,
            }
        })
        .collect();
    let overall = if costs.iter().any(|c| c.status == Status::Missed) {
        Status::Missed
    } else if costs.iter().any(|c| c.status == Status::Unclear) {
        Status::Unclear
    } else {
        Status::Met
    };
    Some((overall, costs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use nowconnect_perf::report::Figures;
    use nowconnect_perf::stats::Summary;
    use nowconnect_perf::tcp::{Setup, TcpOpts};

    use super::*;

    fn figures(mb_s: f64, p50_us: f64) -> Figures {
        let rtt = Summary {
            count: 1,
            mean_us: p50_us,
            p50_us,
            p90_us: p50_us,
            p99_us: p50_us,
            max_us: p50_us,
        };
        Figures {
            bulk_1_mb_s: mb_s,
            bulk_n_mb_s: mb_s,
            rtt,
            setup: Setup {
                conns_per_s: 100.0,
                latency: rtt,
            },
        }
    }

    fn run(mode: Mode, round: usize, tunnel: Figures, direct: Figures) -> Run {
        let addr = "127.0.0.1:1".parse().unwrap();
        let opts = TcpOpts {
            tunnel: addr,
            direct: addr,
            streams: 8,
            connections_per_stream: 1,
            duration: Duration::from_secs(1),
            round_trips: 1,
            warmup: 0,
            rtt_connections: 1,
            message_size: 64,
            connections: 1,
        };
        Run {
            mode,
            round,
            report: TcpReport::new(&opts, tunnel, direct),
        }
    }

    #[test]
    fn ratios_to_off_pair_each_round_so_drift_cancels() {
        // Round 2 runs on a machine twice as slow: medians of raw figures would mix rounds,
        // per-round ratios do not.
        let d = [figures(1000.0, 20.0), figures(500.0, 40.0)];
        let runs = vec![
            run(Mode::Off, 0, figures(400.0, 100.0), d[0]),
            run(Mode::Full, 0, figures(360.0, 110.0), d[0]),
            run(Mode::Off, 1, figures(200.0, 200.0), d[1]),
            run(Mode::Full, 1, figures(180.0, 220.0), d[1]),
        ];
        let modes = [Mode::Off, Mode::Full];
        let s = summarize(&runs, &modes);
        let full = &s[1];
        let vs_off = full.vs_off.as_ref().unwrap();
        assert!((vs_off[0] - 0.9).abs() < 1e-9, "{vs_off:?}");
        assert!((vs_off[2] - 1.1).abs() < 1e-9, "{vs_off:?}");
        assert!(
            (full.vs_direct[0] - 0.36).abs() < 1e-9,
            "{:?}",
            full.vs_direct
        );
        let (status, costs) = verdict(full).unwrap();
        assert_eq!(status, Status::Missed, "every round cost 10%");
        assert!(
            costs.iter().all(|c| (c.median - 0.1).abs() < 1e-9),
            "{costs:?}"
        );

        let shared = direct(&runs, &modes);
        assert!((shared.median[0] - 750.0).abs() < 1e-9);
        assert!((shared.spread[0] - 500.0 / 750.0).abs() < 1e-9);
    }

    #[test]
    fn a_cost_some_rounds_do_not_show_is_unclear() {
        let d = figures(1000.0, 20.0);
        let runs = vec![
            run(Mode::Off, 0, figures(400.0, 100.0), d),
            run(Mode::Metrics, 0, figures(440.0, 99.0), d),
            run(Mode::Off, 1, figures(400.0, 100.0), d),
            run(Mode::Metrics, 1, figures(340.0, 99.0), d),
            run(Mode::Off, 2, figures(400.0, 100.0), d),
            run(Mode::Metrics, 2, figures(360.0, 99.0), d),
        ];
        let s = summarize(&runs, &[Mode::Off, Mode::Metrics]);
        let (status, costs) = verdict(&s[1]).unwrap();
        assert_eq!(status, Status::Unclear);
        let bulk = costs[0];
        assert!((bulk.median - 0.1).abs() < 1e-9, "{bulk:?}");
        assert!((bulk.best + 0.1).abs() < 1e-9 && (bulk.worst - 0.15).abs() < 1e-9);
        assert_eq!(costs[2].status, Status::Met, "p50 1% faster");
    }

    #[test]
    fn traced_share_is_traced_connections_over_relayed_ones() {
        let totals = |traced_streams, streams| ModeTotals {
            mode: Mode::Full,
            protocol: "v2".into(),
            sink: Received {
                traced_streams,
                ..Received::default()
            },
            dropped_spans: 0,
            cpu_seconds: 2.0,
            relayed_bytes: 4_000_000_000,
            streams,
        };
        assert!((totals(96, 1000).traced_share() - 0.096).abs() < 1e-12);
        assert!((totals(0, 1000).cpu_per_gb() - 0.5).abs() < 1e-12);
        assert!(totals(0, 0).traced_share().is_nan());
    }

    #[test]
    fn every_mode_beside_off_gets_costs_traced_all_included() {
        let d = figures(1000.0, 20.0);
        let runs = vec![
            run(Mode::Off, 0, figures(400.0, 100.0), d),
            run(Mode::Full, 0, figures(396.0, 102.0), d),
            run(Mode::TracedAll, 0, figures(340.0, 120.0), d),
        ];
        let s = summarize(&runs, &[Mode::Off, Mode::Full, Mode::TracedAll]);
        let (full, _) = verdict(&s[1]).unwrap();
        assert_eq!(full, Status::Met, "1% and 2%");
        let (all, costs) = verdict(&s[2]).unwrap();
        assert_eq!(all, Status::Missed);
        assert!((costs[0].median - 0.15).abs() < 1e-9, "{costs:?}");
        assert!((costs[2].median - 0.2).abs() < 1e-9, "{costs:?}");
    }

    #[test]
    fn without_off_there_is_no_verdict() {
        let runs = vec![run(Mode::Full, 0, figures(1.0, 1.0), figures(2.0, 1.0))];
        let s = summarize(&runs, &[Mode::Full]);
        assert!(s[0].vs_off.is_none());
        assert!(verdict(&s[0]).is_none());
    }
}
