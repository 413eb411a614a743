//! The hub and agent binaries as processes with [`FaultRelay`]s on both of the agent's paths,
//! for fault-injection tests: agents dial the hub through `hub_relay`, the `echo` connector's
//! target is reached through `target_relay`. Every process can be SIGKILLed and started again
//! with the same configuration and ports; a restarted process appends to its log file. Logs
//! are JSON (one object per line, with an `event` field), metrics on fixed loopback ports.

use crate::creds::Creds;
use crate::faultrelay::FaultRelay;
use crate::procs::Proc;
use crate::stack::{AgentOpts, HubOpts, agent_env, hub_yaml, wait_health};
use crate::targets;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The connector every [`ChaosStack`] serves.
pub const CONNECTOR: &str = "echo";

/// A hub process, restartable on the same ports and config.
#[derive(Debug)]
pub struct ChaosHub {
    /// The `echo` listener (clients connect here).
    pub listener: SocketAddr,
    /// The tunnel port: `/tunnel`, `/metrics`.
    pub tunnel: SocketAddr,
    pub log: PathBuf,
    config: PathBuf,
    proc: Option<Proc>,
}

impl ChaosHub {
    /// Starts the process (killing a running one first) and waits until its tunnel port answers.
    pub async fn spawn(&mut self) {
        self.kill();
        let args = ["--config", self.config.to_str().expect("UTF-8 path")];
        let proc = Proc::spawn_appending("nowconnect-cloud", &args, &HashMap::new(), &self.log);
        self.proc = Some(proc);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(self.tunnel).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "hub never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}

/// An agent process, restartable with the same environment and ports.
#[derive(Debug)]
pub struct ChaosAgent {
    pub id: String,
    /// The TCP health port (`OK` / `READY`).
    pub health: SocketAddr,
    /// The HTTP admin port (`/metrics`).
    pub admin: SocketAddr,
    pub log: PathBuf,
    env: HashMap<String, String>,
    proc: Option<Proc>,
}

impl ChaosAgent {
    /// Starts the process (killing a running one first); does not wait.
    pub fn spawn(&mut self) {
        self.kill();
        let proc = Proc::spawn_appending("nowconnect-premise", &[], &self.env, &self.log);
        self.proc = Some(proc);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// What the health port answers now (`OK` before the tunnel is acknowledged, `READY` after).
    pub async fn health_answer(&self) -> String {
        use tokio::io::AsyncReadExt;
        let mut s = tokio::net::TcpStream::connect(self.health)
            .await
            .expect("health port");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer).await;
        answer.trim().to_owned()
    }

    /// Waits until the health port answers `READY` (an acknowledged tunnel).
    pub async fn wait_ready(&self) {
        wait_health(self.health, "READY", Duration::from_secs(20)).await;
    }
}

/// Hub + agents + relays; every process is killed on drop.
#[derive(Debug)]
pub struct ChaosStack {
    pub hub: ChaosHub,
    pub agents: Vec<ChaosAgent>,
    /// Between the agents and the hub's tunnel port.
    pub hub_relay: FaultRelay,
    /// Between the first agent and its echo target.
    pub target_relay: FaultRelay,
    pub creds: Creds,
    /// Extra `NC_*` variables every agent gets (after the defaults).
    agent_extra: Vec<(String, String)>,
    agent_opts: AgentOpts,
    work: tempfile::TempDir,
}

impl ChaosStack {
    /// Starts the hub and one agent (`agent-0`, target: an echo server behind `target_relay`)
    /// and returns once the agent is `READY`. `agent_extra` is added to every agent's
    /// environment (e.g. `NC_PING_TIMEOUT_SEC`).
    pub async fn start(hub: HubOpts, agent: AgentOpts, agent_extra: &[(&str, &str)]) -> ChaosStack {
        ChaosStack::start_with_target(hub, agent, agent_extra, None).await
    }

    /// Like [`ChaosStack::start`]; with `target`, the first agent dials it directly instead of
    /// `target_relay` (e.g. a target that never completes a TCP handshake).
    pub async fn start_with_target(
        hub: HubOpts,
        agent: AgentOpts,
        agent_extra: &[(&str, &str)],
        target: Option<SocketAddr>,
    ) -> ChaosStack {
        let creds = Creds::new();
        let work = tempfile::tempdir().expect("tempdir");
        let (tunnel, listener) = (targets::closed_port().await, targets::closed_port().await);
        let opts = HubOpts {
            tunnel_port: tunnel.port(),
            ..hub
        };
        let yaml = hub_yaml(&creds, &[CONNECTOR], &opts)
            .replace("127.0.0.1:0", &listener.to_string())
            .replace("log_level: info\n", "log_level: info\n  log_format: json\n");
        let config = work.path().join("cloud.yaml");
        std::fs::write(&config, yaml).expect("write cloud.yaml");
        let mut hub = ChaosHub {
            listener,
            tunnel,
            log: work.path().join("hub.log"),
            config,
            proc: None,
        };
        hub.spawn().await;
        let hub_relay = FaultRelay::start(tunnel).await;
        let target_relay = FaultRelay::start(targets::echo_server().await).await;
        let mut stack = ChaosStack {
            hub,
            agents: Vec::new(),
            hub_relay,
            target_relay,
            creds,
            agent_extra: agent_extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            agent_opts: agent,
            work,
        };
        let target = target.unwrap_or_else(|| stack.target_relay.addr());
        let first = stack.add_agent("agent-0", target).await;
        stack.agents[first].wait_ready().await;
        stack
    }

    /// Adds and starts an agent exporting `echo` toward `target`; returns its index. Does not
    /// wait for it to be ready.
    pub async fn add_agent(&mut self, id: &str, target: SocketAddr) -> usize {
        let token = self.creds.token(id);
        let token_file = self.creds.token_file(id, &token);
        let url = format!("ws://{}/tunnel", self.hub_relay.addr());
        let mut env = agent_env(
            &url,
            id,
            &token_file,
            &[(CONNECTOR, target)],
            &self.agent_opts,
        );
        let (health, admin) = (targets::closed_port().await, targets::closed_port().await);
        env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
        env.insert("NC_METRICS_PORT".into(), admin.port().to_string());
        env.insert("NC_LOG_FORMAT".into(), "json".into());
        env.extend(self.agent_extra.iter().cloned());
        let mut agent = ChaosAgent {
            id: id.to_owned(),
            health,
            admin,
            log: self.work.path().join(format!("{id}.log")),
            env,
            proc: None,
        };
        agent.spawn();
        self.agents.push(agent);
        self.agents.len() - 1
    }

    /// Every log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("hub log:\n{}", read(&self.hub.log));
        for a in &self.agents {
            out.push_str(&format!("\n{} log:\n{}", a.id, read(&a.log)));
        }
        out
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The JSON log lines of `path` whose `event` is `event`.
pub fn log_events(path: &Path, event: &str) -> Vec<serde_json::Value> {
    read(path)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("event").and_then(|e| e.as_str()) == Some(event))
        .collect()
}

/// Polls `path` until it holds at least `count` `event` lines for which `matches` holds;
/// returns them.
pub async fn wait_log_events(
    path: &Path,
    event: &str,
    count: usize,
    matches: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<_> = log_events(path, event)
            .into_iter()
            .filter(|v| matches(v))
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} {event} never logged in {}:\n{}",
            path.display(),
            read(path)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The string field `key` of a log line ("" when absent).
pub fn field<'a>(line: &'a serde_json::Value, key: &str) -> &'a str {
    line.get(key).and_then(|v| v.as_str()).unwrap_or("")
}
