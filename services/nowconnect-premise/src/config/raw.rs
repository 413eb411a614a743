//! `premise.yaml` exactly as written: every key optional, unknown keys rejected. Defaults,
//! environment overrides and validation are applied when this becomes [`super::AgentConfig`].

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAgent {
    pub(super) tunnel: Option<RawTunnel>,
    pub(super) targets: Option<BTreeMap<String, Option<RawTarget>>>,
    pub(super) limits: Option<RawLimits>,
    pub(super) health: Option<RawHealth>,
    pub(super) observability: Option<RawObservability>,
    pub(super) proxy: Option<RawProxy>,
    pub(super) runtime: Option<RawRuntime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTunnel {
    pub(super) url: Option<String>,
    pub(super) agent_id: Option<String>,
    pub(super) exported_connectors: Option<Vec<String>>,
    pub(super) auth: Option<RawAuth>,
    pub(super) ping_interval_sec: Option<u64>,
    pub(super) ping_timeout_sec: Option<u64>,
    pub(super) max_ws_payload: Option<usize>,
    pub(super) v2: Option<bool>,
    pub(super) v2_max_frame: Option<u32>,
    pub(super) backoff_base_ms: Option<u64>,
    pub(super) backoff_max_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuth {
    pub(super) token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTarget {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLimits {
    pub(super) idle_timeout_ms: Option<u64>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) queue_depth_per_cid: Option<usize>,
    pub(super) max_inflight_cids: Option<usize>,
    pub(super) shutdown_grace_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHealth {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawObservability {
    pub(super) metrics_host: Option<String>,
    pub(super) metrics_port: Option<u16>,
    pub(super) log_level: Option<String>,
    pub(super) log_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProxy {
    pub(super) trust_env: Option<bool>,
    pub(super) https_proxy: Option<String>,
    pub(super) no_proxy: Option<String>,
    pub(super) ca_bundle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRuntime {
    pub(super) worker_threads: Option<usize>,
}
