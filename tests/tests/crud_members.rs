//! Idempotent group membership through the crud-service (SPEC §8), on real slapd, straight and
//! through the real tunnel: adding what is there, removing what is not and mixed batches all
//! succeed and leave exactly the requested membership; real errors keep their status; a
//! groupOfNames never goes through zero members; benign 20/16 answers (from a stale plan, as a
//! concurrent writer leaves one) are success, split value by value, and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crud_service::ldap::Directory;
use crud_service::ldap::plan::Plan;
use crud_service::metrics::CrudMetrics;
use nowconnect_e2e::crud::{PASSWORD_VAR, System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_telemetry::Telemetry;
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn slapd() -> Slapd {
    tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd")
}

fn user(n: usize) -> String {
    Slapd::user_dn(n)
}

fn users(ns: &[usize]) -> Vec<String> {
    ns.iter().map(|n| user(*n)).collect()
}

/// The group's member values (lower-cased), read through the service.
async fn members(crud: &TestCrud, system: &str, cn: &str) -> BTreeSet<String> {
    let (s, body) = crud
        .execute(&request(system, "group", "get", json!({"cn": cn})))
        .await;
    assert_eq!(s, 200, "{body}");
    let attrs = &body["result"]["attributes"];
    let values = attrs
        .get("member")
        .or_else(|| attrs.get("memberUid"))
        .cloned()
        .unwrap_or(json!([]));
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_lowercase())
        .collect()
}

fn set(values: &[String]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_lowercase()).collect()
}

async fn change(
    crud: &TestCrud,
    system: &str,
    action: &str,
    group: &str,
    who: Vec<String>,
) -> (u16, Value) {
    crud.execute(&request(
        system,
        "group",
        action,
        json!({"group": group, "members": who}),
    ))
    .await
}

