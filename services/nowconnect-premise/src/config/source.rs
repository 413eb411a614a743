//! Layering of one setting: environment variable over YAML key over default.
//!
//! The winning value remembers where it came from, so a validation error names it the way the
//! operator wrote it: `limits.queue_depth_per_cid: 0: ...` for the file,
//! `NC_CONNECT_TIMEOUT_MS="abc": ...` for the environment. The environment is an injected
//! lookup, so tests never touch the process environment.

use std::fmt::Debug;
use std::net::IpAddr;
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;

use super::ConfigError;

/// Turns an environment variable's text into a value, or says why it cannot.
pub(super) type Parser<T> = fn(&str) -> Result<T, String>;

/// Where a value came from.
#[derive(Debug, Clone)]
enum Origin {
    Key(String),
    Env { name: String, raw: String },
}

/// A setting's value plus its origin.
#[derive(Debug, Clone)]
pub(super) struct Sourced<T> {
    pub(super) value: T,
    origin: Origin,
}

impl<T: Debug> Sourced<T> {
    /// A value read from (or defaulted for) the YAML key `key`.
    pub(super) fn key(key: &str, value: T) -> Self {
        Self {
            value,
            origin: Origin::Key(key.to_owned()),
        }
    }

    /// The error for this value, naming its key or variable.
    pub(super) fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        match &self.origin {
            Origin::Key(key) => ConfigError::Invalid {
                key: key.clone(),
                value: format!("{:?}", self.value),
                reason: reason.into(),
            },
            Origin::Env { name, raw } => ConfigError::Env {
                name: name.clone(),
                value: raw.clone(),
                reason: reason.into(),
            },
        }
    }

    /// Like [`Sourced::invalid`] but never shows the value (it may hold credentials).
    pub(super) fn invalid_redacted(&self, reason: &str) -> ConfigError {
        let value = "<redacted>".to_owned();
        match &self.origin {
            Origin::Key(key) => ConfigError::Invalid {
                key: key.clone(),
                value,
                reason: reason.to_owned(),
            },
            Origin::Env { name, .. } => ConfigError::Env {
                name: name.clone(),
                value,
                reason: reason.to_owned(),
            },
        }
    }

    /// The value if `ok` holds for it, otherwise the error with `reason`.
    pub(super) fn ensure(
        self,
        ok: impl FnOnce(&T) -> bool,
        reason: &str,
    ) -> Result<T, ConfigError> {
        if ok(&self.value) {
            Ok(self.value)
        } else {
            Err(self.invalid(reason))
        }
    }

    /// The value if it lies in `min..=max`.
    pub(super) fn in_range(self, min: T, max: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + std::fmt::Display,
    {
        let reason = format!("must be between {min} and {max}");
        self.ensure(|v| *v >= min && *v <= max, &reason)
    }

    /// The value if it is at least `min`.
    pub(super) fn at_least(self, min: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + std::fmt::Display,
    {
        let reason = format!("must be at least {min}");
        self.ensure(|v| *v >= min, &reason)
    }
}

impl Sourced<String> {
    /// Parses a YAML string with an environment parser, naming the key on failure.
    pub(super) fn parse<T>(self, parse: Parser<T>) -> Result<T, ConfigError> {
        parse(&self.value).map_err(|reason| self.invalid(reason))
    }
}

/// The injected environment.
pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The variable's trimmed value; unset and empty both count as "not set".
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `name` if set, else the YAML value, else nothing.
    pub(super) fn layer<T: Debug>(
        &self,
        name: &str,
        parse: Parser<T>,
        key: &str,
        yaml: Option<T>,
    ) -> Result<Option<Sourced<T>>, ConfigError> {
        match self.get(name) {
            Some(raw) => match parse(&raw) {
                Ok(value) => Ok(Some(Sourced {
                    value,
                    origin: Origin::Env {
                        name: name.to_owned(),
                        raw,
                    },
                })),
                Err(reason) => Err(ConfigError::Env {
                    name: name.to_owned(),
                    value: raw,
                    reason,
                }),
            },
            None => Ok(yaml.map(|value| Sourced::key(key, value))),
        }
    }

    /// `name` if set, else the YAML value, else `default` (attributed to the key).
    pub(super) fn layer_or<T: Debug>(
        &self,
        name: &str,
        parse: Parser<T>,
        key: &str,
        yaml: Option<T>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError> {
        Ok(self
            .layer(name, parse, key, yaml)?
            .unwrap_or_else(|| Sourced::key(key, default)))
    }
}

/// Parses a decimal integer.
pub(super) fn int<T: FromStr<Err = ParseIntError>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: ParseIntError| {
        match e.kind() {
            IntErrorKind::PosOverflow => "too large",
            IntErrorKind::NegOverflow => "too small",
            _ => "not an integer",
        }
        .to_owned()
    })
}

/// Parses `true`/`false`/`1`/`0` (any case).
pub(super) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("not a boolean (true, false, 1 or 0)".to_owned()),
    }
}

/// Parses an IPv4 or IPv6 address.
pub(super) fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| "not an IP address".to_owned())
}

/// A comma-separated list (`NC_CONNECTORS=a,b`); items are trimmed and must not be empty.
pub(super) fn list(s: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = s.split(',').map(|i| i.trim().to_owned()).collect();
    if items.iter().any(String::is_empty) {
        return Err("empty entry in comma-separated list".to_owned());
    }
    Ok(items)
}

/// Any text.
pub(super) fn text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}
