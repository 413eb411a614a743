//! `nowconnect-perf ldap` against a real slapd, directly and through the in-process tunnel:
//! the report's shape and counts, errors on a wrong password or a bad base, paging, and the
//! `--exit-on` gates of the real binary. No assertion on how fast anything is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use nowconnect_e2e::procs;
use nowconnect_e2e::slapd::{self, Slapd};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_perf::ldap::{self, LdapOpts, LdapReport, LdapTarget, Pacing, Scope};

async fn start_slapd() -> Slapd {
    tokio::task::spawn_blocking(Slapd::start)
        .await
        .unwrap()
        .expect("slapd")
}

/// Entries a subtree search of the whole seed returns (the real `ldapsearch`, unpaged).
async fn seed_entries(addr: SocketAddr) -> u64 {
    let out = tokio::task::spawn_blocking(move || {
        slapd::ldapsearch(addr, Slapd::BASE_DN, "(objectClass=*)", &["dn"])
    })
    .await
    .unwrap()
    .expect("ldapsearch");
    assert!(out.entries > Slapd::SEED_USERS, "{}", out.stdout);
    out.entries as u64
}

/// Open loop, 2 workers × 8 rps × 1 s: exactly 16 scheduled requests (intervals of 1/8 s are
/// exact in binary, so no slot lands on the end by rounding).
fn opts(addr: SocketAddr) -> LdapOpts {
    LdapOpts {
        target: LdapTarget {
            host: addr.ip().to_string(),
            port: addr.port(),
            ssl: false,
            insecure: false,
            bind_dn: Slapd::ADMIN_DN.into(),
            password: Slapd::ADMIN_PASSWORD.into(),
            base_dn: Slapd::BASE_DN.into(),
            filter: "(objectClass=*)".into(),
            attrs: vec!["cn".into(), "uid".into()],
            scope: Scope::Sub,
            page_size: 1000,
        },
        concurrency: 2,
        rps_per_worker: 8.0,
        duration: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        pacing: Pacing::Open,
        max_in_flight: 100,
        workload: None,
        run_id: None,
        progress: None,
    }
}

