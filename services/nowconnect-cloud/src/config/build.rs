//! Raw YAML + environment → validated [`HubConfig`]: layering, defaults, range checks.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use nowconnect_config::{Env, Sourced, boolean, int, ip, log_format, log_level, text};

use super::env::*;
use super::raw::{RawHub, RawLimits, RawObservability, RawPdp, RawRuntime, RawTunnel};
use super::{
    ConfigError, HubConfig, LimitsConfig, ObservabilityConfig, PdpConfig, TlsFiles, TunnelConfig,
    defaults, listeners, security,
};

pub(super) fn hub(raw: RawHub, env: &Env<'_>) -> Result<HubConfig, ConfigError> {
    Ok(HubConfig {
        listeners: listeners::build(raw.listeners.unwrap_or_default())?,
        tunnel: tunnel(raw.tunnel.unwrap_or_default(), env)?,
        limits: limits(raw.limits.unwrap_or_default())?,
        security: security::build(raw.security.unwrap_or_default(), env)?,
        observability: observability(raw.observability.unwrap_or_default(), env)?,
        pdp: pdp(raw.pdp.unwrap_or_default(), env)?,
        worker_threads: worker_threads(raw.runtime.unwrap_or_default(), env)?,
    })
}

fn worker_threads(raw: RawRuntime, env: &Env<'_>) -> Result<Option<NonZeroUsize>, ConfigError> {
    nowconnect_config::runtime::worker_threads(
        env,
        NOWCONNECT_WORKER_THREADS,
        raw.worker_threads,
        defaults::WORKER_THREADS,
        defaults::WORKER_THREADS_RANGE,
    )
}

fn tunnel(raw: RawTunnel, env: &Env<'_>) -> Result<TunnelConfig, ConfigError> {
    let host = match env.layer(NOWCONNECT_TUNNEL_HOST, text, "tunnel.host", raw.host)? {
        Some(host) => host.parse(ip)?,
        None => defaults::TUNNEL_HOST,
    };
    let port = env.layer_or(
        NOWCONNECT_TUNNEL_PORT,
        int,
        "tunnel.port",
        raw.port,
        defaults::TUNNEL_PORT,
    )?;
    let payload = Sourced::key(
        "tunnel.max_ws_payload",
        raw.max_ws_payload.unwrap_or(defaults::MAX_WS_PAYLOAD),
    );
    let frame = Sourced::key(
        "tunnel.v2_max_frame",
        raw.v2_max_frame.unwrap_or(defaults::V2_MAX_FRAME),
    );
    let (payload_min, payload_max) = defaults::MAX_WS_PAYLOAD_RANGE.into_inner();
    let (frame_min, frame_max) = defaults::V2_MAX_FRAME_RANGE.into_inner();
    Ok(TunnelConfig {
        host,
        port: port.value,
        max_ws_payload: payload.in_range(payload_min, payload_max)?,
        ping_interval: seconds(
            "tunnel.ping_interval_sec",
            raw.ping_interval_sec,
            defaults::PING_INTERVAL_SEC,
        )?,
        ping_timeout: seconds(
            "tunnel.ping_timeout_sec",
            raw.ping_timeout_sec,
            defaults::PING_TIMEOUT_SEC,
        )?,
        v2: raw.v2.unwrap_or(defaults::V2),
        v2_max_frame: frame.in_range(frame_min, frame_max)?,
        tls: tls_files(raw.tls_cert_file, raw.tls_key_file, env)?,
    })
}

/// `tunnel.tls_cert_file` and `tunnel.tls_key_file`: both (TLS on) or neither (plain HTTP).
/// Only presence is checked here; the files are read when the hub binds.
fn tls_files(
    cert: Option<String>,
    key: Option<String>,
    env: &Env<'_>,
) -> Result<Option<TlsFiles>, ConfigError> {
    let non_empty = |v: Option<Sourced<String>>| v.filter(|v| !v.value.trim().is_empty());
    let cert =
        non_empty(env.layer(NOWCONNECT_TLS_CERT_FILE, text, "tunnel.tls_cert_file", cert)?);
    let key = non_empty(env.layer(NOWCONNECT_TLS_KEY_FILE, text, "tunnel.tls_key_file", key)?);
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: PathBuf::from(cert.value.trim()),
            key: PathBuf::from(key.value.trim()),
        })),
        (Some(_), None) => Err(ConfigError::Missing {
            key: "tunnel.tls_key_file".to_owned(),
            reason: format!(
                "required when tunnel.tls_cert_file is set (or set {NOWCONNECT_TLS_KEY_FILE})"
            ),
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            key: "tunnel.tls_cert_file".to_owned(),
            reason: format!(
                "required when tunnel.tls_key_file is set (or set {NOWCONNECT_TLS_CERT_FILE})"
            ),
        }),
    }
}

