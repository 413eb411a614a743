//! One system (one directory): raw YAML → validated [`SystemConfig`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nowconnect_config::{ConfigError, Env, Sourced};

use super::defaults;
use super::expand::expand;
use super::raw::{RawConnection, RawSystem};
use super::secret::Secret;

/// Where and how to reach one directory, and the membership knobs (SPEC §8).
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// The file stem the system was loaded from; the `system` of a request.
    pub name: String,
    /// Host name or IP of the directory (or of the hub's LDAP listener).
    pub host: String,
    pub port: u16,
    /// LDAPS (`use_ssl: true`): how the directory's certificate is verified; `None` = plain LDAP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Suffix under which users and groups are searched.
    pub base_dn: String,
    /// Container of new users (`ou=people,<base_dn>` unless set).
    pub users_dn: String,
    /// Container of new groups (`ou=groups,<base_dn>` unless set).
    pub groups_dn: String,
    pub bind_dn: String,
    pub bind_password: Secret,
    pub pool_size: usize,
    pub page_size: u32,
    /// Entries a search may return at most.
    pub search_max_entries: usize,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// Idle time after which a pooled connection is probed before reuse.
    pub idle_check: Duration,
    pub membership: MembershipConfig,
}

/// How `update_group_members` behaves for this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    pub batch_size: usize,
    pub max_concurrency: usize,
    /// Attach the Permissive Modify control (AD: duplicate adds / absent deletes succeed).
    pub permissive_modify: bool,
    /// Guard deletes from a `groupOfNames` with an assertion that a kept member is still there.
    pub assertion_control: bool,
    /// Placeholder member that keeps a `groupOfNames` from going through zero members.
    pub anchor_dn: Option<String>,
    /// Check that every DN to add exists before adding it.
    pub verify_member_dns: bool,
}

impl SystemConfig {
    /// `ldap://host:port` (or `ldaps://` with TLS) for the connector.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "ldaps" } else { "ldap" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Validates `raw`, the system named `name`.
pub(super) fn build(
    name: &str,
    raw: RawSystem,
    env: &Env<'_>,
) -> Result<SystemConfig, ConfigError> {
    let conn = raw.connection.unwrap_or_default();
    let RawConnection {
        server,
        base_dn: conn_base_dn,
        credentials,
        connect_timeout_ms,
        timeout_ms,
        idle_check_ms,
    } = conn;
    let server = server.unwrap_or_default();
    let host = required(
        server.base_url,
        "connection.server.base_url",
        "the directory's host (or the hub's LDAP listener)",
    )?;
    let (host, scheme_tls) =
        host_of(&expand("connection.server.base_url", &host, env)?).map_err(|reason| {
            Sourced::key("connection.server.base_url", host.clone()).invalid(reason)
        })?;
    let use_ssl = match (server.use_ssl, scheme_tls) {
        (Some(false), Some(true)) => {
            return Err(Sourced::key("connection.server.use_ssl", false)
                .invalid("base_url says ldaps:// (set use_ssl: true or use ldap://)"));
        }
        (Some(true), Some(false)) => {
            return Err(Sourced::key("connection.server.use_ssl", true)
                .invalid("base_url says ldap:// (set use_ssl: false or use ldaps://)"));
        }
        (Some(ssl), _) => ssl,
        (None, scheme) => scheme.unwrap_or(false),
    };
    let default_port = if use_ssl {
        defaults::PORT_LDAPS
    } else {
        defaults::PORT
    };
    let port = Sourced::key(
        "connection.server.port",
        server.port.unwrap_or(default_port),
    )
    .at_least(1)?;
    let tls = tls(use_ssl, server.ca_file, server.tls_server_name, env)?;
    let base_dn = match (raw.base_dn, conn_base_dn) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "connection.base_dn".to_owned(),
                value: "(set twice)".to_owned(),
                reason: "give base_dn at the top level or under connection, not both".to_owned(),
            });
        }
        (Some(dn), None) => ("base_dn", dn),
        (None, Some(dn)) => ("connection.base_dn", dn),
        (None, None) => {
            return Err(ConfigError::Missing {
                key: "base_dn".to_owned(),
                reason: "the directory suffix (base_dn or connection.base_dn)".to_owned(),
            });
        }
    };
    let base_dn = dn(base_dn.0, &expand(base_dn.0, &base_dn.1, env)?)?;
    let users_dn = optional_dn("users_dn", raw.users_dn, env)?
        .unwrap_or_else(|| format!("ou=people,{base_dn}"));
    let groups_dn = optional_dn("groups_dn", raw.groups_dn, env)?
        .unwrap_or_else(|| format!("ou=groups,{base_dn}"));
    let creds = credentials.unwrap_or_default();
    let user = required(
        creds.username,
        "connection.credentials.username",
        "the bind DN",
    )?;
    let bind_dn = dn(
        "connection.credentials.username",
        &expand("connection.credentials.username", &user, env)?,
    )?;
    let pw = required(
        creds.password,
        "connection.credentials.password",
        "the bind password (use ${{ENV:NAME}})",
    )?;
    let bind_password = Secret::new(expand("connection.credentials.password", &pw, env)?);
    if bind_password.expose().is_empty() {
        return Err(
            Sourced::key("connection.credentials.password", String::new())
                .invalid_redacted("must not be empty (an empty password is an anonymous bind)"),
        );
    }
    Ok(SystemConfig {
        name: name.to_owned(),
        host,
        port,
        tls,
        base_dn,
        users_dn,
        groups_dn,
        bind_dn,
        bind_password,
        pool_size: Sourced::key("pool_size", raw.pool_size.unwrap_or(defaults::POOL_SIZE))
            .in_range(1, defaults::MAX_POOL_SIZE)?,
        page_size: Sourced::key("page_size", raw.page_size.unwrap_or(defaults::PAGE_SIZE))
            .in_range(1, i32::MAX.unsigned_abs())?,
        search_max_entries: Sourced::key(
            "search_max_entries",
            raw.search_max_entries
                .unwrap_or(defaults::SEARCH_MAX_ENTRIES),
        )
        .in_range(1, defaults::MAX_SEARCH_MAX_ENTRIES)?,
        connect_timeout: millis(
            "connection.connect_timeout_ms",
            connect_timeout_ms,
            defaults::CONNECT_TIMEOUT,
        )?,
        operation_timeout: millis(
            "connection.timeout_ms",
            timeout_ms,
            defaults::OPERATION_TIMEOUT,
        )?,
        idle_check: Duration::from_millis(
            Sourced::key(
                "connection.idle_check_ms",
                idle_check_ms
                    .unwrap_or(u64::try_from(defaults::IDLE_CHECK.as_millis()).unwrap_or(u64::MAX)),
            )
            .in_range(0, defaults::MAX_TIMEOUT_MS)?,
        ),
        membership: MembershipConfig {
            batch_size: Sourced::key(
                "membership_batch_size",
                raw.membership_batch_size
                    .unwrap_or(defaults::MEMBERSHIP_BATCH_SIZE),
            )
            .in_range(1, defaults::MAX_MEMBERSHIP_BATCH_SIZE)?,
            max_concurrency: Sourced::key(
                "membership_max_concurrency",
                raw.membership_max_concurrency
                    .unwrap_or(defaults::MEMBERSHIP_MAX_CONCURRENCY),
            )
            .in_range(1, defaults::MAX_POOL_SIZE)?,
            permissive_modify: raw.enable_permissive_modify.unwrap_or(false),
            assertion_control: raw.enable_assertion_control.unwrap_or(false),
            anchor_dn: optional_dn("membership_anchor_dn", raw.membership_anchor_dn, env)?,
            verify_member_dns: raw.verify_member_dns.unwrap_or(false),
        },
    })
}

