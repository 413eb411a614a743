//! The one error type of configuration loading.
//!
//! Every variant renders as ONE line that names the key (or environment variable), the offending
//! value and the reason, so `main` can print it as-is and exit with [`crate::EXIT_CONFIG`].

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file as given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The YAML is malformed or does not fit the schema (unknown key, wrong type, ...).
    #[error("{source_name}: {message}")]
    Yaml {
        /// The file name (for in-memory text, the name the service gives it, e.g. `cloud.yaml`).
        source_name: String,
        /// The parser's reason, with the key path and position when known.
        message: String,
    },
    /// A YAML key (or its default) holds a value that fails validation.
    #[error("{key}: {value}: {reason}")]
    Invalid {
        /// Dotted key path, e.g. `limits.queue_depth_per_cid`.
        key: String,
        /// The value as written (strings quoted).
        value: String,
        /// Why the value was refused.
        reason: String,
    },
    /// A required setting is absent from both the YAML and the environment.
    #[error("{key}: missing: {reason}")]
    Missing {
        /// Dotted key path.
        key: String,
        /// What the setting is and where it can come from.
        reason: String,
    },
    /// An environment variable holds a value that fails parsing or validation.
    #[error("{name}={value:?}: {reason}")]
    Env {
        /// The variable name.
        name: String,
        /// The raw value.
        value: String,
        /// Why the value was refused.
        reason: String,
    },
}
