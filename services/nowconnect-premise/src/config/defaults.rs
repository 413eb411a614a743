//! Defaults and bounds of every agent setting (SPEC §3, §5). A setting absent from both the
//! environment and `premise.yaml` takes the value here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

use super::LogFormat;

/// `tunnel.ping_interval_sec`.
pub const PING_INTERVAL_SEC: u64 = 20;
/// `tunnel.ping_timeout_sec`.
pub const PING_TIMEOUT_SEC: u64 = 20;
/// `tunnel.max_ws_payload`: largest V1 data chunk per WebSocket message, in bytes.
pub const MAX_WS_PAYLOAD: usize = 8192;
/// Accepted `tunnel.max_ws_payload` values.
pub const MAX_WS_PAYLOAD_RANGE: RangeInclusive<usize> = 512..=1_048_576;
/// `tunnel.v2`: ask the hub for the V2 binary protocol.
pub const V2: bool = true;
/// `tunnel.v2_max_frame`: largest V2 frame this agent accepts, in bytes.
pub const V2_MAX_FRAME: u32 = 65_536;
/// Accepted `tunnel.v2_max_frame` values.
pub const V2_MAX_FRAME_RANGE: RangeInclusive<u32> = 1024..=1_048_576;
/// `tunnel.backoff_base_ms`: first reconnect delay.
pub const BACKOFF_BASE_MS: u64 = 500;
/// `tunnel.backoff_max_ms`: reconnect delays double up to this.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// `limits.idle_timeout_ms`: a stream with no traffic either way for this long is closed.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// `limits.connect_timeout_ms`: deadline for dialing a target.
pub const CONNECT_TIMEOUT_MS: u64 = 3000;
/// `limits.queue_depth_per_cid`: frames queued per stream and direction.
pub const QUEUE_DEPTH_PER_CID: usize = 100;
/// Accepted `limits.queue_depth_per_cid` values.
pub const QUEUE_DEPTH_RANGE: RangeInclusive<usize> = 1..=100_000;
/// `limits.max_inflight_cids`: concurrent streams; over it an OPEN is answered with RST.
pub const MAX_INFLIGHT_CIDS: usize = 2000;
/// `limits.shutdown_grace_ms`: how long streams may drain after SIGTERM before being reset.
pub const SHUTDOWN_GRACE_MS: u64 = 10_000;

/// `health.host`/`health.port`: the TCP health port (`OK`, then `READY`).
pub const HEALTH_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8090);
/// `observability.metrics_host`/`metrics_port`: the HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
pub const METRICS_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8000);
/// `observability.log_level` (normalized to lowercase).
pub const LOG_LEVEL: &str = "info";
/// `observability.log_format`: the agent logs plain text by default.
pub const LOG_FORMAT: LogFormat = LogFormat::Plain;

/// `proxy.trust_env`: take `HTTPS_PROXY`/`NO_PROXY` from the environment.
pub const TRUST_ENV: bool = false;

/// `runtime.worker_threads`: tokio worker threads; 0 = one per CPU.
pub const WORKER_THREADS: usize = 0;
/// Accepted `runtime.worker_threads` values.
pub const WORKER_THREADS_RANGE: RangeInclusive<usize> = 0..=1024;
