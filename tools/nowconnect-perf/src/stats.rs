//! Latency statistics: nearest-rank percentiles over recorded samples, and medians of repeated
//! figures.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Percentiles of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Summary {
    /// Summarises `samples` (any order). `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let max_us = *us.last()?;
        Some(Summary {
            count: us.len(),
            mean_us: us.iter().sum::<f64>() / us.len() as f64,
            p50_us: percentile(&us, 50.0)?,
            p90_us: percentile(&us, 90.0)?,
            p99_us: percentile(&us, 99.0)?,
            max_us,
        })
    }
}

/// Nearest-rank percentile of ascending `sorted` values: the smallest value with at least `p`%
/// of the values at or below it. `None` when empty; `p` is clamped to 0..=100.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// Median of `values` (any order; the mean of the two middle ones when even). `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 51.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0, 2.0], 250.0), Some(2.0), "clamped");
    }

    #[test]
    fn summary_of_unsorted_samples() {
        let samples: Vec<Duration> = [30, 10, 20, 40]
            .iter()
            .map(|&us| Duration::from_micros(us))
            .collect();
        let s = Summary::of(&samples).expect("samples");
        assert_eq!(s.count, 4);
        assert!((s.mean_us - 25.0).abs() < 1e-9);
        assert!((s.p50_us - 20.0).abs() < 1e-9);
        assert!((s.p99_us - 40.0).abs() < 1e-9);
        assert!((s.max_us - 40.0).abs() < 1e-9);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
