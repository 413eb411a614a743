//! The LDAP mode's JSON report, in the original perf runner's shape (`run_id`, `target`,
//! `workload`, `latency_ms {…}`, `requests_total`, `errors_total`, `start_iso`) plus what this
//! tool adds (entries, errors by kind, the options; the bind password is never among them).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{LdapOpts, Pacing, Recorder};
use crate::clock;
use crate::stats::Summary;

/// Latency of the successful requests, in milliseconds (all 0 when there were none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    pub count: usize,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyMs {
    pub fn of(samples: &[Duration]) -> LatencyMs {
        match Summary::of(samples) {
            Some(s) => LatencyMs {
                count: s.count,
                avg_ms: s.mean_us / 1000.0,
                p50_ms: s.p50_us / 1000.0,
                p90_ms: s.p90_us / 1000.0,
                p99_ms: s.p99_us / 1000.0,
                max_ms: s.max_us / 1000.0,
            },
            None => LatencyMs::default(),
        }
    }
}

/// The options of the run (no password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LdapReportOptions {
    pub host: String,
    pub port: u16,
    pub ssl: bool,
    pub bind_dn: String,
    pub base_dn: String,
    pub filter: String,
    pub attrs: Vec<String>,
    pub scope: String,
    pub page_size: u32,
    pub concurrency: usize,
    pub rps_per_worker: f64,
    pub duration_s: f64,
    pub timeout_s: f64,
    /// `"closed"` or `"open"`.
    pub pacing: String,
}

/// `nowconnect-perf ldap`'s report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LdapReport {
    /// Always `"ldap"`.
    pub mode: String,
    pub run_id: String,
    /// `ldap://host:port`.
    pub target: String,
    /// `"<concurrency>x<rps>"` (`-open` for open loop) unless named.
    pub workload: String,
    pub start_iso: String,
    pub end_iso: String,
    /// Seconds from the first scheduled request to the last answer.
    pub elapsed_s: f64,
    pub latency_ms: LatencyMs,
    pub requests_total: u64,
    pub errors_total: u64,
    /// Entries returned by the successful searches.
    pub entries_total: u64,
    /// Requests per second over `elapsed_s`.
    pub throughput_rps: f64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub options: LdapReportOptions,
}

impl LdapReport {
    pub fn new(
        opts: &LdapOpts,
        recorder: &Recorder,
        start: SystemTime,
        elapsed: Duration,
    ) -> LdapReport {
        let snap = recorder.snapshot();
        let t = &opts.target;
        let secs = elapsed.as_secs_f64();
        LdapReport {
            mode: "ldap".into(),
            run_id: opts
                .run_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            target: t.url(),
            workload: opts.workload.clone().unwrap_or_else(|| workload_name(opts)),
            start_iso: clock::iso(start),
            end_iso: clock::iso(start + elapsed),
            elapsed_s: secs,
            latency_ms: LatencyMs::of(&snap.latencies),
            requests_total: snap.requests,
            errors_total: snap.errors,
            entries_total: snap.entries,
            throughput_rps: if secs > 0.0 {
                snap.requests as f64 / secs
            } else {
                0.0
            },
            errors_by_kind: snap.errors_by_kind,
            options: LdapReportOptions {
                host: t.host.clone(),
                port: t.port,
                ssl: t.ssl,
                bind_dn: t.bind_dn.clone(),
                base_dn: t.base_dn.clone(),
                filter: t.filter.clone(),
                attrs: t.attrs.clone(),
                scope: t.scope.as_str().into(),
                page_size: t.page_size,
                concurrency: opts.concurrency,
                rps_per_worker: opts.rps_per_worker,
                duration_s: opts.duration.as_secs_f64(),
                timeout_s: opts.timeout.as_secs_f64(),
                pacing: match opts.pacing {
                    Pacing::Closed => "closed".into(),
                    Pacing::Open => "open".into(),
                },
            },
        }
    }

    /// A report with zero figures, for checking `--exit-on` names before a run.
    pub fn shape(opts: &LdapOpts) -> LdapReport {
        LdapReport::new(
            opts,
            &Recorder::default(),
            SystemTime::now(),
            Duration::ZERO,
        )
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// A short human summary for stdout.
    pub fn render(&self) -> String {
        let l = &self.latency_ms;
        format!(
            "nowconnect-perf ldap: {} workload {} ({}): {} requests, {} errors, {} entries, \
             {:.1} req/s\nlatency ms: avg {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} \
             (n = {})\n",
            self.target,
            self.workload,
            self.options.pacing,
            self.requests_total,
            self.errors_total,
            self.entries_total,
            self.throughput_rps,
            l.avg_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            l.count,
        )
    }
}

/// `10x2`, `50x2-open`, `10xmax` (back to back).
fn workload_name(opts: &LdapOpts) -> String {
    let rps = if opts.rps_per_worker > 0.0 {
        format!("{}", opts.rps_per_worker)
    } else {
        "max".into()
    };
    let open = if opts.pacing == Pacing::Open {
        "-open"
    } else {
        ""
    };
    format!("{}x{rps}{open}", opts.concurrency)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn latency_in_ms_from_samples() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = LatencyMs::of(&samples);
        assert_eq!(l.count, 100);
        assert!((l.avg_ms - 50.5).abs() < 1e-9, "{l:?}");
        assert!((l.p50_ms - 50.0).abs() < 1e-9, "{l:?}");
        assert!((l.p90_ms - 90.0).abs() < 1e-9, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 1e-9, "{l:?}");
        assert!((l.max_ms - 100.0).abs() < 1e-9, "{l:?}");
        assert_eq!(LatencyMs::of(&[]), LatencyMs::default());
    }
}
