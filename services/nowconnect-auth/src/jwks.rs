//! JWKS loading (file or HTTP(S)) and key selection by `kid` and algorithm.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use rsa::traits::PublicKeyParts as _;
use serde_json::Value;

use crate::{AuthError, JwksSource};

/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// RSA keys with a shorter modulus are ignored.
const MIN_RSA_BITS: usize = 2048;

/// Key type as far as verification cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (KeyKind::Rsa, Algorithm::RS256 | Algorithm::PS256) | (KeyKind::P256, Algorithm::ES256)
        )
    }
}

/// One usable verification key from the JWKS.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, if it names one; the token's `alg` must then be the same.
    alg: Option<Algorithm>,
    pub(crate) decoding: DecodingKey,
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// Outcome of looking a token's key up in a [`KeySet`].
#[derive(Debug)]
pub(crate) enum Selection {
    Found(Arc<Key>),
    /// Nothing with this kid (or, without a kid, no key of a fitting type): worth a refresh.
    NotFound,
    /// No kid and several keys fit: the token must name one.
    Ambiguous,
    /// A key has this kid but is of another type or pinned to another `alg`.
    AlgMismatch,
}

/// The usable keys of one JWKS document.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<Key>>,
}

impl KeySet {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn select(&self, alg: Algorithm, kid: Option<&str>) -> Selection {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Selection::NotFound;
                }
                named
                    .find(|k| k.fits(alg))
                    .map_or(Selection::AlgMismatch, |k| Selection::Found(Arc::clone(k)))
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Selection::Found(Arc::clone(k)),
                    (None, _) => Selection::NotFound,
                    (Some(_), Some(_)) => Selection::Ambiguous,
                }
            }
        }
    }
}

/// Reads and parses the JWKS. Errors name the source and the reason.
pub(crate) async fn load(
    source: &JwksSource,
    http: Option<&reqwest::Client>,
) -> Result<KeySet, AuthError> {
    let fail = |reason: String| AuthError::Jwks(format!("{source}: {reason}"));
    let bytes = match source {
        JwksSource::File(path) => tokio::fs::read(path)
            .await
            .map_err(|e| fail(e.to_string()))?,
        JwksSource::Url(url) => {
            let client = http.ok_or_else(|| fail("no HTTP client".into()))?;
            fetch(client, url).await.map_err(fail)?
        }
    };
    parse(&bytes).map_err(fail)
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let resp = client.get(url).send().await.map_err(http_error)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    Ok(resp.bytes().await.map_err(http_error)?.to_vec())
}

/// A reqwest error as one line, without the URL (it may carry credentials in its query).
fn http_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {}s", crate::JWKS_HTTP_TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut out = e.to_string();
    // reqwest's top-level message is generic ("error sending request"); append the causes.
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Parses a JWKS document. Keys that cannot verify RS256/PS256/ES256 tokens (other types,
/// `use` other than `sig`, other pinned `alg`, invalid or short keys) are skipped with a
/// warning; a document with no usable key at all is an error.
pub(crate) fn parse(bytes: &[u8]) -> Result<KeySet, String> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    let mut set = KeySet::default();
    let mut skipped = Vec::new();
    for (i, jwk) in entries.iter().enumerate() {
        match parse_key(jwk) {
            Ok(key) => set.keys.push(Arc::new(key)),
            Err(reason) => {
                let kid = jwk
                    .get("kid")
                    .and_then(Value::as_str)
                    .map(crate::error::sanitize);
                tracing::warn!(index = i, kid = kid.as_deref(), reason = %reason, "jwks_key_skipped");
                skipped.push(reason);
            }
        }
    }
    if set.keys.is_empty() {
        return Err(match skipped.first() {
            None => "no keys".to_owned(),
            Some(first) => format!("no usable keys ({} skipped; first: {first})", skipped.len()),
        });
    }
    Ok(set)
}

fn parse_key(jwk: &Value) -> Result<Key, String> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if let Some(usage) = field("use")
        && usage != "sig"
    {
        return Err(format!("use is {usage:?}, not \"sig\""));
    }
    let alg = match field("alg") {
        None => None,
        Some("RS256") => Some(Algorithm::RS256),
        Some("PS256") => Some(Algorithm::PS256),
        Some("ES256") => Some(Algorithm::ES256),
        Some(other) => {
            return Err(format!(
                "alg {:?} is not accepted",
                crate::error::sanitize(other)
            ));
        }
    };
    let (kind, decoding) = match field("kty") {
        Some("RSA") => (KeyKind::Rsa, rsa_key(field("n"), field("e"))?),
        Some("EC") => match field("crv") {
            Some("P-256") => (KeyKind::P256, p256_key(field("x"), field("y"))?),
            other => return Err(format!("EC curve {other:?} is not P-256")),
        },
        other => return Err(format!("kty {other:?} is not RSA or EC")),
    };
    if let Some(a) = alg
        && !kind.fits(a)
    {
        return Err(format!("alg {a:?} does not fit kty {kind:?}"));
    }
    let kid = field("kid").map(str::to_owned);
    Ok(Key {
        kid,
        kind,
        alg,
        decoding,
    })
}

fn b64(name: &str, v: Option<&str>) -> Result<Vec<u8>, String> {
    let v = v.ok_or_else(|| format!("missing {name}"))?;
    URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|e| format!("{name}: {e}"))
}

fn rsa_key(n: Option<&str>, e: Option<&str>) -> Result<DecodingKey, String> {
    let (n, e) = (b64("n", n)?, b64("e", e)?);
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .map_err(|err| format!("invalid RSA key: {err}"))?;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA modulus is {bits} bits, minimum {MIN_RSA_BITS}"
        ));
    }
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

fn p256_key(x: Option<&str>, y: Option<&str>) -> Result<DecodingKey, String> {
    let (x, y) = (b64("x", x)?, b64("y", y)?);
    if x.len() != 32 || y.len() != 32 {
        return Err("P-256 coordinates must be 32 bytes".into());
    }
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    p256::PublicKey::from_sec1_bytes(&point).map_err(|_| "point is not on P-256".to_owned())?;
    DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(&x), &URL_SAFE_NO_PAD.encode(&y))
        .map_err(|e| format!("EC key: {e}"))
}

/// A URL without userinfo, query or fragment, for logs and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}
