//! One worker's LDAP connection: connect and simple-bind, and one (paged) search.

use std::fmt;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};

/// Search scope, as the runner spells it (`base`, `one`, `sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Base,
    One,
    Sub,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "base" => Ok(Scope::Base),
            "one" | "onelevel" => Ok(Scope::One),
            "sub" | "subtree" => Ok(Scope::Sub),
            other => Err(format!("{other:?}: expected base, one or sub")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "base",
            Scope::One => "one",
            Scope::Sub => "sub",
        }
    }

    fn ldap3(self) -> ldap3::Scope {
        match self {
            Scope::Base => ldap3::Scope::Base,
            Scope::One => ldap3::Scope::OneLevel,
            Scope::Sub => ldap3::Scope::Subtree,
        }
    }
}

/// Where to search and as whom. `Debug` leaves the password out.
#[derive(Clone, PartialEq)]
pub struct LdapTarget {
    pub host: String,
    pub port: u16,
    /// LDAPS (TLS from the first byte).
    pub ssl: bool,
    /// With `ssl`: accept any server certificate (test directories with self-signed ones).
    pub insecure: bool,
    /// Empty = anonymous (no bind).
    pub bind_dn: String,
    pub password: String,
    pub base_dn: String,
    /// Checked with `ldap3::parse_filter` before a run (ldap3 panics on one it cannot parse).
    pub filter: String,
    /// Empty = all user attributes.
    pub attrs: Vec<String>,
    pub scope: Scope,
    /// Entries per page (simple paged results control); 0 = one unpaged search.
    pub page_size: u32,
}

impl fmt::Debug for LdapTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapTarget")
            .field("url", &self.url())
            .field("insecure", &self.insecure)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"<redacted>")
            .field("base_dn", &self.base_dn)
            .field("filter", &self.filter)
            .field("attrs", &self.attrs)
            .field("scope", &self.scope)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl LdapTarget {
    /// `ldap://host:port` or `ldaps://host:port` (IPv6 literals bracketed).
    pub fn url(&self) -> String {
        let scheme = if self.ssl { "ldaps" } else { "ldap" };
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Why a request (or a worker's connect) failed; `broken` = drop the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: String,
    pub(crate) broken: bool,
}

impl Failure {
    fn from_ldap(op: &str, e: &LdapError) -> Failure {
        match e {
            LdapError::LdapResult { result } => Failure {
                kind: format!("{op} rc={}", result.rc),
                broken: false,
            },
            LdapError::Timeout { .. } => Failure::timeout(op),
            _ => Failure {
                kind: format!("{op} transport"),
                broken: true,
            },
        }
    }

    pub(crate) fn timeout(op: &str) -> Failure {
        Failure {
            kind: format!("{op} timeout"),
            broken: true,
        }
    }
}

/// TCP (or TLS) connect and, unless anonymous, a simple bind; all within `timeout`.
pub(crate) async fn connect(t: &LdapTarget, timeout: Duration) -> Result<Ldap, Failure> {
    let attempt = async {
        let mut settings = LdapConnSettings::new().set_conn_timeout(timeout);
        if t.insecure {
            settings = settings.set_no_tls_verify(true);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &t.url())
            .await
            .map_err(|e| Failure::from_ldap("connect", &e))?;
        tokio::spawn(async move {
            // The connection ends when every handle is dropped or the server closes it.
            let _ = conn.drive().await;
        });
        if !t.bind_dn.is_empty() {
            let res = ldap
                .with_timeout(timeout)
                .simple_bind(&t.bind_dn, &t.password)
                .await
                .map_err(|e| Failure::from_ldap("bind", &e))?;
            if res.rc != 0 {
                return Err(Failure {
                    kind: format!("bind rc={}", res.rc),
                    broken: true,
                });
            }
        }
        Ok(ldap)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(Failure::timeout("connect")),
    }
}

/// One whole search (every page); the number of entries returned.
pub(crate) async fn search(
    ldap: &mut Ldap,
    t: &LdapTarget,
    timeout: Duration,
) -> Result<u64, Failure> {
    let attempt = async {
        let mut adapters: Vec<Box<dyn Adapter<_, _>>> = vec![Box::new(EntriesOnly::new())];
        if t.page_size > 0 {
            let page = i32::try_from(t.page_size).unwrap_or(i32::MAX);
            adapters.push(Box::new(PagedResults::new(page)));
        }
        let attrs: Vec<&str> = t.attrs.iter().map(String::as_str).collect();
        let mut stream = ldap
            .streaming_search_with(adapters, &t.base_dn, t.scope.ldap3(), &t.filter, attrs)
            .await
            .map_err(|e| Failure::from_ldap("search", &e))?;
        let mut entries = 0u64;
        loop {
            match stream.next().await {
                Ok(Some(_)) => entries += 1,
                Ok(None) => break,
                Err(e) => return Err(Failure::from_ldap("search", &e)),
            }
        }
        let done = stream.finish().await;
        if done.rc != 0 {
            return Err(Failure {
                kind: format!("search rc={}", done.rc),
                broken: false,
            });
        }
        Ok(entries)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(Failure::timeout("search")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn target() -> LdapTarget {
        LdapTarget {
            host: "127.0.0.1".into(),
            port: 389,
            ssl: false,
            insecure: false,
            bind_dn: "cn=admin".into(),
            password: "s3cret-pw".into(),
            base_dn: "dc=x".into(),
            filter: "(objectClass=*)".into(),
            attrs: vec![],
            scope: Scope::Sub,
            page_size: 0,
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let text = format!("{:?}", target());
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("cn=admin"),
            "{text}"
        );
    }

    #[test]
    fn urls_and_scopes() {
        let mut t = target();
        assert_eq!(t.url(), "ldap://127.0.0.1:389");
        t.ssl = true;
        t.host = "::1".into();
        t.port = 636;
        assert_eq!(t.url(), "ldaps://[::1]:636");
        assert_eq!(Scope::parse("SUB").unwrap(), Scope::Sub);
        assert_eq!(Scope::parse("onelevel").unwrap(), Scope::One);
        assert_eq!(Scope::parse("base").unwrap().as_str(), "base");
        assert!(
            Scope::parse("tree")
                .unwrap_err()
                .contains("base, one or sub")
        );
    }
}
