//! The two worker loops. Each worker owns one connection (re-made after a transport failure or
//! a timeout) and records every request in the shared [`Recorder`].

use std::sync::Arc;
use std::time::Duration;

use ldap3::Ldap;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Recorder;
use super::client::{self, LdapTarget};

/// What one worker does.
#[derive(Debug)]
pub(crate) struct Plan {
    pub target: Arc<LdapTarget>,
    pub recorder: Arc<Recorder>,
    /// The connection made before the start (`None`: the first slot connects).
    pub conn: Option<Ldap>,
    pub start: Instant,
    pub end: Instant,
    /// `None` = back to back (closed loop only).
    pub interval: Option<Duration>,
    /// This worker's offset into the interval, 0..1, so workers do not send in lockstep.
    pub phase: f64,
    pub timeout: Duration,
    pub max_in_flight: usize,
}

impl Plan {
    /// The scheduled send time of request `i`.
    fn slot(&self, i: u64) -> Instant {
        match self.interval {
            Some(iv) => self.start + iv.mul_f64(i as f64 + self.phase),
            None => Instant::now(),
        }
    }

    /// The worker's connection, connecting if it has none; a failed connect is recorded as
    /// one failed request.
    async fn ensure_conn(&mut self) -> Option<Ldap> {
        if self.conn.is_none() {
            match client::connect(&self.target, self.timeout).await {
                Ok(l) => self.conn = Some(l),
                Err(f) => self.recorder.failure(&f.kind),
            }
        }
        self.conn.clone()
    }
}

/// Closed loop: send, wait for the answer, wait for the next slot (one interval after the
/// previous slot, or at once when that has passed). Latency from the actual send.
pub(crate) async fn closed(mut plan: Plan) {
    let mut slot = plan.slot(0);
    while slot < plan.end {
        tokio::time::sleep_until(slot).await;
        if let Some(mut ldap) = plan.ensure_conn().await {
            let sent = Instant::now();
            match client::search(&mut ldap, &plan.target, plan.timeout).await {
                Ok(n) => plan.recorder.success(sent.elapsed(), n),
                Err(f) => {
                    plan.recorder.failure(&f.kind);
                    if f.broken {
                        plan.conn = None;
                    }
                }
            }
        }
        slot = match plan.interval {
            Some(iv) => (slot + iv).max(Instant::now()),
            None => Instant::now(),
        };
    }
}

/// Open loop: request `i` goes out at its scheduled slot whatever happened to the earlier
/// ones (at most `max_in_flight` outstanding; a request over that waits, its latency still
/// counted from its slot). Latency from the slot.
pub(crate) async fn open(mut plan: Plan) {
    let permits = Arc::new(Semaphore::new(plan.max_in_flight));
    let mut in_flight: JoinSet<bool> = JoinSet::new();
    let mut i = 0u64;
    loop {
        let slot = plan.slot(i);
        i += 1;
        if slot >= plan.end {
            break;
        }
        tokio::time::sleep_until(slot).await;
        while let Some(done) = in_flight.try_join_next() {
            if matches!(done, Ok(true) | Err(_)) {
                plan.conn = None;
            }
        }
        let Some(mut ldap) = plan.ensure_conn().await else {
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (target, recorder, timeout) =
            (plan.target.clone(), plan.recorder.clone(), plan.timeout);
        in_flight.spawn(async move {
            let _permit = permit;
            match client::search(&mut ldap, &target, timeout).await {
                Ok(n) => {
                    recorder.success(slot.elapsed(), n);
                    false
                }
                Err(f) => {
                    recorder.failure(&f.kind);
                    f.broken
                }
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
}
