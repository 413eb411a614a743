//! Dev credentials: PEM round trips, JWKs, token claims, key directories.

use std::time::Duration;

use nowconnect_auth::keys::{self, KeyAlg, KeyError, SigningKey, TokenRequest};
use nowconnect_auth::{JwksSource, Verifier, VerifierConfig};
use serde_json::Value;

use crate::fixtures::*;

#[test]
fn debug_redacts_private_key() {
    for key in [es(), rs()] {
        let shown = format!("{key:?} {key:#?}");
        assert!(
            shown.contains("redacted") && shown.contains(key.kid()),
            "{shown}"
        );
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let pem = key.to_pem();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "Debug leaks PEM material");
        }
    }
}

#[test]
fn pem_round_trip_keeps_the_key() {
    for key in [es(), rs(), ps()] {
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        let again = SigningKey::from_pem(&pem, key.alg(), key.kid()).unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk());
        assert_eq!((again.alg(), again.kid()), (key.alg(), key.kid()));
    }
    let e = SigningKey::from_pem(&es().to_pem(), KeyAlg::Rs256, "x").unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::InvalidKey {
                alg: KeyAlg::Rs256,
                ..
            }
        ),
        "{e}"
    );
    let e = SigningKey::from_pem(&rs().to_pem(), KeyAlg::Es256, "x").unwrap_err();
    assert!(matches!(e, KeyError::InvalidKey { .. }), "{e}");
    assert!(SigningKey::from_pem("garbage", KeyAlg::Es256, "x").is_err());
    assert!(matches!(
        SigningKey::from_pem(&es().to_pem(), KeyAlg::Es256, ""),
        Err(KeyError::InvalidKid(_))
    ));
}

#[test]
fn short_rsa_keys_are_refused() {
    use rsa::pkcs8::EncodePrivateKey as _;
    let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let pem = small.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let e = SigningKey::from_pem(&pem, KeyAlg::Rs256, "small").unwrap_err();
    assert!(e.to_string().contains("1024 bits"), "{e}");
}

#[test]
fn public_jwk_shape() {
    let ec = es().public_jwk();
    for f in ["kty", "crv", "x", "y", "kid", "alg", "use"] {
        assert!(ec[f].is_string(), "EC {f}");
    }
    assert_eq!(
        (ec["kty"].as_str(), ec["crv"].as_str(), ec["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    let r = ps().public_jwk();
    for f in ["kty", "n", "e", "kid", "alg", "use"] {
        assert!(r[f].is_string(), "RSA {f}");
    }
    assert_eq!(
        (
            r["kty"].as_str(),
            r["alg"].as_str(),
            r["use"].as_str(),
            r["e"].as_str()
        ),
        (Some("RSA"), Some("PS256"), Some("sig"), Some("AQAB"))
    );
    let set = keys::jwks(&[es(), ps()]);
    assert_eq!(set["keys"].as_array().unwrap(), &vec![ec, r]);
}

#[tokio::test]
async fn issued_token_claims() {
    let req = TokenRequest {
        agent_id: "site-7".into(),
        audience: AUD.into(),
        issuer: Some("nowconnect-dev".into()),
        ttl: Duration::from_secs(900),
        connectors: Some(vec!["addomain".into()]),
    };
    let t = es().issue_agent_token(&req).unwrap();
    let c: Value = jsonwebtoken::dangerous::insecure_decode_claims(&t).unwrap();
    let header = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (jsonwebtoken::Algorithm::ES256, Some("es-1"))
    );
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(c["nbf"].as_u64(), Some(iat));
    assert_eq!(c["exp"].as_u64(), Some(iat + 900));
    assert_eq!(
        (
            c["agent_id"].as_str(),
            c["sub"].as_str(),
            c["aud"].as_str(),
            c["iss"].as_str()
        ),
        (
            Some("site-7"),
            Some("site-7"),
            Some(AUD),
            Some("nowconnect-dev")
        )
    );
    assert_eq!(c["connectors"], serde_json::json!(["addomain"]));
    let plain = es()
        .issue_agent_token(&TokenRequest {
            issuer: None,
            connectors: None,
            ..req.clone()
        })
        .unwrap();
    let c: Value = jsonwebtoken::dangerous::insecure_decode_claims(&plain).unwrap();
    assert!(c.get("iss").is_none() && c.get("connectors").is_none());
    let bad = TokenRequest {
        agent_id: " ".into(),
        ..req
    };
    assert!(matches!(
        es().issue_agent_token(&bad),
        Err(KeyError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn init_dir_then_load_dir_then_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys/dev");
    let out = keys::init_dir(&dir, KeyAlg::Es256, "dev-1", false).unwrap();
    assert_eq!((out.kid.as_str(), out.alg), ("dev-1", KeyAlg::Es256));
    assert_eq!(out.key_path, dir.join("signing-key.pem"));
    assert_eq!(out.jwks_path, dir.join("jwks.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out.key_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("signing-key.json")).unwrap())
            .unwrap();
    assert_eq!(meta, serde_json::json!({"kid": "dev-1", "alg": "ES256"}));

    let key = keys::load_dir(&dir).unwrap();
    assert_eq!((key.kid(), key.alg()), ("dev-1", KeyAlg::Es256));
    let v = Verifier::new(
        JwksSource::File(out.jwks_path.clone()),
        VerifierConfig::new(AUD),
    )
    .await
    .unwrap();
    assert_eq!(
        check(&v, &token(&key, "a", 60, None))
            .await
            .unwrap()
            .agent_id,
        "a"
    );

    let e = keys::init_dir(&dir, KeyAlg::Es256, "dev-2", false).unwrap_err();
    assert!(
        matches!(e, KeyError::AlreadyExists { .. }) && e.to_string().contains("signing-key.pem"),
        "{e}"
    );
    assert_eq!(
        keys::load_dir(&dir).unwrap().public_jwk(),
        key.public_jwk(),
        "refusal left the key alone"
    );
    keys::init_dir(&dir, KeyAlg::Es256, "dev-2", true).unwrap();
    let replaced = keys::load_dir(&dir).unwrap();
    assert_eq!(replaced.kid(), "dev-2");
    assert_ne!(replaced.public_jwk()["x"], key.public_jwk()["x"]);
}

#[test]
fn load_dir_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let e = keys::load_dir(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("signing-key.json"), "{e}");
    std::fs::write(
        tmp.path().join("signing-key.json"),
        r#"{"kid": "k", "alg": "HS256"}"#,
    )
    .unwrap();
    let e = keys::load_dir(tmp.path()).unwrap_err();
    assert!(
        e.to_string().contains("signing-key.json") && e.to_string().contains("HS256"),
        "{e}"
    );
    std::fs::write(
        tmp.path().join("signing-key.json"),
        r#"{"kid": "k", "alg": "ES256"}"#,
    )
    .unwrap();
    std::fs::write(tmp.path().join("signing-key.pem"), "not a key").unwrap();
    let e = keys::load_dir(tmp.path()).unwrap_err();
    assert!(
        e.to_string().contains("signing-key.pem") && !e.to_string().contains("not a key"),
        "{e}"
    );
}
