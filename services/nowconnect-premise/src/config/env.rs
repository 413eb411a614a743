//! Environment variables read by the agent (SPEC §5): the primary interface, each winning over
//! its `premise.yaml` key. A variable set to the empty string counts as unset.

/// `tunnel.url`: the hub's tunnel endpoint, e.g. `wss://hub.example.com/tunnel`.
pub const NC_AGENT_URL: &str = "NC_AGENT_URL";
/// `tunnel.agent_id`.
pub const NC_AGENT_ID: &str = "NC_AGENT_ID";
/// `tunnel.exported_connectors`, comma-separated.
pub const NC_CONNECTORS: &str = "NC_CONNECTORS";
/// `tunnel.auth.token_file`: file holding the agent's JWT, re-read at every connect.
pub const NC_TOKEN_FILE: &str = "NC_TOKEN_FILE";
/// `tunnel.v2` (`true`/`false`/`1`/`0`).
pub const NC_PROTOCOL_V2: &str = "NC_PROTOCOL_V2";
/// `tunnel.ping_interval_sec`.
pub const NC_PING_INTERVAL_SEC: &str = "NC_PING_INTERVAL_SEC";
/// `tunnel.ping_timeout_sec`.
pub const NC_PING_TIMEOUT_SEC: &str = "NC_PING_TIMEOUT_SEC";
/// `tunnel.max_ws_payload`.
pub const NC_MAX_WS_PAYLOAD: &str = "NC_MAX_WS_PAYLOAD";
/// `tunnel.backoff_base_ms`.
pub const NC_BACKOFF_BASE_MS: &str = "NC_BACKOFF_BASE_MS";
/// `tunnel.backoff_max_ms`.
pub const NC_BACKOFF_MAX_MS: &str = "NC_BACKOFF_MAX_MS";
/// `limits.connect_timeout_ms`.
pub const NC_CONNECT_TIMEOUT_MS: &str = "NC_CONNECT_TIMEOUT_MS";
/// `limits.idle_timeout_ms`.
pub const NC_IDLE_TIMEOUT_MS: &str = "NC_IDLE_TIMEOUT_MS";
/// `limits.max_inflight_cids`.
pub const NC_MAX_INFLIGHT_CIDS: &str = "NC_MAX_INFLIGHT_CIDS";
/// `limits.queue_depth_per_cid`.
pub const NC_QUEUE_DEPTH_PER_CID: &str = "NC_QUEUE_DEPTH_PER_CID";
/// `health.host`.
pub const NC_HEALTH_HOST: &str = "NC_HEALTH_HOST";
/// `health.port`.
pub const NC_HEALTH_PORT: &str = "NC_HEALTH_PORT";
/// `observability.metrics_host`.
pub const NC_METRICS_HOST: &str = "NC_METRICS_HOST";
/// `observability.metrics_port`.
pub const NC_METRICS_PORT: &str = "NC_METRICS_PORT";
/// `observability.log_level`.
pub const NC_LOG_LEVEL: &str = "NC_LOG_LEVEL";
/// `observability.log_format` (`plain`|`json`).
pub const NC_LOG_FORMAT: &str = "NC_LOG_FORMAT";
/// `proxy.trust_env`: when true, [`HTTPS_PROXY`] and [`NO_PROXY`] (or their lowercase forms) apply.
pub const NC_TRUST_ENV: &str = "NC_TRUST_ENV";
/// `proxy.ca_bundle`: extra PEM roots for `wss://`.
pub const NC_CA_BUNDLE: &str = "NC_CA_BUNDLE";
/// `proxy.https_proxy`, honoured only when `NC_TRUST_ENV` is true.
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// Lowercase form of [`HTTPS_PROXY`], read when the uppercase one is unset.
pub const HTTPS_PROXY_LOWER: &str = "https_proxy";
/// `proxy.no_proxy`, honoured only when `NC_TRUST_ENV` is true.
pub const NO_PROXY: &str = "NO_PROXY";
/// Lowercase form of [`NO_PROXY`], read when the uppercase one is unset.
pub const NO_PROXY_LOWER: &str = "no_proxy";

/// Prefix of the per-connector target variables (`NC_TARGET_<connector>_HOST` / `_PORT`).
pub const NC_TARGET_PREFIX: &str = "NC_TARGET_";

/// `NC_TARGET_<connector>_HOST`, with the connector name exactly as written.
pub fn target_host_var(connector: &str) -> String {
    format!("{NC_TARGET_PREFIX}{connector}_HOST")
}

/// `NC_TARGET_<connector>_PORT`, with the connector name exactly as written.
pub fn target_port_var(connector: &str) -> String {
    format!("{NC_TARGET_PREFIX}{connector}_PORT")
}
/// `runtime.worker_threads` (0 = one per CPU).
pub const NC_WORKER_THREADS: &str = "NC_WORKER_THREADS";
