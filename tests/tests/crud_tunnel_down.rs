//! The tunnel under the crud-service fails (SPEC §8, issue 5): a stalled agent (SIGSTOP) makes
//! a call fail with 504 at its operation timeout instead of hanging; a killed agent (SIGKILL)
//! mid-operation makes calls fail cleanly (503/504, never another status, never a hang); once
//! an agent is back, the same crud-service — no restart — serves again, and the membership
//! ends exactly as last requested.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::crud::{System, TestCrud, request};
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::stack::{self, AgentOpts, HubOpts, start_hub, wait_health};
use nowconnect_e2e::targets;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Far above the configured operation timeout (1 s) plus one re-connection: a call that takes
/// this long is hanging.
const HANG: Duration = Duration::from_secs(30);
/// How long an agent gets to come back and carry a call again.
const RECOVERY: Duration = Duration::from_secs(30);

fn signal(proc: &Proc, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig}");
}

async fn call(crud: &TestCrud, body: &Value) -> (u16, Value) {
    tokio::time::timeout(HANG, crud.execute(body))
        .await
        .unwrap_or_else(|_| panic!("call hung: {body}"))
}

fn membership(action: &str, who: &[usize]) -> Value {
    let members: Vec<String> = who.iter().map(|n| Slapd::user_dn(*n)).collect();
    request(
        "corp",
        "group",
        action,
        json!({"group": "engineering", "members": members}),
    )
}

/// Repeats `body` until it answers 200 (the agent is back and the pool reconnected).
async fn until_served(crud: &TestCrud, body: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        let (s, answer) = call(crud, body).await;
        if s == 200 {
            return answer;
        }
        assert!([503, 504].contains(&s), "{s} {answer}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never served again: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_or_killed_agent_fails_calls_cleanly_and_the_pool_recovers() {
    let dir = tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd");
    let creds = Creds::new();
    // The hub notices a silent agent only after 10 s, so a stalled call meets its own 1 s
    // operation timeout first.
    let hub_opts = HubOpts {
        ping_timeout_sec: 10,
        ..HubOpts::default()
    };
    let hub = start_hub(&creds, &["ldap"], hub_opts).await;
    let token = creds.token_file("agent-c", &creds.token("agent-c"));
    let mut env = stack::agent_env(
        &hub.url(),
        "agent-c",
        &token,
        &[("ldap", dir.addr())],
        &AgentOpts::default(),
    );
    let health = targets::closed_port().await;
    env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
    let work = tempfile::tempdir().unwrap();
    let mut agent = Proc::spawn("nowconnect-premise", &[], &env, &work.path().join("a1.log"));
    wait_health(health, "READY", Duration::from_secs(20)).await;
    let crud = Arc::new(
        TestCrud::start(&[System::new("corp", hub.listener("ldap")).timeout_ms(1000)]).await,
    );
    let get = request("corp", "group", "get", json!({"cn": "engineering"}));
    until_served(&crud, &get).await;

    // Stalled: the pooled connection is open but nothing answers.
    signal(&agent, "-STOP");
    let (s, answer) = call(&crud, &get).await;
    assert_eq!(
        (s, &answer["error"]["code"]),
        (504, &json!("upstream_timeout")),
        "{answer}"
    );
    signal(&agent, "-CONT");
    until_served(&crud, &get).await;

    // Killed while calls are in flight.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4usize {
        let (crud, stop, served) = (crud.clone(), stop.clone(), served.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut add = true;
            while !stop.load(Ordering::SeqCst) {
                let action = if add { "add_members" } else { "remove_members" };
                let (s, answer) = call(&crud, &membership(action, &[9 + w, 13 + w])).await;
                if s == 200 {
                    served.fetch_add(1, Ordering::SeqCst);
                }
                statuses.push((s, answer["error"]["code"].clone()));
                add = !add;
            }
            statuses
        }));
    }
    // Kill once calls are flowing.
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while served.load(Ordering::SeqCst) < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no calls served before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    agent.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut statuses = Vec::new();
    for w in workers {
        statuses.extend(w.await.unwrap());
    }
    assert!(
        statuses.iter().any(|(s, _)| *s == 200),
        "nothing succeeded before the kill: {statuses:?}"
    );
    for (s, code) in &statuses {
        let clean = *s == 200
            || (*s == 503 && *code == json!("upstream_unavailable"))
            || (*s == 504 && *code == json!("upstream_timeout"));
        assert!(clean, "unclean failure {s} {code}: {statuses:?}");
    }
    let (s, answer) = call(&crud, &get).await;
    assert_eq!(
        (s, &answer["error"]["code"]),
        (503, &json!("upstream_unavailable")),
        "{answer}"
    );

    // An agent comes back; the same crud-service serves again and finishes the job.
    let _agent = Proc::spawn("nowconnect-premise", &[], &env, &work.path().join("a2.log"));
    wait_health(health, "READY", Duration::from_secs(20)).await;
    let wanted: Vec<usize> = (1..=8).chain([9, 10]).collect();
    until_served(&crud, &membership("set_members", &wanted)).await;
    let again = until_served(&crud, &membership("set_members", &wanted)).await;
    assert_eq!(
        again["result"]["batches"], 0,
        "the repeat changed nothing: {again}"
    );
    let group = until_served(&crud, &get).await;
    let got: std::collections::BTreeSet<String> = group["result"]["attributes"]["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let want: std::collections::BTreeSet<String> =
        wanted.iter().map(|n| Slapd::user_dn(*n)).collect();
    assert_eq!(got, want);
}
