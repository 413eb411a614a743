//! The hub and agents in-process, on loopback port 0, configured through their real config
//! loaders (YAML for the hub, `NC_*` variables for the agent).

use crate::creds::Creds;
use nowconnect_cloud::{Hub, HubAddrs, ShutdownReport};
use nowconnect_premise::Agent;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Hub settings a test may change.
#[derive(Debug, Clone)]
pub struct HubOpts {
    pub v2: bool,
    pub max_conn_total: usize,
    pub idle_timeout_ms: u64,
    pub ping_interval_sec: u64,
    pub ping_timeout_sec: u64,
    pub queue_depth: usize,
    pub max_ws_payload: usize,
    /// 0 = ephemeral.
    pub tunnel_port: u16,
    pub shutdown_grace_ms: u64,
    /// Extra lines of the `security:` section, each indented two spaces
    /// (e.g. `"  require_connector_scopes: true\n"`).
    pub security_yaml: String,
    /// Extra top-level YAML appended to the config (e.g. a `pdp:` section).
    pub extra_yaml: String,
}

impl Default for HubOpts {
    fn default() -> Self {
        HubOpts {
            v2: true,
            max_conn_total: 2000,
            idle_timeout_ms: 60_000,
            ping_interval_sec: 1,
            ping_timeout_sec: 2,
            queue_depth: 100,
            max_ws_payload: 8192,
            tunnel_port: 0,
            shutdown_grace_ms: 500,
            security_yaml: String::new(),
            extra_yaml: String::new(),
        }
    }
}

/// Agent settings a test may change.
#[derive(Debug, Clone)]
pub struct AgentOpts {
    pub v2: bool,
    pub connect_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_inflight: usize,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub queue_depth: usize,
}

impl Default for AgentOpts {
    fn default() -> Self {
        AgentOpts {
            v2: true,
            connect_timeout_ms: 3000,
            idle_timeout_ms: 60_000,
            max_inflight: 2000,
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            queue_depth: 100,
        }
    }
}

/// A running in-process hub.
#[derive(Debug)]
pub struct TestHub {
    pub addrs: HubAddrs,
    /// The hub's own metrics handle (what its `/metrics` renders).
    pub telemetry: nowconnect_telemetry::Telemetry,
    shutdown: CancellationToken,
    task: Option<JoinHandle<ShutdownReport>>,
}

impl TestHub {
    /// The `ws://…/tunnel` URL agents dial.
    pub fn url(&self) -> String {
        format!("ws://{}/tunnel", self.addrs.tunnel)
    }

    pub fn listener(&self, connector: &str) -> SocketAddr {
        self.addrs
            .listener(connector)
            .expect("listener for connector")
    }

    /// SIGTERM equivalent; waits for the drain and returns its report.
    pub async fn stop(mut self) -> ShutdownReport {
        self.shutdown.cancel();
        self.task.take().expect("running").await.expect("hub task")
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The hub YAML a test stack uses.
pub fn hub_yaml(creds: &Creds, connectors: &[&str], opts: &HubOpts) -> String {
    let mut yaml = String::from("listeners:\n");
    for c in connectors {
        yaml.push_str(&format!(
            "  - {{name: l-{c}, bind: \"127.0.0.1:0\", connector: {c}}}\n"
        ));
    }
    if connectors.is_empty() {
        yaml = "listeners: []\n".into();
    }
    yaml.push_str(&format!(
        "tunnel:\n  host: 127.0.0.1\n  port: {}\n  v2: {}\n  max_ws_payload: {}\n  ping_interval_sec: {}\n  ping_timeout_sec: {}\n\
         limits:\n  idle_timeout_ms: {}\n  queue_depth_per_cid: {}\n  max_conn_total: {}\n  shutdown_grace_ms: {}\n\
         security:\n  jwks_url: \"{}\"\n  audience: nowconnect\n{}\
         observability:\n  log_level: info\n{}",
        opts.tunnel_port,
        opts.v2,
        opts.max_ws_payload,
        opts.ping_interval_sec,
        opts.ping_timeout_sec,
        opts.idle_timeout_ms,
        opts.queue_depth,
        opts.max_conn_total,
        opts.shutdown_grace_ms,
        creds.jwks_path().display(),
        opts.security_yaml,
        opts.extra_yaml,
    ));
    yaml
}

pub async fn start_hub(creds: &Creds, connectors: &[&str], opts: HubOpts) -> TestHub {
    start_hub_yaml(&hub_yaml(creds, connectors, &opts)).await
}

/// A hub from complete `cloud.yaml` text (e.g. [`hub_yaml`] with TLS or JWKS keys added).
pub async fn start_hub_yaml(yaml: &str) -> TestHub {
    let cfg = nowconnect_cloud::config::from_yaml_str(yaml, &|_| None).expect("hub config");
    let telemetry = nowconnect_telemetry::Telemetry::for_tests();
    let hub = Hub::bind(cfg, telemetry.clone()).await.expect("bind hub");
    let addrs = hub.addrs().clone();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { hub.run(token).await.expect("hub run") });
    TestHub {
        addrs,
        telemetry,
        shutdown,
        task: Some(task),
    }
}

/// A running in-process agent.
#[derive(Debug)]
pub struct TestAgent {
    pub health: SocketAddr,
    /// The HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
    pub admin: SocketAddr,
    /// The agent's own metrics handle (what its `/metrics` renders).
    pub telemetry: nowconnect_telemetry::Telemetry,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TestAgent {
    /// Graceful stop (SIGTERM equivalent).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = self.task.take().expect("running").await;
    }

