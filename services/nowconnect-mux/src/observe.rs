//! Seams for metrics and traces: what streams do, reported at the edges.
//!
//! The relay never knows metric names. A service implements [`Observer`] (once per process)
//! and hands out one [`StreamObserver`] per stream with its labels already bound, so the hot
//! path pays one virtual call and whatever the implementation does — keep that cheap.

use crate::stream::CloseReason;
use nowconnect_protocol::{Direction, ResetReason};
use std::sync::Arc;
use std::time::Duration;

/// The two timed awaits of every local write (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePhase {
    /// Copying the bytes into the stream's write buffer.
    Write,
    /// Flushing that buffer into the kernel: where a slow peer shows.
    Drain,
}

/// Everything one stream reports. All methods default to doing nothing.
pub trait StreamObserver: Send + Sync + std::fmt::Debug + 'static {
    /// `n` payload bytes moved in direction `dir` (`c2a` toward the target).
    fn bytes(&self, _dir: Direction, _n: usize) {}
    /// One local write phase took `elapsed`.
    fn write_phase(&self, _phase: WritePhase, _elapsed: Duration) {}
    /// Frames this stream's inbound queue holds now (after a push or a pop).
    fn queue_len(&self, _frames: usize) {}
    fn fin_sent(&self) {}
    fn fin_received(&self) {}
    fn rst_sent(&self, _reason: &ResetReason) {}
    fn rst_received(&self, _reason: &ResetReason) {}
    /// Writing to the local socket failed (the client or target went away mid-write).
    fn local_write_failed(&self) {}
    /// The stream ended.
    fn closed(&self, _reason: &CloseReason, _duration: Duration) {}
}

/// Creates the per-stream observers of a session.
pub trait Observer: Send + Sync + std::fmt::Debug + 'static {
    /// A stream of `connector` starts.
    fn stream(&self, connector: &str) -> Arc<dyn StreamObserver>;
    /// Agent: an OPEN for `connector` was answered with RST `reason` before any stream
    /// existed (`too_many_streams` over `max_inflight_cids`, `shutdown` while draining).
    fn open_refused(&self, _connector: &str, _reason: &ResetReason) {}
}

/// Observes nothing (tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

#[derive(Debug)]
struct Noop;
impl StreamObserver for Noop {}

impl Observer for NoopObserver {
    fn stream(&self, _connector: &str) -> Arc<dyn StreamObserver> {
        Arc::new(Noop)
    }
}
