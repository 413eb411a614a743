//! Key rotation: an unknown kid re-reads the JWKS, rate-limited.

use std::time::Duration;

use nowconnect_auth::keys::{KeyAlg, SigningKey};
use nowconnect_auth::{AuthError, JwksSource, Verifier, VerifierConfig};

use crate::fixtures::*;

fn new_es(kid: &str) -> SigningKey {
    SigningKey::generate(KeyAlg::Es256, kid).unwrap()
}

#[tokio::test]
async fn unknown_kid_rereads_the_jwks_file() {
    let (dir, v) = setup(&[es()], VerifierConfig::new(AUD)).await;
    let v = v.with_refresh_interval(Duration::ZERO);
    let (k2, k3) = (new_es("rot-2"), new_es("rot-3"));
    let t2 = token(&k2, "a", 600, None);
    assert!(matches!(check(&v, &t2).await, Err(AuthError::UnknownKid(Some(k))) if k == "rot-2"));

    write_jwks(dir.path(), &[es(), &k2]);
    assert_eq!(check(&v, &t2).await.unwrap().agent_id, "a");
    write_jwks(dir.path(), &[&k2, &k3]);
    let clone = v.clone();
    assert!(
        check(&clone, &token(&k3, "a", 600, None)).await.is_ok(),
        "clones share the cache"
    );
    // The cache now holds the new document only: the retired key is gone.
    assert!(check(&v, &token(es(), "a", 600, None)).await.is_err());
}

#[tokio::test]
async fn refresh_is_rate_limited() {
    let (dir, v) = setup(&[es()], VerifierConfig::new(AUD)).await;
    let v = v.with_refresh_interval(Duration::from_secs(3600));
    let (k2, k3) = (new_es("rl-2"), new_es("rl-3"));
    // The first unknown kid after start-up refreshes at once.
    write_jwks(dir.path(), &[es(), &k2]);
    assert!(check(&v, &token(&k2, "a", 600, None)).await.is_ok());
    // A second unknown kid inside the interval is refused without reading: the file has it.
    write_jwks(dir.path(), &[es(), &k2, &k3]);
    let e = check(&v, &token(&k3, "a", 600, None)).await.unwrap_err();
    assert!(
        matches!(&e, AuthError::UnknownKid(Some(k)) if k == "rl-3"),
        "{e}"
    );
    // Known keys keep working while rate-limited.
    assert!(check(&v, &token(es(), "a", 600, None)).await.is_ok());
}

#[tokio::test]
async fn failed_refresh_keeps_cached_keys() {
    let (dir, v) = setup(&[es()], VerifierConfig::new(AUD)).await;
    let v = v.with_refresh_interval(Duration::ZERO);
    std::fs::remove_file(dir.path().join("jwks.json")).unwrap();
    let e = check(&v, &token(&new_es("gone"), "a", 600, None))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "jwks_unavailable", "{e}");
    assert!(e.to_string().contains("jwks.json"), "{e}");
    assert!(check(&v, &token(es(), "a", 600, None)).await.is_ok());
}

#[tokio::test]
async fn concurrent_unknown_kids_refresh_once_and_all_succeed() {
    let (dir, v) = setup(&[es()], VerifierConfig::new(AUD)).await;
    let v = v.with_refresh_interval(Duration::from_secs(3600));
    let k2 = new_es("burst-2");
    write_jwks(dir.path(), &[es(), &k2]);
    let t = token(&k2, "a", 600, None);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (v, t) = (v.clone(), t.clone());
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn new_fails_fast_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let e = Verifier::new(JwksSource::File(missing.clone()), VerifierConfig::new(AUD))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "jwks_unavailable");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    for (doc, why) in [
        ("not json", "not JSON"),
        ("{}", "keys"),
        (r#"{"keys": []}"#, "no keys"),
        (
            r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
            "no usable keys",
        ),
        (
            r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}"#,
            "no usable keys",
        ),
    ] {
        let path = dir.path().join("bad.json");
        std::fs::write(&path, doc).unwrap();
        let e = Verifier::new(
            JwksSource::parse(path.to_str().unwrap()),
            VerifierConfig::new(AUD),
        )
        .await
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("jwks_unavailable: JWKS file ") && shown.contains(why),
            "{doc}: {shown}"
        );
    }
}

#[tokio::test]
async fn unusable_keys_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = nowconnect_auth::keys::jwks(&[es()]);
    let keys = doc["keys"].as_array_mut().unwrap();
    keys.insert(
        0,
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
    );
    keys.push(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "ed"}));
    let mut enc = es().public_jwk();
    enc["use"] = "enc".into();
    enc["kid"] = "enc-1".into();
    keys.push(enc);
    let path = write_raw(dir.path(), &doc);
    let uri = format!("file://{}", path.display());
    let v = Verifier::new(JwksSource::parse(&uri), VerifierConfig::new(AUD))
        .await
        .unwrap();
    assert!(check(&v, &token(es(), "a", 600, None)).await.is_ok());
    let enc_key = rekey(es(), KeyAlg::Es256, "enc-1");
    assert!(
        check(&v, &token(&enc_key, "a", 600, None)).await.is_err(),
        "use=enc key must not verify"
    );
}
