//! Why a token was refused.

/// Why an agent token was refused.
///
/// `Display` is `<reason>: <detail>`, short and log-safe: it never contains the token. Details
/// that come from the token itself (an `alg` or `kid` value) are truncated and stripped of
/// non-printable characters.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or `Bearer` without a token.
    #[error("missing_token: no bearer token presented")]
    MissingToken,
    /// Not a JWS compact token, bad base64/JSON, a claim of the wrong type, or a non-Bearer scheme.
    #[error("malformed: {0}")]
    Malformed(String),
    /// `alg` is `none`, HMAC, anything but RS256/PS256/ES256, or does not match the selected key.
    #[error("unsupported_alg: {0}")]
    UnsupportedAlg(String),
    /// No key for this `kid` even after a JWKS refresh (or the refresh was rate-limited);
    /// `None` when the token has no `kid` and no single key fits.
    #[error("unknown_kid: {}", match .0 { Some(k) => k.as_str(), None => "token has no kid and no single JWKS key fits" })]
    UnknownKid(Option<String>),
    /// The signature does not verify with the selected key.
    #[error("bad_signature: signature does not verify")]
    BadSignature,
    /// `exp` is in the past by more than the leeway.
    #[error("expired: exp is past (beyond leeway)")]
    Expired,
    /// `nbf` is in the future by more than the leeway.
    #[error("not_yet_valid: nbf is in the future (beyond leeway)")]
    NotYetValid,
    /// `aud` is missing or does not contain the configured audience.
    #[error("wrong_audience: aud does not contain the configured audience")]
    WrongAudience,
    /// An issuer is configured and `iss` is missing or different.
    #[error("wrong_issuer: iss is not the configured issuer")]
    WrongIssuer,
    /// The `agent_id` claim is missing, not a string, or empty.
    #[error("missing_agent_id: agent_id claim missing or empty")]
    MissingAgentId,
    /// The JWKS could not be read, fetched or parsed (names the source and the reason).
    #[error("jwks_unavailable: {0}")]
    Jwks(String),
}

impl AuthError {
    /// Stable snake_case word for logs and metric labels (bounded cardinality).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed(_) => "malformed",
            AuthError::UnsupportedAlg(_) => "unsupported_alg",
            AuthError::UnknownKid(_) => "unknown_kid",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::MissingAgentId => "missing_agent_id",
            AuthError::Jwks(_) => "jwks_unavailable",
        }
    }

    /// Maps a `jsonwebtoken` failure from signature or claim validation.
    pub(crate) fn from_jwt(e: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::ExpiredSignature => AuthError::Expired,
            K::ImmatureSignature => AuthError::NotYetValid,
            K::InvalidAudience => AuthError::WrongAudience,
            K::InvalidIssuer => AuthError::WrongIssuer,
            K::MissingRequiredClaim(c) if c == "aud" => AuthError::WrongAudience,
            K::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
            K::MissingRequiredClaim(c) => AuthError::Malformed(format!("missing {c} claim")),
            K::InvalidClaimFormat(c) => AuthError::Malformed(format!("invalid {c} claim")),
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
                AuthError::UnsupportedAlg("algorithm does not fit the key".into())
            }
            K::InvalidToken => AuthError::Malformed("not a JWS compact token".into()),
            K::Base64(_) => AuthError::Malformed("bad base64url".into()),
            K::Json(_) | K::Utf8(_) => AuthError::Malformed("claims are not a JSON object".into()),
            // InvalidSignature, key-format and provider errors: the token does not verify with
            // this key. Keys are validated when the JWKS is loaded, so this is the signature.
            _ => AuthError::BadSignature,
        }
    }
}

/// Makes an attacker-controlled header value safe to log: printable ASCII, at most 64 chars.
pub(crate) fn sanitize(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX)
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_stable_and_prefix_display() {
        let all = [
            AuthError::MissingToken,
            AuthError::Malformed("x".into()),
            AuthError::UnsupportedAlg("none".into()),
            AuthError::UnknownKid(None),
            AuthError::UnknownKid(Some("k1".into())),
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::WrongAudience,
            AuthError::WrongIssuer,
            AuthError::MissingAgentId,
            AuthError::Jwks("JWKS file /x: not found".into()),
        ];
        for e in &all {
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("{}: ", e.reason())), "{shown}");
        }
        assert_eq!(AuthError::Jwks(String::new()).reason(), "jwks_unavailable");
    }

    #[test]
    fn sanitize_truncates_and_strips() {
        assert_eq!(sanitize("RS\n256\u{1b}"), "RS256");
        let long = "a".repeat(100);
        assert_eq!(sanitize(&long).chars().count(), 65);
    }
}
