//! Token-level parsing that must happen before (header, bearer) or after (claims) the
//! signature check. Pure functions, no keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::error::sanitize;
use crate::{AgentClaims, AuthError};

/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The parts of the JOSE header that decide which key to use.
#[derive(Debug)]
pub(crate) struct TokenHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Extracts the token from an `Authorization` header value (`Bearer <jwt>`, scheme
/// case-insensitive).
pub(crate) fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(format!(
            "Authorization scheme {:?} is not Bearer",
            sanitize(&scheme.chars().take(16).collect::<String>())
        )));
    }
    match rest.trim() {
        "" => Err(AuthError::MissingToken),
        token => Ok(token),
    }
}

/// Decodes the JOSE header and checks `alg` first: only RS256, PS256 and ES256 pass.
pub(crate) fn header(token: &str) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed(format!(
            "token longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "not a JWS compact token (need 3 dot-separated parts)".into(),
        ));
    };
    let raw = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let json: Value = serde_json::from_slice(&raw)
        .map_err(|_| AuthError::Malformed("header is not JSON".into()))?;
    let Value::Object(fields) = json else {
        return Err(AuthError::Malformed("header is not a JSON object".into()));
    };
    let alg = match fields.get("alg") {
        Some(Value::String(a)) => check_alg(a)?,
        Some(_) => return Err(AuthError::Malformed("header alg is not a string".into())),
        None => return Err(AuthError::Malformed("header has no alg".into())),
    };
    let kid = match fields.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(AuthError::Malformed("header kid is not a string".into())),
    };
    Ok(TokenHeader { alg, kid })
}

fn check_alg(alg: &str) -> Result<Algorithm, AuthError> {
    match alg {
        "RS256" => Ok(Algorithm::RS256),
        "PS256" => Ok(Algorithm::PS256),
        "ES256" => Ok(Algorithm::ES256),
        a if a.eq_ignore_ascii_case("none") => Err(AuthError::UnsupportedAlg("none".into())),
        a if a.len() >= 2 && a[..2].eq_ignore_ascii_case("hs") => Err(AuthError::UnsupportedAlg(
            format!("{} (HMAC is not accepted)", sanitize(a)),
        )),
        a => Err(AuthError::UnsupportedAlg(sanitize(a))),
    }
}

/// Builds the identity from signature-verified, time/aud/iss-validated claims.
pub(crate) fn agent_claims(claims: &Value) -> Result<AgentClaims, AuthError> {
    let agent_id = match claims.get("agent_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        _ => return Err(AuthError::MissingAgentId),
    };
    let expires_at = claims
        .get("exp")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
        })
        .ok_or_else(|| AuthError::Malformed("invalid exp claim".into()))?;
    let mut scopes: Vec<String> = Vec::new();
    let mut grant = |s: &str| {
        if !s.is_empty() && !scopes.iter().any(|have| have == s) {
            scopes.push(s.to_owned());
        }
    };
    if let Some(Value::Array(list)) = claims.get("connectors") {
        list.iter().filter_map(Value::as_str).for_each(&mut grant);
    }
    match claims.get("scp") {
        Some(Value::String(s)) => s.split_whitespace().for_each(&mut grant),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).for_each(&mut grant),
        _ => {}
    }
    Ok(AgentClaims {
        agent_id,
        scopes,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tok(header: &Value) -> String {
        format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer(Some("bearer   abc  ")).ok(), Some("abc"));
        assert_eq!(bearer(Some("BEARER\tabc")).ok(), Some("abc"));
        assert!(matches!(bearer(None), Err(AuthError::MissingToken)));
        assert!(matches!(bearer(Some("  ")), Err(AuthError::MissingToken)));
        assert!(matches!(
            bearer(Some("Bearer")),
            Err(AuthError::MissingToken)
        ));
        assert!(matches!(
            bearer(Some("Bearer   ")),
            Err(AuthError::MissingToken)
        ));
        assert!(matches!(
            bearer(Some("Basic x")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer(Some("Bearerabc")),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn header_alg_gate() {
        for (alg, ok) in [
            ("RS256", true),
            ("PS256", true),
            ("ES256", true),
            ("none", false),
            ("None", false),
            ("HS256", false),
            ("HS384", false),
            ("HS512", false),
            ("RS512", false),
            ("EdDSA", false),
            ("ES384", false),
        ] {
            let r = header(&tok(&json!({"alg": alg, "kid": "k"})));
            assert_eq!(r.is_ok(), ok, "{alg}");
            if !ok {
                assert!(matches!(r, Err(AuthError::UnsupportedAlg(_))), "{alg}");
            }
        }
        let h = header(&tok(&json!({"alg": "ES256"}))).unwrap();
        assert_eq!((h.alg, h.kid), (Algorithm::ES256, None));
    }

    #[test]
    fn header_malformed() {
        for t in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!.e30.x",
            &tok(&json!([1])),
            &tok(&json!({"alg": 5})),
            &tok(&json!({"typ": "JWT"})),
            &tok(&json!({"alg": "RS256", "kid": 7})),
        ] {
            assert!(matches!(header(t), Err(AuthError::Malformed(_))), "{t}");
        }
        assert!(matches!(
            header(&"a".repeat(20_000)),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn claims_scopes_and_agent_id() {
        let c = agent_claims(
            &json!({"agent_id": "a1", "exp": 10, "connectors": ["ad", "pg"], "scp": "pg ssh  ad"}),
        )
        .unwrap();
        assert_eq!(
            c,
            AgentClaims {
                agent_id: "a1".into(),
                scopes: vec!["ad".into(), "pg".into(), "ssh".into()],
                expires_at: 10
            }
        );
        let c =
            agent_claims(&json!({"agent_id": "a1", "exp": 10.4, "scp": ["x", 3, "y"]})).unwrap();
        assert_eq!(
            (c.scopes, c.expires_at),
            (vec!["x".to_owned(), "y".to_owned()], 10)
        );
        assert!(
            agent_claims(&json!({"agent_id": "a1", "exp": 1}))
                .unwrap()
                .scopes
                .is_empty()
        );
        for bad in [
            json!({"exp": 1}),
            json!({"agent_id": "", "exp": 1}),
            json!({"agent_id": 5, "exp": 1}),
        ] {
            assert!(matches!(agent_claims(&bad), Err(AuthError::MissingAgentId)));
        }
    }
}
