//! Development credentials: signing keys, their JWKS, and agent tokens.
//!
//! Used by `nowconnect-cloud keys init` / `token issue` and by tests. A [`SigningKey`] is an
//! ES256 (P-256) or RSA-2048 (RS256/PS256) private key with a `kid`; [`init_dir`] writes one
//! to a directory together with the JWKS a hub verifies against, [`load_dir`] reads it back.
//! Production deployments normally use their identity provider's JWKS instead.

mod dir;
mod signing;

use std::path::PathBuf;

pub use dir::{InitOutcome, JWKS_FILE, KEY_FILE, META_FILE, init_dir, load_dir};
pub use signing::{SigningKey, TokenRequest, jwks};

/// Signature algorithm of a [`SigningKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA 2048).
    Rs256,
    /// RSASSA-PSS with SHA-256 (RSA 2048).
    Ps256,
}

impl KeyAlg {
    /// The JOSE name: `ES256`, `RS256` or `PS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Es256 => "ES256",
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Ps256 => "PS256",
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            KeyAlg::Es256 => jsonwebtoken::Algorithm::ES256,
            KeyAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            KeyAlg::Ps256 => jsonwebtoken::Algorithm::PS256,
        }
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, KeyAlg::Rs256 | KeyAlg::Ps256)
    }
}

impl std::fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlg {
    type Err = KeyError;

    /// Case-insensitive `ES256`, `RS256` or `PS256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ES256" => Ok(KeyAlg::Es256),
            "RS256" => Ok(KeyAlg::Rs256),
            "PS256" => Ok(KeyAlg::Ps256),
            _ => Err(KeyError::UnknownAlg(crate::error::sanitize(s))),
        }
    }
}

/// Why a key operation failed. One line; names the file when there is one; never contains
/// key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown key algorithm {0:?} (expected ES256, RS256 or PS256)")]
    UnknownAlg(String),
    #[error("invalid kid {0:?}: must be 1-128 printable ASCII characters")]
    InvalidKid(String),
    #[error("generating an {alg} key failed: {reason}")]
    Generate { alg: KeyAlg, reason: String },
    #[error("invalid {alg} private key: {reason}")]
    InvalidKey { alg: KeyAlg, reason: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("invalid token request: {0}")]
    InvalidRequest(String),
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{}: a signing key already exists; refusing to overwrite it without force", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    InvalidFile { path: PathBuf, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_parse_and_display() {
        for (s, a) in [
            ("ES256", KeyAlg::Es256),
            ("es256", KeyAlg::Es256),
            ("Rs256", KeyAlg::Rs256),
            ("ps256", KeyAlg::Ps256),
        ] {
            assert_eq!(s.parse::<KeyAlg>().unwrap(), a);
            assert_eq!(a.to_string(), s.to_ascii_uppercase());
        }
        for bad in ["HS256", "none", "", "ES384"] {
            assert!(
                matches!(bad.parse::<KeyAlg>(), Err(KeyError::UnknownAlg(_))),
                "{bad}"
            );
        }
    }
}
