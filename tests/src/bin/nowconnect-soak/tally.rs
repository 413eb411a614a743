//! What the traffic workers saw: successful operations as counters, every failed one with its
//! time span, classified at the end against the kill windows (kill → connectors served again).

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A failed operation stays "explained by a kill" this long after the agent is served again
/// (clients still holding a stream of the dead agent see its reset arrive).
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How the bulk workers' details of a premature clean EOF start.
pub(crate) const EOF_DETAIL: &str = "EOF at";

/// Which workload an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Ldap,
    Bulk,
}

/// How an operation ended, when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Failure {
    /// Wrong bytes, wrong LDAP answer or an LDAP error result: never acceptable.
    Integrity,
    /// No progress for the stall limit: a stream that neither moved nor closed.
    Hung,
    /// Closed or errored before completing (every byte received so far was right).
    Interrupted,
}

#[derive(Debug)]
struct Failed {
    kind: Kind,
    failure: Failure,
    start: Instant,
    end: Instant,
    detail: String,
}

#[derive(Debug, Default)]
struct Inner {
    ok_ldap: u64,
    ok_bulk: u64,
    bytes_verified: u64,
    failed: Vec<Failed>,
    /// (SIGKILL sent, connectors served again)
    kills: Vec<(Instant, Option<Instant>)>,
}

/// Shared by the workers and the kill loop.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    inner: Mutex<Inner>,
}

/// Counts at the end of the run.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) ok_ldap: u64,
    pub(crate) ok_bulk: u64,
    pub(crate) bytes_verified: u64,
    pub(crate) integrity_failures: u64,
    pub(crate) hung: u64,
    /// Interrupted streams whose lifetime overlapped a kill window: expected, and closed.
    pub(crate) interrupted_by_kill: u64,
    /// Interrupted streams with no kill anywhere near: a failure of the tunnel.
    pub(crate) interrupted_unexplained: u64,
    /// Of all interrupted bulk streams, those that ended with a clean EOF (a FIN) before the
    /// last byte rather than a reset or an error: a truncation the client cannot tell from
    /// the end of the answer without framing of its own.
    #[serde(default)]
    pub(crate) interrupted_as_eof: u64,
    pub(crate) kills: u64,
    /// Seconds from SIGKILL to both connectors served again by the next agent.
    pub(crate) recovery_secs: Vec<f64>,
    /// The first few failures other than kill interruptions, for the report.
    pub(crate) examples: Vec<String>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn ok(&self, kind: Kind) {
        let mut t = self.lock();
        match kind {
            Kind::Ldap => t.ok_ldap += 1,
            Kind::Bulk => t.ok_bulk += 1,
        }
    }

    pub(crate) fn bytes(&self, bytes: u64) {
        self.lock().bytes_verified += bytes;
    }

    pub(crate) fn failed(&self, kind: Kind, failure: Failure, start: Instant, detail: String) {
        let end = Instant::now();
        self.lock().failed.push(Failed {
            kind,
            failure,
            start,
            end,
            detail,
        });
    }

    pub(crate) fn killed(&self, at: Instant) {
        self.lock().kills.push((at, None));
    }

    pub(crate) fn served_again(&self, at: Instant) {
        if let Some(last) = self.lock().kills.last_mut() {
            last.1 = Some(at);
        }
    }

    /// Classifies the failures against the kill windows.
    pub(crate) fn counts(&self, t0: Instant) -> Counts {
        let t = self.lock();
        let windows: Vec<(Instant, Instant)> = t
            .kills
            .iter()
            .map(|&(k, r)| (k, r.unwrap_or_else(Instant::now) + KILL_GRACE))
            .collect();
        let mut c = Counts {
            ok_ldap: t.ok_ldap,
            ok_bulk: t.ok_bulk,
            bytes_verified: t.bytes_verified,
            kills: t.kills.len() as u64,
            recovery_secs: t
                .kills
                .iter()
                .filter_map(|&(k, r)| Some(r?.duration_since(k).as_secs_f64()))
                .collect(),
            ..Counts::default()
        };
        for f in &t.failed {
            if f.failure == Failure::Interrupted && f.detail.starts_with(EOF_DETAIL) {
                c.interrupted_as_eof += 1;
            }
            let near_kill = windows.iter().any(|&(a, b)| f.start <= b && f.end >= a);
            let explained = match f.failure {
                Failure::Integrity => {
                    c.integrity_failures += 1;
                    false
                }
                Failure::Hung => {
                    c.hung += 1;
                    false
                }
                Failure::Interrupted if near_kill => {
                    c.interrupted_by_kill += 1;
                    true
                }
                Failure::Interrupted => {
                    c.interrupted_unexplained += 1;
                    false
                }
            };
            if !explained && c.examples.len() < 20 {
                c.examples.push(format!(
                    "{:?} {:?} at {:.1}s..{:.1}s: {}",
                    f.kind,
                    f.failure,
                    f.start.duration_since(t0).as_secs_f64(),
                    f.end.duration_since(t0).as_secs_f64(),
                    f.detail
                ));
            }
        }
        c
    }
}
