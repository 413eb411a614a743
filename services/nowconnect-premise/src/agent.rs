//! The agent as a value: bind the health port, then keep one tunnel up until shutdown.

use crate::backoff::{Backoff, STABLE_AFTER};
use crate::config::AgentConfig;
use crate::connect::connect;
use crate::dialer::TargetDialer;
use crate::health;
use nowconnect_mux::{Role, Session, SessionConfig, SessionEnd};
use nowconnect_protocol::ResetReason;
use nowconnect_protocol::hello::Negotiated;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("bind health port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// An agent with its health port bound; [`Agent::run`] keeps the tunnel up.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    health: TcpListener,
    health_addr: SocketAddr,
    ready: Arc<AtomicBool>,
}

impl Agent {
    pub async fn bind(cfg: AgentConfig) -> Result<Agent, AgentError> {
        let addr = cfg.health_addr;
        let health = TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Bind { addr, source })?;
        let health_addr = health.local_addr().unwrap_or(addr);
        Ok(Agent {
            cfg,
            health,
            health_addr,
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The TCP health port (`OK` / `READY`).
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Connects, serves, reconnects with backoff; on `shutdown` drains streams for
    /// `limits.shutdown_grace`, resets the rest and closes the tunnel with 1001.
    pub async fn run(self, shutdown: CancellationToken) {
        let Agent {
            cfg, health, ready, ..
        } = self;
        tokio::spawn(health::serve(health, ready.clone(), shutdown.clone()));
        let dialer = Arc::new(TargetDialer {
            targets: cfg
                .targets
                .iter()
                .map(|(k, t)| (k.clone(), (t.host.clone(), t.port)))
                .collect(),
            timeout: cfg.limits.connect_timeout,
        });
        let mut backoff = Backoff::new(cfg.tunnel.backoff_base, cfg.tunnel.backoff_max);
        loop {
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => break,
                attempt = connect(&cfg) => attempt,
            };
            match attempt {
                Ok((ws, negotiated)) => {
                    let started = Instant::now();
                    let scfg = session_config(&cfg, negotiated);
                    let stop = CancellationToken::new();
                    let (handle, mut task) = Session::spawn(ws, scfg, Some(dialer.clone()), &stop);
                    ready.store(true, Ordering::SeqCst);
                    tracing::info!(
                        event = "tunnel_up",
                        agent_id = %cfg.tunnel.agent_id,
                        url = %cfg.tunnel.url,
                        protocol = match negotiated { Negotiated::V1 => "v1", Negotiated::V2 { .. } => "v2" },
                    );
                    let end = tokio::select! {
                        end = &mut task => end.unwrap_or_else(|e| SessionEnd::Broken(e.to_string())),
                        _ = shutdown.cancelled() => {
                            drain(&handle, cfg.limits.shutdown_grace).await;
                            handle.close(1001, "agent shutting down");
                            let _ = tokio::time::timeout(Duration::from_secs(5), &mut task).await;
                            stop.cancel();
                            ready.store(false, Ordering::SeqCst);
                            break;
                        }
                    };
                    ready.store(false, Ordering::SeqCst);
                    tracing::warn!(event = "tunnel_down", agent_id = %cfg.tunnel.agent_id, reason = end.as_str(), detail = ?end);
                    if started.elapsed() >= STABLE_AFTER {
                        backoff.reset();
                    }
                }
                Err(e) => {
                    tracing::warn!(event = "tunnel_connect_failed", agent_id = %cfg.tunnel.agent_id, reason = e.reason(), error = %e);
                }
            }
            let delay = backoff.next_delay();
            tracing::info!(
                event = "reconnect_scheduled",
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
            );
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        tracing::info!(event = "agent_stopped", agent_id = %cfg.tunnel.agent_id);
    }
}

fn session_config(cfg: &AgentConfig, protocol: Negotiated) -> SessionConfig {
    SessionConfig {
        role: Role::Agent,
        protocol,
        max_ws_payload: cfg.tunnel.max_ws_payload,
        queue_depth: cfg.limits.queue_depth_per_cid,
        ping_interval: cfg.tunnel.ping_interval,
        ping_timeout: cfg.tunnel.ping_timeout,
        idle_timeout: cfg.limits.idle_timeout,
        max_streams: cfg.limits.max_inflight_cids,
        peer: cfg.tunnel.agent_id.clone(),
        observer: Arc::new(nowconnect_mux::NoopObserver),
    }
}

async fn drain(handle: &nowconnect_mux::SessionHandle, grace: Duration) {
    let deadline = Instant::now() + grace;
    handle.stop_accepting();
    tracing::info!(event = "agent_draining", streams = handle.stream_count());
    while handle.stream_count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.reset_all(ResetReason::Shutdown);
}
