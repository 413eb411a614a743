//! Serving one acknowledged tunnel until it ends, including token rotation.
//!
//! Rotation opens the new tunnel *before* letting go of the old one: once the hub has
//! registered the new session it routes new streams there, and the old session is only
//! retired — it stops accepting OPENs after [`SETTLE`], keeps relaying its open streams until
//! they end (at most [`rotation::DRAIN_MAX`]), then closes with 1000. Open LDAP connections
//! therefore survive a rotation. A failed rotation keeps the current tunnel and tries again.

use crate::agent::session_config;
use crate::config::AgentConfig;
use crate::connect::{self, Connected, connect};
use crate::dialer::TargetDialer;
use crate::metrics::AgentMetrics;
use crate::queue_metrics::QueueGauges;
use crate::rotation::{self, now, recheck_delay, renew_delay};
use nowconnect_mux::{Observer, Session, SessionEnd, SessionHandle};
use nowconnect_protocol::ResetReason;
use nowconnect_protocol::hello::Negotiated;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a retired tunnel keeps accepting OPENs (the hub may still be registering the new
/// session when the agent sees its HELLO_ACK).
pub(crate) const SETTLE: Duration = Duration::from_secs(1);
/// The reconnect reason counted for a rotation.
pub(crate) const TOKEN_REFRESH: &str = "token_refresh";

/// What serving a tunnel needs; borrowed from [`crate::Agent::run`].
pub(crate) struct Kit<'a> {
    pub(crate) cfg: &'a AgentConfig,
    pub(crate) dialer: Arc<TargetDialer>,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) metrics: &'a AgentMetrics,
    pub(crate) queues: &'a QueueGauges,
    /// Old tunnels draining after a rotation.
    pub(crate) retiring: TaskTracker,
    pub(crate) shutdown: &'a CancellationToken,
    /// The health port's `READY`: set once the first session runs.
    pub(crate) ready: &'a AtomicBool,
}

/// One running session.
struct Live {
    handle: SessionHandle,
    task: JoinHandle<SessionEnd>,
    stop: CancellationToken,
    token_exp: Option<u64>,
}

impl Kit<'_> {
    fn start(&self, c: Connected) -> Live {
        let scfg = session_config(self.cfg, c.negotiated, self.observer.clone());
        let stop = CancellationToken::new();
        let (handle, task) = Session::spawn(c.ws, scfg, Some(self.dialer.clone()), &stop);
        self.metrics.tunnel_up();
        self.queues.watch(handle.clone());
        self.ready.store(true, Ordering::SeqCst);
        tracing::info!(
            event = "tunnel_up",
            agent_id = %self.cfg.tunnel.agent_id,
            url = %self.cfg.tunnel.url,
            protocol = match c.negotiated { Negotiated::V1 => "v1", Negotiated::V2 { .. } => "v2" },
            token_exp = c.token_exp,
        );
        Live {
            handle,
            task,
            stop,
            token_exp: c.token_exp,
        }
    }

    /// Serves `connected` (and its successors after rotations) until the tunnel ends
    /// (`Some(end)`) or shutdown drained it (`None`).
    pub(crate) async fn serve(&self, connected: Connected) -> Option<SessionEnd> {
        let mut live = self.start(connected);
        let mut renew_at = live
            .token_exp
            .map(|exp| Instant::now() + renew_delay(exp, now()));
        loop {
            let renew = async {
                match renew_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                end = &mut live.task => {
                    live.stop.cancel();
                    return Some(end.unwrap_or_else(|e| SessionEnd::Broken(e.to_string())));
                }
                _ = self.shutdown.cancelled() => {
                    drain(&live.handle, self.cfg.limits.shutdown_grace).await;
                    live.handle.close(1001, "agent shutting down");
                    let _ = tokio::time::timeout(Duration::from_secs(5), &mut live.task).await;
                    live.stop.cancel();
                    return None;
                }
                _ = renew => {}
            }
            let current_exp = live.token_exp.unwrap_or(0);
            match self.rotate(current_exp).await {
                Rotation::Done(next) => {
                    let old = std::mem::replace(&mut live, self.start(*next));
                    self.metrics.reconnect(TOKEN_REFRESH);
                    tracing::info!(
                        event = "tunnel_rotated",
                        agent_id = %self.cfg.tunnel.agent_id,
                        draining_streams = old.handle.stream_count(),
                    );
                    self.retiring.spawn(retire(
                        old,
                        self.cfg.limits.shutdown_grace,
                        self.shutdown.clone(),
                    ));
                    renew_at = live
                        .token_exp
                        .map(|exp| Instant::now() + renew_delay(exp, now()));
                }
                Rotation::Later => {
                    renew_at = Some(Instant::now() + recheck_delay(current_exp, now()));
                }
                Rotation::Shutdown => {}
            }
        }
    }

    /// Reads the token file; with a token that expires later, opens the new tunnel.
    async fn rotate(&self, current_exp: u64) -> Rotation {
        let fresh = connect::read_token(&self.cfg.tunnel.token_file)
            .ok()
            .and_then(|t| rotation::token_exp(&t));
        if fresh.is_none_or(|exp| exp <= current_exp) {
            tracing::warn!(
                event = "token_not_renewed",
                agent_id = %self.cfg.tunnel.agent_id,
                token_file = %self.cfg.tunnel.token_file.display(),
                expires_in_s = i64::try_from(current_exp).unwrap_or(i64::MAX)
                    - i64::try_from(now()).unwrap_or(0),
                "the token file holds no newer token yet; keeping the current tunnel"
            );
            return Rotation::Later;
        }
        let attempt = tokio::select! {
            _ = self.shutdown.cancelled() => return Rotation::Shutdown,
            attempt = connect(self.cfg) => attempt,
        };
        match attempt {
            Ok(next) => Rotation::Done(Box::new(next)),
            Err(e) => {
                tracing::warn!(
                    event = "token_refresh_failed",
                    agent_id = %self.cfg.tunnel.agent_id,
                    reason = e.reason(),
                    error = %e,
                    "keeping the current tunnel"
                );
                Rotation::Later
            }
        }
    }
}

enum Rotation {
    Done(Box<Connected>),
    Later,
    Shutdown,
}

/// Lets a replaced tunnel finish its streams, then closes it.
async fn retire(mut old: Live, shutdown_grace: Duration, shutdown: CancellationToken) {
    let ended = tokio::select! {
        _ = tokio::time::sleep(SETTLE) => false,
        _ = &mut old.task => true,
        _ = shutdown.cancelled() => false,
    };
    if !ended {
        old.handle.stop_accepting();
        let deadline = Instant::now() + rotation::DRAIN_MAX;
        while old.handle.stream_count() > 0 && Instant::now() < deadline && !old.task.is_finished()
        {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    drain(&old.handle, shutdown_grace).await;
                    break;
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let left = old.handle.stream_count();
        if left > 0 {
            old.handle.reset_all(ResetReason::Shutdown);
        }
        old.handle.close(1000, "token rotated");
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut old.task).await;
        tracing::info!(event = "tunnel_retired", streams_reset = left);
    }
    old.stop.cancel();
}

/// Stops accepting, waits for streams to end within `grace`, resets the rest.
pub(crate) async fn drain(handle: &SessionHandle, grace: Duration) {
    let deadline = Instant::now() + grace;
    handle.stop_accepting();
    tracing::info!(event = "agent_draining", streams = handle.stream_count());
    while handle.stream_count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.reset_all(ResetReason::Shutdown);
}
