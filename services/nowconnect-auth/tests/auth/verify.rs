//! Acceptance, tampering, claim rules (aud, exp/nbf, iss, agent_id, scopes), garbage input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nowconnect_auth::keys::KeyAlg;
use nowconnect_auth::{AgentClaims, AuthError, VerifierConfig};
use serde_json::json;

use crate::fixtures::*;

#[tokio::test]
async fn valid_tokens_of_each_alg_verify() {
    let (_dir, v) = all_keys().await;
    for key in [es(), rs(), ps()] {
        let t = token(key, "agent-1", 600, Some(&["addomain", "pg"]));
        let c = check(&v, &t)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.alg()));
        assert_eq!(c.agent_id, "agent-1");
        assert_eq!(c.scopes, ["addomain", "pg"]);
        let exp = now() + 600;
        assert!(c.expires_at.abs_diff(exp) <= 2, "{} vs {exp}", c.expires_at);
    }
}

#[tokio::test]
async fn header_variants() {
    let (_dir, v) = all_keys().await;
    let t = token(es(), "a", 600, None);
    let ok = v.verify_header(Some(&format!("bearer {t}"))).await.unwrap();
    assert_eq!(
        ok,
        AgentClaims {
            agent_id: "a".into(),
            scopes: vec![],
            expires_at: ok.expires_at
        }
    );
    assert!(v.verify_header(Some(&format!("Bearer {t}"))).await.is_ok());
    for (h, reason) in [
        (None, "missing_token"),
        (Some(""), "missing_token"),
        (Some("Bearer"), "missing_token"),
        (Some("Bearer   "), "missing_token"),
        (Some("Basic x"), "malformed"),
        (Some("Basic dXNlcjpwYXNz"), "malformed"),
        (Some("Bearer not-a-jwt"), "malformed"),
    ] {
        let e = v.verify_header(h).await.unwrap_err();
        assert_eq!(e.reason(), reason, "{h:?}: {e}");
    }
    assert!(matches!(v.verify("  ").await, Err(AuthError::MissingToken)));
}

#[tokio::test]
async fn wrong_key_with_same_kid_is_bad_signature() {
    let (_dir, v) = all_keys().await;
    let other_es = nowconnect_auth::keys::SigningKey::generate(KeyAlg::Es256, "es-1").unwrap();
    let other_rs = rekey(ps(), KeyAlg::Rs256, "rs-1");
    for key in [&other_es, &other_rs] {
        let e = check(&v, &token(key, "a", 600, None)).await.unwrap_err();
        assert!(matches!(e, AuthError::BadSignature), "{}: {e}", key.alg());
    }
}

#[tokio::test]
async fn tampered_tokens_are_bad_signature() {
    let (_dir, v) = all_keys().await;
    let t = token(rs(), "agent-1", 600, None);
    let parts: Vec<&str> = t.split('.').collect();
    let mut forged = claims("agent-1");
    forged["agent_id"] = json!("admin");
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert!(matches!(
        check(&v, &swapped).await,
        Err(AuthError::BadSignature)
    ));
    let mut sig = parts[2].to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, flipped);
    let resigned = format!("{}.{}.{sig}", parts[0], parts[1]);
    assert!(matches!(
        check(&v, &resigned).await,
        Err(AuthError::BadSignature)
    ));
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert!(matches!(
        check(&v, &stripped).await,
        Err(AuthError::BadSignature)
    ));
}

#[tokio::test]
async fn audience_rules() {
    let (_dir, v) = all_keys().await;
    let mut c = claims("a");
    c["aud"] = json!("someone-else");
    assert!(matches!(
        check(&v, &es().sign(&c).unwrap()).await,
        Err(AuthError::WrongAudience)
    ));
    c["aud"] = json!(["x", "y"]);
    assert!(matches!(
        check(&v, &es().sign(&c).unwrap()).await,
        Err(AuthError::WrongAudience)
    ));
    c.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        check(&v, &es().sign(&c).unwrap()).await,
        Err(AuthError::WrongAudience)
    ));
    c["aud"] = json!(["x", AUD]);
    assert!(check(&v, &es().sign(&c).unwrap()).await.is_ok());
}

