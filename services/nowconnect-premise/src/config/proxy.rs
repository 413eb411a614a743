//! The `proxy` section: HTTP CONNECT proxy and extra CA bundle for the outbound tunnel.
//!
//! `HTTPS_PROXY`/`NO_PROXY` (or their lowercase forms) override the YAML only when `trust_env`
//! is on (`NC_TRUST_ENV=true` or `proxy.trust_env: true`), so an inherited proxy setting never
//! reroutes the tunnel by surprise. The proxy URL may carry credentials: it is held as a
//! [`Secret`] and never shown in errors.

use std::path::PathBuf;

use nowconnect_config::{Env, Sourced, boolean, text};

use super::env::*;
use super::raw::RawProxy;
use super::{ConfigError, ProxyConfig, Secret, defaults};

pub(super) fn build(raw: RawProxy, env: &Env<'_>) -> Result<ProxyConfig, ConfigError> {
    let trust_env = env
        .layer_or(
            NC_TRUST_ENV,
            boolean,
            "proxy.trust_env",
            raw.trust_env,
            defaults::TRUST_ENV,
        )?
        .value;
    let (mut https_proxy, mut no_proxy) = (
        raw.https_proxy
            .map(|p| Sourced::key("proxy.https_proxy", p)),
        raw.no_proxy.map(|p| Sourced::key("proxy.no_proxy", p)),
    );
    if trust_env {
        https_proxy = from_env(env, [HTTPS_PROXY, HTTPS_PROXY_LOWER], https_proxy)?;
        no_proxy = from_env(env, [NO_PROXY, NO_PROXY_LOWER], no_proxy)?;
    }
    let https_proxy = match https_proxy.filter(|p| !p.value.trim().is_empty()) {
        None => None,
        Some(p) => {
            let lower = p.value.trim().to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(p.invalid_redacted("must start with http:// or https://"));
            }
            Some(Secret::new(p.value.trim()))
        }
    };
    let ca_bundle = env.layer(NC_CA_BUNDLE, text, "proxy.ca_bundle", raw.ca_bundle)?;
    Ok(ProxyConfig {
        trust_env,
        https_proxy,
        no_proxy: no_proxy
            .map(|n| n.value.trim().to_owned())
            .filter(|n| !n.is_empty()),
        ca_bundle: ca_bundle
            .map(|c| c.value)
            .filter(|c| !c.trim().is_empty())
            .map(PathBuf::from),
    })
}

/// The first of `names` that is set, else `fallback`.
fn from_env(
    env: &Env<'_>,
    names: [&str; 2],
    fallback: Option<Sourced<String>>,
) -> Result<Option<Sourced<String>>, ConfigError> {
    for name in names {
        if let Some(value) = env.layer(name, text, "", None)? {
            return Ok(Some(value));
        }
    }
    Ok(fallback)
}
