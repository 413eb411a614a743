//! Growth trends: least-squares slopes over the samples after warm-up.
//!
//! The hub lives through the whole run: one slope over its samples. Each agent incarnation
//! starts afresh (and lives one kill interval, mostly its allocator's warm-up), so the agent is
//! judged on (a) its post-restart baselines (the first sample of each incarnation after
//! [`AGENT_SETTLE_S`]) and (b) its end-of-life levels (the last sample of each incarnation),
//! each as a slope across the run: a leak per stream or per reconnect makes later incarnations
//! start or end higher. The pooled within-incarnation slope (each incarnation its own
//! intercept, one common slope) is reported too, but not judged: over 150 s it measures
//! warm-up.

use crate::sample::{Sample, Usage};
use serde::{Deserialize, Serialize};

/// Seconds after an agent (re)start before its samples count.
pub(crate) const AGENT_SETTLE_S: f64 = 30.0;
/// RSS growth over the measured span below max(this share of the mean, [`RSS_FLOOR_KIB`]) is
/// "no growth trend".
const RSS_SHARE: f64 = 0.05;
const RSS_FLOOR_KIB: f64 = 2048.0;
/// Same for descriptors: below max(10 % of the mean, 4).
const FD_SHARE: f64 = 0.10;
const FD_FLOOR: f64 = 4.0;

/// One series' trend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Trend {
    pub(crate) samples: usize,
    pub(crate) mean: f64,
    /// Per minute.
    pub(crate) slope_per_min: f64,
    /// Slope × measured span: what the trend adds over the run.
    pub(crate) growth_over_span: f64,
    /// The largest growth still called flat.
    pub(crate) allowed: f64,
    pub(crate) flat: bool,
}

/// Every trend of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Trends {
    pub(crate) hub_rss_kib: Option<Trend>,
    pub(crate) hub_fds: Option<Trend>,
    pub(crate) agent_rss_kib_within: Option<Trend>,
    pub(crate) agent_fds_within: Option<Trend>,
    pub(crate) agent_rss_kib_baselines: Option<Trend>,
    pub(crate) agent_fds_baselines: Option<Trend>,
    pub(crate) agent_rss_kib_end_of_life: Option<Trend>,
    pub(crate) agent_fds_end_of_life: Option<Trend>,
    /// (incarnation, t, rss KiB, fds) of each baseline.
    pub(crate) agent_baselines: Vec<(u32, f64, u64, u64)>,
}

impl Trends {
    /// Every judged trend is flat (all but the within-incarnation ones).
    pub(crate) fn flat(&self) -> bool {
        [
            &self.hub_rss_kib,
            &self.hub_fds,
            &self.agent_rss_kib_baselines,
            &self.agent_fds_baselines,
            &self.agent_rss_kib_end_of_life,
            &self.agent_fds_end_of_life,
        ]
        .iter()
        .all(|t| t.as_ref().is_none_or(|t| t.flat))
    }
}

/// Least-squares slope of `points` in groups: each group is centred on its own means (a
/// common slope with one intercept per group). None with fewer than 3 points or no spread.
pub(crate) fn pooled_slope(groups: &[Vec<(f64, f64)>]) -> Option<f64> {
    let (mut sxy, mut sxx, mut n) = (0.0, 0.0, 0);
    for g in groups.iter().filter(|g| g.len() >= 2) {
        let len = g.len() as f64;
        let mx = g.iter().map(|p| p.0).sum::<f64>() / len;
        let my = g.iter().map(|p| p.1).sum::<f64>() / len;
        for &(x, y) in g {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
        }
        n += g.len();
    }
    (n >= 3 && sxx > 0.0).then(|| sxy / sxx)
}

fn trend(groups: &[Vec<(f64, f64)>], share: f64, floor: f64) -> Option<Trend> {
    let slope_per_s = pooled_slope(groups)?;
    let all: Vec<&(f64, f64)> = groups.iter().flatten().collect();
    let mean = all.iter().map(|p| p.1).sum::<f64>() / all.len() as f64;
    let lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let hi = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let growth = slope_per_s * (hi - lo);
    let allowed = (mean * share).max(floor);
    Some(Trend {
        samples: all.len(),
        mean,
        slope_per_min: slope_per_s * 60.0,
        growth_over_span: growth,
        allowed,
        flat: growth <= allowed,
    })
}

