//! The bench's output: the human report (tables and verdicts) and the JSON report.

use nowconnect_perf::report::ratio;
use nowconnect_perf::table;
use serde_json::{Value, json};

use crate::figure::{self, Figure};
use crate::mode::Mode;
use crate::summary::{self, ModeTotals, Run, TARGET};

/// The human report.
pub(crate) fn render(
    runs: &[Run],
    totals: &[ModeTotals],
    incidents: &[String],
    streams: usize,
    rounds: usize,
) -> String {
    let modes: Vec<Mode> = totals.iter().map(|t| t.mode).collect();
    let summaries = summary::summarize(runs, &modes);
    let direct = summary::direct(runs, &modes);

    let mut header = vec!["figure"];
    header.extend(modes.iter().map(|m| m.as_str()));
    let rows: Vec<Vec<String>> = figure::ALL
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut row = vec![f.label(streams)];
            row.extend(summaries.iter().map(|s| match &s.vs_off {
                Some(vs_off) if s.mode != Mode::Off => {
                    format!("{} ({:.3})", f.format(s.tunnel[i]), vs_off[i])
                }
                _ => f.format(s.tunnel[i]),
            }));
            row
        })
        .collect();
    let mut out = method_line(runs, rounds);
    out.push_str(&format!(
        "Through the tunnel: medians of {rounds} rounds; (x) = median of the per-round ratios \
         to off\n{}\n",
        table::render(&header, &rows)
    ));

    let mut header = vec!["figure", "direct", "spread"];
    header.extend(modes.iter().map(|m| m.as_str()));
    let rows: Vec<Vec<String>> = figure::ALL
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut row = vec![
                f.label(streams),
                f.format(direct.median[i]),
                format!("{:.1}%", 100.0 * direct.spread[i]),
            ];
            row.extend(summaries.iter().map(|s| format!("{:.3}", s.vs_direct[i])));
            row
        })
        .collect();
    out.push_str(&format!(
        "Tunnel / direct: medians of the per-round ratios; direct: median of {rounds} rounds, \
         spread = (max - min) / median\n{}\n",
        table::render(&header, &rows)
    ));

    out.push_str(&totals_lines(totals));
    out.push('\n');
    for s in summaries.iter().filter(|s| s.mode != Mode::Off) {
        if let Some((status, costs)) = summary::verdict(s) {
            let head = if s.mode.has_target() {
                format!(
                    "target cost <= {:.0}% (+ = worse; median, [best .. worst round]): {}",
                    100.0 * TARGET,
                    status.as_str()
                )
            } else {
                format!(
                    "no target, {} (+ = worse; median, [best .. worst round])",
                    s.mode.why()
                )
            };
            out.push_str(&format!("{} vs off, {head}\n", s.mode.as_str()));
            for c in costs {
                let status = if s.mode.has_target() {
                    c.status.as_str()
                } else {
                    ""
                };
                let line = format!(
                    "  {:<24} {:+6.1}%  [{:+.1}% .. {:+.1}%]  {status}",
                    c.figure.label(streams),
                    100.0 * c.median,
                    100.0 * c.best,
                    100.0 * c.worst,
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
    }
    if !incidents.is_empty() {
        out.push_str("Incidents (each phase measured again; see the hub and agent logs):\n");
        for i in incidents {
            out.push_str(&format!("  {i}\n"));
        }
    }
    out
}

/// What each target was put through per round, from the options the runs carry.
fn method_line(runs: &[Run], rounds: usize) -> String {
    let Some(o) = runs.first().map(|r| &r.report.options) else {
        return String::new();
    };
    format!(
        "Per target and round ({rounds} rounds): throughput on 1 and on {} parallel streams, each \
         stream {} connections in sequence over {} s; {} round trips of {} B over {} kept \
         connections (after {} warm-up ones); {} connection set-ups\n",
        o.streams,
        o.connections_per_stream,
        o.seconds,
        o.round_trips,
        o.message_size,
        o.rtt_connections,
        o.warmup,
        o.connections
    )
}

/// ` traced 12 of 120 connections (10.0%);` for a mode that exports, else nothing.
fn traced_part(t: &ModeTotals) -> String {
    if !t.mode.exports() {
        return String::new();
    }
    format!(
        " traced {} of {} connections ({:.1}%);",
        t.sink.traced_streams,
        t.streams,
        100.0 * t.traced_share()
    )
}

fn totals_lines(totals: &[ModeTotals]) -> String {
    let off_cpu = totals
        .iter()
        .find(|t| t.mode == Mode::Off)
        .map(ModeTotals::cpu_per_gb);
    let mut out = String::new();
    for t in totals {
        let vs_off = match off_cpu {
            Some(off) if t.mode != Mode::Off => format!(" ({:.3})", ratio(t.cpu_per_gb(), off)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<10} protocol {}; hub+agent CPU {:.1} s for {:.1} GB relayed = {:.2} s/GB{vs_off};{} \
             OTLP: {} trace requests, {} spans, {} metric requests, {} bytes; spans dropped: {}\n",
            t.mode.as_str(),
            t.protocol,
            t.cpu_seconds,
            t.relayed_bytes as f64 / 1e9,
            t.cpu_per_gb(),
            traced_part(t),
            t.sink.trace_requests,
            t.sink.spans,
            t.sink.metric_requests,
            t.sink.bytes,
            t.dropped_spans
        ));
    }
    out
}

fn keyed(values: &[f64]) -> Value {
    figure::ALL
        .iter()
        .zip(values)
        .map(|(f, v): (&Figure, &f64)| (f.key().to_owned(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The JSON report: the summaries per mode, what each stack did, and every run in full.
pub(crate) fn to_json(
    runs: &[Run],
    totals: &[ModeTotals],
    incidents: &[String],
    rounds: usize,
) -> Value {
    let modes: Vec<Mode> = totals.iter().map(|t| t.mode).collect();
    let summaries = summary::summarize(runs, &modes);
    let direct = summary::direct(runs, &modes);
    let per_mode: serde_json::Map<String, Value> = summaries
        .iter()
        .zip(totals)
        .map(|(s, t)| {
            let value = json!({
                "protocol": t.protocol,
                "tunnel_median": keyed(&s.tunnel),
                "ratio_to_off": s.vs_off.as_deref().map(keyed),
                "ratio_to_direct": keyed(&s.vs_direct),
                "target": summary::verdict(s)
                    .filter(|_| s.mode.has_target())
                    .map(|(status, _)| status.as_str()),
                "cost_vs_off": summary::verdict(s).map(|(_, costs)| costs
                    .iter()
                    .map(|c| (c.figure.key().to_owned(), json!(c.median)))
                    .collect::<serde_json::Map<_, _>>()),
                "streams": t.streams,
                "traced_streams": t.sink.traced_streams,
                "otlp_trace_requests": t.sink.trace_requests,
                "otlp_spans": t.sink.spans,
                "otlp_metric_requests": t.sink.metric_requests,
                "otlp_bytes": t.sink.bytes,
                "dropped_spans": t.dropped_spans,
                "cpu_seconds": t.cpu_seconds,
                "relayed_bytes": t.relayed_bytes,
                "cpu_seconds_per_gb": t.cpu_per_gb(),
            });
            (s.mode.as_str().to_owned(), value)
        })
        .collect();
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| json!({ "mode": r.mode.as_str(), "round": r.round + 1, "report": r.report }))
        .collect();
    json!({
        "bench": "telemetry",
        "rounds": rounds,
        "target_max_cost": TARGET,
        "direct_median": keyed(&direct.median),
        "direct_spread": keyed(&direct.spread),
        "modes": per_mode,
        "incidents": incidents,
        "runs": runs,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use nowconnect_perf::report::{Figures, TcpReport};
    use nowconnect_perf::stats::Summary;
    use nowconnect_perf::tcp::{Setup, TcpOpts};

    use super::*;
    use crate::sink::Received;

    fn figures(mb_s: f64, p50_us: f64) -> Figures {
        let rtt = Summary {
            count: 1,
            mean_us: p50_us,
            p50_us,
            p90_us: p50_us,
            p99_us: p50_us,
            max_us: p50_us,
        };
        let setup = Setup {
            conns_per_s: 1000.0,
            latency: rtt,
        };
        Figures {
            bulk_1_mb_s: mb_s,
            bulk_n_mb_s: mb_s,
            rtt,
            setup,
        }
    }

    fn totals(mode: Mode, traced_streams: u64) -> ModeTotals {
        ModeTotals {
            mode,
            protocol: "v2".into(),
            sink: Received {
                traced_streams,
                ..Received::default()
            },
            dropped_spans: 0,
            cpu_seconds: 1.0,
            relayed_bytes: 1_000_000_000,
            streams: 400,
        }
    }

    #[test]
    fn the_report_names_the_method_the_traced_share_and_which_modes_have_a_target() {
        let addr = "127.0.0.1:1".parse().unwrap();
        let opts = TcpOpts {
            tunnel: addr,
            direct: addr,
            streams: 8,
            connections_per_stream: 10,
            duration: Duration::from_millis(1500),
            round_trips: 4000,
            warmup: 300,
            rtt_connections: 100,
            message_size: 64,
            connections: 200,
        };
        let direct = figures(1000.0, 20.0);
        let tunnel = [(Mode::Off, 400.0, 100.0), (Mode::Full, 398.0, 102.0)];
        let mut runs: Vec<Run> = tunnel
            .iter()
            .map(|&(mode, mb, us)| Run {
                mode,
                round: 0,
                report: TcpReport::new(&opts, figures(mb, us), direct),
            })
            .collect();
        runs.push(Run {
            mode: Mode::TracedAll,
            round: 0,
            report: TcpReport::new(&opts, figures(350.0, 120.0), direct),
        });
        let all = [
            totals(Mode::Off, 0),
            totals(Mode::Full, 40),
            totals(Mode::TracedAll, 400),
        ];
        let incident = "round 1: Setups on full: connection set-up: no answer within 5s".to_owned();
        let text = render(&runs, &all, std::slice::from_ref(&incident), 8, 1);
        assert!(text.contains("Incidents"), "{text}");
        assert!(text.contains(&incident), "{text}");
        assert!(
            text.contains("each stream 10 connections in sequence over 1.5 s"),
            "{text}"
        );
        assert!(text.contains("4000 round trips of 64 B over 100 kept connections"));
        assert!(
            text.contains("traced 40 of 400 connections (10.0%)"),
            "{text}"
        );
        assert!(text.contains("traced 400 of 400 connections (100.0%)"));
        assert!(text.contains("full vs off, target cost <= 5%"), "{text}");
        assert!(text.contains("traced-all vs off, no target"), "{text}");
        assert!(!render(&runs, &all, &[], 8, 1).contains("Incidents"));
        let json = to_json(&runs, &all, &[incident], 1);
        assert_eq!(json["incidents"].as_array().map(Vec::len), Some(1));
        assert_eq!(json["modes"]["full"]["target"], "met");
        assert!(json["modes"]["traced-all"]["target"].is_null());
        let p50 = json["modes"]["traced-all"]["cost_vs_off"]["rtt_p50_us"]
            .as_f64()
            .unwrap();
        assert!((p50 - 0.2).abs() < 1e-9, "{json}");
        assert_eq!(json["modes"]["full"]["traced_streams"], 40);
    }
}
