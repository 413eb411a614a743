//! Agent authentication on the upgrade: real signed JWTs, 401 before any upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nowconnect_auth::keys::KeyAlg;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, start_agent, start_hub};
use nowconnect_e2e::targets;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(agent_id: Option<&str>, aud: &str, exp: u64) -> Value {
    let mut c = json!({"aud": aud, "iat": now(), "exp": exp});
    if let Some(id) = agent_id {
        c["agent_id"] = json!(id);
    }
    c
}

/// The HTTP status of an upgrade attempt with `token` (101 when it succeeds).
async fn upgrade_status(url: &str, token: Option<&str>) -> u16 {
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, res)) => res.status().as_u16(),
        Err(WsError::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_before_the_upgrade() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &[], HubOpts::default()).await;
    let url = hub.url();
    let other = Creds::new();
    let hour = now() + 3600;
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(Some("a"), "nowconnect", hour).to_string())
    );
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(Some("a"), "nowconnect", hour),
        &jsonwebtoken::EncodingKey::from_secret(creds.key.public_jwk().to_string().as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("not.a.jwt".into())),
        ("wrong key", Some(other.token("a"))),
        (
            "wrong aud",
            Some(
                creds
                    .key
                    .sign(&claims(Some("a"), "someone-else", hour))
                    .unwrap(),
            ),
        ),
        (
            "expired",
            Some(
                creds
                    .key
                    .sign(&claims(Some("a"), "nowconnect", now() - 3600))
                    .unwrap(),
            ),
        ),
        ("alg none", Some(unsigned)),
        ("hmac", Some(hmac)),
        (
            "missing agent_id",
            Some(creds.key.sign(&claims(None, "nowconnect", hour)).unwrap()),
        ),
    ];
    for (name, token) in cases {
        assert_eq!(upgrade_status(&url, token.as_deref()).await, 401, "{name}");
    }
    assert_eq!(
        upgrade_status(&url, Some(&creds.token("a"))).await,
        101,
        "a good token upgrades"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_ps256_es256_agents_all_work() {
    for alg in [KeyAlg::Es256, KeyAlg::Rs256, KeyAlg::Ps256] {
        let creds = Creds::with_alg(alg);
        let echo = targets::echo_server().await;
        let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
        let agent = start_agent(
            &creds,
            &hub.url(),
            "agent-alg",
            &[("echo", echo)],
            AgentOpts::default(),
        )
        .await;
        agent.wait_ready().await;
        let mut s = tokio::net::TcpStream::connect(hub.listener("echo"))
            .await
            .unwrap();
        s.write_all(b"hi").await.unwrap();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hi", "{alg}");
        agent.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_a_rejected_token_stays_not_ready_and_picks_up_a_new_token() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let token_file = creds.token_file("rotating", &Creds::new().token("rotating")); // wrong key
    let env = nowconnect_e2e::stack::agent_env(
        &hub.url(),
        "rotating",
        &token_file,
        &[("echo", echo)],
        &AgentOpts::default(),
    );
    let agent = nowconnect_e2e::stack::start_agent_with_env(env).await;
    nowconnect_e2e::stack::wait_health(agent.health, "OK", std::time::Duration::from_secs(5)).await;
    std::fs::write(&token_file, creds.token("rotating")).unwrap(); // re-read at the next connect
    agent.wait_ready().await;
    agent.stop().await;
}
