//! Config plumbing shared by the NowConnect services (`nowconnect-cloud`, `nowconnect-premise`).
//!
//! It turns raw YAML into typed values, and every refusal into ONE line that names the key (or
//! environment variable), the value and the reason. The environment is injected as a lookup
//! function, so tests pass a map instead of mutating the process environment.
//!
//! - [`parse_yaml`], [`read_yaml`]: YAML text or file → a service's raw structs; a parse error
//!   becomes [`ConfigError::Yaml`] naming the key path (e.g. `listeners[1].bind`) and position.
//! - [`Env`]: the injected environment; [`Env::layer`] and [`Env::layer_or`] take a variable
//!   over a YAML key over a default, as a [`Sourced`] value that remembers where it came from so
//!   a failed check ([`Sourced::ensure`], [`Sourced::in_range`], ...) names it as the operator
//!   wrote it.
//! - [`Parser`]s for environment text: [`int`], [`boolean`], [`ip`], [`text`], [`list`],
//!   [`log_level`], [`log_format`].
//! - [`ConfigError`], [`EXIT_CONFIG`] and [`LogFormat`], used by both services' config APIs.
//!
//! - [`runtime::worker_threads`]: the one key both services share, `runtime.worker_threads`.
//!
//! What it does not do: apart from that shared key it knows no service's keys. The raw structs,
//! variable names, defaults and the validation of each setting stay in the services.

mod error;
pub mod runtime;
mod source;
mod yaml;

pub use error::ConfigError;
pub use source::{Env, Parser, Sourced, boolean, int, ip, list, log_format, log_level, text};
pub use yaml::{parse_yaml, read_yaml};

/// Process exit code for a refused configuration (`EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Plain,
    /// One JSON object per line.
    Json,
}
