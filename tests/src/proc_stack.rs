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

/// A running hub + agent pair; both are killed on drop.
#[derive(Debug)]
pub struct ProcStack {
    /// The hub's `echo` listener (clients connect here).
    pub listener: SocketAddr,
    /// The hub's tunnel port (`/tunnel`, `/healthz`, `/readyz`, `/metrics`).
    pub tunnel: SocketAddr,
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
        let creds = Creds::new();
        let work = tempfile::tempdir().expect("tempdir");
        let echo = targets::echo_server().await;
        let (tunnel, listener, health) = (
            targets::closed_port().await,
            targets::closed_port().await,
            targets::closed_port().await,
        );
        let opts = HubOpts {
            tunnel_port: tunnel.port(),
            ..HubOpts::default()
        };
        // The listener gets a known port instead of the ephemeral one of in-process stacks.
        let yaml = hub_yaml(&creds, &["echo"], &opts).replace("127.0.0.1:0", &listener.to_string());
        let cloud_yaml = work.path().join("cloud.yaml");
        std::fs::write(&cloud_yaml, yaml).expect("write cloud.yaml");
        let hub_log = work.path().join("hub.log");
        let args = ["--config", cloud_yaml.to_str().expect("UTF-8 path")];
        let hub = Proc::spawn("nowconnect-cloud", &args, env, &hub_log);

        let token = creds.token(AGENT_ID);
        let token_file = creds.token_file(AGENT_ID, &token);
        let url = format!("ws://{tunnel}/tunnel");
        let opts = AgentOpts::default();
        let mut agent_vars = agent_env(&url, AGENT_ID, &token_file, &[("echo", echo)], &opts);
        agent_vars.insert("NC_HEALTH_PORT".into(), health.port().to_string());
        agent_vars.extend(env.clone());
        let agent_log = work.path().join("agent.log");
        let agent = Proc::spawn("nowconnect-premise", &[], &agent_vars, &agent_log);
        wait_health(health, "READY", Duration::from_secs(20)).await;
        ProcStack {
            listener,
            tunnel,
            hub_log,
            agent_log,
            token,
            hub: Some(hub),
            agent: Some(agent),
            _creds: creds,
            _work: work,
        }
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