fn seconds(key: &str, yaml: Option<u64>, default: u64) -> Result<Duration, ConfigError> {
    Sourced::key(key, yaml.unwrap_or(default))
        .at_least(1)
        .map(Duration::from_secs)
}

fn millis(key: &str, yaml: Option<u64>, default: u64, min: u64) -> Result<Duration, ConfigError> {
    Sourced::key(key, yaml.unwrap_or(default))
        .at_least(min)
        .map(Duration::from_millis)
}

fn limits(raw: RawLimits) -> Result<LimitsConfig, ConfigError> {
    let depth = Sourced::key(
        "limits.queue_depth_per_cid",
        raw.queue_depth_per_cid
            .unwrap_or(defaults::QUEUE_DEPTH_PER_CID),
    );
    let (depth_min, depth_max) = defaults::QUEUE_DEPTH_RANGE.into_inner();
    let total = Sourced::key(
        "limits.max_conn_total",
        raw.max_conn_total.unwrap_or(defaults::MAX_CONN_TOTAL),
    );
    Ok(LimitsConfig {
        idle_timeout: millis(
            "limits.idle_timeout_ms",
            raw.idle_timeout_ms,
            defaults::IDLE_TIMEOUT_MS,
            1,
        )?,
        queue_depth_per_cid: depth.in_range(depth_min, depth_max)?,
        max_conn_total: total.at_least(1)?,
        shutdown_grace: millis(
            "limits.shutdown_grace_ms",
            raw.shutdown_grace_ms,
            defaults::SHUTDOWN_GRACE_MS,
            0,
        )?,
    })
}

fn observability(raw: RawObservability, env: &Env<'_>) -> Result<ObservabilityConfig, ConfigError> {
    let metrics_port = env.layer(
        NOWCONNECT_METRICS_PORT,
        int,
        "observability.metrics_port",
        raw.metrics_port,
    )?;
    let level = env.layer(LOG_LEVEL, text, "observability.log_level", raw.log_level)?;
    let format = env.layer(
        NOWCONNECT_LOG_FORMAT,
        text,
        "observability.log_format",
        raw.log_format,
    )?;
    Ok(ObservabilityConfig {
        metrics_port: metrics_port.map(|p| p.value),
        log_level: match level {
            Some(level) => level.parse(log_level)?,
            None => defaults::LOG_LEVEL.to_owned(),
        },
        log_format: match format {
            Some(format) => format.parse(log_format)?,
            None => defaults::LOG_FORMAT,
        },
    })
}

fn pdp(raw: RawPdp, env: &Env<'_>) -> Result<PdpConfig, ConfigError> {
    let url = env.layer_keep_empty(NOWCONNECT_PDP_URL, "pdp.url", raw.url);
    let url = match url.filter(|u| !u.value.trim().is_empty()) {
        Some(url) => Some(url.ensure(
            |u| u.starts_with("http://") || u.starts_with("https://"),
            "must start with http:// or https://",
        )?),
        None => None,
    };
    let ttl = env.layer_or(
        NOWCONNECT_PDP_CACHE_TTL_SEC,
        int,
        "pdp.cache_ttl_sec",
        raw.cache_ttl_sec,
        defaults::PDP_CACHE_TTL_SEC,
    )?;
    let timeout = env.layer_or(
        NOWCONNECT_PDP_TIMEOUT_MS,
        int,
        "pdp.timeout_ms",
        raw.timeout_ms,
        defaults::PDP_TIMEOUT_MS,
    )?;
    let fail_open = env.layer_or(
        NOWCONNECT_PDP_FAIL_OPEN,
        boolean,
        "pdp.fail_open",
        raw.fail_open,
        defaults::PDP_FAIL_OPEN,
    )?;
    Ok(PdpConfig {
        url,
        cache_ttl: Duration::from_secs(ttl.value),
        timeout: Duration::from_millis(timeout.at_least(1)?),
        fail_open: fail_open.value,
    })
}
