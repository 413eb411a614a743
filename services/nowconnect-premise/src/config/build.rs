//! Environment + raw YAML → validated [`AgentConfig`]: layering, defaults, range checks.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use nowconnect_config::{Env, int, ip, log_format, log_level, text};

use super::env::*;
use super::raw::{RawAgent, RawLimits, RawObservability, RawRuntime};
use super::{AgentConfig, AgentLimits, ConfigError, LogFormat, defaults, proxy, targets, tunnel};

pub(super) fn agent(raw: RawAgent, env: &Env<'_>) -> Result<AgentConfig, ConfigError> {
    let tunnel = tunnel::build(raw.tunnel.unwrap_or_default(), env)?;
    let targets = targets::build(&tunnel.connectors, raw.targets.unwrap_or_default(), env)?;
    let health = raw.health.unwrap_or_default();
    let obs = raw.observability.unwrap_or_default();
    let health_addr = addr(
        env,
        (NC_HEALTH_HOST, "health.host", health.host),
        (NC_HEALTH_PORT, "health.port", health.port),
        defaults::HEALTH_ADDR,
    )?;
    let metrics_addr = addr(
        env,
        (
            NC_METRICS_HOST,
            "observability.metrics_host",
            obs.metrics_host.clone(),
        ),
        (
            NC_METRICS_PORT,
            "observability.metrics_port",
            obs.metrics_port,
        ),
        defaults::METRICS_ADDR,
    )?;
    let (log_level, log_format) = logging(obs, env)?;
    Ok(AgentConfig {
        tunnel,
        targets,
        limits: limits(raw.limits.unwrap_or_default(), env)?,
        health_addr,
        metrics_addr,
        log_level,
        log_format,
        proxy: proxy::build(raw.proxy.unwrap_or_default(), env)?,
        worker_threads: worker_threads(raw.runtime.unwrap_or_default(), env)?,
    })
}

fn worker_threads(raw: RawRuntime, env: &Env<'_>) -> Result<Option<NonZeroUsize>, ConfigError> {
    nowconnect_config::runtime::worker_threads(
        env,
        NC_WORKER_THREADS,
        raw.worker_threads,
        defaults::WORKER_THREADS,
        defaults::WORKER_THREADS_RANGE,
    )
}
fn millis(
    env: &Env<'_>,
    name: &str,
    key: &str,
    yaml: Option<u64>,
    default: u64,
) -> Result<Duration, ConfigError> {
    env.layer_or(name, int, key, yaml, default)?
        .at_least(1)
        .map(Duration::from_millis)
}

fn limits(raw: RawLimits, env: &Env<'_>) -> Result<AgentLimits, ConfigError> {
    let (depth_min, depth_max) = defaults::QUEUE_DEPTH_RANGE.into_inner();
    let grace = raw.shutdown_grace_ms.unwrap_or(defaults::SHUTDOWN_GRACE_MS);
    Ok(AgentLimits {
        idle_timeout: millis(
            env,
            NC_IDLE_TIMEOUT_MS,
            "limits.idle_timeout_ms",
            raw.idle_timeout_ms,
            defaults::IDLE_TIMEOUT_MS,
        )?,
        connect_timeout: millis(
            env,
            NC_CONNECT_TIMEOUT_MS,
            "limits.connect_timeout_ms",
            raw.connect_timeout_ms,
            defaults::CONNECT_TIMEOUT_MS,
        )?,
        queue_depth_per_cid: env
            .layer_or(
                NC_QUEUE_DEPTH_PER_CID,
                int,
                "limits.queue_depth_per_cid",
                raw.queue_depth_per_cid,
                defaults::QUEUE_DEPTH_PER_CID,
            )?
            .in_range(depth_min, depth_max)?,
        max_inflight_cids: env
            .layer_or(
                NC_MAX_INFLIGHT_CIDS,
                int,
                "limits.max_inflight_cids",
                raw.max_inflight_cids,
                defaults::MAX_INFLIGHT_CIDS,
            )?
            .at_least(1)?,
        shutdown_grace: Duration::from_millis(grace),
    })
}

/// A listen address from a host setting and a port setting, each layered separately.
fn addr(
    env: &Env<'_>,
    (host_var, host_key, host): (&str, &str, Option<String>),
    (port_var, port_key, port): (&str, &str, Option<u16>),
    default: SocketAddr,
) -> Result<SocketAddr, ConfigError> {
    let ip = match env.layer(host_var, text, host_key, host)? {
        Some(host) => host.parse(ip)?,
        None => default.ip(),
    };
    let port = env
        .layer_or(port_var, int, port_key, port, default.port())?
        .value;
    Ok(SocketAddr::new(ip, port))
}

fn logging(raw: RawObservability, env: &Env<'_>) -> Result<(String, LogFormat), ConfigError> {
    let level = match env.layer(NC_LOG_LEVEL, text, "observability.log_level", raw.log_level)? {
        Some(level) => level.parse(log_level)?,
        None => defaults::LOG_LEVEL.to_owned(),
    };
    let format = match env.layer(
        NC_LOG_FORMAT,
        text,
        "observability.log_format",
        raw.log_format,
    )? {
        Some(format) => format.parse(log_format)?,
        None => defaults::LOG_FORMAT,
    };
    Ok((level, format))
}
