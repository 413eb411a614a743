//! The soak report: printed as text, optionally written as JSON.

use crate::sample::Sample;
use crate::tally::Counts;
use crate::trend::{Trend, Trends};
use serde::{Deserialize, Serialize};

/// Everything the run measured.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) kill_every_s: f64,
    pub(crate) sample_every_s: f64,
    pub(crate) ldap_workers: usize,
    pub(crate) bulk_streams: usize,
    pub(crate) max_bulk_bytes: usize,
    pub(crate) pause_ms: u128,
    pub(crate) counts: Counts,
    pub(crate) trends: Trends,
    pub(crate) samples: Vec<Sample>,
    /// No integrity failure, no hung stream, no unexplained interruption, every trend flat.
    pub(crate) pass: bool,
}

impl Report {
    pub(crate) fn verdict(counts: &Counts, trends: &Trends) -> bool {
        counts.integrity_failures == 0
            && counts.hung == 0
            && counts.interrupted_unexplained == 0
            && trends.flat()
    }

    pub(crate) fn text(&self) -> String {
        let c = &self.counts;
        let mut out = format!(
            "NowConnect soak: {:.0} s, warm-up {:.0} s, agent SIGKILL every {:.0} s, samples every {:.0} s\n\
             traffic: {} LDAP workers (bind + 4 searches per connection), {} bulk echo streams (1 KiB..{} B), {} ms pause between operations\n\
             ok: {} LDAP connections, {} bulk streams, {} bytes verified\n\
             integrity failures: {}\nhung streams: {}\n\
             interrupted by a kill (closed, prefix verified): {}\ninterrupted with no kill near: {}\n\
             of the interrupted, ended by a clean EOF (FIN) before the last byte: {}\n\
             kills: {}; back in service after (s): {}\n",
            self.duration_s,
            self.warmup_s,
            self.kill_every_s,
            self.sample_every_s,
            self.ldap_workers,
            self.bulk_streams,
            self.max_bulk_bytes,
            self.pause_ms,
            c.ok_ldap,
            c.ok_bulk,
            c.bytes_verified,
            c.integrity_failures,
            c.hung,
            c.interrupted_by_kill,
            c.interrupted_unexplained,
            c.interrupted_as_eof,
            c.kills,
            spread(&c.recovery_secs),
        );
        let t = &self.trends;
        for (name, trend, unit) in [
            ("hub RSS", &t.hub_rss_kib, "KiB"),
            ("hub fds", &t.hub_fds, "fds"),
            (
                "agent RSS post-restart baselines",
                &t.agent_rss_kib_baselines,
                "KiB",
            ),
            (
                "agent fds post-restart baselines",
                &t.agent_fds_baselines,
                "fds",
            ),
            (
                "agent RSS end of each incarnation",
                &t.agent_rss_kib_end_of_life,
                "KiB",
            ),
            (
                "agent fds end of each incarnation",
                &t.agent_fds_end_of_life,
                "fds",
            ),
            (
                "(not judged) agent RSS within incarnations",
                &t.agent_rss_kib_within,
                "KiB",
            ),
            (
                "(not judged) agent fds within incarnations",
                &t.agent_fds_within,
                "fds",
            ),
        ] {
            out.push_str(&format!("{name}: {}\n", describe(trend.as_ref(), unit)));
        }
        for e in &c.examples {
            out.push_str(&format!("  failure: {e}\n"));
        }
        out.push_str(if self.pass {
            "verdict: PASS (no integrity failure, no hang, no growth trend)\n"
        } else {
            "verdict: FAIL\n"
        });
        out
    }
}

fn describe(t: Option<&Trend>, unit: &str) -> String {
    match t {
        None => "too few samples".into(),
        Some(t) => format!(
            "mean {:.0} {unit}, slope {:+.2} {unit}/min over {} samples, growth over the span {:+.1} {unit} (flat below {:.0}): {}",
            t.mean,
            t.slope_per_min,
            t.samples,
            t.growth_over_span,
            t.allowed,
            if t.flat { "no growth trend" } else { "GROWING" }
        ),
    }
}

/// "min / median / max" of `xs`, or "-".
fn spread(xs: &[f64]) -> String {
    if xs.is_empty() {
        return "-".into();
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    format!(
        "min {:.2} / median {:.2} / max {:.2}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}