    /// Waits until the health port answers `READY` (an acknowledged tunnel).
    pub async fn wait_ready(&self) {
        wait_health(self.health, "READY", Duration::from_secs(15)).await;
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The `NC_*` environment of an agent.
pub fn agent_env(
    url: &str,
    agent_id: &str,
    token_file: &std::path::Path,
    targets: &[(&str, SocketAddr)],
    opts: &AgentOpts,
) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let mut put = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    put("NC_AGENT_URL", url.to_owned());
    put("NC_AGENT_ID", agent_id.to_owned());
    put("NC_TOKEN_FILE", token_file.display().to_string());
    let names: Vec<&str> = targets.iter().map(|(c, _)| *c).collect();
    put("NC_CONNECTORS", names.join(","));
    for (c, addr) in targets {
        put(&format!("NC_TARGET_{c}_HOST"), addr.ip().to_string());
        put(&format!("NC_TARGET_{c}_PORT"), addr.port().to_string());
    }
    put("NC_HEALTH_HOST", "127.0.0.1".into());
    put("NC_HEALTH_PORT", "0".into());
    put("NC_METRICS_HOST", "127.0.0.1".into());
    put("NC_METRICS_PORT", "0".into());
    put("NC_PROTOCOL_V2", opts.v2.to_string());
    put("NC_CONNECT_TIMEOUT_MS", opts.connect_timeout_ms.to_string());
    put("NC_IDLE_TIMEOUT_MS", opts.idle_timeout_ms.to_string());
    put("NC_MAX_INFLIGHT_CIDS", opts.max_inflight.to_string());
    put("NC_QUEUE_DEPTH_PER_CID", opts.queue_depth.to_string());
    put("NC_PING_INTERVAL_SEC", "1".into());
    put("NC_PING_TIMEOUT_SEC", "2".into());
    put("NC_BACKOFF_BASE_MS", opts.backoff_base_ms.to_string());
    put("NC_BACKOFF_MAX_MS", opts.backoff_max_ms.to_string());
    env
}

pub async fn start_agent(
    creds: &Creds,
    url: &str,
    agent_id: &str,
    targets: &[(&str, SocketAddr)],
    opts: AgentOpts,
) -> TestAgent {
    let token = creds.token(agent_id);
    let token_file = creds.token_file(agent_id, &token);
    let env = agent_env(url, agent_id, &token_file, targets, &opts);
    start_agent_with_env(env).await
}

pub async fn start_agent_with_env(env: HashMap<String, String>) -> TestAgent {
    let cfg =
        nowconnect_premise::config::load(None, &|k| env.get(k).cloned()).expect("agent config");
    let telemetry = nowconnect_telemetry::Telemetry::for_tests();
    let agent = Agent::bind(cfg, telemetry.clone())
        .await
        .expect("bind agent");
    let (health, admin) = (agent.health_addr(), agent.admin_addr());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(agent.run(shutdown.clone()));
    TestAgent {
        health,
        admin,
        telemetry,
        shutdown,
        task: Some(task),
    }
}

/// Polls a TCP health port until it answers `want` (`OK` or `READY`).
pub async fn wait_health(addr: SocketAddr, want: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer).await;
            if answer.trim() == want {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health {addr} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Hub + one agent exporting `targets`, ready to carry traffic.
#[derive(Debug)]
pub struct Stack {
    pub creds: Creds,
    pub hub: TestHub,
    pub agent: TestAgent,
}

impl Stack {
    pub async fn start(targets: &[(&str, SocketAddr)], hub: HubOpts, agent: AgentOpts) -> Stack {
        let creds = Creds::new();
        let connectors: Vec<&str> = targets.iter().map(|(c, _)| *c).collect();
        let hub = start_hub(&creds, &connectors, hub).await;
        let agent = start_agent(&creds, &hub.url(), "agent-1", targets, agent).await;
        agent.wait_ready().await;
        Stack { creds, hub, agent }
    }
}
