//! The crud-service's connection pool against a real slapd behind a counting TCP relay: idle
//! connections are reused, `pool_size` bounds the connections open at once under concurrent
//! calls, a connection cut underneath is replaced without a restart, and a bind refused by the
//! directory is a 502 that never shows the bind password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A relay in front of the directory that counts connections and can cut them all, or break
/// them silently: a "poisoned" connection stays open until the client sends its next request,
/// then closes without forwarding it (a connection that died unnoticed while idle).
#[derive(Default)]
struct Relay {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    /// Connections with a sequence number below this are poisoned.
    poisoned_below: AtomicUsize,
    pipes: Mutex<Vec<JoinHandle<()>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> (SocketAddr, Arc<Relay>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let relay = Arc::new(Relay::default());
        let r = relay.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seq = r.accepted.fetch_add(1, Ordering::SeqCst);
                let now = r.open.fetch_add(1, Ordering::SeqCst) + 1;
                r.max_open.fetch_max(now, Ordering::SeqCst);
                let r2 = r.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        r2.pipe(seq, client, server).await;
                    }
                    r2.open.fetch_sub(1, Ordering::SeqCst);
                });
                r.pipes.lock().unwrap().push(pipe);
            }
        });
        (addr, relay)
    }

    async fn pipe(&self, seq: usize, client: TcpStream, server: TcpStream) {
        let (mut client_rx, mut client_tx) = client.into_split();
        let (mut server_rx, mut server_tx) = server.into_split();
        let down = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if seq < self.poisoned_below.load(Ordering::SeqCst) {
                break;
            }
            if server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        down.abort();
    }

    /// Every connection open now breaks on its next request.
    fn poison(&self) {
        self.poisoned_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Drops every relayed connection (both sockets close).
    fn cut(&self) {
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
        self.open.store(0, Ordering::SeqCst);
    }
}

fn get() -> serde_json::Value {
    request("corp", "group", "get", json!({"cn": "engineering"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_reuses_bounds_and_replaces_connections() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let (addr, relay) = Relay::start(dir.addr()).await;
    let crud = Arc::new(TestCrud::start(&[System::new("corp", addr).with("pool_size: 2")]).await);

    for _ in 0..10 {
        assert_eq!(crud.execute(&get()).await.0, 200);
    }
    assert_eq!(
        relay.accepted.load(Ordering::SeqCst),
        1,
        "sequential calls reuse one connection"
    );

    let calls: Vec<_> = (0..24)
        .map(|_| {
            let crud = crud.clone();
            tokio::spawn(async move { crud.execute(&get()).await.0 })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let max = relay.max_open.load(Ordering::SeqCst);
    assert!(
        max <= 2,
        "pool_size 2, but {max} connections were open at once"
    );
    assert!(relay.accepted.load(Ordering::SeqCst) <= 2);

    // Connections cut underneath: the next calls connect afresh, the service is not restarted.
    let before = relay.accepted.load(Ordering::SeqCst);
    relay.cut();
    for _ in 0..3 {
        let (s, body) = crud.execute(&get()).await;
        assert_eq!(s, 200, "{body}");
    }
    assert!(
        relay.accepted.load(Ordering::SeqCst) > before,
        "no new connection after the cut"
    );

    // A pooled connection that died unnoticed: the idempotent call that meets it is retried
    // once on a fresh connection and succeeds; the caller never sees the failure.
    let before = relay.accepted.load(Ordering::SeqCst);
    relay.poison();
    let (s, body) = crud.execute(&get()).await;
    assert_eq!(s, 200, "{body}");
    let add = request(
        "corp",
        "group",
        "add_members",
        json!({"group": "engineering", "members": [Slapd::user_dn(12)]}),
    );
    relay.poison();
    let (s, body) = crud.execute(&add).await;
    assert_eq!((s, &body["result"]["added"]), (200, &json!(1)), "{body}");
    assert!(
        relay.accepted.load(Ordering::SeqCst) >= before + 2,
        "fresh connections after the poisoning"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bind_is_502_without_the_password() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let wrong = "wrong-bind-pw-123";
    let crud = TestCrud::start_with(
        &[System::new("corp", dir.addr())],
        &[(nowconnect_e2e::crud::PASSWORD_VAR, wrong)],
    )
    .await;
    let (s, body) = crud.execute(&get()).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (502, &json!("bind_failed")),
        "{body}"
    );
    assert_eq!(body["error"]["ldap_code"], 49, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains(wrong) && !text.contains(Slapd::ADMIN_DN),
        "{text}"
    );
}

/// `connection.idle_check_ms`: with 0 every reuse is probed, so a connection that died
/// unnoticed is replaced *before* a create — which, not being idempotent, is never retried and
/// would otherwise fail (as it does on the system with the default 30 s check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_check_replaces_a_dead_connection_before_a_create() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let (addr, relay) = Relay::start(dir.addr()).await;
    let crud = TestCrud::start(&[
        System::new("checked", addr).connection("idle_check_ms: 0"),
        System::new("unchecked", addr),
    ])
    .await;
    let create = |system: &str, uid: &str| {
        request(
            system,
            "user",
            "create",
            json!({"uid": uid, "attributes": {"cn": uid, "sn": uid}}),
        )
    };
    for system in ["checked", "unchecked"] {
        let warm = request(system, "group", "get", json!({"cn": "admins"}));
        assert_eq!(crud.execute(&warm).await.0, 200);
    }
    relay.poison();
    let (s, body) = crud.execute(&create("unchecked", "u1")).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (503, &json!("upstream_unavailable")),
        "{body}"
    );
    let (s, body) = crud.execute(&create("checked", "c1")).await;
    assert_eq!(s, 200, "{body}");
}
