//! Allow decisions kept for a while per (agent, connector), so a busy connector does not ask
//! the PDP for every stream. Only allows are cached: a deny or an error is asked again next
//! time. Bounded: when full, expired entries go first, then the one expiring soonest.
//!
//! A lookup or insert holds a mutex for a map operation only (no IO under it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Largest number of (agent, connector) pairs remembered.
pub(crate) const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub(crate) struct AllowCache {
    max: usize,
    /// (agent_id, connector) → allowed until.
    entries: Mutex<HashMap<(String, String), Instant>>,
}

impl AllowCache {
    pub(crate) fn new(max: usize) -> Self {
        AllowCache {
            max: max.max(1),
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an unexpired allow is cached for the pair (an expired one is dropped).
    pub(crate) fn allows(&self, agent_id: &str, connector: &str) -> bool {
        let key = (agent_id.to_owned(), connector.to_owned());
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Remembers an allow for `ttl` (a zero `ttl` remembers nothing).
    pub(crate) fn insert(&self, agent_id: &str, connector: &str, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let key = (agent_id.to_owned(), connector.to_owned());
        let mut entries = self.lock();
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.retain(|_, until| *until > now);
            if entries.len() >= self.max
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(key, now + ttl);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_allow_lasts_its_ttl() {
        let cache = AllowCache::new(10);
        assert!(!cache.allows("a", "c"));
        cache.insert("a", "c", Duration::from_secs(5));
        assert!(cache.allows("a", "c"));
        assert!(!cache.allows("a", "other"));
        assert!(!cache.allows("b", "c"));
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(cache.allows("a", "c"));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!cache.allows("a", "c"));
        assert_eq!(cache.len(), 0, "the expired entry is dropped");
        cache.insert("a", "c", Duration::ZERO);
        assert!(!cache.allows("a", "c"));
    }

    #[tokio::test(start_paused = true)]
    async fn it_stays_bounded() {
        let cache = AllowCache::new(3);
        for (i, ttl) in [30, 10, 20].into_iter().enumerate() {
            cache.insert(&format!("a{i}"), "c", Duration::from_secs(ttl));
        }
        cache.insert("a3", "c", Duration::from_secs(40));
        assert_eq!(cache.len(), 3);
        assert!(!cache.allows("a1", "c"), "the one expiring soonest went");
        assert!(cache.allows("a0", "c") && cache.allows("a2", "c") && cache.allows("a3", "c"));
        tokio::time::advance(Duration::from_secs(25)).await;
        cache.insert("a4", "c", Duration::from_secs(5));
        assert_eq!(cache.len(), 3, "the expired a2 made room");
        assert!(cache.allows("a4", "c"));
    }
}