/// The trends of `samples`, ignoring those before `warmup_s`.
pub(crate) fn trends(samples: &[Sample], warmup_s: f64) -> Trends {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t >= warmup_s).collect();
    let hub = |f: fn(&Usage) -> u64| -> Vec<Vec<(f64, f64)>> {
        vec![after.iter().map(|s| (s.t, f(&s.hub) as f64)).collect()]
    };

    // Agent samples grouped by incarnation, each without its first AGENT_SETTLE_S.
    let mut groups: Vec<(u32, Vec<(f64, Usage)>)> = Vec::new();
    let mut started: Vec<(u32, f64)> = Vec::new();
    for s in samples {
        let Some((inc, u)) = s.agent else { continue };
        let born = match started.iter().find(|(i, _)| *i == inc) {
            Some(&(_, t)) => t,
            None => {
                started.push((inc, s.t));
                s.t
            }
        };
        if s.t < warmup_s || s.t - born < AGENT_SETTLE_S {
            continue;
        }
        match groups.last_mut() {
            Some((i, g)) if *i == inc => g.push((s.t, u)),
            _ => groups.push((inc, vec![(s.t, u)])),
        }
    }
    let within = |f: fn(&Usage) -> u64| -> Vec<Vec<(f64, f64)>> {
        groups
            .iter()
            .map(|(_, g)| g.iter().map(|(t, u)| (*t, f(u) as f64)).collect())
            .collect()
    };
    let baselines: Vec<(u32, f64, u64, u64)> = groups
        .iter()
        .filter_map(|(i, g)| g.first().map(|(t, u)| (*i, *t, u.rss_kib, u.fds)))
        .collect();
    let ends: Vec<(u32, f64, u64, u64)> = groups
        .iter()
        .filter_map(|(i, g)| g.last().map(|(t, u)| (*i, *t, u.rss_kib, u.fds)))
        .collect();
    let base = |f: fn(&(u32, f64, u64, u64)) -> u64| -> Vec<Vec<(f64, f64)>> {
        vec![baselines.iter().map(|b| (b.1, f(b) as f64)).collect()]
    };
    let end = |f: fn(&(u32, f64, u64, u64)) -> u64| -> Vec<Vec<(f64, f64)>> {
        vec![ends.iter().map(|b| (b.1, f(b) as f64)).collect()]
    };
    Trends {
        hub_rss_kib: trend(&hub(|u| u.rss_kib), RSS_SHARE, RSS_FLOOR_KIB),
        hub_fds: trend(&hub(|u| u.fds), FD_SHARE, FD_FLOOR),
        agent_rss_kib_within: trend(&within(|u| u.rss_kib), RSS_SHARE, RSS_FLOOR_KIB),
        agent_fds_within: trend(&within(|u| u.fds), FD_SHARE, FD_FLOOR),
        agent_rss_kib_baselines: trend(&base(|b| b.2), RSS_SHARE, RSS_FLOOR_KIB),
        agent_fds_baselines: trend(&base(|b| b.3), FD_SHARE, FD_FLOOR),
        agent_rss_kib_end_of_life: trend(&end(|b| b.2), RSS_SHARE, RSS_FLOOR_KIB),
        agent_fds_end_of_life: trend(&end(|b| b.3), FD_SHARE, FD_FLOOR),
        agent_baselines: baselines,
    }
}

#[cfg(test)]
mod tests {
    use super::pooled_slope;

    #[test]
    fn a_common_slope_ignores_the_offsets_between_groups() {
        // Two groups with slope 2 and very different levels: pooled slope is 2, whereas one
        // line through all points would be dominated by the jump between them.
        let a = vec![(0.0, 100.0), (1.0, 102.0), (2.0, 104.0)];
        let b = vec![(10.0, 0.0), (11.0, 2.0), (12.0, 4.0)];
        let slope = pooled_slope(&[a, b]).unwrap_or(f64::NAN);
        assert!((slope - 2.0).abs() < 1e-9, "{slope}");
    }

    #[test]
    fn too_few_points_give_no_slope() {
        assert_eq!(pooled_slope(&[vec![(0.0, 1.0), (1.0, 2.0)]]), None);
        assert_eq!(
            pooled_slope(&[vec![(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]]),
            None
        );
    }
}
