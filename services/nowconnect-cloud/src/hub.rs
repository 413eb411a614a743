//! The hub as a value: bind everything, then run until shutdown.

use crate::config::{HubConfig, ListenerConfig};
use crate::metrics::HubMetrics;
use crate::registry::Registry;
use crate::{http, jwks_retry, listener, serve};
use nowconnect_auth::{JwksSource, Verifier, VerifierConfig};
use nowconnect_protocol::ResetReason;
use nowconnect_telemetry::Telemetry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the hub could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("bind {what} on {addr}: {source}")]
    Bind {
        what: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("agent keys: {0}")]
    Auth(#[from] nowconnect_auth::AuthError),
    /// The tunnel port's certificate or key (exit 64, like a config error).
    #[error("tunnel TLS: {0}")]
    Tls(#[from] nowconnect_auth::tls::TlsError),
    #[error("serve the tunnel port: {0}")]
    Serve(std::io::Error),
    #[error("pdp client: {0}")]
    Pdp(String),
}

/// State every task of the hub shares.
#[derive(Debug)]
pub(crate) struct HubState {
    pub(crate) cfg: HubConfig,
    pub(crate) registry: Arc<Registry>,
    pub(crate) verifier: Verifier,
    /// `max_conn_total` permits; each stream holds one until it ends.
    pub(crate) conn_permits: Arc<Semaphore>,
    pub(crate) ready: AtomicBool,
    /// Fires after the drain: ends every tunnel session.
    pub(crate) sessions_stop: CancellationToken,
    /// Tunnel handler tasks (one per connected agent).
    pub(crate) tunnels: TaskTracker,
    /// What `/metrics` renders.
    pub(crate) telemetry: Telemetry,
    pub(crate) metrics: HubMetrics,
    /// The policy decision point, when `pdp.url` is set.
    pub(crate) pdp: Option<crate::pdp::Pdp>,
    /// The tunnel port's TLS configuration (`tunnel.tls_cert_file`), if it serves `wss://`.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// Where a bound hub listens.
#[derive(Debug, Clone)]
pub struct HubAddrs {
    /// The HTTP port: `/tunnel`, `/healthz`, `/readyz`, `/metrics`.
    pub tunnel: SocketAddr,
    /// The separate `/metrics` port (`observability.metrics_port`, when set and not the
    /// tunnel port).
    pub metrics: Option<SocketAddr>,
    /// `(listener name, connector, address)` for every TCP listener.
    pub listeners: Vec<(String, String, SocketAddr)>,
}

impl HubAddrs {
    /// Address of the first listener of `connector`.
    pub fn listener(&self, connector: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(_, c, _)| c == connector)
            .map(|(_, _, a)| *a)
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Streams still open when the grace period ended (and were reset).
    pub reset_streams: usize,
}

/// A hub with every socket bound; [`Hub::run`] serves it.
#[derive(Debug)]
pub struct Hub {
    state: Arc<HubState>,
    tunnel: TcpListener,
    metrics: Option<TcpListener>,
    listeners: Vec<(ListenerConfig, TcpListener)>,
    addrs: HubAddrs,
}

impl Hub {
    /// Loads the tunnel port's certificate (if configured) and the agents' JWKS, and binds the tunnel port, the metrics port (if separate) and
    /// every listener (port 0 allowed). The hub declares its instruments on `telemetry` and
    /// serves it on `/metrics`.
    ///
    /// A JWKS URL that cannot be fetched does not stop the start: the hub serves, refuses every
    /// agent with 401 `jwks_unavailable`, reports not ready, and retries in the background
    /// (see `jwks_retry`). A JWKS file that cannot be read, or unreadable TLS files, fail.
    pub async fn bind(cfg: HubConfig, telemetry: Telemetry) -> Result<Hub, HubError> {
        let tls = match &cfg.tunnel.tls {
            Some(files) => Some(Arc::new(nowconnect_auth::tls::server_config(
                &files.cert,
                &files.key,
            )?)),
            None => None,
        };
        let verifier = Verifier::start(
            JwksSource::parse(&cfg.security.jwks),
            VerifierConfig {
                audience: cfg.security.audience.clone(),
                issuer: cfg.security.issuer.clone(),
                leeway: cfg.security.leeway,
            },
            cfg.security.jwks_ca_bundle.as_deref(),
        )
        .await?;
        let tunnel_addr = SocketAddr::new(cfg.tunnel.host, cfg.tunnel.port);
        let tunnel = bind("tunnel port", tunnel_addr).await?;
        let metrics = match cfg.observability.metrics_port {
            Some(port) if port == 0 || port != cfg.tunnel.port => {
                Some(bind("metrics port", SocketAddr::new(cfg.tunnel.host, port)).await?)
            }
            _ => None,
        };
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for l in &cfg.listeners {
            let socket = bind(&format!("listener {}", l.name), l.bind).await?;
            let addr = socket.local_addr().unwrap_or(l.bind);
            bound.push((l.name.clone(), l.connector.clone(), addr));
            listeners.push((l.clone(), socket));
        }
        let addrs = HubAddrs {
            tunnel: tunnel.local_addr().unwrap_or(tunnel_addr),
            metrics: metrics.as_ref().and_then(|m| m.local_addr().ok()),
            listeners: bound,
        };
        let registry = Arc::new(Registry::default());
        let pdp = crate::pdp::Pdp::from_config(&cfg).map_err(|e| HubError::Pdp(e.to_string()))?;
        let state = Arc::new(HubState {
            conn_permits: Arc::new(Semaphore::new(cfg.limits.max_conn_total)),
            metrics: HubMetrics::new(&telemetry, &cfg, registry.clone()),
            telemetry,
            cfg,
            registry,
            verifier,
            ready: AtomicBool::new(false),
            sessions_stop: CancellationToken::new(),
            tunnels: TaskTracker::new(),
            pdp,
            tls,
        });
        Ok(Hub {
            state,
            tunnel,
            metrics,
            listeners,
            addrs,
        })
    }

    pub fn addrs(&self) -> &HubAddrs {
        &self.addrs
    }

    /// Serves until `shutdown` fires, then: readiness off, listeners closed, open streams
    /// drained for `limits.shutdown_grace`, the rest reset, every tunnel closed with 1001.
    pub async fn run(self, shutdown: CancellationToken) -> Result<ShutdownReport, HubError> {
        let Hub {
            state,
            tunnel,
            metrics,
            listeners,
            ..
        } = self;
        let accept_stop = CancellationToken::new();
        let listener_tasks = TaskTracker::new();
        for (cfg, socket) in listeners {
            listener_tasks.spawn(listener::serve(
                socket,
                cfg,
                state.clone(),
                accept_stop.clone(),
            ));
        }
        listener_tasks.close();
        let http_stop = CancellationToken::new();
        let jwks_task = tokio::spawn(jwks_retry::run(state.verifier.clone(), http_stop.clone()));
        let server = serve::spawn(
            tunnel,
            http::router(state.clone()),
            state.tls.clone(),
            &http_stop,
        );
        // The separate metrics port stays plain HTTP: it is for an internal scraper.
        let metrics_server = metrics.map(|socket| {
            serve::spawn(
                socket,
                http::metrics_router(state.clone()),
                None,
                &http_stop,
            )
        });
        state.ready.store(true, Ordering::SeqCst);
        tracing::info!(
            event = "hub_ready",
            agents = 0,
            tls = state.tls.is_some(),
            jwks_loaded = state.verifier.is_loaded()
        );
        shutdown.cancelled().await;

        state.ready.store(false, Ordering::SeqCst);
        accept_stop.cancel();
        listener_tasks.wait().await;
        let reset_streams = drain(&state).await;
        state.sessions_stop.cancel();
        http_stop.cancel();
        let _ = jwks_task.await;
        state.tunnels.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), state.tunnels.wait()).await;
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), server).await {
            return Err(HubError::Serve(e));
        }
        if let Some(server) = metrics_server
            && let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), server).await
        {
            return Err(HubError::Serve(e));
        }
        tracing::info!(event = "hub_stopped", reset_streams);
        Ok(ShutdownReport { reset_streams })
    }
}

/// Waits for open streams to finish within the grace period; resets and closes what is left.
async fn drain(state: &HubState) -> usize {
    let open = || {
        state
            .registry
            .sessions()
            .iter()
            .map(|s| s.stream_count())
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + state.cfg.limits.shutdown_grace;
    tracing::info!(
        event = "hub_draining",
        streams = open(),
        grace_ms = state.cfg.limits.shutdown_grace.as_millis() as u64
    );
    while open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = open();
    for session in state.registry.sessions() {
        session.reset_all(ResetReason::Shutdown);
        session.close(1001, "hub shutting down");
    }
    left
}

async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, HubError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HubError::Bind {
            what: what.to_owned(),
            addr,
            source,
        })
}
