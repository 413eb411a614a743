//! Keepalive bookkeeping: is the peer still answering?

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Tracks whether the peer still answers.
#[derive(Debug)]
pub(crate) struct Liveness {
    clock: Instant,
    last_rx: AtomicU64,
    /// 0 = no ping outstanding, else ms-since-clock + 1 of the oldest unanswered ping.
    ping_since: AtomicU64,
}

impl Liveness {
    pub(super) fn new() -> Self {
        Self {
            clock: Instant::now(),
            last_rx: AtomicU64::new(0),
            ping_since: AtomicU64::new(0),
        }
    }
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    pub(crate) fn ping_sent(&self) {
        let now = self.now_ms() + 1;
        let _ = self
            .ping_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }
    pub(super) fn received(&self, pong: bool) {
        self.last_rx.store(self.now_ms(), Ordering::Relaxed);
        if pong {
            self.ping_since.store(0, Ordering::Relaxed);
        }
    }
    /// Dead when a ping went unanswered for `timeout` and nothing else arrived meanwhile.
    pub(super) fn dead(&self, timeout: Duration) -> bool {
        let since = self.ping_since.load(Ordering::Relaxed);
        let limit = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        since != 0
            && now.saturating_sub(since - 1) > limit
            && now.saturating_sub(self.last_rx.load(Ordering::Relaxed)) > limit
    }
}