#[tokio::test]
async fn expiry_and_not_before_with_leeway() {
    let (_dir, v) = all_keys().await; // leeway 30 s
    let at = |field: &str, t: u64| {
        let mut c = claims("a");
        c[field] = json!(t);
        es().sign(&c).unwrap()
    };
    let now = now();
    assert!(matches!(
        check(&v, &at("exp", now - 120)).await,
        Err(AuthError::Expired)
    ));
    assert!(
        check(&v, &at("exp", now - 10)).await.is_ok(),
        "within leeway"
    );
    assert!(matches!(
        check(&v, &at("nbf", now + 600)).await,
        Err(AuthError::NotYetValid)
    ));
    assert!(
        check(&v, &at("nbf", now + 10)).await.is_ok(),
        "within leeway"
    );

    let mut c = claims("a");
    c.as_object_mut().unwrap().remove("exp");
    let e = check(&v, &es().sign(&c).unwrap()).await.unwrap_err();
    assert_eq!(e.reason(), "malformed", "{e}");
    c["exp"] = json!("tomorrow");
    assert_eq!(
        check(&v, &es().sign(&c).unwrap())
            .await
            .unwrap_err()
            .reason(),
        "malformed"
    );

    let mut strict = VerifierConfig::new(AUD);
    strict.leeway = std::time::Duration::ZERO;
    let (_d2, v0) = setup(&[es()], strict).await;
    assert!(matches!(
        check(&v0, &at("exp", now - 10)).await,
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn agent_id_is_required() {
    let (_dir, v) = all_keys().await;
    let mut c = claims("a");
    c.as_object_mut().unwrap().remove("agent_id");
    assert!(matches!(
        check(&v, &es().sign(&c).unwrap()).await,
        Err(AuthError::MissingAgentId)
    ));
    for bad in [json!(""), json!("  "), json!(42), json!(null)] {
        c["agent_id"] = bad.clone();
        assert!(
            matches!(
                check(&v, &es().sign(&c).unwrap()).await,
                Err(AuthError::MissingAgentId)
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn garbage_is_malformed() {
    let (_dir, v) = all_keys().await;
    let valid = token(es(), "a", 600, None);
    let head = valid.split('.').next().unwrap().to_owned();
    for g in [
        "abc",
        "a.b",
        "a.b.c",
        "....",
        "!!!.???.###",
        "eyJhbGciOiJFUzI1NiJ9",
        "\u{0}\u{1}.x.y",
        &format!("{head}.***.sig"),
        &format!("{head}.bm90IGpzb24.sig"),
        &format!("{valid}.extra"),
    ] {
        let e = check(&v, g).await.unwrap_err();
        assert!(
            matches!(e, AuthError::Malformed(_) | AuthError::BadSignature),
            "{g:?}: {e}"
        );
    }
    assert!(matches!(
        check(&v, "a.b.c").await,
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test]
async fn issuer_checked_only_when_configured() {
    let mut cfg = VerifierConfig::new(AUD);
    cfg.issuer = Some("https://idp.example".into());
    let (_dir, strict) = setup(&[es()], cfg).await;
    let (_dir2, lax) = setup(&[es()], VerifierConfig::new(AUD)).await;
    let mut c = claims("a");
    assert!(
        matches!(
            check(&strict, &es().sign(&c).unwrap()).await,
            Err(AuthError::WrongIssuer)
        ),
        "missing iss"
    );
    assert!(check(&lax, &es().sign(&c).unwrap()).await.is_ok());
    c["iss"] = json!("https://evil.example");
    assert!(matches!(
        check(&strict, &es().sign(&c).unwrap()).await,
        Err(AuthError::WrongIssuer)
    ));
    assert!(check(&lax, &es().sign(&c).unwrap()).await.is_ok());
    c["iss"] = json!("https://idp.example");
    assert!(check(&strict, &es().sign(&c).unwrap()).await.is_ok());
}

#[tokio::test]
async fn scopes_from_scp() {
    let (_dir, v) = all_keys().await;
    let mut c = claims("a");
    c["scp"] = json!("ldap ssh");
    c["connectors"] = json!(["pg", "ldap"]);
    assert_eq!(
        check(&v, &es().sign(&c).unwrap()).await.unwrap().scopes,
        ["pg", "ldap", "ssh"]
    );
}
