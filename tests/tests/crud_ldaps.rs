//! LDAPS (`use_ssl: true`) from the crud-service to a real slapd serving TLS with a test CA:
//! straight to the directory, and end to end through the tunnel (the hub and agent carry the
//! TLS bytes untouched; the certificate names the directory, not the hub, hence
//! `tls_server_name`). A wrong CA or a name mismatch fails the call cleanly (503, the TLS reason
//! in the message) and never falls back to plain LDAP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_e2e::testca::TestCa;
use serde_json::{Value, json};

/// The directory's certificate names only this host, as a domain controller's would.
const DIRECTORY_NAME: &str = "ldap.corp.test";

async fn ldaps_slapd(ca: &TestCa, names: &[&str]) -> Slapd {
    let cert = ca.server_cert("slapd", names).unwrap();
    tokio::task::spawn_blocking(move || Slapd::start_ldaps(&cert))
        .await
        .unwrap()
        .expect("slapd with ldaps")
}

async fn user01(crud: &TestCrud, system: &str) -> (u16, Value) {
    crud.execute(&request(system, "user", "get", json!({"uid": "user01"})))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldaps_straight_to_the_directory() {
    let ca = TestCa::new("nowconnect test CA").unwrap();
    let other_ca = TestCa::new("someone else's CA").unwrap();
    let slapd = ldaps_slapd(&ca, &["127.0.0.1", "localhost"]).await;
    let ldaps = slapd.ldaps_addr().unwrap();
    let crud = TestCrud::start(&[
        System::new("tls", ldaps).ldaps(ca.ca_pem(), None),
        System::new("wrong-ca", ldaps).ldaps(other_ca.ca_pem(), None),
    ])
    .await;

    let (status, body) = user01(&crud, "tls").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["attributes"]["cn"], json!(["Ada Lovelace"]));
    let add = json!({"group": "admins", "members": ["uid=user09,ou=people,dc=example,dc=org"]});
    let mut added = Vec::new();
    for _ in 0..2 {
        let (status, body) = crud
            .execute(&request("tls", "group", "add_members", add.clone()))
            .await;
        assert_eq!(status, 200, "membership change over LDAPS: {body}");
        added.push(body["result"]["added"].clone());
    }
    assert_eq!(added, [json!(1), json!(0)], "the repeat is a no-op");

    let (status, body) = user01(&crud, "wrong-ca").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("upstream_unavailable")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_ascii_lowercase().contains("certificate"),
        "the TLS reason is named: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldaps_end_to_end_through_the_tunnel() {
    let ca = TestCa::new("nowconnect test CA").unwrap();
    let slapd = ldaps_slapd(&ca, &[DIRECTORY_NAME]).await;
    let stack = Stack::start(
        &[("ldaps", slapd.ldaps_addr().unwrap())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let hub = stack.hub.listener("ldaps");
    let crud = TestCrud::start(&[
        System::new("tunnel", hub).ldaps(ca.ca_pem(), Some(DIRECTORY_NAME)),
        // Dialling the hub by address without naming the directory: the certificate does not
        // match 127.0.0.1, and that must fail, not be waved through.
        System::new("no-name", hub).ldaps(ca.ca_pem(), None),
    ])
    .await;

    let (status, body) = user01(&crud, "tunnel").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = crud
        .execute(&request(
            "tunnel",
            "user",
            "search",
            json!({"filter": "(uid=user1*)", "attributes": ["uid"]}),
        ))
        .await;
    assert_eq!(
        (status, &body["result"]["count"]),
        (200, &json!(10)),
        "{body}"
    );

    let (status, body) = user01(&crud, "no-name").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
}
