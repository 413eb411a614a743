//! Hub configuration: `cloud.yaml` plus `NOWCONNECT_*` environment overrides (SPEC §5).
//!
//! Loading goes raw → validated: the YAML is read into `raw` structs that reject unknown keys,
//! then every setting is layered (environment over YAML over the named constant in
//! [`defaults`]) and checked. The result, [`HubConfig`], holds only valid values. Any failure is
//! a [`ConfigError`] whose `Display` is one line naming the key or variable, the value and the
//! reason; `main` prints it and exits with [`EXIT_CONFIG`].
//!
//! The environment is passed in as a lookup function, so tests inject a map instead of mutating
//! the process environment. Variable names are the constants in [`env`](mod@env). The plumbing
//! (YAML errors naming the key, environment layering, value parsers) is `nowconnect-config`;
//! the keys, variables, defaults and checks are here.
//!
//! Not done here: reading the JWKS, binding sockets, checking that files exist.

mod build;
pub mod defaults;
pub mod env;
mod listeners;
mod raw;
mod security;
mod types;

use std::path::Path;

use nowconnect_config::{Env, parse_yaml, read_yaml};

pub use nowconnect_config::{ConfigError, EXIT_CONFIG, LogFormat};
pub(crate) use security::Cidr;
pub use types::{
    HubConfig, LimitsConfig, ListenerConfig, ObservabilityConfig, PdpConfig, SecurityConfig,
    TlsFiles, TunnelConfig,
};

/// Name used in errors for YAML that did not come from a file.
const INLINE_SOURCE: &str = "cloud.yaml";

/// Loads `path` (or, when `None`, only defaults and the environment) and validates it.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigError> {
    build::hub(read_yaml(path)?, &Env::new(env))
}

/// Parses and validates YAML text, with `env` overriding it.
pub fn from_yaml_str(
    yaml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigError> {
    build::hub(parse_yaml(INLINE_SOURCE, yaml)?, &Env::new(env))
}
