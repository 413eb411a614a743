//! NowConnect crud-service (SPEC §8): an HTTP API over LDAP users and groups, the tunnel's main
//! consumer. A system whose `base_url` is the hub's LDAP listener reaches its directory through
//! the tunnel; one pointing straight at a directory works the same way.
//!
//! Main types: [`CrudService`] (bind, report the address, serve until cancelled) and
//! [`config::ServiceConfig`]. Modules:
//! - [`config`]: `SERVICE_CONFIG_DIR` system YAML files and `CRUD_*` variables, one-line errors.
//! - [`action`]: request validation into a typed [`action::Action`] (no LDAP involved).
//! - [`ldap`]: the connector — bounded pool, timeouts, re-connection, entries, and
//!   `update_group_members` with its pure planner and result classifier.
//! - `dispatch`: action → directory calls → JSON; `http`: routes, error codes, spans.
//! - [`metrics`]: every instrument of the service.
//!
//! Not here: StartTLS and SASL binds (LDAPS is supported), authentication of API callers (deploy
//! behind the platform's gateway), any global telemetry set-up (`main` does it).

pub mod action;
pub mod config;
mod dispatch;
pub mod http;
pub mod ldap;
pub mod metrics;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use nowconnect_telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use config::ServiceConfig;
use http::AppState;
use ldap::Directory;
use metrics::CrudMetrics;

/// A bound, not yet serving, crud-service.
#[derive(Debug)]
pub struct CrudService {
    listener: TcpListener,
    state: AppState,
    max_body_bytes: usize,
}

impl CrudService {
    /// Binds `config.listen` (port 0 works) and declares the metrics. No directory is contacted
    /// yet: connections are made by the first request of each system.
    pub async fn bind(config: ServiceConfig, telemetry: Telemetry) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let metrics = CrudMetrics::new(
            &telemetry.meter("nowconnect"),
            config.systems.keys().map(String::as_str),
        );
        let directories: BTreeMap<String, Directory> = config
            .systems
            .into_iter()
            .map(|(name, system)| (name, Directory::new(system, metrics.clone())))
            .collect();
        Ok(Self {
            listener,
            state: AppState {
                directories: Arc::new(directories),
                metrics,
                telemetry,
            },
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` fires, then lets in-flight requests finish.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(target: "nowconnect::crud", event = "listener_started", %addr,
            systems = self.state.directories.len());
        let app = http::router(self.state, self.max_body_bytes);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
