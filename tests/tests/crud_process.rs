//! The `crud-service` binary as an operator runs it: configured by `SERVICE_CONFIG_DIR` and
//! `CRUD_LISTEN`, exporting spans over OTLP to an in-process collector — one `POST /execute`
//! span per request with its LDAP operation spans as children in the same trace — JSON logs
//! that never carry the bind password or a user's password, `--check-config` (exit 64 with one
//! line), and SIGTERM (exit 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{PASSWORD_VAR, System, request};
use nowconnect_e2e::otlp::{Receiver, start_grpc, string_attr};
use nowconnect_e2e::procs::{Proc, binary};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::targets;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

const USER_PASSWORD: &str = "Sup3r-s3cret-user-pw";

fn config_dir(addr: SocketAddr) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corp.yaml"),
        System::new("corp", addr).yaml(),
    )
    .unwrap();
    dir
}

async fn wait_healthy(http: &reqwest::Client, addr: SocketAddr, log: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = http.get(format!("http://{addr}/health")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "crud-service never healthy:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_request_and_ldap_spans_and_logs_no_secret() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let receiver = Receiver::default();
    let collector = start_grpc(receiver.clone()).await;
    let config = config_dir(dir.addr());
    let listen = targets::closed_port().await;
    let env: HashMap<String, String> = [
        ("SERVICE_CONFIG_DIR", config.path().display().to_string()),
        ("CRUD_LISTEN", listen.to_string()),
        (PASSWORD_VAR, Slapd::ADMIN_PASSWORD.to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_owned()),
        ("LOG_LEVEL", "debug".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("crud.log");
    let mut proc = Proc::spawn("crud-service", &[], &env, &log);
    let http = reqwest::Client::new();
    wait_healthy(&http, listen, &log).await;

    let post = |body: serde_json::Value| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("http://{listen}/execute"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let add = request(
        "corp",
        "group",
        "add_members",
        json!({"group": "admins", "members": [Slapd::user_dn(3)]}),
    );
    assert_eq!(post(add).await.0, 200);
    let create = request(
        "corp",
        "user",
        "create",
        json!({"uid": "traced", "password": USER_PASSWORD, "attributes": {"cn": "T", "sn": "T"}}),
    );
    let (s, body) = post(create).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = post(request("corp", "group", "get", json!({"cn": "nope"}))).await;
    assert_eq!(s, 404);

    let status = tokio::task::spawn_blocking(move || {
        let status = proc.terminate(Duration::from_secs(20));
        (status, proc)
    })
    .await
    .unwrap()
    .0;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{text}");
    for secret in [Slapd::ADMIN_PASSWORD, USER_PASSWORD] {
        assert!(
            !text.contains(secret),
            "a password reached the log:\n{text}"
        );
    }
    assert!(text.contains("\"event\":\"listener_started\""), "{text}");
    assert!(text.contains("\"event\":\"request_refused\""), "{text}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = receiver.with(|r| {
            r.all_spans()
                .iter()
                .filter(|s| s.name == "POST /execute")
                .count()
                >= 3
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "request spans never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.with(|r| {
        let spans = r.all_spans();
        let requests: Vec<_> = spans.iter().filter(|s| s.name == "POST /execute").collect();
        let add = requests
            .iter()
            .find(|s| {
                string_attr(&s.attributes, "crud.action").as_deref() == Some("group.add_members")
            })
            .expect("add_members request span");
        assert_eq!(
            string_attr(&add.attributes, "crud.system").as_deref(),
            Some("corp")
        );
        let children: Vec<&str> = spans
            .iter()
            .filter(|s| s.trace_id == add.trace_id && s.parent_span_id == add.span_id)
            .map(|s| s.name.as_str())
            .collect();
        for op in ["group.read_members", "group.modify_add"] {
            assert!(
                children.contains(&op),
                "{op} not a child of the request span: {children:?}"
            );
        }
        let failed = requests
            .iter()
            .find(|s| string_attr(&s.attributes, "crud.action").as_deref() == Some("group.get"))
            .expect("group.get request span");
        assert_eq!(
            string_attr(&failed.attributes, "error.type").as_deref(),
            Some("not_found")
        );
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"ldap.connect"), "{names:?}");
        for s in &spans {
            for kv in &s.attributes {
                let v = format!("{:?}", kv.value);
                assert!(
                    !v.contains(USER_PASSWORD) && !v.contains(Slapd::ADMIN_PASSWORD),
                    "secret in span {}",
                    s.name
                );
            }
        }
    });
}

#[test]
fn check_config_refuses_a_bad_system_with_one_line_and_64() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corp.yaml"),
        "connection:\n  server:\n    base_url: x\npool_size: 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(binary("crud-service"))
        .arg("--check-config")
        .env_clear()
        .env("SERVICE_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("crud-service: config: "), "{stderr}");
    assert!(stderr.contains("corp.yaml"), "{stderr}");
    let good = tempfile::tempdir().unwrap();
    std::fs::write(
        good.path().join("corp.yaml"),
        System::new("corp", "127.0.0.1:389".parse().unwrap()).yaml(),
    )
    .unwrap();
    let out = std::process::Command::new(binary("crud-service"))
        .arg("--check-config")
        .env_clear()
        .env("SERVICE_CONFIG_DIR", good.path())
        .env(PASSWORD_VAR, "x")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
