//! A real Prometheus (Debian's `prometheus` package) started on a free loopback port with a
//! generated config: the given scrape targets, the repository's alert rules, a throwaway TSDB.
//! Queries go through its HTTP API, exactly as Grafana's would.

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "install it with scripts/install-deps.sh (Debian package `prometheus`)";
const BINARY: &str = "/usr/bin/prometheus";

/// One scrape job: its name (the `job` label) and `host:port` targets serving `/metrics`.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub targets: Vec<SocketAddr>,
}

/// A running Prometheus; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The repository's alert rule files.
pub fn rule_files() -> anyhow::Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The prometheus.yml for `jobs`, every `interval`, loading `rules`.
pub fn config(jobs: &[Job], interval: Duration, rules: &[PathBuf]) -> String {
    let secs = interval.as_secs().max(1);
    let mut yaml = format!(
        "global:\n  scrape_interval: {secs}s\n  evaluation_interval: {secs}s\nrule_files:\n"
    );
    for rule in rules {
        let _ = writeln!(yaml, "  - \"{}\"", rule.display());
    }
    yaml.push_str("scrape_configs:\n");
    for job in jobs {
        let targets: Vec<String> = job.targets.iter().map(|t| format!("\"{t}\"")).collect();
        let _ = writeln!(
            yaml,
            "  - job_name: \"{}\"\n    static_configs:\n      - targets: [{}]",
            job.name,
            targets.join(", ")
        );
    }
    yaml
}

impl Prometheus {
    /// Writes the config, starts Prometheus and waits until `/-/ready` answers 200.
    pub async fn start(jobs: &[Job], interval: Duration) -> anyhow::Result<Prometheus> {
        ensure!(
            Path::new(BINARY).is_file(),
            "{BINARY} not found: {INSTALL_HINT}"
        );
        let dir = tempfile::Builder::new()
            .prefix("nowconnect-prometheus-")
            .tempdir()?;
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config(jobs, interval, &rule_files()?))?;
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawning {BINARY}"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut prom = Prometheus {
            child,
            addr,
            log,
            client,
            _dir: dir,
        };
        prom.wait_ready().await?;
        Ok(prom)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/-/ready", self.url());
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("prometheus exited ({status}):\n{}", self.log_tail());
            }
            if let Ok(r) = self.client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("prometheus not ready within 30 s:\n{}", self.log_tail())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last lines of Prometheus's own log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `GET /api/v1/<path>` with `params`; the `data` of a `"status": "success"` answer.
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let base = format!("{}/api/v1/{path}", self.url());
        let url = reqwest::Url::parse_with_params(&base, params)?;
        let body: Value = self
            .client
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("GET {url}: not JSON"))?;
        ensure!(body["status"] == "success", "GET {base} {params:?}: {body}");
        Ok(body["data"].clone())
    }

    /// An instant query; returns `data` (`resultType` and `result`).
    pub async fn query(&self, expr: &str) -> anyhow::Result<Value> {
        self.api("query", &[("query", expr)]).await
    }

    /// Every active alert: `(alertname, state)`.
    pub async fn alerts(&self) -> anyhow::Result<Vec<(String, String)>> {
        let data = self.api("alerts", &[]).await?;
        let alerts = data["alerts"].as_array().cloned().unwrap_or_default();
        Ok(alerts
            .iter()
            .map(|a| {
                let name = a["labels"]["alertname"].as_str().unwrap_or("?").to_owned();
                (name, a["state"].as_str().unwrap_or("?").to_owned())
            })
            .collect())
    }

    /// Every loaded alerting rule with its state: `(name, inactive|pending|firing)`.
    pub async fn alert_states(&self) -> anyhow::Result<Vec<(String, String)>> {
        let data = self.api("rules", &[("type", "alert")]).await?;
        let mut out = Vec::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let name = rule["name"].as_str().unwrap_or_default().to_owned();
                let state = rule["state"].as_str().unwrap_or("unknown").to_owned();
                out.push((name, state));
            }
        }
        Ok(out)
    }

    /// Every loaded alerting rule: `(name, expr)`.
    pub async fn alert_rules(&self) -> anyhow::Result<Vec<(String, String)>> {
        let data = self.api("rules", &[("type", "alert")]).await?;
        let mut out = Vec::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let name = rule["name"].as_str().unwrap_or_default().to_owned();
                let query = rule["query"].as_str().unwrap_or_default().to_owned();
                out.push((name, query));
            }
        }
        Ok(out)
    }

    /// Scrape targets that are up: `(job, instance)`.
    pub async fn up_targets(&self) -> anyhow::Result<Vec<(String, String)>> {
        let data = self.api("targets", &[("state", "active")]).await?;
        let targets = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(targets
            .iter()
            .filter(|t| t["health"] == "up")
            .map(|t| {
                (
                    t["labels"]["job"].as_str().unwrap_or_default().to_owned(),
                    t["labels"]["instance"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
