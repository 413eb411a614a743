//! JWKS over HTTP: a real socket on port 0 serving a JWKS the test can change.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nowconnect_auth::keys::{KeyAlg, SigningKey, jwks};
use nowconnect_auth::{AuthError, JwksSource, Verifier, VerifierConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::fixtures::*;

struct JwksServer {
    url: String,
    /// (status, body) served to every request.
    reply: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
}

async fn start_jwks_server(body: String) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json?x=1",
        listener.local_addr().unwrap()
    );
    let reply = Arc::new(Mutex::new((200, body)));
    let hits = Arc::new(AtomicUsize::new(0));
    let (r, h) = (Arc::clone(&reply), Arc::clone(&hits));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let (status, body) = r.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    JwksServer { url, reply, hits }
}

#[tokio::test]
async fn jwks_over_http_with_rotation() {
    let server = start_jwks_server(jwks(&[es(), rs()]).to_string()).await;
    let source = JwksSource::parse(&server.url);
    assert!(matches!(source, JwksSource::Url(_)));
    let v = Verifier::new(source, VerifierConfig::new(AUD))
        .await
        .unwrap()
        .with_refresh_interval(Duration::ZERO);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert!(check(&v, &token(es(), "a", 600, None)).await.is_ok());
    assert!(check(&v, &token(rs(), "a", 600, None)).await.is_ok());
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "known keys are served from the cache"
    );

    let k2 = SigningKey::generate(KeyAlg::Es256, "http-2").unwrap();
    server.reply.lock().unwrap().1 = jwks(&[es(), &k2]).to_string();
    assert!(check(&v, &token(&k2, "a", 600, None)).await.is_ok());
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    // A failing endpoint during refresh: jwks_unavailable, cached keys still verify.
    *server.reply.lock().unwrap() = (503, "down".into());
    let e = check(
        &v,
        &token(
            &SigningKey::generate(KeyAlg::Es256, "http-3").unwrap(),
            "a",
            600,
            None,
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(&e, AuthError::Jwks(m) if m.contains("503")), "{e}");
    assert!(
        !e.to_string().contains("x=1"),
        "query string must not be logged: {e}"
    );
    assert!(check(&v, &token(&k2, "a", 600, None)).await.is_ok());
}

#[tokio::test]
async fn http_errors_fail_fast() {
    let server = start_jwks_server("{\"keys\": []}".into()).await;
    let e = Verifier::new(JwksSource::parse(&server.url), VerifierConfig::new(AUD))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no keys"), "{e}");
    *server.reply.lock().unwrap() = (404, "nope".into());
    let e = Verifier::new(JwksSource::parse(&server.url), VerifierConfig::new(AUD))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");

    // Nothing listens on a just-closed port.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Verifier::new(
        JwksSource::parse(&format!("http://127.0.0.1:{port}/jwks")),
        VerifierConfig::new(AUD),
    )
    .await
    .unwrap_err();
    assert_eq!(e.reason(), "jwks_unavailable");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}
