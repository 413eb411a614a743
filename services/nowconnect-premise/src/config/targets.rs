//! The `targets` section: where each exported connector's streams are dialed.
//!
//! Every exported connector needs a target, from `targets.<connector>` in the YAML and/or
//! `NC_TARGET_<connector>_HOST` / `_PORT` (connector name exactly as written); the environment
//! wins per field. YAML targets of connectors that are not exported are ignored, so one file can
//! serve agents that export different subsets.

use std::collections::BTreeMap;
use std::net::IpAddr;

use nowconnect_config::{Env, int, text};

use super::env::{target_host_var, target_port_var};
use super::raw::RawTarget;
use super::{ConfigError, Target};

/// Longest DNS name.
const MAX_HOST_LEN: usize = 253;

pub(super) fn build(
    connectors: &[String],
    mut yaml: BTreeMap<String, Option<RawTarget>>,
    env: &Env<'_>,
) -> Result<BTreeMap<String, Target>, ConfigError> {
    let mut targets = BTreeMap::new();
    for connector in connectors {
        let (host_var, port_var) = (target_host_var(connector), target_port_var(connector));
        let declared = yaml.remove(connector);
        let raw = declared.as_ref().map(|t| {
            t.as_ref()
                .map_or((None, None), |t| (t.host.clone(), t.port))
        });
        let (host, port) = raw.clone().unwrap_or((None, None));
        let key = |field: &str| format!("targets.{connector}.{field}");
        let host = env.layer(&host_var, text, &key("host"), host)?;
        let port = env.layer(&port_var, int::<u16>, &key("port"), port)?;
        let (host, port) = match (host, port) {
            (None, None) if raw.is_none() => {
                return Err(ConfigError::Missing {
                    key: format!("targets.{connector}"),
                    reason: format!("every exported connector needs a target ({host_var}/_PORT)"),
                });
            }
            (Some(host), Some(port)) => (host, port),
            (None, _) => return Err(missing(&key("host"), &host_var)),
            (_, None) => return Err(missing(&key("port"), &port_var)),
        };
        let host = host.ensure(|h| is_host(h), "not a host name or IP address")?;
        let port = port.ensure(|p| *p != 0, "must be between 1 and 65535")?;
        targets.insert(connector.clone(), Target { host, port });
    }
    Ok(targets)
}

fn missing(key: &str, var: &str) -> ConfigError {
    ConfigError::Missing {
        key: key.to_owned(),
        reason: format!("required (or set {var})"),
    }
}

/// A DNS name (letters, digits, `-`, `_`, `.`) or an IP address (IPv6 without brackets).
fn is_host(h: &str) -> bool {
    h.parse::<IpAddr>().is_ok()
        || ((1..=MAX_HOST_LEN).contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}
