//! The agent as a value: bind the health and admin ports, then keep one tunnel up until shutdown.

use crate::backoff::{Backoff, STABLE_AFTER};
use crate::config::AgentConfig;
use crate::connect::connect;
use crate::dialer::TargetDialer;
use crate::metrics::AgentMetrics;
use crate::queue_metrics::QueueGauges;
use crate::tunnel::Kit;
use crate::{admin, health};
use nowconnect_mux::Observer;
use nowconnect_mux::{Role, SessionConfig};
use nowconnect_protocol::hello::Negotiated;
use nowconnect_stream_metrics::{Connectors, Side, StreamMetrics};
use nowconnect_telemetry::Telemetry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("bind health port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bind admin port {addr} (observability.metrics_host/metrics_port): {source}")]
    BindAdmin {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// An agent with its health and admin ports bound; [`Agent::run`] keeps the tunnel up.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    health: TcpListener,
    health_addr: SocketAddr,
    admin: TcpListener,
    admin_addr: SocketAddr,
    telemetry: Telemetry,
    metrics: AgentMetrics,
    queues: QueueGauges,
    /// The shared stream families (bytes, write/drain, FIN/RST, queue) for the agent's side.
    observer: Arc<dyn Observer>,
    ready: Arc<AtomicBool>,
}

impl Agent {
    /// Binds the TCP health port (`cfg.health_addr`) and the HTTP admin port
    /// (`cfg.metrics_addr`, serving `telemetry`); port 0 binds an ephemeral port.
    pub async fn bind(cfg: AgentConfig, telemetry: Telemetry) -> Result<Agent, AgentError> {
        let addr = cfg.health_addr;
        let health = TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Bind { addr, source })?;
        let health_addr = health.local_addr().unwrap_or(addr);
        let addr = cfg.metrics_addr;
        let admin = TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::BindAdmin { addr, source })?;
        let admin_addr = admin.local_addr().unwrap_or(addr);
        let meter = telemetry.meter("nowconnect-premise");
        let metrics = AgentMetrics::new(&meter, &cfg.tunnel.agent_id);
        let connectors = Connectors::new(cfg.tunnel.connectors.iter().cloned());
        let queues = QueueGauges::new(&meter, &connectors, cfg.limits.queue_depth_per_cid);
        let streams = StreamMetrics::new(&meter, Side::Agent, connectors);
        streams.zero_init_all();
        let observer: Arc<dyn Observer> = Arc::new(streams);
        Ok(Agent {
            cfg,
            health,
            health_addr,
            admin,
            admin_addr,
            telemetry,
            metrics,
            queues,
            observer,
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The TCP health port (`OK` / `READY`).
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// The HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Connects, serves, reconnects with backoff; on `shutdown` drains streams for
    /// `limits.shutdown_grace`, resets the rest and closes the tunnel with 1001. The admin port
    /// keeps answering through the drain and stops before this returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let Agent {
            cfg,
            health,
            admin,
            telemetry,
            metrics,
            queues,
            observer,
            ready,
            ..
        } = self;
        tokio::spawn(health::serve(health, ready.clone(), shutdown.clone()));
        let admin_stop = CancellationToken::new();
        let _stop_admin_on_drop = admin_stop.clone().drop_guard();
        let admin_task = tokio::spawn(admin::serve(
            admin,
            telemetry,
            ready.clone(),
            admin_stop.clone(),
        ));
        let dialer = Arc::new(TargetDialer {
            targets: cfg
                .targets
                .iter()
                .map(|(k, t)| (k.clone(), (t.host.clone(), t.port)))
                .collect(),
            timeout: cfg.limits.connect_timeout,
        });
        let mut backoff = Backoff::new(cfg.tunnel.backoff_base, cfg.tunnel.backoff_max);
        let kit = Kit {
            cfg: &cfg,
            dialer,
            observer,
            metrics: &metrics,
            queues: &queues,
            retiring: TaskTracker::new(),
            shutdown: &shutdown,
            ready: &ready,
        };
        loop {
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => break,
                attempt = connect(&cfg) => attempt,
            };
            match attempt {
                Ok(connected) => {
                    let started = Instant::now();
                    let served = kit.serve(connected).await;
                    ready.store(false, Ordering::SeqCst);
                    metrics.tunnel_down();
                    queues.clear();
                    let Some(end) = served else { break };
                    metrics.reconnect(end.as_str());
                    tracing::warn!(event = "tunnel_down", agent_id = %cfg.tunnel.agent_id, reason = end.as_str(), detail = ?end);
                    if started.elapsed() >= STABLE_AFTER {
                        backoff.reset();
                    }
                }
                Err(e) => {
                    metrics.reconnect(e.reason());
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
        // Tunnels retired by a token rotation drain under the shutdown grace too.
        kit.retiring.close();
        let grace = cfg.limits.shutdown_grace + Duration::from_secs(5);
        let _ = tokio::time::timeout(grace, kit.retiring.wait()).await;
        admin_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), admin_task).await;
        tracing::info!(event = "agent_stopped", agent_id = %cfg.tunnel.agent_id);
    }
}

pub(crate) fn session_config(
    cfg: &AgentConfig,
    protocol: Negotiated,
    observer: Arc<dyn Observer>,
) -> SessionConfig {
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
        observer,
    }
}
