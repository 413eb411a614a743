//! The validated agent configuration. Every value here has passed its range and format checks,
//! so the runtime never re-validates.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::LogFormat;

/// Everything the agent needs to start.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The one outbound WebSocket to the hub.
    pub tunnel: AgentTunnelConfig,
    /// Where each exported connector's streams are dialed; one entry per exported connector.
    pub targets: BTreeMap<String, Target>,
    /// Stream caps and timers (SPEC §3).
    pub limits: AgentLimits,
    /// TCP health port: answers `OK` before HELLO_ACK and `READY` after.
    pub health_addr: SocketAddr,
    /// HTTP admin port: `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// One of `trace`, `debug`, `info`, `warn`, `error`.
    pub log_level: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// How to reach the hub through a corporate proxy and which extra CA to trust.
    pub proxy: ProxyConfig,
    /// Tokio worker threads; `None` = one per CPU.
    pub worker_threads: Option<NonZeroUsize>,
}

/// The tunnel to the hub.
#[derive(Debug, Clone)]
pub struct AgentTunnelConfig {
    /// `ws://` or `wss://` URL of the hub's tunnel endpoint, path included.
    pub url: String,
    /// This agent's identity; must match the token's `agent_id` claim.
    pub agent_id: String,
    /// Connectors announced in HELLO, unique, in the order given.
    pub connectors: Vec<String>,
    /// File holding the JWT; re-read at every connect so it can be rotated on disk.
    pub token_file: PathBuf,
    /// How often the agent pings an idle tunnel.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the tunnel is dropped and redialed.
    pub ping_timeout: Duration,
    /// Largest V1 data chunk per WebSocket message, in bytes.
    pub max_ws_payload: usize,
    /// Ask for the V2 binary protocol (the hub may still answer V1).
    pub v2: bool,
    /// Largest V2 frame accepted, in bytes.
    pub v2_max_frame: u32,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Cap of the doubling reconnect delay.
    pub backoff_max: Duration,
}

/// A target the agent dials for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address, resolved at dial time.
    pub host: String,
    /// TCP port, 1..=65535.
    pub port: u16,
}

/// Stream caps and timers.
#[derive(Debug, Clone)]
pub struct AgentLimits {
    /// A stream without traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Deadline for dialing a target; on expiry the stream is reset.
    pub connect_timeout: Duration,
    /// Frames queued per stream and direction.
    pub queue_depth_per_cid: usize,
    /// Concurrent streams; over it an OPEN is answered with RST.
    pub max_inflight_cids: usize,
    /// How long streams may drain at shutdown before the rest are reset.
    pub shutdown_grace: Duration,
}

/// Proxy and trust settings for the outbound tunnel.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Whether `HTTPS_PROXY`/`NO_PROXY` from the environment apply.
    pub trust_env: bool,
    /// HTTP CONNECT proxy URL; may carry `user:password`, hence [`Secret`].
    pub https_proxy: Option<Secret>,
    /// Hosts reached without the proxy (comma-separated, `NO_PROXY` syntax).
    pub no_proxy: Option<String>,
    /// Extra PEM roots trusted for `wss://`, on top of the system roots.
    pub ca_bundle: Option<PathBuf>,
}

/// A value that must never reach a log: `Debug` prints `Secret(<redacted>)` and there is no
/// `Display`. Read it with [`Secret::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a sensitive value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The sensitive value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
