//! Layering of one setting: environment variable over YAML key over default.
//!
//! The winning value remembers where it came from, so a validation error names it the way the
//! operator wrote it, e.g. `limits.queue_depth_per_cid: 0: ...` for the file,
//! `NC_CONNECT_TIMEOUT_MS="abc": ...` for the environment. The environment is an injected
//! lookup, so tests never touch the process environment. Which keys and variables exist is the
//! caller's business.

use std::fmt::Debug;
use std::net::IpAddr;
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;

use crate::{ConfigError, LogFormat};

/// Turns an environment variable's text into a value, or says why it cannot.
pub type Parser<T> = fn(&str) -> Result<T, String>;

/// Where a value came from.
#[derive(Debug, Clone)]
enum Origin {
    Key(String),
    Env { name: String, raw: String },
}

/// A setting's value plus its origin.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The value itself.
    pub value: T,
    origin: Origin,
}

impl<T: Debug> Sourced<T> {
    /// A value read from (or defaulted for) the YAML key `key`.
    pub fn key(key: &str, value: T) -> Self {
        Self {
            value,
            origin: Origin::Key(key.to_owned()),
        }
    }

    /// The error for this value, naming its key or variable.
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
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
    pub fn invalid_redacted(&self, reason: &str) -> ConfigError {
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
    pub fn ensure(self, ok: impl FnOnce(&T) -> bool, reason: &str) -> Result<T, ConfigError> {
        if ok(&self.value) {
            Ok(self.value)
        } else {
            Err(self.invalid(reason))
        }
    }

    /// The value if it lies in `min..=max`.
    pub fn in_range(self, min: T, max: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + std::fmt::Display,
    {
        let reason = format!("must be between {min} and {max}");
        self.ensure(|v| *v >= min && *v <= max, &reason)
    }

    /// The value if it is at least `min`.
    pub fn at_least(self, min: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + std::fmt::Display,
    {
        let reason = format!("must be at least {min}");
        self.ensure(|v| *v >= min, &reason)
    }
}

impl Sourced<String> {
    /// Parses a YAML string with an environment parser, naming the key on failure.
    pub fn parse<T>(self, parse: Parser<T>) -> Result<T, ConfigError> {
        parse(&self.value).map_err(|reason| self.invalid(reason))
    }
}

/// The injected environment.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

impl<'a> Env<'a> {
    /// Reads variables through `lookup` (in production `|n| std::env::var(n).ok()`).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The variable's trimmed value; unset and empty both count as "not set".
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Text from `name` if set, else the YAML value; unlike [`Env::layer`], a variable set to the
    /// empty string still wins (for settings where empty means "off").
    pub fn layer_keep_empty(
        &self,
        name: &str,
        key: &str,
        yaml: Option<String>,
    ) -> Option<Sourced<String>> {
        match (self.lookup)(name).map(|v| v.trim().to_owned()) {
            Some(raw) => Some(Sourced {
                value: raw.clone(),
                origin: Origin::Env {
                    name: name.to_owned(),
                    raw,
                },
            }),
            None => yaml.map(|value| Sourced::key(key, value)),
        }
    }

    /// `name` if set, else the YAML value, else nothing.
    pub fn layer<T: Debug>(
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
    pub fn layer_or<T: Debug>(
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
pub fn int<T: FromStr<Err = ParseIntError>>(s: &str) -> Result<T, String> {
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
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("not a boolean (true, false, 1 or 0)".to_owned()),
    }
}

/// Parses an IPv4 or IPv6 address.
pub fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| "not an IP address".to_owned())
}

/// Any text.
pub fn text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

/// A comma-separated list (`NC_CONNECTORS=a,b`); items are trimmed and must not be empty.
pub fn list(s: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = s.split(',').map(|i| i.trim().to_owned()).collect();
    if items.iter().any(String::is_empty) {
        return Err("empty entry in comma-separated list".to_owned());
    }
    Ok(items)
}

/// Normalizes a log level to the lowercase `tracing` name (`WARNING` is accepted as `warn`).
pub fn log_level(s: &str) -> Result<String, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        level @ ("trace" | "debug" | "info" | "warn" | "error") => Ok(level.to_owned()),
        "warning" => Ok("warn".to_owned()),
        _ => Err("must be one of trace, debug, info, warn, error".to_owned()),
    }
}

/// Parses `plain` or `json` (any case).
pub fn log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "plain" => Ok(LogFormat::Plain),
        "json" => Ok(LogFormat::Json),
        _ => Err("must be plain or json".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "SET" => Some(" 7 ".to_owned()),
            "EMPTY" => Some("  ".to_owned()),
            "BAD" => Some("abc".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn environment_wins_over_yaml_and_default() -> Result<(), ConfigError> {
        let env = Env::new(&lookup);
        assert_eq!(env.layer_or("SET", int::<u16>, "a.b", Some(5), 1)?.value, 7);
        assert_eq!(
            env.layer_or("EMPTY", int::<u16>, "a.b", Some(5), 1)?.value,
            5
        );
        assert_eq!(env.layer_or("UNSET", int::<u16>, "a.b", None, 1)?.value, 1);
        assert!(env.layer("UNSET", int::<u16>, "a.b", None)?.is_none());
        Ok(())
    }

    #[test]
    fn keep_empty_lets_an_empty_variable_win() {
        let env = Env::new(&lookup);
        let got = env.layer_keep_empty("EMPTY", "a.b", Some("x".to_owned()));
        assert_eq!(got.map(|s| s.value), Some(String::new()));
    }

    #[test]
    fn errors_name_the_origin() {
        let env = Env::new(&lookup);
        let err = env.layer("BAD", int::<u16>, "a.b", None).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(r#"BAD="abc": not an integer"#.to_owned())
        );
        let key = Sourced::key("limits.depth", 0_u32).at_least(1).err();
        assert_eq!(
            key.map(|e| e.to_string()),
            Some("limits.depth: 0: must be at least 1".to_owned())
        );
        let secret = Sourced::key("proxy.url", "u:p@x".to_owned()).invalid_redacted("bad");
        assert_eq!(secret.to_string(), "proxy.url: <redacted>: bad");
    }

    #[test]
    fn value_parsers() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert!(boolean("yes").is_err());
        assert_eq!(int::<u8>("256"), Err("too large".to_owned()));
        assert_eq!(list(" a, b "), Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert!(list("a,,b").is_err());
        assert_eq!(log_level("WARNING"), Ok("warn".to_owned()));
        assert_eq!(log_format("Json"), Ok(LogFormat::Json));
    }
}
