//! `cloud.yaml` exactly as written: every key optional, unknown keys rejected. Defaults and
//! validation are applied when this is turned into [`super::HubConfig`].

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHub {
    pub(super) listeners: Option<Vec<RawListener>>,
    pub(super) tunnel: Option<RawTunnel>,
    pub(super) limits: Option<RawLimits>,
    pub(super) security: Option<RawSecurity>,
    pub(super) observability: Option<RawObservability>,
    pub(super) pdp: Option<RawPdp>,
    pub(super) runtime: Option<RawRuntime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawListener {
    pub(super) name: Option<String>,
    pub(super) bind: Option<String>,
    pub(super) connector: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTunnel {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) max_ws_payload: Option<usize>,
    pub(super) ping_interval_sec: Option<u64>,
    pub(super) ping_timeout_sec: Option<u64>,
    pub(super) v2: Option<bool>,
    pub(super) v2_max_frame: Option<u32>,
    pub(super) tls_cert_file: Option<String>,
    pub(super) tls_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLimits {
    pub(super) idle_timeout_ms: Option<u64>,
    pub(super) queue_depth_per_cid: Option<usize>,
    pub(super) max_conn_total: Option<usize>,
    pub(super) shutdown_grace_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSecurity {
    pub(super) jwks_url: Option<String>,
    pub(super) jwks_ca_bundle: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) leeway_sec: Option<u64>,
    pub(super) allow_cidrs: Option<Vec<String>>,
    pub(super) require_connector_scopes: Option<bool>,
    pub(super) fapi_mode: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawObservability {
    pub(super) metrics_port: Option<u16>,
    pub(super) log_level: Option<String>,
    pub(super) log_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPdp {
    pub(super) url: Option<String>,
    pub(super) cache_ttl_sec: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) fail_open: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRuntime {
    pub(super) worker_threads: Option<usize>,
}
