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
//! the process environment. Variable names are the constants in [`env`](mod@env). The plumbing
//! (YAML errors naming the key, environment layering, value parsers) is `nowconnect-config`;
//! the keys, variables, defaults and checks are here.
//!
//! Not done here: reading the token file (it is re-read at every connect, so it only has to
//! exist then), resolving target hosts, loading the CA bundle.

mod build;
pub mod defaults;
pub mod env;
mod proxy;
mod raw;
mod targets;
mod tunnel;
mod types;

use std::path::Path;

use nowconnect_config::{Env, parse_yaml, read_yaml};

pub use nowconnect_config::{ConfigError, EXIT_CONFIG, LogFormat};
pub use types::{AgentConfig, AgentLimits, AgentTunnelConfig, ProxyConfig, Secret, Target};

/// Name used in errors for YAML that did not come from a file.
const INLINE_SOURCE: &str = "premise.yaml";

/// Loads `path` (or, when `None`, only the environment and defaults) and validates it.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    build::agent(read_yaml(path)?, &Env::new(env))
}

/// Parses and validates YAML text, with `env` overriding it.
pub fn from_yaml_str(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    build::agent(parse_yaml(INLINE_SOURCE, yaml)?, &Env::new(env))
}
