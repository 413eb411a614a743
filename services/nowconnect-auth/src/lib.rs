//! Agent authentication for the NowConnect hub.
//!
//! The premise agent dials one WebSocket to the cloud hub and presents a JWT in
//! `Authorization: Bearer <jwt>` on the upgrade request. This crate decides whether that token
//! is good, and who the agent is:
//!
//! - [`Verifier`] verifies agent JWTs against a JWKS loaded from a file or an HTTP(S) URL
//!   ([`JwksSource`]). Only RS256, PS256 and ES256 are accepted; `none` and HMAC are refused
//!   before anything else is looked at. `aud` must contain the configured audience, `exp` is
//!   required and `nbf` enforced (both with a leeway), `iss` is checked when configured, and the
//!   `agent_id` claim is required. The JWKS is cached; a token whose `kid` is unknown triggers a
//!   rate-limited re-read of the JWKS, so keys can be rotated without restarting the hub.
//! - [`AgentClaims`] is the verified identity: agent id, granted connector scopes, expiry.
//! - [`AuthError`] says why a token was refused; [`AuthError::reason`] is a stable snake_case
//!   word for logs and metric labels. Neither ever contains the token.
//! - [`tls`] loads PEM certificates and keys and builds the rustls client and server
//!   configurations the hub (`wss://`, the JWKS fetch) and the agent (`wss://`) use, on one
//!   crypto provider, TLS 1.2 and 1.3 only.
//! - [`keys`] holds development credentials: generate or load a signing key, publish its JWKS,
//!   issue agent tokens (used by `nowconnect-cloud keys init` / `token issue` and by tests).
//!
//! What it deliberately does not do: it runs no HTTP server and knows nothing about WebSockets
//! (the hub maps an [`AuthError`] to its 401); it makes no per-stream authorization decision
//! (that is the PDP's job in the hub); it does not enforce connector scopes against a HELLO (the
//! hub compares [`AgentClaims::scopes`] when `require_connector_scopes` is on); it never logs
//! tokens or private keys.
//!
//! Decisions an operator may notice:
//! - `Authorization: Basic …` (any non-Bearer scheme) is [`AuthError::Malformed`]; no header,
//!   an empty one or `Bearer` alone is [`AuthError::MissingToken`].
//! - JWKS keys that can never verify an accepted token (`oct`, `OKP`, curves other than P-256,
//!   `use` other than `sig`, a pinned `alg` outside RS256/PS256/ES256, RSA under 2048 bits,
//!   invalid points) are skipped with a `jwks_key_skipped` warning; a JWKS with no usable key
//!   is an error.
//! - [`Verifier::start`] tolerates an unreachable JWKS URL at start-up: it starts without
//!   keys ([`Verifier::is_loaded`] is false, every token gets [`AuthError::Jwks`]) and the
//!   caller retries with [`Verifier::refresh`]. A JWKS file must load.
//! - The first refresh after start-up is never rate-limited; later ones are at most one per
//!   interval, whether they succeed or fail. A failed refresh keeps the cached keys and
//!   answers [`AuthError::Jwks`]. A refresh replaces the cache, so retired keys stop verifying.
//! - A token without `kid` is accepted only if exactly one JWKS key fits its `alg`; if
//!   several fit it is [`AuthError::UnknownKid`]`(None)`.
//! - A leeway above one day is clamped to one day.
//!
//! Crypto: `jsonwebtoken` 11 dispatches through a process-wide crypto provider. Building a
//! [`Verifier`] or signing with a [`keys::SigningKey`] installs the RustCrypto provider as the
//! process default if no provider has been installed yet.

mod error;
mod jwks;
pub mod keys;
pub mod tls;
mod token;
mod verify;

use std::path::PathBuf;
use std::time::Duration;

pub use error::AuthError;
pub use verify::Verifier;

/// Audience the hub expects by default (`security.audience`).
pub const DEFAULT_AUDIENCE: &str = "nowconnect";
/// Clock skew tolerated on `exp` and `nbf` by default.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Minimum time between two JWKS refreshes triggered by unknown key ids.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Timeout of one JWKS fetch over HTTP(S).
pub const JWKS_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local JWKS file (air-gapped and test setups); re-read on refresh.
    File(PathBuf),
    /// An `http://` or `https://` URL, fetched with a [`JWKS_HTTP_TIMEOUT`] timeout.
    Url(String),
}

impl JwksSource {
    /// `http(s)://…` becomes [`JwksSource::Url`]; `file:///p` or a plain path becomes
    /// [`JwksSource::File`]. Scheme matching is case-insensitive.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            JwksSource::Url(s.to_owned())
        } else if lower.starts_with("file://") {
            JwksSource::File(PathBuf::from(&s["file://".len()..]))
        } else {
            JwksSource::File(PathBuf::from(s))
        }
    }
}

impl std::fmt::Display for JwksSource {
    /// Log-safe: URLs lose their userinfo and query string.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(p) => write!(f, "JWKS file {}", p.display()),
            JwksSource::Url(u) => write!(f, "JWKS URL {}", jwks::redact_url(u)),
        }
    }
}

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Required audience: `aud` must equal it, or be a list containing it.
    pub audience: String,
    /// Required issuer; `None` means `iss` is not checked.
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf` (whole seconds are used).
    pub leeway: Duration,
}

impl VerifierConfig {
    /// Config for `audience`, no issuer check, [`DEFAULT_LEEWAY`].
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            issuer: None,
            leeway: DEFAULT_LEEWAY,
        }
    }
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self::new(DEFAULT_AUDIENCE)
    }
}

/// Verified identity of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentClaims {
    /// The `agent_id` claim (non-empty). HELLO's `agent_id` must equal it.
    pub agent_id: String,
    /// Granted connectors from the `connectors` claim (list) and/or `scp` (space-separated
    /// string or list), in token order without duplicates; empty if neither is present.
    pub scopes: Vec<String>,
    /// `exp`, unix seconds. The agent reconnects before this; the hub may use it to bound a session.
    pub expires_at: u64,
}

/// Installs jsonwebtoken's RustCrypto provider as the process default unless one already is.
pub(crate) fn ensure_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_parse() {
        assert_eq!(
            JwksSource::parse("https://idp.example/jwks"),
            JwksSource::Url("https://idp.example/jwks".into())
        );
        assert_eq!(
            JwksSource::parse("HTTP://x/j"),
            JwksSource::Url("HTTP://x/j".into())
        );
        assert_eq!(
            JwksSource::parse("file:///etc/nc/jwks.json"),
            JwksSource::File("/etc/nc/jwks.json".into())
        );
        assert_eq!(
            JwksSource::parse("jwks.json"),
            JwksSource::File("jwks.json".into())
        );
        assert_eq!(
            JwksSource::parse("/a/b.json"),
            JwksSource::File("/a/b.json".into())
        );
    }

    #[test]
    fn source_display_is_log_safe() {
        let s = JwksSource::parse("https://user:pw@idp.example/jwks?token=abc");
        assert_eq!(s.to_string(), "JWKS URL https://idp.example/jwks");
    }

    #[test]
    fn config_defaults() {
        let c = VerifierConfig::default();
        assert_eq!(c.audience, "nowconnect");
        assert_eq!(c.leeway, Duration::from_secs(30));
        assert!(c.issuer.is_none());
    }
}
