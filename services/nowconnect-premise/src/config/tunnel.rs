//! The `tunnel` section: where the hub is, who this agent is, what it exports, and timers.

use std::path::PathBuf;
use std::time::Duration;

use nowconnect_config::{Env, Parser, Sourced, boolean, int, list, text};

use super::env::*;
use super::raw::RawTunnel;
use super::{AgentTunnelConfig, ConfigError, defaults};

/// Names, ids and connectors travel in HELLO, logs and metric labels: keep them plain.
const NAME_RULE: &str = "must be 1-128 characters of A-Z a-z 0-9 _ . -";

/// The layered value of a required setting, or which key/variable to set.
fn required<T: std::fmt::Debug>(
    env: &Env<'_>,
    name: &str,
    parse: Parser<T>,
    key: &str,
    yaml: Option<T>,
    what: &str,
) -> Result<Sourced<T>, ConfigError> {
    env.layer(name, parse, key, yaml)?
        .ok_or_else(|| ConfigError::Missing {
            key: key.to_owned(),
            reason: format!("required ({what}; set {name} or {key})"),
        })
}

pub(super) fn build(raw: RawTunnel, env: &Env<'_>) -> Result<AgentTunnelConfig, ConfigError> {
    let url = required(
        env,
        NC_AGENT_URL,
        text,
        "tunnel.url",
        raw.url,
        "the hub's tunnel URL",
    )?;
    let url = match ws_url_problem(&url.value) {
        Some(reason) => return Err(url.invalid(reason)),
        None => url.value,
    };
    let agent_id = required(
        env,
        NC_AGENT_ID,
        text,
        "tunnel.agent_id",
        raw.agent_id,
        "this agent's id",
    )?
    .ensure(|id| is_name(id), NAME_RULE)?;
    let connectors = required(
        env,
        NC_CONNECTORS,
        list,
        "tunnel.exported_connectors",
        raw.exported_connectors,
        "connectors this agent serves",
    )?;
    if let Some(reason) = connectors_problem(&connectors.value) {
        return Err(connectors.invalid(reason));
    }
    let token_file = required(
        env,
        NC_TOKEN_FILE,
        text,
        "tunnel.auth.token_file",
        raw.auth.and_then(|a| a.token_file),
        "file holding the agent's JWT",
    )?
    .ensure(|f| !f.trim().is_empty(), "must not be empty")?;
    let (payload_min, payload_max) = defaults::MAX_WS_PAYLOAD_RANGE.into_inner();
    let (frame_min, frame_max) = defaults::V2_MAX_FRAME_RANGE.into_inner();
    let backoff_base = env
        .layer_or(
            NC_BACKOFF_BASE_MS,
            int,
            "tunnel.backoff_base_ms",
            raw.backoff_base_ms,
            defaults::BACKOFF_BASE_MS,
        )?
        .at_least(1)?;
    let backoff_max = env
        .layer_or(
            NC_BACKOFF_MAX_MS,
            int,
            "tunnel.backoff_max_ms",
            raw.backoff_max_ms,
            defaults::BACKOFF_MAX_MS,
        )?
        .ensure(
            |m| *m >= backoff_base,
            &format!("must be at least tunnel.backoff_base_ms ({backoff_base})"),
        )?;
    Ok(AgentTunnelConfig {
        url,
        agent_id,
        connectors: connectors.value,
        token_file: PathBuf::from(token_file),
        ping_interval: seconds(
            env,
            NC_PING_INTERVAL_SEC,
            "tunnel.ping_interval_sec",
            raw.ping_interval_sec,
            defaults::PING_INTERVAL_SEC,
        )?,
        ping_timeout: seconds(
            env,
            NC_PING_TIMEOUT_SEC,
            "tunnel.ping_timeout_sec",
            raw.ping_timeout_sec,
            defaults::PING_TIMEOUT_SEC,
        )?,
        max_ws_payload: env
            .layer_or(
                NC_MAX_WS_PAYLOAD,
                int,
                "tunnel.max_ws_payload",
                raw.max_ws_payload,
                defaults::MAX_WS_PAYLOAD,
            )?
            .in_range(payload_min, payload_max)?,
        v2: env
            .layer_or(NC_PROTOCOL_V2, boolean, "tunnel.v2", raw.v2, defaults::V2)?
            .value,
        v2_max_frame: Sourced::key(
            "tunnel.v2_max_frame",
            raw.v2_max_frame.unwrap_or(defaults::V2_MAX_FRAME),
        )
        .in_range(frame_min, frame_max)?,
        backoff_base: Duration::from_millis(backoff_base),
        backoff_max: Duration::from_millis(backoff_max),
    })
}

/// Why `url` is not a usable tunnel URL, if it is not.
fn ws_url_problem(url: &str) -> Option<&'static str> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("wss://")
        .or_else(|| lower.strip_prefix("ws://"))
    else {
        return Some("must start with ws:// or wss://");
    };
    if url.chars().any(char::is_whitespace) {
        return Some("must not contain whitespace");
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        Some("missing host")
    } else if path.is_empty() {
        Some("must end with a path, e.g. ws://hub:8765/tunnel")
    } else {
        None
    }
}

fn connectors_problem(connectors: &[String]) -> Option<String> {
    if connectors.is_empty() {
        return Some("at least one connector is required".to_owned());
    }
    for (i, c) in connectors.iter().enumerate() {
        if !is_name(c) {
            return Some(format!("connector {c:?}: {NAME_RULE}"));
        }
        if connectors[..i].contains(c) {
            return Some(format!("connector {c:?} listed twice"));
        }
    }
    None
}

fn is_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn seconds(
    env: &Env<'_>,
    name: &str,
    key: &str,
    yaml: Option<u64>,
    default: u64,
) -> Result<Duration, ConfigError> {
    env.layer_or(name, int, key, yaml, default)?
        .at_least(1)
        .map(Duration::from_secs)
}
