//! The result of a run: each path's figures, the ratios tunnel/direct, the options it ran
//! with; rendered as a table for people and as JSON (serde) for tools.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;
use crate::table;
use crate::tcp::{Setup, TcpOpts};

/// One path's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Megabytes (10^6 bytes) echoed back per second on one connection.
    pub bulk_1_mb_s: f64,
    /// The same over the `streams` parallel connections together.
    pub bulk_n_mb_s: f64,
    /// Round trips of `message_size`-byte messages on one connection.
    pub rtt: Summary,
    pub setup: Setup,
}

/// Tunnel divided by direct, figure by figure: below 1 for throughput and set-up rate means
/// the tunnel is slower; above 1 for latencies means it is slower.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub bulk_1: f64,
    pub bulk_n: f64,
    pub rtt_p50: f64,
    pub rtt_p99: f64,
    pub setup_rate: f64,
}

impl Ratios {
    pub fn of(tunnel: &Figures, direct: &Figures) -> Ratios {
        Ratios {
            bulk_1: ratio(tunnel.bulk_1_mb_s, direct.bulk_1_mb_s),
            bulk_n: ratio(tunnel.bulk_n_mb_s, direct.bulk_n_mb_s),
            rtt_p50: ratio(tunnel.rtt.p50_us, direct.rtt.p50_us),
            rtt_p99: ratio(tunnel.rtt.p99_us, direct.rtt.p99_us),
            setup_rate: ratio(tunnel.setup.conns_per_s, direct.setup.conns_per_s),
        }
    }
}

/// `a / b`, or NaN (JSON `null`) when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// The options a report was produced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    pub tunnel: SocketAddr,
    pub direct: SocketAddr,
    pub streams: usize,
    pub connections_per_stream: usize,
    pub seconds: f64,
    pub round_trips: usize,
    pub warmup: usize,
    pub rtt_connections: usize,
    pub message_size: usize,
    pub connections: usize,
}

/// `nowconnect-perf tcp`'s report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpReport {
    /// Always `"tcp"`.
    pub mode: String,
    pub options: ReportOptions,
    pub tunnel: Figures,
    pub direct: Figures,
    pub ratio: Ratios,
}

impl TcpReport {
    pub fn new(opts: &TcpOpts, tunnel: Figures, direct: Figures) -> TcpReport {
        TcpReport {
            mode: "tcp".into(),
            options: ReportOptions {
                tunnel: opts.tunnel,
                direct: opts.direct,
                streams: opts.streams,
                connections_per_stream: opts.connections_per_stream,
                seconds: opts.duration.as_secs_f64(),
                round_trips: opts.round_trips,
                warmup: opts.warmup,
                rtt_connections: opts.rtt_connections,
                message_size: opts.message_size,
                connections: opts.connections,
            },
            ratio: Ratios::of(&tunnel, &direct),
            tunnel,
            direct,
        }
    }

    /// A report with zero figures, for checking `--exit-on` names before a run.
    pub fn shape(opts: &TcpOpts) -> TcpReport {
        let zero = Summary {
            count: 0,
            mean_us: 0.0,
            p50_us: 0.0,
            p90_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
        };
        let figures = Figures {
            bulk_1_mb_s: 0.0,
            bulk_n_mb_s: 0.0,
            rtt: zero,
            setup: Setup {
                conns_per_s: 0.0,
                latency: zero,
            },
        };
        TcpReport::new(opts, figures, figures)
    }

    /// The human table: one row per figure, both paths and the ratio.
    pub fn render(&self) -> String {
        let o = &self.options;
        let (t, d, r) = (&self.tunnel, &self.direct, &self.ratio);
        let rows = vec![
            row(
                "throughput, 1 stream",
                mb(t.bulk_1_mb_s),
                mb(d.bulk_1_mb_s),
                r.bulk_1,
            ),
            row(
                &format!("throughput, {} streams", o.streams),
                mb(t.bulk_n_mb_s),
                mb(d.bulk_n_mb_s),
                r.bulk_n,
            ),
            row(
                &format!("round trip p50 ({} B)", o.message_size),
                us(t.rtt.p50_us),
                us(d.rtt.p50_us),
                r.rtt_p50,
            ),
            row(
                &format!("round trip p99 ({} B)", o.message_size),
                us(t.rtt.p99_us),
                us(d.rtt.p99_us),
                r.rtt_p99,
            ),
            row(
                "connection set-up",
                per_s(t.setup.conns_per_s),
                per_s(d.setup.conns_per_s),
                r.setup_rate,
            ),
        ];
        format!(
            "nowconnect-perf tcp: tunnel {} vs direct {} ({} s per bulk phase, {} connections \
             per stream; {} round trips over {} connections; {} set-ups)\n{}",
            o.tunnel,
            o.direct,
            o.seconds,
            o.connections_per_stream,
            o.round_trips,
            o.rtt_connections,
            o.connections,
            table::render(&["figure", "tunnel", "direct", "tunnel/direct"], &rows)
        )
    }

    /// The JSON report.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

fn row(label: &str, tunnel: String, direct: String, ratio: f64) -> Vec<String> {
    vec![label.to_owned(), tunnel, direct, format!("{ratio:.2}")]
}

/// `123.4 MB/s`.
pub fn mb(v: f64) -> String {
    format!("{v:.1} MB/s")
}

/// `85.0 µs`.
pub fn us(v: f64) -> String {
    format!("{v:.1} µs")
}

/// `1234 /s`.
pub fn per_s(v: f64) -> String {
    format!("{v:.0} /s")
}
