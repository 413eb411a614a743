//! The demo binary end to end: `nowconnect-demo --once` starts slapd, the real hub and agent,
//! sends LDAP through the tunnel, and reports identical answers and traffic both ways, what a
//! real Prometheus scraped, and the state of every shipped alert.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// The number after `label` on the summary line that starts with it.
fn number(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in `{line}`"))
}

#[test]
fn demo_once_reports_identical_results_and_traffic_both_ways() {
    // A private work dir, so a demo running in `<repo>/.demo` is left alone.
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nowconnect-demo"))
        .arg("--once")
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .expect("run nowconnect-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  ldap3 ") || l.starts_with("  ldapsearch "))
        .collect();
    assert_eq!(rows.len(), 6, "three searches per client:\n{stdout}");
    for row in &rows {
        assert!(row.ends_with("identical"), "{row}");
    }
    assert!(stdout.contains("searches identical: 6/6"), "{stdout}");
    assert!(number(&stdout, "tunnel streams:") >= 4, "{stdout}");
    assert!(
        number(&stdout, "bytes c2a (client -> target):") > 0,
        "{stdout}"
    );
    assert!(
        number(&stdout, "bytes a2c (target -> client):") > 0,
        "{stdout}"
    );
    assert!(stdout.contains("protocol: v2"), "{stdout}");
    assert!(stdout.contains("prometheus targets up: 3/3"), "{stdout}");
    // The crud-service made one membership change through the tunnel, twice.
    assert!(
        stdout.contains("through the tunnel: 1 added, 0 skipped, 1 batch(es)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "HTTP 200, 0 added, 1 skipped, 0 batch(es): the repeat succeeded idempotently"
        ),
        "{stdout}"
    );
    // Prometheus scraped at least what the hub logged.
    assert!(
        number(&stdout, "prometheus hub bytes: c2a")
            >= number(&stdout, "bytes c2a (client -> target):"),
        "{stdout}"
    );
    let alerts: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("alerts ("))
        .skip(1)
        .take_while(|l| l.starts_with("  NowConnect"))
        .collect();
    assert!(
        alerts.len() >= 6,
        "every shipped alert with its state:\n{stdout}"
    );
    for line in &alerts {
        let state = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(["inactive", "pending", "firing"].contains(&state), "{line}");
    }
    assert!(
        alerts
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NowConnectNoAgent", "inactive"]),
        "the agent serves its connector:\n{stdout}"
    );
    assert!(work.path().join("hub.log").is_file() && work.path().join("agent.log").is_file());
}
