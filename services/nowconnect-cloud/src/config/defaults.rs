//! Defaults and bounds of every hub setting (SPEC §3, §5). A key absent from `cloud.yaml` and the
//! environment takes the value here.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

use super::LogFormat;

/// `tunnel.host`: the agents' WebSocket listener binds all interfaces.
pub const TUNNEL_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// `tunnel.port`: the agents' WebSocket port (`GET /tunnel`); 0 binds an ephemeral port (tests).
pub const TUNNEL_PORT: u16 = 8765;
/// `tunnel.max_ws_payload`: largest V1 data chunk carried in one WebSocket message, in bytes.
pub const MAX_WS_PAYLOAD: usize = 8192;
/// Accepted `tunnel.max_ws_payload` values.
pub const MAX_WS_PAYLOAD_RANGE: RangeInclusive<usize> = 512..=1_048_576;
/// `tunnel.ping_interval_sec`.
pub const PING_INTERVAL_SEC: u64 = 20;
/// `tunnel.ping_timeout_sec`.
pub const PING_TIMEOUT_SEC: u64 = 20;
/// `tunnel.v2`: offer the V2 binary protocol in HELLO_ACK.
pub const V2: bool = true;
/// `tunnel.v2_max_frame`: largest V2 frame this hub accepts, in bytes.
pub const V2_MAX_FRAME: u32 = 65_536;
/// Accepted `tunnel.v2_max_frame` values.
pub const V2_MAX_FRAME_RANGE: RangeInclusive<u32> = 1024..=1_048_576;

/// `limits.idle_timeout_ms`: a stream with no traffic either way for this long is closed.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// `limits.queue_depth_per_cid`: frames queued per stream and direction.
pub const QUEUE_DEPTH_PER_CID: usize = 100;
/// Accepted `limits.queue_depth_per_cid` values.
pub const QUEUE_DEPTH_RANGE: RangeInclusive<usize> = 1..=100_000;
/// `limits.max_conn_total`: concurrent client connections across all listeners.
pub const MAX_CONN_TOTAL: usize = 2000;
/// `limits.shutdown_grace_ms`: how long streams may drain after SIGTERM before being reset.
pub const SHUTDOWN_GRACE_MS: u64 = 10_000;

/// `security.audience`: the `aud` every agent token must carry.
pub const AUDIENCE: &str = "nowconnect";
/// `security.leeway_sec`: clock skew tolerated on `exp`/`nbf`.
pub const LEEWAY_SEC: u64 = 30;
/// `security.require_connector_scopes`.
pub const REQUIRE_CONNECTOR_SCOPES: bool = false;
/// `security.fapi_mode`.
pub const FAPI_MODE: u8 = 0;

/// `observability.log_level` (normalized to lowercase).
pub const LOG_LEVEL: &str = "info";
/// `observability.log_format`: the hub logs JSON by default (SPEC §6.3).
pub const LOG_FORMAT: LogFormat = LogFormat::Json;

/// `pdp.cache_ttl_sec`: how long an allow decision is reused.
pub const PDP_CACHE_TTL_SEC: u64 = 5;
/// `pdp.timeout_ms`: deadline of one PDP evaluation.
pub const PDP_TIMEOUT_MS: u64 = 500;
/// `pdp.fail_open`: allow when the PDP errors or times out.
pub const PDP_FAIL_OPEN: bool = false;

/// `runtime.worker_threads`: tokio worker threads; 0 = one per CPU.
pub const WORKER_THREADS: usize = 0;
/// Accepted `runtime.worker_threads` values.
pub const WORKER_THREADS_RANGE: RangeInclusive<usize> = 0..=1024;
