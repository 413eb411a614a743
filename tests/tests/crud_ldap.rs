//! crud-service actions against a real slapd, straight and through the real tunnel (in-process
//! hub + agent): the same scenario on two identically seeded directories must give identical
//! answers, status by status and byte by byte of JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use serde_json::{Value, json};

async fn slapd() -> Slapd {
    tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd")
}

/// One step of the scenario: what was asked and what came back.
type Step = (String, u16, Value);

/// Every action, on `system`; returns the transcript.
async fn scenario(crud: &TestCrud, system: &str) -> Vec<Step> {
    let steps: Vec<(&str, &str, Value)> = vec![
        ("user", "get", json!({"uid": "user01"})),
        ("user", "get", json!({"uid": "nobody"})),
        (
            "user",
            "get",
            json!({"dn": "uid=user02,ou=people,dc=example,dc=org"}),
        ),
        (
            "user",
            "search",
            json!({"filter": "(uid=user1*)", "attributes": ["uid", "mail"]}),
        ),
        ("user", "search", json!({})),
        ("user", "search", json!({"filter": "(uid="})),
        (
            "user",
            "create",
            json!({"uid": "newbie", "password": "n3wbie-pw",
            "attributes": {"cn": "New Bie", "sn": "Bie", "mail": ["newbie@example.org"]}}),
        ),
        (
            "user",
            "create",
            json!({"uid": "newbie", "attributes": {"cn": "New Bie", "sn": "Bie"}}),
        ),
        (
            "user",
            "create",
            json!({"uid": "nosn", "attributes": {"cn": "No Surname"}}),
        ),
        ("user", "get", json!({"uid": "newbie"})),
        ("user", "delete", json!({"uid": "newbie"})),
        ("user", "delete", json!({"uid": "newbie"})),
        ("group", "get", json!({"cn": "admins"})),
        ("group", "get", json!({"cn": "developers"})),
        (
            "group",
            "create",
            json!({"cn": "project", "members": ["uid=user03,ou=people,dc=example,dc=org"]}),
        ),
        (
            "group",
            "create",
            json!({"cn": "project", "members": ["uid=user03,ou=people,dc=example,dc=org"]}),
        ),
        ("group", "create", json!({"cn": "empty"})),
        (
            "group",
            "create",
            json!({"cn": "posix", "object_class": "posixGroup", "gid_number": 7000}),
        ),
        ("group", "get", json!({"cn": "project"})),
        ("group", "delete", json!({"cn": "project"})),
        ("group", "delete", json!({"cn": "project"})),
        (
            "group",
            "delete",
            json!({"dn": "cn=posix,ou=groups,dc=example,dc=org"}),
        ),
    ];
    let mut out = Vec::new();
    for (object_type, action, params) in steps {
        let (status, body) = crud
            .execute(&request(system, object_type, action, params.clone()))
            .await;
        out.push((format!("{object_type}.{action} {params}"), status, body));
    }
    out
}

