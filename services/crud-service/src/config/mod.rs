//! crud-service configuration (SPEC §8): the process settings from the environment and one
//! YAML file per system in `SERVICE_CONFIG_DIR` (or its `systems/`), the file stem being the
//! system's name.
//!
//! Loading goes raw → validated, with the plumbing of `nowconnect-config`: unknown keys are
//! refused, every setting is checked, and any failure is ONE line naming the file, the key, the
//! value and the reason ([`ConfigError`]; `main` exits with [`EXIT_CONFIG`]). String values may
//! hold `${{ENV:NAME}}` references, expanded from the injected environment. The bind password
//! is a [`Secret`]: never in `Debug`, logs or errors.
//!
//! Not done here: connecting to the directory (that happens on the first request, so a
//! directory that is down at start-up does not keep the service from starting).

pub mod defaults;
mod expand;
mod raw;
mod secret;
mod system;
mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nowconnect_config::{Env, int, log_level, parse_yaml};

pub use nowconnect_config::{ConfigError, EXIT_CONFIG};
pub use secret::Secret;
pub use system::{MembershipConfig, SystemConfig};

/// Directory holding the system YAML files (required).
pub const SERVICE_CONFIG_DIR: &str = "SERVICE_CONFIG_DIR";
/// `host:port` of the HTTP server (default [`defaults::LISTEN`]).
pub const CRUD_LISTEN: &str = "CRUD_LISTEN";
/// Largest accepted request body in bytes (default [`defaults::MAX_BODY_BYTES`]).
pub const CRUD_MAX_BODY_BYTES: &str = "CRUD_MAX_BODY_BYTES";
/// Log level (`info` by default).
pub const LOG_LEVEL: &str = "LOG_LEVEL";

/// Everything the service needs, validated.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub log_level: String,
    /// By name (the file stem).
    pub systems: BTreeMap<String, SystemConfig>,
}

/// Reads the environment through `env` and the system files under `SERVICE_CONFIG_DIR`.
pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<ServiceConfig, ConfigError> {
    let env = Env::new(env);
    let dir = env
        .get(SERVICE_CONFIG_DIR)
        .ok_or_else(|| ConfigError::Missing {
            key: SERVICE_CONFIG_DIR.to_owned(),
            reason: "the directory with one YAML file per system".to_owned(),
        })?;
    let listen = env
        .layer_or(
            CRUD_LISTEN,
            socket_addr,
            CRUD_LISTEN,
            None,
            default_listen(),
        )?
        .value;
    let max_body_bytes = env
        .layer_or(
            CRUD_MAX_BODY_BYTES,
            int::<usize>,
            CRUD_MAX_BODY_BYTES,
            None,
            defaults::MAX_BODY_BYTES,
        )?
        .in_range(64, 64 * 1024 * 1024)?;
    let log_level = env
        .layer_or(LOG_LEVEL, log_level, LOG_LEVEL, None, "info".to_owned())?
        .value;
    Ok(ServiceConfig {
        listen,
        max_body_bytes,
        log_level,
        systems: load_systems(Path::new(&dir), &env)?,
    })
}

/// Every `*.yaml` / `*.yml` in `dir` and `dir/systems`, by file stem; at least one.
pub fn load_systems(
    dir: &Path,
    env: &Env<'_>,
) -> Result<BTreeMap<String, SystemConfig>, ConfigError> {
    let mut systems = BTreeMap::new();
    for path in system_files(dir)? {
        let name = stem(&path)?;
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let system = from_yaml(&shown, &name, &text, env)?;
        if systems.insert(name.clone(), system).is_some() {
            return Err(ConfigError::Invalid {
                key: shown,
                value: name,
                reason: "a system with this name is already defined in the other directory"
                    .to_owned(),
            });
        }
    }
    if systems.is_empty() {
        return Err(ConfigError::Invalid {
            key: SERVICE_CONFIG_DIR.to_owned(),
            value: dir.display().to_string(),
            reason: "no system files (*.yaml) in it or in its systems/".to_owned(),
        });
    }
    Ok(systems)
}

/// Parses and validates one system's YAML `text`; `source` names it in errors.
pub fn system_from_yaml_str(
    source: &str,
    name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SystemConfig, ConfigError> {
    from_yaml(source, name, text, &Env::new(env))
}

fn from_yaml(
    source: &str,
    name: &str,
    text: &str,
    env: &Env<'_>,
) -> Result<SystemConfig, ConfigError> {
    let raw = parse_yaml(source, text)?;
    system::build(name, raw, env).map_err(|e| in_file(source, e))
}

/// Prefixes a key error with the file it came from.
fn in_file(source: &str, e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Invalid { key, value, reason } => ConfigError::Invalid {
            key: format!("{source}: {key}"),
            value,
            reason,
        },
        ConfigError::Missing { key, reason } => ConfigError::Missing {
            key: format!("{source}: {key}"),
            reason,
        },
        other => other,
    }
}

fn system_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    for d in [dir.to_path_buf(), dir.join("systems")] {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if d != dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ConfigError::Read {
                    path: d.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        here.sort();
        files.extend(here);
    }
    Ok(files)
}

fn stem(path: &Path) -> Result<String, ConfigError> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ConfigError::Invalid {
            key: path.display().to_string(),
            value: name.to_owned(),
            reason: "a system's file name must be letters, digits, '-', '_' or '.'".to_owned(),
        })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8000))
}

fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| "not host:port (e.g. 0.0.0.0:8000)".to_owned())
}
