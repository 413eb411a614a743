//! The validated hub configuration. Every value here has passed its range and format checks, so
//! the runtime never re-validates.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::LogFormat;

/// Everything the hub needs to start.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Client-facing TCP listeners, one per (address, connector). May be empty.
    pub listeners: Vec<ListenerConfig>,
    /// The agents' WebSocket endpoint and tunnel parameters.
    pub tunnel: TunnelConfig,
    /// Stream and connection caps (SPEC §3).
    pub limits: LimitsConfig,
    /// Agent authentication and client admission (SPEC §4).
    pub security: SecurityConfig,
    /// Metrics and logs.
    pub observability: ObservabilityConfig,
    /// Optional per-stream authorization by an AuthZEN PDP.
    pub pdp: PdpConfig,
    /// Tokio worker threads; `None` = one per CPU.
    pub worker_threads: Option<NonZeroUsize>,
}

/// One client-facing TCP listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// Address to bind; port 0 binds an ephemeral port.
    pub bind: SocketAddr,
    /// The connector whose agent serves this listener's clients.
    pub connector: String,
}

/// The agents' WebSocket endpoint (`GET /tunnel`).
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// Address the tunnel endpoint binds.
    pub host: IpAddr,
    /// Port of the tunnel endpoint; 0 binds an ephemeral port.
    pub port: u16,
    /// Largest V1 data chunk per WebSocket message, in bytes.
    pub max_ws_payload: usize,
    /// How often the hub pings an idle tunnel.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the tunnel is dropped.
    pub ping_timeout: Duration,
    /// Offer the V2 binary protocol to agents that ask for it.
    pub v2: bool,
    /// Largest V2 frame accepted, in bytes.
    pub v2_max_frame: u32,
    /// When set, the tunnel port (`/tunnel`, probes, `/metrics`) serves TLS (`wss://`).
    pub tls: Option<TlsFiles>,
}

/// The PEM files the tunnel port serves TLS with. Read at start; a change needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Caps that keep memory bounded under any load.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// A stream without traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Frames queued per stream and direction.
    pub queue_depth_per_cid: usize,
    /// Concurrent client connections across all listeners; over it a client is refused at once.
    pub max_conn_total: usize,
    /// How long streams may drain at shutdown before the rest are reset.
    pub shutdown_grace: Duration,
}

/// Agent authentication and client admission.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Where the agents' JWKS lives: `http(s)://` URL, `file:///` URL or a filesystem path.
    pub jwks: String,
    /// Extra PEM roots trusted (on top of the system roots) for an `https://` JWKS.
    pub jwks_ca_bundle: Option<PathBuf>,
    /// Required `aud` of agent tokens.
    pub audience: String,
    /// Required `iss` of agent tokens, when set.
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Client addresses allowed to connect (CIDRs or single addresses); empty = anyone.
    pub allow_cidrs: Vec<String>,
    /// Every connector an agent exports must be granted by its token.
    pub require_connector_scopes: bool,
    /// FAPI profile level (0 = off).
    pub fapi_mode: u8,
}

/// Metrics and log settings.
#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    /// Port of the separate metrics listener, if any.
    pub metrics_port: Option<u16>,
    /// One of `trace`, `debug`, `info`, `warn`, `error`.
    pub log_level: String,
    /// Log line format.
    pub log_format: LogFormat,
}

/// Per-stream authorization by an AuthZEN 1.0 PDP.
#[derive(Debug, Clone)]
pub struct PdpConfig {
    /// Evaluation endpoint; `None` = PDP off (every stream allowed).
    pub url: Option<String>,
    /// How long an allow decision is reused.
    pub cache_ttl: Duration,
    /// Deadline of one evaluation.
    pub timeout: Duration,
    /// Allow when the PDP errors or times out.
    pub fail_open: bool,
}
