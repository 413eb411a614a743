//! Algorithm gate and key selection: `none`, HMAC, other algorithms, key/alg mismatches, kid-less tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nowconnect_auth::keys::KeyAlg;
use nowconnect_auth::{AuthError, VerifierConfig};
use serde_json::{Value, json};

use crate::fixtures::*;

fn hand_built(header: &Value, claims: &Value, sig: &str) -> String {
    let b = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{sig}", b(header), b(claims))
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let (_dir, v) = all_keys().await;
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": "es-1", "typ": "JWT"}),
        json!({"alg": "NONE"}),
    ] {
        let t = hand_built(&header, &claims("a"), "");
        let e = check(&v, &t).await.unwrap_err();
        assert!(matches!(e, AuthError::UnsupportedAlg(_)), "{header}: {e}");
    }
}

#[tokio::test]
async fn hmac_is_rejected_whatever_the_secret() {
    let (_dir, v) = all_keys().await;
    let jwk = es().public_jwk();
    let rsa_jwk = rs().public_jwk();
    let secrets: Vec<Vec<u8>> = vec![
        jwk.to_string().into_bytes(),
        keys_json_bytes(&[es(), rs(), ps()]),
        URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
        URL_SAFE_NO_PAD
            .decode(rsa_jwk["n"].as_str().unwrap())
            .unwrap(),
        b"any secret".to_vec(),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for (i, secret) in secrets.iter().enumerate() {
            let mut h = Header::new(alg);
            h.kid = Some(if i == 3 { "rs-1" } else { "es-1" }.into());
            let t =
                jsonwebtoken::encode(&h, &claims("a"), &EncodingKey::from_secret(secret)).unwrap();
            let e = check(&v, &t).await.unwrap_err();
            assert!(
                matches!(e, AuthError::UnsupportedAlg(_)),
                "{alg:?}/{i}: {e}"
            );
        }
    }
}

fn keys_json_bytes(keys: &[&nowconnect_auth::keys::SigningKey]) -> Vec<u8> {
    nowconnect_auth::keys::jwks(keys).to_string().into_bytes()
}

#[tokio::test]
async fn other_algs_and_key_mismatches_are_rejected() {
    let (_dir, v) = all_keys().await;
    // RS256 over the EC key's kid: the key type does not fit.
    let t = token(&rekey(rs(), KeyAlg::Rs256, "es-1"), "a", 600, None);
    assert!(matches!(
        check(&v, &t).await,
        Err(AuthError::UnsupportedAlg(_))
    ));
    // PS256 with the RS256-pinned key: same RSA material, but the JWK says alg RS256.
    let t = token(&rekey(rs(), KeyAlg::Ps256, "rs-1"), "a", 600, None);
    assert!(matches!(
        check(&v, &t).await,
        Err(AuthError::UnsupportedAlg(_))
    ));
    for alg in ["RS512", "ES384", "EdDSA", "rs256"] {
        let t = hand_built(&json!({"alg": alg, "kid": "rs-1"}), &claims("a"), "c2ln");
        assert!(
            matches!(check(&v, &t).await, Err(AuthError::UnsupportedAlg(_))),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn token_without_kid_uses_the_single_fitting_key() {
    let (_dir, v) = setup(&[es(), rs()], VerifierConfig::new(AUD)).await;
    let sign_no_kid = |key: &nowconnect_auth::keys::SigningKey, alg: Algorithm| {
        let enc = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(key.to_pem().as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap(),
        };
        jsonwebtoken::encode(&Header::new(alg), &claims("a"), &enc).unwrap()
    };
    assert!(
        check(&v, &sign_no_kid(es(), Algorithm::ES256))
            .await
            .is_ok()
    );
    assert!(
        check(&v, &sign_no_kid(rs(), Algorithm::RS256))
            .await
            .is_ok()
    );
    // Two EC keys: a kid-less ES256 token is ambiguous.
    let es2 = nowconnect_auth::keys::SigningKey::generate(KeyAlg::Es256, "es-2").unwrap();
    let (_dir2, v2) = setup(&[es(), &es2], VerifierConfig::new(AUD)).await;
    assert!(matches!(
        check(&v2, &sign_no_kid(es(), Algorithm::ES256)).await,
        Err(AuthError::UnknownKid(None))
    ));
}
