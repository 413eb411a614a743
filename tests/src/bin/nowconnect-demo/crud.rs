//! The demo's crud-service: the real binary with one system pointing at the hub's LDAP
//! listener (so every call goes through the tunnel), and one group-membership change sent twice
//! to show that the repeat succeeds idempotently.

use crate::stack::{Files, Ports, http_ok, path_str};
use anyhow::{Context, bail, ensure};
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::slapd::Slapd;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The system's name (its file stem) and the variable holding its bind password.
pub(crate) const SYSTEM: &str = "corp-tunnel";
const PASSWORD_VAR: &str = "DEMO_LDAP_BIND_PASSWORD";
/// The change the demo makes (twice): add user05 to `admins`.
pub(crate) const GROUP: &str = "admins";
pub(crate) const MEMBER: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// One answer of `POST /execute`.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) result: Value,
}

/// The membership change, sent twice.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) first: Answer,
    pub(crate) repeat: Answer,
}

impl Membership {
    /// The repeat succeeded and sent nothing: the member was already there.
    pub(crate) fn idempotent(&self) -> bool {
        self.first.status == 200
            && self.repeat.status == 200
            && self.repeat.result["added"] == 0
            && self.repeat.result["batches"] == 0
    }
}

/// The system file, the crud-service's log.
pub(crate) fn files(files: &Files) -> (PathBuf, PathBuf) {
    let work = files
        .hub_log
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    (work.join("crud"), work.join("crud.log"))
}

/// Writes the system file and starts `crud-service`; waits until `/health` answers.
pub(crate) async fn start(files_: &Files, ports: &Ports) -> anyhow::Result<Proc> {
    let (dir, log) = files(files_);
    std::fs::create_dir_all(dir.join("systems"))?;
    let yaml = format!(
        "# Through the tunnel: the hub's LDAP listener.\nconnection:\n  server:\n    \
         base_url: {}\n    port: {}\n  credentials:\n    username: {}\n    password: \
         ${{{{ENV:{PASSWORD_VAR}}}}}\nbase_dn: {}\nmembership_anchor_dn: cn=nobody,{}\n",
        ports.listener.ip(),
        ports.listener.port(),
        Slapd::ADMIN_DN,
        Slapd::BASE_DN,
        Slapd::BASE_DN,
    );
    std::fs::write(dir.join("systems").join(format!("{SYSTEM}.yaml")), yaml)?;
    let env: HashMap<String, String> = [
        ("SERVICE_CONFIG_DIR", path_str(&dir)?.to_owned()),
        ("CRUD_LISTEN", ports.crud.to_string()),
        (PASSWORD_VAR, Slapd::ADMIN_PASSWORD.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let proc = Proc::spawn("crud-service", &[], &env, &log);
    let deadline = Instant::now() + READY_TIMEOUT;
    while !http_ok(ports.crud, "/health").await {
        if Instant::now() > deadline {
            bail!(
                "crud-service GET /health != 200 after {READY_TIMEOUT:?} (see {})",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(proc)
}

/// Adds user05 to `admins` through the crud-service (and so through the tunnel), twice.
pub(crate) async fn membership_twice(ports: &Ports) -> anyhow::Result<Membership> {
    let body = json!({
        "system": SYSTEM, "object_type": "group", "action": "add_members",
        "params": {"group": GROUP, "members": [Slapd::user_dn(MEMBER)]},
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("http://{}/execute", ports.crud);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let res = client
            .post(&url)
            .json(&body)
            .send()
            .await
            .context("POST /execute")?;
        let status = res.status().as_u16();
        let answer: Value = res.json().await.context("POST /execute answer")?;
        ensure!(status == 200, "crud-service answered {status}: {answer}");
        answers.push(Answer {
            status,
            result: answer["result"].clone(),
        });
    }
    let repeat = answers.pop().context("second answer")?;
    let first = answers.pop().context("first answer")?;
    Ok(Membership { first, repeat })
}