/// The idempotency scenario on `system`; returns every answer for the straight/tunnel comparison.
async fn idempotency(crud: &TestCrud, system: &str) -> Vec<(u16, Value)> {
    let mut t = Vec::new();
    // admins = {user01, user02}
    let r = change(crud, system, "add_members", "admins", users(&[1])).await;
    assert_eq!(
        (r.0, &r.1["result"]["added"], &r.1["result"]["skipped"]),
        (200, &json!(0), &json!(1)),
        "{}",
        r.1
    );
    t.push(r);
    let r = change(crud, system, "remove_members", "admins", users(&[5])).await;
    assert_eq!(
        (r.0, &r.1["result"]["removed"], &r.1["result"]["skipped"]),
        (200, &json!(0), &json!(1)),
        "{}",
        r.1
    );
    t.push(r);
    // Mixed: one present (in another spelling), two new.
    let mixed = vec![user(1).to_uppercase(), user(3), user(4)];
    let r = change(crud, system, "add_members", "admins", mixed).await;
    assert_eq!(
        (r.0, &r.1["result"]["added"], &r.1["result"]["skipped"]),
        (200, &json!(2), &json!(1)),
        "{}",
        r.1
    );
    t.push(r);
    assert_eq!(
        members(crud, system, "admins").await,
        set(&users(&[1, 2, 3, 4]))
    );
    // The same request again changes nothing and still succeeds.
    let r = change(crud, system, "add_members", "admins", users(&[1, 3, 4])).await;
    assert_eq!(
        (r.0, &r.1["result"]["added"], &r.1["result"]["batches"]),
        (200, &json!(0), &json!(0)),
        "{}",
        r.1
    );
    t.push(r);
    // Mixed remove: one present, one absent.
    let r = change(crud, system, "remove_members", "admins", users(&[3, 9])).await;
    assert_eq!(
        (r.0, &r.1["result"]["removed"], &r.1["result"]["skipped"]),
        (200, &json!(1), &json!(1)),
        "{}",
        r.1
    );
    t.push(r);
    assert_eq!(
        members(crud, system, "admins").await,
        set(&users(&[1, 2, 4]))
    );
    let r = change(crud, system, "set_members", "admins", users(&[2, 5, 6])).await;
    assert_eq!(
        (r.0, &r.1["result"]["added"], &r.1["result"]["removed"]),
        (200, &json!(2), &json!(2)),
        "{}",
        r.1
    );
    t.push(r);
    assert_eq!(
        members(crud, system, "admins").await,
        set(&users(&[2, 5, 6]))
    );
    let r = change(crud, system, "set_members", "admins", users(&[2, 5, 6])).await;
    assert_eq!(
        (r.0, &r.1["result"]["batches"]),
        (200, &json!(0)),
        "{}",
        r.1
    );
    t.push(r);

    // Real errors keep their status.
    let r = change(crud, system, "add_members", "no-such-group", users(&[1])).await;
    assert_eq!(
        (r.0, &r.1["error"]["code"], &r.1["error"]["ldap_code"]),
        (404, &json!("not_found"), &json!(32)),
        "{}",
        r.1
    );
    t.push(r);
    let r = change(
        crud,
        system,
        "add_members",
        "admins",
        vec!["not a dn".to_owned()],
    )
    .await;
    assert_eq!(
        (r.0, &r.1["error"]["code"], &r.1["error"]["ldap_code"]),
        (400, &json!("invalid_syntax"), &json!(21)),
        "{}",
        r.1
    );
    t.push(r);
    let r = change(crud, system, "remove_members", "admins", users(&[2, 5, 6])).await;
    assert_eq!(
        (r.0, &r.1["error"]["code"]),
        (409, &json!("would_empty_group")),
        "{}",
        r.1
    );
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("membership_anchor_dn"),
        "{}",
        r.1
    );
    t.push(r);
    let r = change(crud, system, "set_members", "admins", vec![]).await;
    assert_eq!(
        (r.0, &r.1["error"]["code"]),
        (409, &json!("would_empty_group")),
        "{}",
        r.1
    );
    t.push(r);
    assert_eq!(
        members(crud, system, "admins").await,
        set(&users(&[2, 5, 6])),
        "a refused change changed nothing"
    );

    // A posixGroup may be emptied; DNs become uids.
    let r = change(crud, system, "set_members", "developers", users(&[7])).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(
        members(crud, system, "developers").await,
        BTreeSet::from(["user07".to_owned()])
    );
    let r = change(
        crud,
        system,
        "remove_members",
        "developers",
        vec!["user07".to_owned()],
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert!(members(crud, system, "developers").await.is_empty());
    t.push(r);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_changes_are_idempotent_straight_and_through_the_tunnel() {
    let (direct_dir, tunnel_dir) = (slapd().await, slapd().await);
    let stack = Stack::start(
        &[("ldap", tunnel_dir.addr())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let crud = TestCrud::start(&[
        System::new("direct", direct_dir.addr()),
        System::new("tunnel", stack.hub.listener("ldap")),
    ])
    .await;
    let direct = idempotency(&crud, "direct").await;
    let tunnel = idempotency(&crud, "tunnel").await;
    assert_eq!(direct, tunnel, "direct and tunnel answers differ");
    let metrics = crud.telemetry.metrics_text();
    assert!(
        metrics.contains("nowconnect_ldap_membership_errors_total{code=\"32\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nowconnect_ldap_membership_errors_total{code=\"21\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nowconnect_ldap_membership_errors_total{code=\"refused\"} 4"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anchor_batches_verification_and_assertions() {
    let dir = slapd().await;
    let anchor = "cn=nobody,dc=example,dc=org";
    let crud = TestCrud::start(&[
        System::new("anchored", dir.addr())
            .with(&format!("membership_anchor_dn: {anchor}"))
            .with("enable_assertion_control: true"),
        System::new("small", dir.addr())
            .with("membership_batch_size: 2\nmembership_max_concurrency: 2"),
        System::new("verified", dir.addr())
            .with("verify_member_dns: true\nenable_permissive_modify: true"),
    ])
    .await;
    // The anchor keeps sales (4 members) from going through zero, and leaves with a real member.
    let r = change(
        &crud,
        "anchored",
        "remove_members",
        "sales",
        users(&[9, 10, 11, 12]),
    )
    .await;
    assert_eq!(
        (
            r.0,
            &r.1["result"]["anchor_added"],
            &r.1["result"]["removed"]
        ),
        (200, &json!(true), &json!(4)),
        "{}",
        r.1
    );
    assert_eq!(
        members(&crud, "anchored", "sales").await,
        BTreeSet::from([anchor.to_owned()])
    );
    let r = change(&crud, "anchored", "set_members", "sales", vec![]).await;
    assert_eq!(
        (r.0, &r.1["result"]["batches"]),
        (200, &json!(0)),
        "{}",
        r.1
    );
    let r = change(&crud, "anchored", "add_members", "sales", users(&[13])).await;
    assert_eq!(
        (r.0, &r.1["result"]["anchor_removed"]),
        (200, &json!(true)),
        "{}",
        r.1
    );
    assert_eq!(
        members(&crud, "anchored", "sales").await,
        set(&users(&[13]))
    );
    let r = crud
        .execute(&request(
            "anchored",
            "group",
            "create",
            json!({"cn": "fresh"}),
        ))
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(
        members(&crud, "anchored", "fresh").await,
        BTreeSet::from([anchor.to_owned()])
    );

    // Deletes guarded by an assertion that a kept member is still there.
    let r = change(&crud, "anchored", "remove_members", "admins", users(&[2])).await;
    assert_eq!(
        (r.0, &r.1["result"]["removed"]),
        (200, &json!(1)),
        "{}",
        r.1
    );
    assert_eq!(
        members(&crud, "anchored", "admins").await,
        set(&users(&[1]))
    );

    // Batches of 2, at most 2 in flight: 7 new values are 4 modify requests.
    let r = change(
        &crud,
        "small",
        "add_members",
        "engineering",
        users(&[9, 10, 11, 12, 13, 14, 15, 1]),
    )
    .await;
    assert_eq!(
        (r.0, &r.1["result"]["added"], &r.1["result"]["batches"]),
        (200, &json!(7), &json!(4)),
        "{}",
        r.1
    );
    let r = change(&crud, "small", "set_members", "engineering", users(&[1])).await;
    assert_eq!(
        (r.0, &r.1["result"]["removed"], &r.1["result"]["batches"]),
        (200, &json!(14), &json!(7)),
        "{}",
        r.1
    );
    assert_eq!(
        members(&crud, "small", "engineering").await,
        set(&users(&[1]))
    );
    let metrics = crud.telemetry.metrics_text();
    for want in [
        "nowconnect_ldap_membership_batch_total{action=\"add\",system=\"small\"} 4",
        "nowconnect_ldap_membership_batch_total{action=\"remove\",system=\"small\"} 7",
        "nowconnect_ldap_membership_batch_seconds_count{action=\"remove\",system=\"small\"} 7",
    ] {
        assert!(metrics.contains(want), "missing {want}\n{metrics}");
    }

    // verify_member_dns refuses DNs that do not exist, before changing anything.
    let ghost = "uid=ghost,ou=people,dc=example,dc=org".to_owned();
    let r = change(
        &crud,
        "verified",
        "add_members",
        "admins",
        vec![user(3), ghost.clone()],
    )
    .await;
    assert_eq!(
        (r.0, &r.1["error"]["code"]),
        (422, &json!("member_not_found")),
        "{}",
        r.1
    );
    assert!(
        r.1["error"]["message"].as_str().unwrap().contains(&ghost),
        "{}",
        r.1
    );
    assert_eq!(
        members(&crud, "verified", "admins").await,
        set(&users(&[1]))
    );
    let r = change(&crud, "verified", "add_members", "admins", users(&[3])).await;
    assert_eq!((r.0, &r.1["result"]["added"]), (200, &json!(1)), "{}", r.1);
}

/// The write half replayed with a stale plan — what a concurrent writer leaves behind: the
/// directory answers 20 / 16 for whole batches, the batch is split value by value, the benign
/// values count as success (and on the counter), the others are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn benign_answers_from_a_stale_plan_are_success_split_and_counted() {
    let (direct_dir, tunnel_dir) = (slapd().await, slapd().await);
    let stack = Stack::start(
        &[("ldap", tunnel_dir.addr())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    for (name, addr) in [
        ("direct", direct_dir.addr()),
        ("tunnel", stack.hub.listener("ldap")),
    ] {
        let yaml = System::new(name, addr).yaml();
        let env = |n: &str| (n == PASSWORD_VAR).then(|| Slapd::ADMIN_PASSWORD.to_owned());
        let cfg = crud_service::config::system_from_yaml_str("x.yaml", name, &yaml, &env).unwrap();
        let telemetry = Telemetry::for_tests();
        let dir = Directory::new(
            cfg,
            CrudMetrics::new(&telemetry.meter("nowconnect"), [name]),
        );
        let admins = "cn=admins,ou=groups,dc=example,dc=org";
        // admins = {user01, user02}: user01 is already there, user05 is new.
        let stale = Plan {
            add: users(&[1, 5]),
            remove: users(&[9, 2]),
            ..Plan::default()
        };
        let report = dir.send_plan(admins, &stale).await.unwrap();
        assert_eq!(
            (report.added, report.removed, report.benign),
            (1, 1, 2),
            "{name}: {report:?}"
        );
        // One batch per phase refused, then two single-value requests each.
        assert_eq!(report.batches, 6, "{name}: {report:?}");
        let got = dir.read("t", admins, &["member"]).await.unwrap();
        assert_eq!(
            set(&got.attributes["member"]),
            set(&users(&[1, 5])),
            "{name}"
        );
        let text = telemetry.metrics_text();
        assert!(
            text.contains("nowconnect_ldap_membership_benign_total{code=\"20\"} 1"),
            "{name}: {text}"
        );
        assert!(
            text.contains("nowconnect_ldap_membership_benign_total{code=\"16\"} 1"),
            "{name}: {text}"
        );
        assert!(
            text.contains("nowconnect_ldap_membership_errors_total{code=\"32\"} 0"),
            "{name}: {text}"
        );
    }
}

/// The plan-invalidating answers, replayed from stale plans on a real slapd: a delete guarded
/// by an assertion on a member that is gone (122), and a delete of the last members of a
/// groupOfNames (65), both refuse the whole request — nothing is deleted — and ask for a re-read
/// (which `send_plan`, not re-reading, reports as `contended`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_deletes_are_refused_whole_and_ask_for_a_re_read() {
    let dir = slapd().await;
    let yaml = System::new("corp", dir.addr())
        .with("enable_assertion_control: true")
        .yaml();
    let env = |n: &str| (n == PASSWORD_VAR).then(|| Slapd::ADMIN_PASSWORD.to_owned());
    let cfg = crud_service::config::system_from_yaml_str("x.yaml", "corp", &yaml, &env).unwrap();
    let telemetry = Telemetry::for_tests();
    let dir = Directory::new(
        cfg,
        CrudMetrics::new(&telemetry.meter("nowconnect"), ["corp"]),
    );
    let admins = "cn=admins,ou=groups,dc=example,dc=org";
    // admins = {user01, user02}; the plan believes user07 stays.
    let guarded = Plan {
        remove: users(&[1]),
        kept: Some(user(7)),
        ..Plan::default()
    };
    let e = dir.send_plan(admins, &guarded).await.unwrap_err();
    assert!(
        matches!(e, crud_service::ldap::LdapOpError::Contended { .. }),
        "{e}"
    );
    assert_eq!(
        admin_members(&dir).await,
        set(&users(&[1, 2])),
        "nothing deleted"
    );
    // The plan believes a third member exists: deleting both real ones would empty the group.
    let emptying = Plan {
        remove: users(&[1, 2]),
        ..Plan::default()
    };
    let e = dir.send_plan(admins, &emptying).await.unwrap_err();
    assert!(
        matches!(e, crud_service::ldap::LdapOpError::Contended { .. }),
        "{e}"
    );
    assert_eq!(
        admin_members(&dir).await,
        set(&users(&[1, 2])),
        "nothing deleted"
    );
    // The real path re-reads and refuses clearly instead.
    let e = dir
        .update_group_members(
            admins,
            crud_service::action::MembershipAction::Remove,
            &users(&[1, 2]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, crud_service::ldap::LdapOpError::WouldEmptyGroup { .. }),
        "{e}"
    );
}

async fn admin_members(dir: &Directory) -> BTreeSet<String> {
    let entry = dir
        .read("t", "cn=admins,ou=groups,dc=example,dc=org", &["member"])
        .await
        .unwrap();
    set(&entry.attributes["member"])
}
