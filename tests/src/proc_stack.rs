//! The real binaries as processes: a hub with one `echo` listener and an agent serving it,
//! configured exactly as an operator would (a cloud.yaml, `NC_*` variables, a token file),
//! with their stdout/stderr kept in log files.

use crate::creds::Creds;
use crate::procs::Proc;
use crate::stack::{AgentOpts, HubOpts, agent_env, hub_yaml, wait_health};
use crate::targets;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// The agent's id in a [`ProcStack`].
pub const AGENT_ID: &str = "agent-proc";

/// What [`ProcStack::start_with`] starts.
pub struct ProcSpec {
    /// (connector, target): one hub listener and one agent route each.
    pub targets: Vec<(String, SocketAddr)>,
    pub hub: HubOpts,
    pub agent: AgentOpts,
    /// Added to both processes' environment.
    pub env: HashMap<String, String>,
    /// Applied to the generated cloud.yaml last (for keys [`HubOpts`] does not have).
    pub edit_hub_yaml: Box<dyn Fn(String) -> String + Send>,
}

impl ProcSpec {
    /// Default options in front of `targets`.
    pub fn new(targets: &[(&str, SocketAddr)]) -> ProcSpec {
        ProcSpec {
            targets: targets.iter().map(|(c, a)| ((*c).to_owned(), *a)).collect(),
            hub: HubOpts::default(),
            agent: AgentOpts::default(),
            env: HashMap::new(),
            edit_hub_yaml: Box::new(|yaml| yaml),
        }
    }
}

impl std::fmt::Debug for ProcSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcSpec")
            .field("targets", &self.targets)
            .field("hub", &self.hub)
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// A running hub + agent pair; both are killed on drop.
#[derive(Debug)]
pub struct ProcStack {
    /// The hub's `echo` listener (clients connect here).
    pub listener: SocketAddr,
    /// Every listener: (connector, address), in the order of [`ProcSpec::targets`].
    pub listeners: Vec<(String, SocketAddr)>,
    /// The hub's tunnel port (`/tunnel`, `/healthz`, `/readyz`, `/metrics`).
    pub tunnel: SocketAddr,
    /// The agent's HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
    pub admin: SocketAddr,
    pub hub_log: PathBuf,
    pub agent_log: PathBuf,
    /// The agent's token, to check it never reaches a log.
    pub token: String,
    hub: Option<Proc>,
    agent: Option<Proc>,
    _creds: Creds,
    _work: tempfile::TempDir,
}

impl ProcStack {
    /// Starts the hub and the agent (both with `env` added to their environment) in front of
    /// an echo target and returns once the agent's health port answers `READY`.
    pub async fn start(env: &HashMap<String, String>) -> ProcStack {
        let echo = targets::echo_server().await;
        let spec = ProcSpec {
            env: env.clone(),
            ..ProcSpec::new(&[("echo", echo)])
        };
        ProcStack::start_with(spec).await
    }

    /// Starts the hub (one listener per target, on known ports) and the agent serving every
    /// target, as `spec` says; returns once the agent's health port answers `READY`.
    pub async fn start_with(spec: ProcSpec) -> ProcStack {
        let creds = Creds::new();
        let work = tempfile::tempdir().expect("tempdir");
        let (tunnel, health, admin) = (
            targets::closed_port().await,
            targets::closed_port().await,
            targets::closed_port().await,
        );
        let opts = HubOpts {
            tunnel_port: tunnel.port(),
            ..spec.hub.clone()
        };
        let connectors: Vec<&str> = spec.targets.iter().map(|(c, _)| c.as_str()).collect();
        let mut yaml = hub_yaml(&creds, &connectors, &opts);
        // Listeners get known ports instead of the ephemeral ones of in-process stacks.
        let mut listeners = Vec::new();
        for c in &connectors {
            let addr = targets::closed_port().await;
            let line = format!("bind: \"127.0.0.1:0\", connector: {c}}}");
            let bound = format!("bind: \"{addr}\", connector: {c}}}");
            yaml = yaml.replace(&line, &bound);
            listeners.push(((*c).to_owned(), addr));
        }
        let yaml = (spec.edit_hub_yaml)(yaml);
        let cloud_yaml = work.path().join("cloud.yaml");
        std::fs::write(&cloud_yaml, yaml).expect("write cloud.yaml");
        let hub_log = work.path().join("hub.log");
        let args = ["--config", cloud_yaml.to_str().expect("UTF-8 path")];
        let hub = Proc::spawn("nowconnect-cloud", &args, &spec.env, &hub_log);

        let token = creds.token(AGENT_ID);
        let token_file = creds.token_file(AGENT_ID, &token);
        let url = format!("ws://{tunnel}/tunnel");
        let routes: Vec<(&str, SocketAddr)> =
            spec.targets.iter().map(|(c, a)| (c.as_str(), *a)).collect();
        let mut agent_vars = agent_env(&url, AGENT_ID, &token_file, &routes, &spec.agent);
        agent_vars.insert("NC_HEALTH_PORT".into(), health.port().to_string());
        agent_vars.insert("NC_METRICS_PORT".into(), admin.port().to_string());
        agent_vars.extend(spec.env.clone());
        let agent_log = work.path().join("agent.log");
        let agent = Proc::spawn("nowconnect-premise", &[], &agent_vars, &agent_log);
        wait_health(health, "READY", Duration::from_secs(20)).await;
        ProcStack {
            listener: listeners[0].1,
            listeners,
            tunnel,
            admin,
            hub_log,
            agent_log,
            token,
            hub: Some(hub),
            agent: Some(agent),
            _creds: creds,
            _work: work,
        }
    }

    /// The listener of `connector`.
    pub fn listener_of(&self, connector: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(c, _)| c == connector)
            .map(|(_, a)| *a)
            .expect("a listener for the connector")
    }

    /// The hub's process id (for /proc readings); `None` once stopped.
    pub fn hub_pid(&self) -> Option<u32> {
        self.hub.as_ref().map(Proc::pid)
    }

    /// The agent's process id; `None` once stopped.
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(Proc::pid)
    }

    /// SIGTERM to the agent, then to the hub; each gets 20 s to drain and exit. Returns their
    /// exit statuses (`None`: still running, then killed).
    pub async fn stop(&mut self) -> (Option<ExitStatus>, Option<ExitStatus>) {
        let (agent, hub) = (self.agent.take(), self.hub.take());
        tokio::task::spawn_blocking(move || {
            let stop = |p: Option<Proc>| p.and_then(|mut p| p.terminate(Duration::from_secs(20)));
            (stop(agent), stop(hub))
        })
        .await
        .expect("stop task")
    }

    /// Both logs, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "hub log:\n{}\nagent log:\n{}",
            read(&self.hub_log),
            read(&self.agent_log)
        )
    }
}
