//! Shared keys, JWKS files and token builders.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nowconnect_auth::keys::{self, KeyAlg, SigningKey, TokenRequest};
use nowconnect_auth::{AgentClaims, AuthError, JwksSource, Verifier, VerifierConfig};
use serde_json::{Value, json};

pub(crate) const AUD: &str = "nowconnect";

/// ES256 key `es-1`.
pub(crate) fn es() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeyAlg::Es256, "es-1").unwrap())
}

/// RS256 key `rs-1` (RSA 2048).
pub(crate) fn rs() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeyAlg::Rs256, "rs-1").unwrap())
}

/// PS256 key `ps-1` (another RSA 2048 key).
pub(crate) fn ps() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeyAlg::Ps256, "ps-1").unwrap())
}

/// `key`'s private material under another alg and/or kid (no new RSA generation).
pub(crate) fn rekey(key: &SigningKey, alg: KeyAlg, kid: &str) -> SigningKey {
    SigningKey::from_pem(&key.to_pem(), alg, kid).unwrap()
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Standard valid claims for `agent`, expiring in an hour.
pub(crate) fn claims(agent: &str) -> Value {
    let now = now();
    json!({"agent_id": agent, "sub": agent, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600})
}

pub(crate) fn token(
    key: &SigningKey,
    agent: &str,
    ttl_secs: u64,
    connectors: Option<&[&str]>,
) -> String {
    key.issue_agent_token(&TokenRequest {
        agent_id: agent.into(),
        audience: AUD.into(),
        issuer: None,
        ttl: Duration::from_secs(ttl_secs),
        connectors: connectors.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
    })
    .unwrap()
}

pub(crate) fn write_jwks(dir: &Path, keys: &[&SigningKey]) -> PathBuf {
    write_raw(dir, &keys::jwks(keys))
}

pub(crate) fn write_raw(dir: &Path, doc: &Value) -> PathBuf {
    let path = dir.join("jwks.json");
    // Write-then-rename, like an operator rotating keys should.
    let tmp = dir.join("jwks.json.tmp");
    std::fs::write(&tmp, doc.to_string()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A temp dir with a JWKS of `keys` and a verifier on it.
pub(crate) async fn setup(
    keys: &[&SigningKey],
    cfg: VerifierConfig,
) -> (tempfile::TempDir, Verifier) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_jwks(dir.path(), keys);
    let v = Verifier::new(JwksSource::File(path), cfg).await.unwrap();
    (dir, v)
}

/// The three dev keys, audience `nowconnect`, default leeway.
pub(crate) async fn all_keys() -> (tempfile::TempDir, Verifier) {
    setup(&[es(), rs(), ps()], VerifierConfig::new(AUD)).await
}

/// Verifies and asserts the error never echoes the token (or its signature).
pub(crate) async fn check(v: &Verifier, token: &str) -> Result<AgentClaims, AuthError> {
    let r = v.verify(token).await;
    if let Err(e) = &r {
        let shown = format!("{e} {e:?}");
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!shown.contains(part), "error {shown:?} echoes the token");
        }
    }
    r
}