fn assert_clean(report: &LdapReport, requests: u64, entries_each: u64) {
    assert_eq!(report.requests_total, requests, "{report:#?}");
    assert_eq!(report.errors_total, 0, "{report:#?}");
    assert!(report.errors_by_kind.is_empty(), "{report:#?}");
    assert_eq!(report.latency_ms.count as u64, requests, "{report:#?}");
    assert_eq!(report.entries_total, requests * entries_each, "{report:#?}");
    let l = &report.latency_ms;
    assert!(l.p50_ms > 0.0, "{l:?}");
    assert!(
        l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms,
        "{l:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_report_has_the_runner_shape_and_exact_counts() {
    let slapd = start_slapd().await;
    let n = seed_entries(slapd.addr()).await;
    let report = ldap::run(&opts(slapd.addr())).await.expect("run");
    assert_clean(&report, 16, n);
    assert_eq!(report.mode, "ldap");
    assert_eq!(report.workload, "2x8-open");
    assert_eq!(report.target, format!("ldap://{}", slapd.addr()));
    assert_eq!(report.options.pacing, "open");
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    for key in [
        "run_id",
        "target",
        "workload",
        "start_iso",
        "requests_total",
        "errors_total",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    for key in ["count", "avg_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(
            json["latency_ms"][key].is_number(),
            "latency_ms.{key}: {json}"
        );
    }
    assert_eq!(json["run_id"].as_str().unwrap().len(), 36, "a UUID: {json}");
    assert!(json["start_iso"].as_str().unwrap().ends_with('Z'), "{json}");
    assert!(
        !json.to_string().contains(Slapd::ADMIN_PASSWORD),
        "the password leaked into the report: {json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_what_it_sent() {
    let slapd = start_slapd().await;
    let n = seed_entries(slapd.addr()).await;
    let mut o = opts(slapd.addr());
    o.pacing = Pacing::Closed;
    o.workload = Some("named".into());
    o.run_id = Some("run-7".into());
    let report = ldap::run(&o).await.expect("run");
    // Closed loop: at most one request per slot (fewer if answers were late), at least one.
    assert!((1..=16).contains(&report.requests_total), "{report:#?}");
    assert_clean(&report, report.requests_total, n);
    assert_eq!(
        (report.workload.as_str(), report.run_id.as_str()),
        ("named", "run-7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_a_bad_base_are_errors() {
    let slapd = start_slapd().await;
    let mut wrong = opts(slapd.addr());
    wrong.target.password = "not-the-password".into();
    let r = ldap::run(&wrong).await.expect("run");
    assert_eq!((r.requests_total, r.errors_total), (16, 16), "{r:#?}");
    assert_eq!(r.errors_by_kind.get("bind rc=49"), Some(&16), "{r:#?}");
    assert_eq!(r.latency_ms.count, 0, "{r:#?}");

    let mut bad_base = opts(slapd.addr());
    bad_base.target.base_dn = "ou=nowhere,dc=example,dc=org".into();
    let r = ldap::run(&bad_base).await.expect("run");
    assert_eq!((r.requests_total, r.errors_total), (16, 16), "{r:#?}");
    assert_eq!(r.errors_by_kind.get("search rc=32"), Some(&16), "{r:#?}");
    assert_eq!(r.entries_total, 0, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_search_returns_every_entry() {
    let slapd = start_slapd().await;
    let n = seed_entries(slapd.addr()).await;
    let mut paged = opts(slapd.addr());
    paged.target.page_size = 5;
    assert!(n > 5 * 3, "several pages: {n}");
    let r = ldap::run(&paged).await.expect("run");
    assert_clean(&r, 16, n);
    // One level under ou=people: the 20 seed users, over 4 pages.
    let mut people = opts(slapd.addr());
    people.target.page_size = 7;
    people.target.scope = Scope::One;
    people.target.base_dn = format!("ou=people,{}", Slapd::BASE_DN);
    let r = ldap::run(&people).await.expect("run");
    assert_clean(&r, 16, Slapd::SEED_USERS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_tunnel_the_same_search_gets_the_same_entries() {
    let slapd = start_slapd().await;
    let n = seed_entries(slapd.addr()).await;
    let stack = Stack::start(
        &[("ldap", slapd.addr())],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let listener = stack.hub.listener("ldap");
    let mut o = opts(listener);
    o.target.page_size = 4;
    let r = ldap::run(&o).await.expect("run");
    assert_clean(&r, 16, n);
    assert_eq!(r.target, format!("ldap://{listener}"));
}

/// The real binary with `PERF_*` variables; returns its output.
fn perf(env: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(procs::binary("nowconnect-perf"))
        .arg("ldap")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run nowconnect-perf")
}

fn env(addr: SocketAddr, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PERF_HOST", addr.ip().to_string()),
        ("PERF_PORT", addr.port().to_string()),
        ("PERF_BIND_DN", Slapd::ADMIN_DN.into()),
        ("PERF_PASSWORD", password.into()),
        ("PERF_BASE_DN", Slapd::BASE_DN.into()),
        ("PERF_CONCURRENCY", "2".into()),
        ("PERF_RPS_PER_WORKER", "8".into()),
        ("PERF_DURATION", "0.5".into()),
        ("PERF_PROGRESS_INTERVAL", "0.1".into()),
    ]
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_on_gates_pass_and_trip_in_the_binary() {
    let slapd = start_slapd().await;
    let addr = slapd.addr();
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("report.json");
    let outcome = tokio::task::spawn_blocking(move || {
        let good = env(addr, Slapd::ADMIN_PASSWORD);
        let mut results = HashMap::new();
        let out = out_file.display().to_string();
        results.insert(
            "pass",
            perf(
                &good,
                &[
                    "--exit-on",
                    "errors_total > 0",
                    "--exit-on",
                    "p99_ms > 60000",
                    "--out",
                    &out,
                ],
            ),
        );
        results.insert("report", {
            let json = std::fs::read_to_string(&out_file).unwrap();
            Output {
                status: results["pass"].status,
                stdout: json.into_bytes(),
                stderr: Vec::new(),
            }
        });
        results.insert("slow", perf(&good, &["--exit-on", "p99_ms >= 0"]));
        results.insert(
            "wrong",
            perf(
                &env(addr, "wrong-password"),
                &["--exit-on", "errors_total > 0"],
            ),
        );
        results.insert("no-gate", perf(&env(addr, "wrong-password"), &[]));
        results.insert("bad-expr", perf(&good, &["--exit-on", "p99_ms >> 3"]));
        results.insert("unknown", perf(&good, &["--exit-on", "p98_ms > 3"]));
        let mut with_env = good.clone();
        with_env.push(("PERF_EXIT_ON", "requests_total < 1000000".into()));
        results.insert("env", perf(&with_env, &[]));
        results
    })
    .await
    .unwrap();

    let pass = &outcome["pass"];
    assert_eq!(pass.status.code(), Some(0), "{}", text(pass));
    let stderr = String::from_utf8_lossy(&pass.stderr);
    assert!(
        stderr.contains("nowconnect-perf ldap:") && stderr.contains("requests"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(Slapd::ADMIN_PASSWORD)
            && !String::from_utf8_lossy(&pass.stdout).contains(Slapd::ADMIN_PASSWORD)
    );
    let report: serde_json::Value = serde_json::from_slice(&outcome["report"].stdout).unwrap();
    assert_eq!(report["requests_total"], 8, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    assert_eq!(report["options"]["concurrency"], 2, "{report}");

    let slow = &outcome["slow"];
    assert_eq!(slow.status.code(), Some(3), "{}", text(slow));
    assert!(
        String::from_utf8_lossy(&slow.stderr).contains("gate held: p99_ms >= 0"),
        "{}",
        text(slow)
    );

    let wrong = &outcome["wrong"];
    assert_eq!(wrong.status.code(), Some(3), "{}", text(wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("errors_total > 0 (actual 8)"),
        "{}",
        text(wrong)
    );
    assert!(!text(wrong).contains("wrong-password"), "{}", text(wrong));
    let no_gate = &outcome["no-gate"];
    assert_eq!(
        no_gate.status.code(),
        Some(0),
        "errors alone do not fail a run: {}",
        text(no_gate)
    );

    for (name, needle) in [
        ("bad-expr", "expected a number"),
        ("unknown", "unknown figure \"p98_ms\""),
    ] {
        let o = &outcome[name];
        assert_eq!(o.status.code(), Some(1), "{}", text(o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{}",
            text(o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).lines().count() == 1,
            "before any run: {}",
            text(o)
        );
    }
    let from_env = &outcome["env"];
    assert_eq!(
        from_env.status.code(),
        Some(3),
        "PERF_EXIT_ON applies: {}",
        text(from_env)
    );
}
