//! A system's YAML exactly as written: every key optional, unknown keys rejected. Defaults,
//! `${{ENV:NAME}}` expansion and validation are applied when this becomes
//! [`super::SystemConfig`].

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSystem {
    pub(super) connection: Option<RawConnection>,
    pub(super) base_dn: Option<String>,
    pub(super) users_dn: Option<String>,
    pub(super) groups_dn: Option<String>,
    pub(super) pool_size: Option<usize>,
    pub(super) page_size: Option<u32>,
    pub(super) search_max_entries: Option<usize>,
    pub(super) membership_batch_size: Option<usize>,
    pub(super) membership_max_concurrency: Option<usize>,
    pub(super) enable_permissive_modify: Option<bool>,
    pub(super) enable_assertion_control: Option<bool>,
    pub(super) membership_anchor_dn: Option<String>,
    pub(super) verify_member_dns: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConnection {
    pub(super) server: Option<RawServer>,
    pub(super) base_dn: Option<String>,
    pub(super) credentials: Option<RawCredentials>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) idle_check_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) base_url: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) use_ssl: Option<bool>,
    pub(super) ca_file: Option<String>,
    pub(super) tls_server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCredentials {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}
