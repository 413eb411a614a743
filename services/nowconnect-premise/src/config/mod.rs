//! Agent configuration: `NC_*` environment variables, optionally on top of `premise.yaml`
//! (SPEC §5).
//!
//! The environment is the primary interface and wins over the file. Loading goes raw →
//! validated: the YAML is read into `raw` structs that reject unknown keys, then every setting is
//! layered (environment over YAML over the named constant in [`defaults`]) and checked. The
//! result, [`AgentConfig`], holds only valid values. Any failure is a [`ConfigError`] whose
//! `Display` is one line naming the key or variable, the value and the reason; `main` prints it
//! and exits with [`EXIT_CONFIG`]. Credentials (the proxy URL) are wrapped in [`Secret`].
//!
//! The environment is passed in as a lookup function, so tests inject a map instead of mutating
//! the process environment. Variable names are the constants in [`env`](mod@env).
//!
//! Not done here: reading the token file (it is re-read at every connect, so it only has to
//! exist then), resolving target hosts, loading the CA bundle.

mod build;
pub mod defaults;
pub mod env;
mod error;
mod proxy;
mod raw;
mod source;
mod targets;
mod tunnel;
mod types;
mod yaml;

use std::path::Path;

pub use error::ConfigError;
pub use types::{
    AgentConfig, AgentLimits, AgentTunnelConfig, LogFormat, ProxyConfig, Secret, Target,
};

/// Process exit code for a refused configuration (`EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;

/// Name used in errors for YAML that did not come from a file.
const INLINE_SOURCE: &str = "premise.yaml";

/// Loads `path` (or, when `None`, only the environment and defaults) and validates it.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    match path {
        None => build::agent(raw::RawAgent::default(), &source::Env::new(env)),
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
) -> Result<AgentConfig, ConfigError> {
    parse(INLINE_SOURCE, yaml, env)
}

fn parse(
    source_name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    let raw: raw::RawAgent =
        serde_saphyr::from_str(text).map_err(|e| yaml::error(source_name, text, &e))?;
    build::agent(raw, &source::Env::new(env))
}
