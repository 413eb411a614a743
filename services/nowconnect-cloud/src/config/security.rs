//! The `security` section: where agent keys come from and which clients may connect.

use std::net::IpAddr;
use std::time::Duration;

use nowconnect_config::{Env, Sourced, boolean, int, text};

use super::env::*;
use super::raw::RawSecurity;
use super::{ConfigError, SecurityConfig, defaults};

/// URL schemes accepted for `security.jwks_url`; anything without `://` is a path.
const JWKS_SCHEMES: [&str; 3] = ["http", "https", "file"];

pub(super) fn build(raw: RawSecurity, env: &Env<'_>) -> Result<SecurityConfig, ConfigError> {
    let jwks = env
        .layer(NOWCONNECT_JWKS_URL, text, "security.jwks_url", raw.jwks_url)?
        .filter(|j| !j.value.trim().is_empty())
        .ok_or_else(|| ConfigError::Missing {
            key: "security.jwks_url".to_owned(),
            reason: format!(
                "required (URL or path of the agents' JWKS; or set {NOWCONNECT_JWKS_URL})"
            ),
        })?
        .ensure(
            |j| jwks_ok(j),
            "unsupported scheme (use http://, https://, file:// or a path)",
        )?;
    let jwks_ca_bundle = env
        .layer(
            NOWCONNECT_JWKS_CA_BUNDLE,
            text,
            "security.jwks_ca_bundle",
            raw.jwks_ca_bundle,
        )?
        .map(|c| c.value.trim().to_owned())
        .filter(|c| !c.is_empty())
        .map(std::path::PathBuf::from);
    let audience = env
        .layer_or(
            NOWCONNECT_AUDIENCE,
            text,
            "security.audience",
            raw.audience,
            defaults::AUDIENCE.to_owned(),
        )?
        .ensure(|a| !a.trim().is_empty(), "must not be empty")?;
    let issuer = env
        .layer_keep_empty(NOWCONNECT_ISSUER, "security.issuer", raw.issuer)
        .map(|i| i.value)
        .filter(|i| !i.is_empty());
    let scopes = env.layer_or(
        NOWCONNECT_REQUIRE_CONNECTOR_SCOPES,
        boolean,
        "security.require_connector_scopes",
        raw.require_connector_scopes,
        defaults::REQUIRE_CONNECTOR_SCOPES,
    )?;
    let fapi = env.layer_or(
        NOWCONNECT_FAPI_MODE,
        int,
        "security.fapi_mode",
        raw.fapi_mode,
        defaults::FAPI_MODE,
    )?;
    let mut allow_cidrs = Vec::new();
    for (i, cidr) in raw.allow_cidrs.unwrap_or_default().into_iter().enumerate() {
        let cidr = Sourced::key(
            &format!("security.allow_cidrs[{i}]"),
            cidr.trim().to_owned(),
        );
        cidr.value
            .parse::<Cidr>()
            .map_err(|reason| cidr.invalid(reason))?;
        allow_cidrs.push(cidr.value);
    }
    Ok(SecurityConfig {
        jwks,
        jwks_ca_bundle,
        audience,
        issuer,
        leeway: Duration::from_secs(raw.leeway_sec.unwrap_or(defaults::LEEWAY_SEC)),
        allow_cidrs,
        require_connector_scopes: scopes.value,
        fapi_mode: fapi.value,
    })
}

fn jwks_ok(jwks: &str) -> bool {
    match jwks.split_once("://") {
        None => true,
        Some((scheme, rest)) => {
            JWKS_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) && !rest.is_empty()
        }
    }
}

/// An IPv4/IPv6 network (`10.0.0.0/8`, `fd00::/8`) or a single address (`192.0.2.7`).
///
/// Host bits below the prefix are tolerated (`10.1.2.3/8` means `10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "not an IP address or CIDR".to_owned())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("prefix length must be 0..={max}")),
            },
        };
        Ok(Self { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn parses_networks_and_addresses() {
        assert_eq!("10.0.0.0/8".parse::<Cidr>().map(|c| c.prefix), Ok(8));
        assert_eq!("192.0.2.7".parse::<Cidr>().map(|c| c.prefix), Ok(32));
        assert_eq!("fd00::/8".parse::<Cidr>().map(|c| c.prefix), Ok(8));
        assert_eq!("::1".parse::<Cidr>().map(|c| c.prefix), Ok(128));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0/".parse::<Cidr>().is_err());
        assert!("10.0.0.0/+8".parse::<Cidr>().is_err());
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("fd00::/129".parse::<Cidr>().is_err());
        assert!("example.com".parse::<Cidr>().is_err());
    }
}
