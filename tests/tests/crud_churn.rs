//! Churn (SPEC §8): 16 concurrent workers add and remove overlapping members of one group
//! through the crud-service and the real tunnel for several seconds. No call may fail on a
//! benign duplicate, and once every worker has sent its last request the membership is
//! exactly what those last requests asked for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: usize = 16;
/// How long the workers churn (a workload length, not an assertion).
const CHURN: Duration = Duration::from_secs(4);
/// Users the workers fight over; user20 stays in the group throughout.
const POOL: std::ops::RangeInclusive<usize> = 1..=12;
const KEEPER: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_workers_churning_one_group_never_fail_and_end_as_last_requested() {
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
    let crud = Arc::new(
        TestCrud::start(&[System::new("corp", stack.hub.listener("ldap"))
            .with("pool_size: 8\nmembership_batch_size: 3")])
        .await,
    );
    let (s, body) = crud
        .execute(&request(
            "corp",
            "group",
            "create",
            json!({"cn": "churn", "members": [Slapd::user_dn(KEEPER)]}),
        ))
        .await;
    assert_eq!(s, 200, "{body}");

    let deadline = Instant::now() + CHURN;
    // Every worker's last request is sent after every worker stopped churning.
    let churned = Arc::new(tokio::sync::Barrier::new(WORKERS));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let crud = crud.clone();
        let churned = churned.clone();
        workers.push(tokio::spawn(async move {
            let mut calls = 0usize;
            let mut failures = Vec::new();
            while Instant::now() < deadline {
                let (action, who) = {
                    let mut rng = rand::thread_rng();
                    let mut pool: Vec<usize> = POOL.collect();
                    pool.shuffle(&mut rng);
                    let n = rng.gen_range(1..=5);
                    let action = if rng.gen_bool(0.5) {
                        "add_members"
                    } else {
                        "remove_members"
                    };
                    (
                        action,
                        pool[..n]
                            .iter()
                            .map(|u| Slapd::user_dn(*u))
                            .collect::<Vec<_>>(),
                    )
                };
                let (s, body) = crud
                    .execute(&request(
                        "corp",
                        "group",
                        action,
                        json!({"group": "churn", "members": who}),
                    ))
                    .await;
                calls += 1;
                if s != 200 {
                    failures.push(format!("worker {w}: {action}: {s} {body}"));
                }
            }
            churned.wait().await;
            // The last request: workers 0-7 add users 1-6, workers 8-15 remove users 7-12.
            let (action, who): (&str, Vec<usize>) = if w < WORKERS / 2 {
                (
                    "add_members",
                    vec![1 + w % 6, 1 + (w + 1) % 6, 1 + (w + 3) % 6],
                )
            } else {
                (
                    "remove_members",
                    vec![7 + w % 6, 7 + (w + 2) % 6, 7 + (w + 4) % 6],
                )
            };
            let who: Vec<String> = who.into_iter().map(Slapd::user_dn).collect();
            let (s, body) = crud
                .execute(&request(
                    "corp",
                    "group",
                    action,
                    json!({"group": "churn", "members": who}),
                ))
                .await;
            calls += 1;
            if s != 200 {
                failures.push(format!("worker {w}: last {action}: {s} {body}"));
            }
            (calls, failures)
        }));
    }
    let mut calls = 0;
    let mut failures = Vec::new();
    for w in workers {
        let (c, f) = w.await.unwrap();
        calls += c;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let (s, body) = crud
        .execute(&request("corp", "group", "get", json!({"cn": "churn"})))
        .await;
    assert_eq!(s, 200, "{body}");
    let got: BTreeSet<String> = body["result"]["attributes"]["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_lowercase())
        .collect();
    // The adders' union covers users 1-6, the removers' users 7-12.
    let want: BTreeSet<String> = (1..=6).chain([KEEPER]).map(Slapd::user_dn).collect();
    assert_eq!(got, want, "after {calls} calls");
    let metrics = crud.telemetry.metrics_text();
    // Concurrent writers collide: the directory answered 20 and 16, and those were successes.
    for code in ["20", "16"] {
        let series = format!("nowconnect_ldap_membership_benign_total{{code=\"{code}\"}} ");
        let n: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(n > 0.0, "no benign {code} under churn\n{metrics}");
    }
    println!("churn: {calls} calls, benign outcomes:");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("nowconnect_ldap_membership_benign_total"))
    {
        println!("  {line}");
    }
}
