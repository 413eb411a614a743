//! Helpers shared by the security tests: tokens with chosen claims (signed with the test key),
//! an echo target that counts the connections it got, and reading one hub counter.

use nowconnect_e2e::creds::Creds;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// A valid agent token for `agent_id` (audience `nowconnect`, one hour) with `extra` claims
/// merged in (e.g. `{"scp": "ldap pg"}`), signed with the stack's real key.
pub(crate) fn token_with(creds: &Creds, agent_id: &str, extra: Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "agent_id": agent_id, "sub": agent_id, "aud": "nowconnect",
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    creds.key.sign(&claims).expect("sign token")
}

/// An echo target that counts the connections it accepted (= OPENs the agent acted on).
pub(crate) struct CountingEcho {
    pub(crate) addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl CountingEcho {
    pub(crate) async fn start() -> CountingEcho {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        CountingEcho { addr, accepted }
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
