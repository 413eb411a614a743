//! The crud-service's metrics contract (SPEC §6.1, CRUD rows), scraped over real HTTP from an
//! in-process crud-service after real membership changes through the real tunnel: the exact
//! families, types and label sets (golden file `fixtures/metrics-crud.txt`, which the
//! dashboards are linted against), `promtool check metrics`, and the values the traffic moved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/prom.rs"]
#[allow(dead_code)]
mod prom;

use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use prom::{Scrape, promtool_check, scrape};
use serde_json::json;

const GOLDEN: &str = include_str!("../fixtures/metrics-crud.txt");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_crud_scrape_matches_the_golden_contract_and_passes_promtool() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let stack = Stack::start(
        &[("ldap", dir.addr())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let crud = TestCrud::start(&[
        System::new("corp", stack.hub.listener("ldap")).with("membership_batch_size: 2")
    ])
    .await;
    let admins = |action: &str, who: &[usize]| {
        let members: Vec<String> = who.iter().map(|n| Slapd::user_dn(*n)).collect();
        request(
            "corp",
            "group",
            action,
            json!({"group": "admins", "members": members}),
        )
    };
    for (body, want) in [
        (admins("add_members", &[3, 4, 5]), 200),
        (admins("add_members", &[3, 4, 5]), 200),
        (admins("remove_members", &[3, 4, 5, 6]), 200),
        (admins("set_members", &[]), 409),
        (
            request(
                "corp",
                "group",
                "add_members",
                json!({"group": "nope", "members": [Slapd::user_dn(1)]}),
            ),
            404,
        ),
        (
            request("corp", "user", "get", json!({"uid": "user01"})),
            200,
        ),
        (request("corp", "user", "explode", json!({})), 400),
    ] {
        let (status, answer) = crud.execute(&body).await;
        assert_eq!(status, want, "{body} → {answer}");
    }

    let text = scrape(crud.addr).await;
    let got = Scrape::parse(&text);
    let golden: Vec<&str> = GOLDEN.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        got.contract(),
        golden,
        "crud families, types and labels differ from the golden file\n{text}"
    );
    promtool_check(&text);

    let corp = |action: &str| [("action", action.to_owned()), ("system", "corp".to_owned())];
    let v = |name: &str, labels: &[(&str, String)]| {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        got.value(name, &labels)
    };
    // 3 values in batches of 2 each way; the repeat and the refusals sent nothing.
    assert_eq!(
        v("nowconnect_ldap_membership_batch_total", &corp("add")),
        2.0
    );
    assert_eq!(
        v("nowconnect_ldap_membership_batch_total", &corp("remove")),
        2.0
    );
    assert_eq!(
        v(
            "nowconnect_ldap_membership_batch_seconds_count",
            &corp("add")
        ),
        2.0
    );
    assert_eq!(
        got.value(
            "nowconnect_ldap_membership_values_total",
            &[("action", "add")]
        ),
        3.0
    );
    assert_eq!(
        got.value(
            "nowconnect_ldap_membership_values_total",
            &[("action", "remove")]
        ),
        3.0
    );
    assert_eq!(
        got.value("nowconnect_ldap_membership_errors_total", &[("code", "32")]),
        1.0
    );
    assert_eq!(
        got.value(
            "nowconnect_ldap_membership_errors_total",
            &[("code", "refused")]
        ),
        1.0
    );
    assert_eq!(
        got.get("nowconnect_ldap_membership_benign_total", &[("code", "20")]),
        Some(0.0)
    );
    assert_eq!(
        got.get(
            "nowconnect_ldap_membership_errors_total",
            &[("code", "unavailable")]
        ),
        Some(0.0)
    );
    let req = |action: &str, code: &str| {
        got.value(
            "nowconnect_crud_requests_total",
            &[("action", action), ("code", code)],
        )
    };
    assert_eq!(req("group.add_members", "ok"), 2.0);
    assert_eq!(req("group.add_members", "not_found"), 1.0);
    assert_eq!(req("group.set_members", "would_empty_group"), 1.0);
    assert_eq!(req("user.get", "ok"), 1.0);
    assert_eq!(req("invalid", "unknown_action"), 1.0);
    assert_eq!(
        got.value(
            "nowconnect_crud_request_duration_seconds_count",
            &[("action", "group.add_members")]
        ),
        3.0
    );
}
