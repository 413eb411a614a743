//! crud-service request validation over real HTTP: every bad request gets a 4xx with a stable
//! code and a clear message, and none of them reaches the directory (the system points at a
//! listener that counts connections). Also `/health` and `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{System, TestCrud, request};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// A TCP listener standing in for the directory: counts accepted connections.
async fn counting_target() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, count)
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str, mentions: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "message {message:?} should mention {mentions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_a_code_and_never_reach_the_directory() {
    let (target, connections) = counting_target().await;
    let crud = TestCrud::start_with(
        &[System::new("corp", target)],
        &[("CRUD_MAX_BODY_BYTES", "4096")],
    )
    .await;

    let (s, b) = crud.post(b"{\"system\": \"corp\", ".to_vec()).await;
    assert_error(s, &b, 400, "malformed_json", "not valid JSON");
    let (s, b) = crud.post(b"[1, 2]".to_vec()).await;
    assert_error(s, &b, 400, "invalid_request", "JSON object");
    let (s, b) = crud
        .execute(&json!({"object_type": "user", "action": "get"}))
        .await;
    assert_error(s, &b, 400, "invalid_request", "\"system\"");
    let (s, b) = crud
        .execute(&request("nope", "user", "get", json!({"uid": "user01"})))
        .await;
    assert_error(s, &b, 404, "unknown_system", "\"nope\"");
    let (s, b) = crud
        .execute(&request("corp", "printer", "get", json!({})))
        .await;
    assert_error(s, &b, 400, "unknown_object_type", "\"printer\"");
    let (s, b) = crud
        .execute(&request("corp", "user", "explode", json!({})))
        .await;
    assert_error(s, &b, 400, "unknown_action", "\"explode\"");
    let (s, b) = crud
        .execute(&request(
            "corp",
            "group",
            "add_members",
            json!({"group": "admins"}),
        ))
        .await;
    assert_error(s, &b, 422, "missing_param", "params.members");
    let (s, b) = crud
        .execute(&request("corp", "user", "get", json!({})))
        .await;
    assert_error(s, &b, 422, "missing_param", "params.uid");
    let (s, b) = crud
        .execute(&request(
            "corp",
            "group",
            "add_members",
            json!({"group": "admins", "members": "uid=x"}),
        ))
        .await;
    assert_error(s, &b, 422, "invalid_param", "params.members");
    let (s, b) = crud
        .execute(&request(
            "corp",
            "user",
            "create",
            json!({"uid": "u", "attributes": {"userPassword": "hunter2"}}),
        ))
        .await;
    assert_error(s, &b, 422, "invalid_param", "params.password");
    assert!(!b.to_string().contains("hunter2"), "password echoed: {b}");
    let big = json!({"system": "corp", "object_type": "user", "action": "get", "params": {"uid": "x".repeat(8192)}});
    let (s, b) = crud.execute(&big).await;
    assert_error(s, &b, 413, "body_too_large", "CRUD_MAX_BODY_BYTES");

    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a bad request reached the directory"
    );

    let metrics = crud.telemetry.metrics_text();
    assert!(
        metrics.contains(
            "nowconnect_crud_requests_total{action=\"invalid\",code=\"unknown_system\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer_without_a_directory() {
    let (target, connections) = counting_target().await;
    let crud = TestCrud::start(&[System::new("corp", target), System::new("lab", target)]).await;
    let (s, body) = crud.get("/health").await;
    assert_eq!(s, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health, json!({"status": "ok", "systems": ["corp", "lab"]}));
    let (s, metrics) = crud.get("/metrics").await;
    assert_eq!(s, 200);
    assert!(
        metrics.contains("nowconnect_ldap_membership_batch_total{action=\"add\",system=\"lab\"} 0"),
        "{metrics}"
    );
    let (s, _) = crud.get("/nope").await;
    assert_eq!(s, 404);
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    crud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_directory_is_503_and_a_silent_one_504() {
    // Nothing listens: connection refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // Accepts and never answers: the bind times out.
    let (silent, _) = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        (addr, ())
    };
    let crud = TestCrud::start(&[System::new("down", closed), System::new("silent", silent)]).await;
    let get = |system: &str| request(system, "group", "get", json!({"cn": "admins"}));
    let (s, b) = crud.execute(&get("down")).await;
    assert_error(s, &b, 503, "upstream_unavailable", "directory unavailable");
    let (s, b) = crud.execute(&get("silent")).await;
    assert_error(s, &b, 504, "upstream_timeout", "no answer within");
    let (s, b) = crud
        .execute(&request(
            "down",
            "group",
            "add_members",
            json!({"group": "admins", "members": ["uid=a,dc=x"]}),
        ))
        .await;
    assert_eq!(s, 503, "{b}");
    let metrics = crud.telemetry.metrics_text();
    assert!(
        metrics.contains("nowconnect_ldap_membership_errors_total{code=\"unavailable\"} 1"),
        "{metrics}"
    );
}
