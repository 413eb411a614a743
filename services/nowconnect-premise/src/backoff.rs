//! Reconnect delays: exponential with full jitter, reset after a stable session.

use rand::Rng;
use std::time::Duration;

/// A session that lived this long counts as stable: the next failure starts from `base` again.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Full-jitter exponential backoff: attempt *n* waits a uniform random time in
/// `[0, min(max, base × 2ⁿ)]`, so a fleet of agents never reconnects in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The ceiling of the next delay (before jitter).
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next delay; advances the attempt counter.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_capped_at_max() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let ceiling = b.ceiling();
            assert!(b.next_delay() <= ceiling);
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(&ceilings[..7], &[500, 1000, 2000, 4000, 8000, 16000, 30000]);
        assert!(ceilings[7..].iter().all(|c| *c == 30000));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10, "full jitter draws distinct delays");
    }
}
