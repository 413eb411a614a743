//! The bench's output: the human report (tables and verdicts) and the JSON report.

use nowconnect_perf::report::ratio;
use nowconnect_perf::table;
use serde_json::{Value, json};

use crate::figure::{self, Figure};
use crate::mode::Mode;
use crate::summary::{self, ModeTotals, Run, TARGET};

/// The human report.
pub(crate) fn render(runs: &[Run], totals: &[ModeTotals], streams: usize, rounds: usize) -> String {
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
    let mut out = format!(
        "Through the tunnel: medians of {rounds} rounds; (x) = median of the per-round ratios \
         to off\n{}\n",
        table::render(&header, &rows)
    );

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
            out.push_str(&format!(
                "{} vs off, target cost <= {:.0}% (+ = worse; median, [best .. worst round]): {}\n",
                s.mode.as_str(),
                100.0 * TARGET,
                status.as_str()
            ));
            for c in costs {
                out.push_str(&format!(
                    "  {:<24} {:+6.1}%  [{:+.1}% .. {:+.1}%]  {}\n",
                    c.figure.label(streams),
                    100.0 * c.median,
                    100.0 * c.best,
                    100.0 * c.worst,
                    c.status.as_str()
                ));
            }
        }
    }
    out
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
            "{:<7} protocol {}; hub+agent CPU {:.1} s for {:.1} GB relayed = {:.2} s/GB{vs_off}; \
             OTLP: {} trace requests, {} spans, {} metric requests, {} bytes; spans dropped: {}\n",
            t.mode.as_str(),
            t.protocol,
            t.cpu_seconds,
            t.relayed_bytes as f64 / 1e9,
            t.cpu_per_gb(),
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
pub(crate) fn to_json(runs: &[Run], totals: &[ModeTotals], rounds: usize) -> Value {
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
                "target": summary::verdict(s).map(|(status, _)| status.as_str()),
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
        "runs": runs,
    })
}