fn required(value: Option<String>, key: &str, what: &str) -> Result<String, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError::Missing {
            key: key.to_owned(),
            reason: what.to_owned(),
        })
}

fn optional_dn(
    key: &str,
    value: Option<String>,
    env: &Env<'_>,
) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) => Ok(Some(dn(key, &expand(key, &v, env)?)?)),
    }
}

/// A DN as written, trimmed; it must at least look like `attr=value[,...]`.
fn dn(key: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.split(',').all(|rdn| {
            rdn.split_once('=')
                .is_some_and(|(a, v)| !a.trim().is_empty() && !v.trim().is_empty())
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Sourced::key(key, value.to_owned()).invalid("not a DN (attr=value,...)"))
    }
}

/// The LDAPS client configuration when `use_ssl` is on; `ca_file`/`tls_server_name` without
/// it are refused (they would silently do nothing).
fn tls(
    use_ssl: bool,
    ca_file: Option<String>,
    server_name: Option<String>,
    env: &Env<'_>,
) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
    let ca_file = ca_file
        .map(|f| expand("connection.server.ca_file", &f, env))
        .transpose()?
        .filter(|f| !f.trim().is_empty());
    let server_name = server_name
        .map(|n| expand("connection.server.tls_server_name", &n, env))
        .transpose()?
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if !use_ssl {
        for (key, value) in [
            ("connection.server.ca_file", &ca_file),
            ("connection.server.tls_server_name", &server_name),
        ] {
            if let Some(value) = value {
                return Err(Sourced::key(key, value.clone())
                    .invalid("only used with use_ssl: true (LDAPS)"));
            }
        }
        return Ok(None);
    }
    let ca_path = ca_file.as_ref().map(PathBuf::from);
    super::tls::client_config(ca_path.as_deref(), server_name.as_deref())
        .map(Some)
        .map_err(|e| {
            let (key, value) = match (&e, &ca_file, &server_name) {
                (super::tls::TlsConfigError::ServerName(_), _, Some(n)) => {
                    ("connection.server.tls_server_name", n.clone())
                }
                (_, Some(f), _) => ("connection.server.ca_file", f.clone()),
                _ => ("connection.server.use_ssl", "true".to_owned()),
            };
            Sourced::key(key, value).invalid(e.to_string())
        })
}

/// `base_url` is a host name, an IP, `ldap://host` or `ldaps://host` (a port there is refused:
/// use `port`); the scheme, when given, says whether TLS is on.
fn host_of(base_url: &str) -> Result<(String, Option<bool>), String> {
    let trimmed = base_url.trim();
    let (host, tls) = match trimmed.split_once("://") {
        Some(("ldap", rest)) => (rest.trim_end_matches('/'), Some(false)),
        Some(("ldaps", rest)) => (rest.trim_end_matches('/'), Some(true)),
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported scheme {scheme:?} (use a host name, ldap://host or ldaps://host)"
            ));
        }
        None => (trimmed, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err("not a host name".to_owned());
    }
    if host.parse::<std::net::Ipv6Addr>().is_err() && host.contains(':') {
        return Err("put the port in connection.server.port, not in base_url".to_owned());
    }
    Ok((host.to_owned(), tls))
}

fn millis(key: &str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    let ms = value.unwrap_or(u64::try_from(default.as_millis()).unwrap_or(u64::MAX));
    let ms = Sourced::key(key, ms).in_range(1, defaults::MAX_TIMEOUT_MS)?;
    Ok(Duration::from_millis(ms))
}
