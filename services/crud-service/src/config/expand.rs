//! `${{ENV:NAME}}` expansion in system configs (the syntax of the original system files).
//!
//! Every occurrence in a string value is replaced by the variable's value; an unset variable or
//! an unterminated reference is an error naming the key (never the surrounding text, which may
//! be a password).

use nowconnect_config::{ConfigError, Env};

const OPEN: &str = "${{ENV:";
const CLOSE: &str = "}}";

/// `value` (read from `key`) with every `${{ENV:NAME}}` replaced.
pub(super) fn expand(key: &str, value: &str, env: &Env<'_>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: "<redacted>".to_owned(),
                reason: "unterminated ${{ENV:NAME}} reference".to_owned(),
            });
        };
        let name = after[..end].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: format!("${{{{ENV:{name}}}}}"),
                reason: "not a valid environment variable name".to_owned(),
            });
        }
        let Some(found) = env.get(name) else {
            return Err(ConfigError::Missing {
                key: key.to_owned(),
                reason: format!(
                    "environment variable {name} (referenced as ${{{{ENV:{name}}}}}) is not set"
                ),
            });
        };
        out.push_str(&found);
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "PW").then(|| "s3cret".to_owned())
    }

    #[test]
    fn references_are_replaced() {
        let env = Env::new(&lookup);
        assert_eq!(expand("k", "${{ENV:PW}}", &env), Ok("s3cret".to_owned()));
        assert_eq!(
            expand("k", "a-${{ENV:PW}}-b", &env),
            Ok("a-s3cret-b".to_owned())
        );
        assert_eq!(expand("k", "plain", &env), Ok("plain".to_owned()));
    }

    #[test]
    fn errors_name_the_key_and_variable() {
        let env = Env::new(&lookup);
        let missing = expand("connection.credentials.password", "${{ENV:NOPE}}", &env);
        assert_eq!(
            missing.map_err(|e| e.to_string()),
            Err(
                "connection.credentials.password: missing: environment variable NOPE \
                 (referenced as ${{ENV:NOPE}}) is not set"
                    .to_owned()
            )
        );
        let open = expand("k", "x${{ENV:PW", &env).map_err(|e| e.to_string());
        assert_eq!(
            open,
            Err("k: <redacted>: unterminated ${{ENV:NAME}} reference".to_owned())
        );
        assert!(expand("k", "${{ENV:a b}}", &env).is_err());
    }
}
