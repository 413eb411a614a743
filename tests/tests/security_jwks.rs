//! The agents' JWKS served over HTTPS (a real TLS server with a test CA the hub trusts through
//! `security.jwks_ca_bundle`): key rotation without restart, unknown keys refused, the endpoint
//! going down (cached keys keep working) and being down at start (hub starts, not ready, 401,
//! recovers by itself).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_auth::keys::{self, KeyAlg, SigningKey, TokenRequest};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{HubOpts, TestHub, hub_yaml, start_hub_yaml};
use nowconnect_e2e::tls::{JwksServer, TestCa};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn token(key: &SigningKey, agent_id: &str) -> String {
    key.issue_agent_token(&TokenRequest {
        agent_id: agent_id.into(),
        audience: "nowconnect".into(),
        issuer: None,
        ttl: Duration::from_secs(600),
        connectors: None,
    })
    .unwrap()
}

fn jwks(keys: &[&SigningKey]) -> String {
    keys::jwks(keys).to_string()
}

/// HTTP status of an upgrade with `token` (101 = accepted) and the body's reason on a 401.
async fn upgrade(hub: &TestHub, token: &str) -> (u16, String) {
    let mut req = hub.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, res)) => (res.status().as_u16(), String::new()),
        Err(WsError::Http(res)) => {
            let body = res
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            (res.status().as_u16(), body.unwrap_or_default())
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// A hub whose `security.jwks_url` is `url`, trusting `ca` for it.
async fn hub_with_jwks(url: &str, ca: &TestCa) -> TestHub {
    let creds = Creds::new();
    let yaml = hub_yaml(&creds, &[], &HubOpts::default()).replace(
        &format!("jwks_url: \"{}\"", creds.jwks_path().display()),
        &format!(
            "jwks_url: \"{url}\"\n  jwks_ca_bundle: \"{}\"",
            ca.ca_path().display()
        ),
    );
    assert!(yaml.contains("jwks_ca_bundle"), "{yaml}");
    start_hub_yaml(&yaml).await
}

async fn get(hub: &TestHub, path: &str) -> (u16, String) {
    let res = reqwest::get(format!("http://{}{path}", hub.addrs.tunnel))
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_jwks_rotates_without_restart_and_survives_the_endpoint_going_down() {
    let ca = TestCa::new("idp");
    let k1 = SigningKey::generate(KeyAlg::Es256, "kid-1").unwrap();
    let k2 = SigningKey::generate(KeyAlg::Es256, "kid-2").unwrap();
    let never_published = SigningKey::generate(KeyAlg::Es256, "kid-3").unwrap();
    let server = JwksServer::start(&ca, jwks(&[&k1])).await;
    let hub = hub_with_jwks(&server.url(), &ca).await;

    assert_eq!(
        upgrade(&hub, &token(&k1, "a1")).await.0,
        101,
        "published key"
    );

    // Rotation: the IdP publishes a new kid; a token signed with it is accepted without a
    // restart (the unknown kid triggers one re-fetch over HTTPS).
    server.set(jwks(&[&k1, &k2]));
    assert_eq!(
        upgrade(&hub, &token(&k2, "a2")).await.0,
        101,
        "rotated-in key"
    );

    // A kid the JWKS does not hold is still refused.
    let (status, body) = upgrade(&hub, &token(&never_published, "a3")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unknown_kid"), "{body}");

    // The endpoint goes down: the hub keeps running and the cached keys keep verifying.
    server.shut_down();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(upgrade(&hub, &token(&k1, "a4")).await.0, 101, "cached k1");
    assert_eq!(upgrade(&hub, &token(&k2, "a5")).await.0, 101, "cached k2");
    let (status, _) = upgrade(&hub, &token(&never_published, "a6")).await;
    assert_eq!(status, 401);
    assert_eq!(get(&hub, "/healthz").await.0, 200);
    assert_eq!(
        get(&hub, "/readyz").await.0,
        200,
        "JWKS loaded, no connectors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_down_at_start_hub_starts_not_ready_refuses_then_recovers() {
    let ca = TestCa::new("idp");
    let k1 = SigningKey::generate(KeyAlg::Es256, "kid-1").unwrap();
    let port = nowconnect_e2e::targets::closed_port().await.port();
    let url = format!("https://localhost:{port}/jwks.json");
    let hub = hub_with_jwks(&url, &ca).await;

    let (status, body) = get(&hub, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("jwks_unavailable"), "{body}");
    assert_eq!(get(&hub, "/healthz").await.0, 200);
    let (status, body) = upgrade(&hub, &token(&k1, "a1")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("jwks_unavailable"), "{body}");

    // The IdP comes up on that address: the hub's retry loop picks it up by itself.
    let _server = JwksServer::start_on(&ca, jwks(&[&k1]), port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while get(&hub, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(upgrade(&hub, &token(&k1, "a1")).await.0, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_jwks_from_an_untrusted_ca_is_not_loaded() {
    let (ca, other) = (TestCa::new("idp"), TestCa::new("other"));
    let k1 = SigningKey::generate(KeyAlg::Es256, "kid-1").unwrap();
    let server = JwksServer::start(&ca, jwks(&[&k1])).await;
    let hub = hub_with_jwks(&server.url(), &other).await;
    let (status, body) = upgrade(&hub, &token(&k1, "a1")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("jwks_unavailable"), "{body}");
}
