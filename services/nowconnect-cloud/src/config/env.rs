//! Environment variables read by the hub (SPEC §5). Each wins over its `cloud.yaml` key. A
//! variable set to the empty string counts as unset, except [`NOWCONNECT_PDP_URL`] and
//! [`NOWCONNECT_ISSUER`], where empty explicitly turns the feature off.

/// `security.jwks_url`: `http(s)://` URL, `file:///` URL or path of the agents' JWKS.
pub const NOWCONNECT_JWKS_URL: &str = "NOWCONNECT_JWKS_URL";
/// `security.jwks_ca_bundle`: extra PEM roots trusted when fetching an `https://` JWKS.
pub const NOWCONNECT_JWKS_CA_BUNDLE: &str = "NOWCONNECT_JWKS_CA_BUNDLE";
/// `security.audience`.
pub const NOWCONNECT_AUDIENCE: &str = "NOWCONNECT_AUDIENCE";
/// `security.issuer` (empty = do not check `iss`).
pub const NOWCONNECT_ISSUER: &str = "NOWCONNECT_ISSUER";
/// `security.require_connector_scopes` (`true`/`false`/`1`/`0`).
pub const NOWCONNECT_REQUIRE_CONNECTOR_SCOPES: &str = "NOWCONNECT_REQUIRE_CONNECTOR_SCOPES";
/// `security.fapi_mode`.
pub const NOWCONNECT_FAPI_MODE: &str = "NOWCONNECT_FAPI_MODE";
/// `pdp.url` (empty = PDP off).
pub const NOWCONNECT_PDP_URL: &str = "NOWCONNECT_PDP_URL";
/// `pdp.cache_ttl_sec`.
pub const NOWCONNECT_PDP_CACHE_TTL_SEC: &str = "NOWCONNECT_PDP_CACHE_TTL_SEC";
/// `pdp.timeout_ms`.
pub const NOWCONNECT_PDP_TIMEOUT_MS: &str = "NOWCONNECT_PDP_TIMEOUT_MS";
/// `pdp.fail_open`.
pub const NOWCONNECT_PDP_FAIL_OPEN: &str = "NOWCONNECT_PDP_FAIL_OPEN";
/// `observability.log_level`.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// `observability.log_format` (`plain`|`json`).
pub const NOWCONNECT_LOG_FORMAT: &str = "NOWCONNECT_LOG_FORMAT";
/// `observability.metrics_port`.
pub const NOWCONNECT_METRICS_PORT: &str = "NOWCONNECT_METRICS_PORT";
/// `tunnel.host`.
pub const NOWCONNECT_TUNNEL_HOST: &str = "NOWCONNECT_TUNNEL_HOST";
/// `tunnel.tls_cert_file`: PEM certificate chain; with the key, the tunnel port serves TLS.
pub const NOWCONNECT_TLS_CERT_FILE: &str = "NOWCONNECT_TLS_CERT_FILE";
/// `tunnel.tls_key_file`: PEM private key of `tunnel.tls_cert_file`.
pub const NOWCONNECT_TLS_KEY_FILE: &str = "NOWCONNECT_TLS_KEY_FILE";
/// `tunnel.port`.
pub const NOWCONNECT_TUNNEL_PORT: &str = "NOWCONNECT_TUNNEL_PORT";
/// `runtime.worker_threads` (0 = one per CPU).
pub const NOWCONNECT_WORKER_THREADS: &str = "NOWCONNECT_WORKER_THREADS";
