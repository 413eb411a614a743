//! The tokio runtime both binaries run on, sized by their `runtime.worker_threads` setting.
//!
//! Tokio's multi-thread scheduler wakes a sibling worker each time an idle worker finds work, so
//! at light load every relayed message can cost one cross-thread wake-up (a futex call and a
//! context switch) on top of the socket's own. On a machine with few cores shared with other
//! busy processes, one worker avoids that; more workers spread many busy tunnels and streams over
//! more cores. `docs/benchmarks.md` ("Worker threads") has the figures.

use std::num::NonZeroUsize;

/// A multi-thread runtime with `worker_threads` workers (`None`: one per CPU, tokio's default),
/// IO and timers enabled.
pub fn build(worker_threads: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n.get());
    }
    builder.enable_all().build()
}

/// The worker count a runtime from [`build`] uses, for the start-up log line.
pub fn effective_workers(worker_threads: Option<NonZeroUsize>) -> usize {
    worker_threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_worker_count_asked_for() {
        let two = NonZeroUsize::new(2);
        let rt = build(two).expect("runtime");
        assert_eq!(rt.metrics().num_workers(), 2);
        assert_eq!(effective_workers(two), 2);
        let auto = build(None).expect("runtime");
        assert_eq!(auto.metrics().num_workers(), effective_workers(None));
    }
}