fn status_of(t: &[Step], i: usize) -> (u16, &Value) {
    (t[i].1, &t[i].2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_action_answers_the_same_straight_and_through_the_tunnel() {
    let (direct_dir, tunnel_dir) = (slapd().await, slapd().await);
    let stack = Stack::start(
        &[("ldap", tunnel_dir.addr())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let crud = TestCrud::start(&[
        System::new("direct", direct_dir.addr()).with("page_size: 3"),
        System::new("tunnel", stack.hub.listener("ldap")).with("page_size: 3"),
    ])
    .await;
    let direct = scenario(&crud, "direct").await;
    let tunnel = scenario(&crud, "tunnel").await;
    for (d, t) in direct.iter().zip(&tunnel) {
        assert_eq!(d, t, "direct and tunnel differ");
    }

    // What the answers are (the same both ways, checked once).
    let (s, user) = status_of(&direct, 0);
    assert_eq!(s, 200, "{user}");
    assert_eq!(
        user["result"]["dn"],
        "uid=user01,ou=people,dc=example,dc=org"
    );
    assert_eq!(user["result"]["attributes"]["cn"], json!(["Ada Lovelace"]));
    assert!(
        user["result"]["attributes"].get("userPassword").is_none(),
        "password returned: {user}"
    );
    let (s, missing) = status_of(&direct, 1);
    assert_eq!(
        (s, &missing["error"]["code"], &missing["error"]["ldap_code"]),
        (404, &json!("not_found"), &json!(32))
    );
    assert_eq!(status_of(&direct, 2).0, 200);
    let (s, found) = status_of(&direct, 3);
    assert_eq!(s, 200, "{found}");
    // user10 … user19, fetched over pages of 3.
    assert_eq!(found["result"]["count"], 10, "{found}");
    assert_eq!(
        found["result"]["entries"][0]["attributes"],
        json!({"mail": ["user10@example.org"], "uid": ["user10"]})
    );
    assert_eq!(
        status_of(&direct, 4).1["result"]["count"],
        Slapd::SEED_USERS
    );
    assert_eq!(status_of(&direct, 5).0, 400);
    assert_eq!(status_of(&direct, 5).1["error"]["code"], "invalid_filter");
    assert_eq!(status_of(&direct, 6).0, 200);
    assert_eq!(
        status_of(&direct, 6).1["result"]["dn"],
        "uid=newbie,ou=people,dc=example,dc=org"
    );
    let (s, dup) = status_of(&direct, 7);
    assert_eq!((s, &dup["error"]["code"]), (409, &json!("already_exists")));
    let (s, schema) = status_of(&direct, 8);
    assert_eq!(
        (s, &schema["error"]["code"], &schema["error"]["ldap_code"]),
        (422, &json!("schema_violation"), &json!(65))
    );
    let (s, newbie) = status_of(&direct, 9);
    assert_eq!(s, 200);
    assert!(
        !newbie.to_string().contains("n3wbie-pw"),
        "password echoed: {newbie}"
    );
    assert_eq!(
        newbie["result"]["attributes"]["objectClass"],
        json!(["inetOrgPerson"])
    );
    assert_eq!(status_of(&direct, 10).0, 200);
    assert_eq!(status_of(&direct, 11).0, 404);
    let (s, admins) = status_of(&direct, 12);
    assert_eq!(s, 200);
    assert_eq!(
        admins["result"]["attributes"]["member"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        status_of(&direct, 13).1["result"]["attributes"]["memberUid"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(status_of(&direct, 14).0, 200);
    assert_eq!(status_of(&direct, 15).1["error"]["code"], "already_exists");
    let (s, empty) = status_of(&direct, 16);
    assert_eq!(
        (s, &empty["error"]["code"]),
        (409, &json!("would_empty_group")),
        "{empty}"
    );
    assert_eq!(
        status_of(&direct, 17).0,
        200,
        "{}",
        status_of(&direct, 17).1
    );
    assert_eq!(
        status_of(&direct, 18).1["result"]["attributes"]["member"],
        json!(["uid=user03,ou=people,dc=example,dc=org"])
    );
    assert_eq!(status_of(&direct, 19).0, 200);
    assert_eq!(status_of(&direct, 20).0, 404);
    assert_eq!(status_of(&direct, 21).0, 200);
    crud.stop().await;
}

/// `search_max_entries` caps a paged search across pages: exactly the cap passes, one more
/// entry is 422 `too_many_entries` (nothing buffered beyond the cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_past_search_max_entries_is_refused() {
    let dir = slapd().await;
    let crud = TestCrud::start(&[
        System::new("cap10", dir.addr()).with("page_size: 3\nsearch_max_entries: 10"),
        System::new("cap9", dir.addr()).with("page_size: 3\nsearch_max_entries: 9"),
    ])
    .await;
    let search = |system: &str, filter: &str| {
        request(
            system,
            "user",
            "search",
            json!({"filter": filter, "attributes": ["uid"]}),
        )
    };
    // (uid=user1*) matches user10 … user19: ten entries.
    let (s, body) = crud.execute(&search("cap10", "(uid=user1*)")).await;
    assert_eq!((s, &body["result"]["count"]), (200, &json!(10)), "{body}");
    let (s, body) = crud.execute(&search("cap9", "(uid=user1*)")).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("too_many_entries")),
        "{body}"
    );
    let (s, body) = crud.execute(&search("cap10", "(objectClass=person)")).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("too_many_entries")),
        "{body}"
    );
    // The connection stays usable after a refused search.
    let (s, body) = crud.execute(&search("cap10", "(uid=user0*)")).await;
    assert_eq!((s, &body["result"]["count"]), (200, &json!(9)), "{body}");
}
