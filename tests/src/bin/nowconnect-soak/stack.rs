//! The soak's processes: a real slapd and an in-process echo target behind the hub and agent
//! binaries (`ldap` and `echo` connectors), the agent killed with SIGKILL and restarted.

use anyhow::{Context, bail};
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::stack::{AgentOpts, HubOpts, agent_env, hub_yaml};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENT_ID: &str = "soak-agent";
/// How long the hub, or an agent after a restart, gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// Hub and agent processes; both are killed on drop.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The hub's `ldap` listener.
    pub(crate) ldap: SocketAddr,
    /// The hub's `echo` listener.
    pub(crate) echo: SocketAddr,
    tunnel: SocketAddr,
    health: SocketAddr,
    agent_env: HashMap<String, String>,
    work: PathBuf,
    hub: Proc,
    agent: Option<Proc>,
    /// 1 for the first agent, +1 per restart.
    incarnation: u32,
    _creds: Creds,
}

impl Stack {
    /// Starts the hub, then the agent serving `ldap` → `slapd` and `echo` → `echo`; returns
    /// once the hub's `/readyz` says both connectors are served.
    pub(crate) async fn start(
        work: &Path,
        slapd: SocketAddr,
        echo: SocketAddr,
    ) -> anyhow::Result<Stack> {
        let creds = Creds::new();
        let held = (0..4)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()
            .context("picking free loopback ports")?;
        let port = |i: usize| held[i].local_addr().context("reading a picked port");
        let (ldap, echo_l, tunnel, health) = (port(0)?, port(1)?, port(2)?, port(3)?);
        drop(held);
        let opts = HubOpts {
            tunnel_port: tunnel.port(),
            ..HubOpts::default()
        };
        let yaml = hub_yaml(&creds, &["ldap", "echo"], &opts)
            .replacen("127.0.0.1:0", &ldap.to_string(), 1)
            .replacen("127.0.0.1:0", &echo_l.to_string(), 1);
        let cloud_yaml = work.join("cloud.yaml");
        std::fs::write(&cloud_yaml, yaml).context("writing cloud.yaml")?;
        let config = cloud_yaml.to_str().context("work dir is not UTF-8")?;
        let hub = Proc::spawn(
            "nowconnect-cloud",
            &["--config", config],
            &HashMap::new(),
            &work.join("hub.log"),
        );
        wait_until("hub /healthz", move || async move {
            status(tunnel, "/healthz").await == Some(200)
        })
        .await?;

        let token = creds.token(AGENT_ID);
        let token_file = creds.token_file(AGENT_ID, &token);
        let url = format!("ws://{tunnel}/tunnel");
        let targets = [("ldap", slapd), ("echo", echo)];
        let mut env = agent_env(&url, AGENT_ID, &token_file, &targets, &AgentOpts::default());
        env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
        let mut stack = Stack {
            ldap,
            echo: echo_l,
            tunnel,
            health,
            agent_env: env,
            work: work.to_path_buf(),
            hub,
            agent: None,
            incarnation: 0,
            _creds: creds,
        };
        stack.spawn_agent().await?;
        Ok(stack)
    }

    pub(crate) fn hub_pid(&self) -> u32 {
        self.hub.pid()
    }

    /// (incarnation, pid) of the running agent.
    pub(crate) fn agent(&self) -> Option<(u32, u32)> {
        self.agent.as_ref().map(|a| (self.incarnation, a.pid()))
    }

    /// SIGKILL to the agent; waits until the hub no longer reports the connectors served.
    pub(crate) async fn kill_agent(&mut self) -> anyhow::Result<()> {
        if let Some(mut agent) = self.agent.take() {
            tokio::task::spawn_blocking(move || agent.kill()).await?;
        }
        let tunnel = self.tunnel;
        wait_until("hub /readyz != 200 after the kill", move || async move {
            status(tunnel, "/readyz").await != Some(200)
        })
        .await
    }

    /// Starts the next agent incarnation and waits until the hub serves its connectors.
    pub(crate) async fn spawn_agent(&mut self) -> anyhow::Result<()> {
        self.incarnation += 1;
        let log = self.work.join(format!("agent-{}.log", self.incarnation));
        self.agent = Some(Proc::spawn(
            "nowconnect-premise",
            &[],
            &self.agent_env,
            &log,
        ));
        let (health, tunnel) = (self.health, self.tunnel);
        wait_until("agent health READY", move || async move {
            exchange(health, b"").await.trim() == "READY"
        })
        .await?;
        wait_until("hub /readyz 200", move || async move {
            status(tunnel, "/readyz").await == Some(200)
        })
        .await
    }

    /// SIGTERM to the agent, then the hub (20 s each to drain).
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let agent = self.agent.take();
        let mut hub = self.hub;
        tokio::task::spawn_blocking(move || {
            if let Some(mut a) = agent {
                a.terminate(Duration::from_secs(20));
            }
            hub.terminate(Duration::from_secs(20));
        })
        .await?;
        Ok(())
    }
}

async fn wait_until<F, Fut>(what: &str, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("{what}: not reached within {READY_TIMEOUT:?}")
}

/// `GET path` over HTTP/1.1; the status code, None on any error.
async fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answer = exchange(addr, request.as_bytes()).await;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Connects, sends `request`, reads until the peer closes (2 s bound); empty on any error.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let io = async {
        let mut socket = TcpStream::connect(addr).await?;
        socket.write_all(request).await?;
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await?;
        std::io::Result::Ok(answer)
    };
    match tokio::time::timeout(Duration::from_secs(2), io).await {
        Ok(Ok(answer)) => String::from_utf8_lossy(&answer).into_owned(),
        _ => String::new(),
    }
}
