//! Hub configuration: `cloud.yaml` plus `NOWCONNECT_*` environment overrides (SPEC §5).
//!
//! Loading goes raw → validated: the YAML is read into `raw` structs that reject unknown keys,
//! then every setting is layered (environment over YAML over the named constant in
//! [`defaults`]) and checked. The result, [`HubConfig`], holds only valid values. Any failure is
//! a [`ConfigError`] whose `Display` is one line naming the key or variable, the value and the
//! reason; `main` prints it and exits with [`EXIT_CONFIG`].
//!
//! The environment is passed in as a lookup function, so tests inject a map instead of mutating
//! the process environment. Variable names are the constants in [`env`](mod@env).
//!
//! Not done here: reading the JWKS, binding sockets, checking that files exist.

mod build;
pub mod defaults;
pub mod env;
mod error;
mod listeners;
mod raw;
mod security;
mod source;
mod types;
mod yaml;

use std::path::Path;

pub use error::ConfigError;
pub use types::{
    HubConfig, LimitsConfig, ListenerConfig, LogFormat, ObservabilityConfig, PdpConfig,
    SecurityConfig, TunnelConfig,
};

/// Process exit code for a refused configuration (`EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;

/// Name used in errors for YAML that did not come from a file.
const INLINE_SOURCE: &str = "cloud.yaml";

/// Loads `path` (or, when `None`, only defaults and the environment) and validates it.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigError> {
    match path {
        None => build::hub(raw::RawHub::default(), &source::Env::new(env)),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            parse(&path.display().to_string(), &text, env)
        }
    }
}

/// Parses and validates YAML text, with `env` overriding it.
pub fn from_yaml_str(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigError> {
    parse(INLINE_SOURCE, yaml, env)
}

fn parse(
    source_name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigError> {
    let raw: raw::RawHub =
        serde_saphyr::from_str(text).map_err(|e| yaml::error(source_name, text, &e))?;
    build::hub(raw, &source::Env::new(env))
}
