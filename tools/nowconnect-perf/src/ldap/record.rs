//! What the workers record, shared between them and the progress line.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counts and latencies of one run.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Snapshot>,
}

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    pub entries: u64,
    /// Latencies of successful requests, in arrival order.
    pub latencies: Vec<Duration>,
    /// Failed requests by kind (`bind rc=49`, `search rc=32`, `timeout`, `connect`, …).
    pub errors_by_kind: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn success(&self, latency: Duration, entries: u64) {
        let mut g = self.lock();
        g.requests += 1;
        g.entries += entries;
        g.latencies.push(latency);
    }

    pub fn failure(&self, kind: &str) {
        let mut g = self.lock();
        g.requests += 1;
        g.errors += 1;
        *g.errors_by_kind.entry(kind.to_owned()).or_default() += 1;
    }

    /// Requests and errors so far, and the latencies recorded since `from` (an index into the
    /// latency list, for the progress line's running window).
    pub fn counts(&self, from: usize) -> (u64, u64, usize, Vec<Duration>) {
        let g = self.lock();
        let lat = &g.latencies;
        let window = lat
            .get(from..)
            .map(<[Duration]>::to_vec)
            .unwrap_or_default();
        (g.requests, g.errors, lat.len(), window)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
