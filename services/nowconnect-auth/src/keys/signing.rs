//! [`SigningKey`]: generate, load/save PKCS#8 PEM, publish as JWK, sign tokens.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use super::{KeyAlg, KeyError};

/// RSA modulus size for generated keys, and the minimum accepted when loading one.
const RSA_BITS: usize = 2048;

/// A private signing key with its `kid`. `Debug` redacts the key material.
#[derive(Clone)]
pub struct SigningKey {
    alg: KeyAlg,
    kid: String,
    /// PKCS#8 PEM, kept for [`SigningKey::to_pem`]; zeroed on drop.
    pem: Zeroizing<String>,
    encoding: EncodingKey,
    public_jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// What an agent token says. See [`SigningKey::issue_agent_token`].
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub agent_id: String,
    pub audience: String,
    pub issuer: Option<String>,
    /// Lifetime: `exp` = now + ttl (whole seconds).
    pub ttl: Duration,
    /// Granted connectors (the `connectors` claim); omitted when `None`.
    pub connectors: Option<Vec<String>>,
}

impl SigningKey {
    /// A fresh key: P-256 for ES256, RSA 2048 for RS256/PS256.
    pub fn generate(alg: KeyAlg, kid: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let generate = |reason: String| KeyError::Generate { alg, reason };
        if alg.is_rsa() {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                .map_err(|e| generate(e.to_string()))?;
            Self::from_rsa(alg, kid, &key)
        } else {
            Self::from_p256(kid, &p256::SecretKey::random(&mut OsRng))
        }
    }

    /// Loads a PKCS#8 PEM private key (`BEGIN PRIVATE KEY`). SEC1 (`BEGIN EC PRIVATE KEY`)
    /// and PKCS#1 (`BEGIN RSA PRIVATE KEY`) are accepted too. RSA keys must be ≥ 2048 bits.
    pub fn from_pem(pem: &str, alg: KeyAlg, kid: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let invalid = |reason: String| KeyError::InvalidKey { alg, reason };
        if alg.is_rsa() {
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
                .or_else(|e| rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| e))
                .map_err(|e| invalid(format!("not a PKCS#8 PEM RSA private key ({e})")))?;
            let bits = key.n().bits();
            if bits < RSA_BITS {
                return Err(invalid(format!(
                    "RSA key is {bits} bits; at least {RSA_BITS} required"
                )));
            }
            Self::from_rsa(alg, kid, &key)
        } else {
            let key = p256::SecretKey::from_pkcs8_pem(pem)
                .or_else(|e| p256::SecretKey::from_sec1_pem(pem).map_err(|_| e))
                .map_err(|e| invalid(format!("not a PKCS#8 PEM P-256 private key ({e})")))?;
            Self::from_p256(kid, &key)
        }
    }

    fn from_rsa(alg: KeyAlg, kid: &str, key: &rsa::RsaPrivateKey) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::InvalidKey { alg, reason };
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| invalid(e.to_string()))?;
        let der = key.to_pkcs1_der().map_err(|e| invalid(e.to_string()))?;
        let public_jwk = json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            "kid": kid,
            "alg": alg.as_str(),
            "use": "sig",
        });
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        Ok(Self {
            alg,
            kid: kid.to_owned(),
            pem,
            encoding,
            public_jwk,
        })
    }

    fn from_p256(kid: &str, key: &p256::SecretKey) -> Result<Self, KeyError> {
        let alg = KeyAlg::Es256;
        let invalid = |reason: String| KeyError::InvalidKey { alg, reason };
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| invalid(e.to_string()))?;
        let der = key.to_pkcs8_der().map_err(|e| invalid(e.to_string()))?;
        let point = key.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(invalid("public key is not an affine point".into()));
        };
        let public_jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
            "kid": kid,
            "alg": alg.as_str(),
            "use": "sig",
        });
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        Ok(Self {
            alg,
            kid: kid.to_owned(),
            pem,
            encoding,
            public_jwk,
        })
    }

    /// The private key as PKCS#8 PEM. Treat as a secret.
    pub fn to_pem(&self) -> String {
        self.pem.as_str().to_owned()
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// The public half as a JWK: `kty`, `crv`/`x`/`y` or `n`/`e`, `kid`, `alg`, `use: "sig"`.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// Signs arbitrary claims with this key's alg and a `kid` header.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        crate::ensure_crypto_provider();
        let mut header = Header::new(self.alg.jwt());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The standard agent token: `agent_id`, `sub` (= agent_id), `aud`, `iat`, `nbf` (now),
    /// `exp` (now + ttl), optional `iss` and `connectors`.
    pub fn issue_agent_token(&self, req: &TokenRequest) -> Result<String, KeyError> {
        if req.agent_id.trim().is_empty() {
            return Err(KeyError::InvalidRequest(
                "agent_id must not be empty".into(),
            ));
        }
        if req.audience.trim().is_empty() {
            return Err(KeyError::InvalidRequest(
                "audience must not be empty".into(),
            ));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = json!({
            "agent_id": req.agent_id,
            "sub": req.agent_id,
            "aud": req.audience,
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(req.ttl.as_secs()),
        });
        if let Some(iss) = &req.issuer {
            claims["iss"] = json!(iss);
        }
        if let Some(connectors) = &req.connectors {
            claims["connectors"] = json!(connectors);
        }
        self.sign(&claims)
    }
}

/// A JWKS document `{"keys": [...]}` with the public halves of `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty() && kid.len() <= 128 && kid.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKid(crate::error::sanitize(kid)))
    }
}
