//! The compose stack's Alertmanager config in a real Alertmanager (Debian's
//! `prometheus-alertmanager`, on a loopback port): while `NowConnectNoAgent` fires for a
//! connector, that connector's `NowConnectListenerErrorSpike{type="session"}` is suppressed;
//! other error types and other connectors still notify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::deploy::Compose;
use nowconnect_e2e::targets::closed_port;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alert(name: &str, connector: &str, extra: &[(&str, &str)]) -> Value {
    let mut labels = json!({
        "alertname": name,
        "connector": connector,
        "job": "nowconnect-cloud",
        "severity": "warning",
    });
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    json!({"labels": labels})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_inhibits_session_errors_of_the_same_connector_only() {
    let c = Compose::load();
    let root = c.container_root("alertmanager");
    let config = root.path().join("etc/alertmanager/alertmanager.yml");
    let addr = closed_port().await;
    let storage = tempfile::tempdir().unwrap();
    let log = storage.path().join("alertmanager.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.path().display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| panic!("{BINARY}: {e}: run scripts/install-deps.sh"));
    let _am = Killed(child);
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/v2");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/status"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alertmanager not up:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let spike = "NowConnectListenerErrorSpike";
    let alerts = json!([
        alert("NowConnectNoAgent", "addomain", &[("severity", "critical")]),
        alert(spike, "addomain", &[("type", "session")]),
        alert(spike, "addomain", &[("type", "write")]),
        alert(spike, "crm", &[("type", "session")]),
    ]);
    let posted = http
        .post(format!("{base}/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{posted:?}");

    let want = [
        ("NowConnectNoAgent", "addomain", "", "active"),
        (spike, "addomain", "session", "suppressed"),
        (spike, "addomain", "write", "active"),
        (spike, "crm", "session", "active"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got: Value = http
            .get(format!("{base}/alerts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut states: Vec<(String, String, String, String)> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let l = &a["labels"];
                let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    s(&l["alertname"]),
                    s(&l["connector"]),
                    s(&l["type"]),
                    s(&a["status"]["state"]),
                )
            })
            .collect();
        states.sort();
        let mut expected: Vec<(String, String, String, String)> = want
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .collect();
        expected.sort();
        if states == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alert states {states:?}, want {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
