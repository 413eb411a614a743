//! The LDAP mode: the original perf runner's workload — `concurrency` workers, each on its own
//! bound connection, each sending `rps_per_worker` searches per second for `duration` — and its
//! JSON report.
//!
//! Two ways to pace (see [`Pacing`]):
//! - **closed loop** (the runner's way): a worker sends, waits for the answer, then waits for
//!   its next slot; a slow answer delays the following requests, and the latency is measured
//!   from the actual send. Under overload this hides queueing (coordinated omission).
//! - **open loop**: every request has a scheduled send time fixed in advance (worker `w`'s
//!   `i`-th at `start + (i + w/concurrency) / rps`); requests are sent at their time whether
//!   earlier ones answered or not (several in flight on the worker's connection), and latency
//!   runs **from the scheduled time**, so time spent waiting behind a slow server counts.
//!
//! A request is one whole search (every page with `page_size` > 0). It fails on a transport
//! error, a timeout, a result code other than success, or a worker that cannot connect and bind
//! (then each of its slots counts as one failed request until a connect succeeds). Latency is
//! recorded for successful requests only.
//!
//! Not here: the bind password is never printed or put in a report.

mod client;
mod progress;
mod record;
mod report;
mod worker;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

pub use client::{LdapTarget, Scope};
pub use record::Recorder;
pub use report::{LatencyMs, LdapReport, LdapReportOptions};

use crate::PerfError;

/// How requests are paced; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    Closed,
    Open,
}

/// One LDAP run.
#[derive(Debug, Clone)]
pub struct LdapOpts {
    pub target: LdapTarget,
    /// Parallel workers, each with its own connection.
    pub concurrency: usize,
    /// Requests per second per worker; 0 (closed loop only) = back to back.
    pub rps_per_worker: f64,
    pub duration: Duration,
    /// Bound on connect + bind, and on one whole search.
    pub timeout: Duration,
    pub pacing: Pacing,
    /// At most this many requests in flight per worker in open loop (the next one waits, its
    /// latency still counted from its scheduled time).
    pub max_in_flight: usize,
    /// The report's `workload` label; `None` = `"<concurrency>x<rps>"` (+ `-open`).
    pub workload: Option<String>,
    /// The report's `run_id`; `None` = a fresh UUID.
    pub run_id: Option<String>,
    /// Print a progress line on stderr this often; `None` = silent.
    pub progress: Option<Duration>,
}

/// Default bound on in-flight requests per open-loop worker.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

/// Runs the workload and reports it. Errors here are about the tool itself (a bad option);
/// everything the directory or the network does is counted in the report.
pub async fn run(opts: &LdapOpts) -> Result<LdapReport, PerfError> {
    if opts.concurrency == 0 {
        return Err(PerfError::Options("concurrency must be at least 1".into()));
    }
    if opts.pacing == Pacing::Open && opts.rps_per_worker <= 0.0 {
        return Err(PerfError::Options(
            "open loop needs a positive rps-per-worker".into(),
        ));
    }
    let recorder = Arc::new(Recorder::default());
    let target = Arc::new(opts.target.clone());
    // Every worker connects and binds before the clock starts (a failure here is retried, and
    // recorded, at the worker's first slot).
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..opts.concurrency {
        let (t, timeout) = (target.clone(), opts.timeout);
        connecting.spawn(async move { client::connect(&t, timeout).await.ok() });
    }
    let conns = connecting.join_all().await;
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let end = start + opts.duration;
    let mut workers = tokio::task::JoinSet::new();
    for (w, conn) in conns.into_iter().enumerate() {
        let plan = worker::Plan {
            target: target.clone(),
            recorder: recorder.clone(),
            conn,
            start,
            end,
            interval: interval(opts.rps_per_worker),
            phase: w as f64 / opts.concurrency as f64,
            timeout: opts.timeout,
            max_in_flight: opts.max_in_flight.max(1),
        };
        match opts.pacing {
            Pacing::Closed => workers.spawn(worker::closed(plan)),
            Pacing::Open => workers.spawn(worker::open(plan)),
        };
    }
    let progress = opts
        .progress
        .map(|every| tokio::spawn(progress::run(recorder.clone(), start, opts.duration, every)));
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| PerfError::Task(e.to_string()))?;
    }
    if let Some(p) = progress {
        p.abort();
        progress::finish(&recorder, start, opts.duration);
    }
    Ok(LdapReport::new(
        opts,
        &recorder,
        start_wall,
        start.elapsed(),
    ))
}

/// The time between two requests of one worker; `None` = back to back.
fn interval(rps: f64) -> Option<Duration> {
    if rps > 0.0 && rps.is_finite() {
        Duration::try_from_secs_f64(1.0 / rps).ok()
    } else {
        None
    }
}
