//! The processes of the demo: real credentials from `nowconnect-cloud keys init` / `token issue`,
//! the hub (`nowconnect-cloud --config cloud.yaml`) and the agent (`nowconnect-premise`, NC_* env),
//! each started as a child with its JSON logs in the work dir, and waited for until ready.

use crate::logs;
use anyhow::{Context, bail, ensure};
use nowconnect_e2e::procs::{self, Proc};
use nowconnect_premise::config::env as nc;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const AGENT_ID: &str = "demo-agent";
pub(crate) const CONNECTOR: &str = "addomain";
/// How long the hub and the agent get to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// Loopback addresses picked for the run (each was free a moment ago).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    /// The hub's LDAP listener (connector `addomain`): clients use this.
    pub(crate) listener: SocketAddr,
    /// The hub's HTTP port: `/tunnel`, `/healthz`, `/readyz`, `/metrics`.
    pub(crate) tunnel: SocketAddr,
    /// The agent's TCP health port (`OK` / `READY`).
    pub(crate) health: SocketAddr,
    /// The agent's HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
    pub(crate) metrics: SocketAddr,
    /// The crud-service's HTTP port (`/execute`, `/health`, `/metrics`).
    pub(crate) crud: SocketAddr,
}

impl Ports {
    /// Binds five port-0 listeners at once (so they differ), then releases them.
    pub(crate) fn pick() -> anyhow::Result<Ports> {
        let held = (0..5)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()
            .context("picking free loopback ports")?;
        let addr = |i: usize| held[i].local_addr().context("reading a picked port");
        Ok(Ports {
            listener: addr(0)?,
            tunnel: addr(1)?,
            health: addr(2)?,
            metrics: addr(3)?,
            crud: addr(4)?,
        })
    }
}

/// Files of one run under the work dir.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    pub(crate) keys: PathBuf,
    pub(crate) jwks: PathBuf,
    pub(crate) token: PathBuf,
    pub(crate) cloud_yaml: PathBuf,
    pub(crate) hub_log: PathBuf,
    pub(crate) agent_log: PathBuf,
}

impl Files {
    pub(crate) fn new(work: &Path) -> Files {
        let keys = work.join("keys");
        Files {
            jwks: keys.join("jwks.json"),
            keys,
            token: work.join("agent.jwt"),
            cloud_yaml: work.join("cloud.yaml"),
            hub_log: work.join("hub.log"),
            agent_log: work.join("agent.log"),
        }
    }
}

/// Fails with a clear line when a workspace binary has not been built next to this one.
pub(crate) fn check_binaries() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the demo binary")?;
    let dir = exe.parent().context("demo binary has no directory")?;
    for name in ["nowconnect-cloud", "nowconnect-premise", "crud-service"] {
        ensure!(
            dir.join(name).is_file(),
            "{name} not found in {}: run `cargo build --workspace --bins` (same profile) first",
            dir.display()
        );
    }
    Ok(())
}

/// Signing key + JWKS (`keys init --force`) and the agent's token (`token issue`), by the hub CLI.
pub(crate) fn credentials(files: &Files) -> anyhow::Result<()> {
    let keys = path_str(&files.keys)?;
    cloud_cli(&["keys", "init", "--dir", keys, "--force"])?;
    let token = path_str(&files.token)?;
    cloud_cli(&[
        "token",
        "issue",
        "--dir",
        keys,
        "--agent-id",
        AGENT_ID,
        "--out",
        token,
    ])?;
    ensure!(
        files.jwks.is_file(),
        "keys init wrote no {}",
        files.jwks.display()
    );
    Ok(())
}

fn cloud_cli(args: &[&str]) -> anyhow::Result<()> {
    let (code, _, stderr) = procs::run("nowconnect-cloud", args, &HashMap::new());
    ensure!(
        code == 0,
        "nowconnect-cloud {} exited {code}: {}",
        args[..2].join(" "),
        stderr.trim()
    );
    Ok(())
}

/// Writes cloud.yaml, starts the hub and waits until `GET /healthz` answers 200 (`/readyz`
/// waits for an agent: see [`start_agent`]).
pub(crate) async fn start_hub(files: &Files, ports: &Ports) -> anyhow::Result<Proc> {
    let yaml = format!(
        "listeners:\n  - name: ldap\n    bind: {listener}\n    connector: {CONNECTOR}\n\
         tunnel:\n  host: {host}\n  port: {port}\n\
         security:\n  jwks_url: {jwks}\n\
         observability:\n  log_level: info\n  log_format: json\n",
        listener = ports.listener,
        host = ports.tunnel.ip(),
        port = ports.tunnel.port(),
        jwks = path_str(&files.jwks)?,
    );
    std::fs::write(&files.cloud_yaml, yaml)
        .with_context(|| format!("writing {}", files.cloud_yaml.display()))?;
    let args = ["--config", path_str(&files.cloud_yaml)?];
    let hub = Proc::spawn("nowconnect-cloud", &args, &HashMap::new(), &files.hub_log);
    let up = || http_ok(ports.tunnel, "/healthz");
    wait_until(&files.hub_log, "hub GET /healthz != 200", up).await?;
    Ok(hub)
}

/// Starts the agent with NC_* variables and waits until its health port answers `READY` and the
/// hub's `/readyz` says every connector is served.
pub(crate) async fn start_agent(
    files: &Files,
    ports: &Ports,
    target: SocketAddr,
) -> anyhow::Result<Proc> {
    let env: HashMap<String, String> = [
        (
            nc::NC_AGENT_URL.to_owned(),
            format!("ws://{}/tunnel", ports.tunnel),
        ),
        (nc::NC_AGENT_ID.to_owned(), AGENT_ID.to_owned()),
        (
            nc::NC_TOKEN_FILE.to_owned(),
            path_str(&files.token)?.to_owned(),
        ),
        (nc::NC_CONNECTORS.to_owned(), CONNECTOR.to_owned()),
        (nc::target_host_var(CONNECTOR), target.ip().to_string()),
        (nc::target_port_var(CONNECTOR), target.port().to_string()),
        (nc::NC_HEALTH_HOST.to_owned(), ports.health.ip().to_string()),
        (
            nc::NC_HEALTH_PORT.to_owned(),
            ports.health.port().to_string(),
        ),
        (
            nc::NC_METRICS_HOST.to_owned(),
            ports.metrics.ip().to_string(),
        ),
        (
            nc::NC_METRICS_PORT.to_owned(),
            ports.metrics.port().to_string(),
        ),
        (nc::NC_LOG_FORMAT.to_owned(), "json".to_owned()),
    ]
    .into_iter()
    .collect();
    let agent = Proc::spawn("nowconnect-premise", &[], &env, &files.agent_log);
    let ready = || health(ports.health);
    wait_until(&files.agent_log, "agent health port != READY", ready).await?;
    let served = || http_ok(ports.tunnel, "/readyz");
    wait_until(&files.hub_log, "hub GET /readyz != 200", served).await?;
    Ok(agent)
}

/// Polls `probe` for [`READY_TIMEOUT`]; on timeout names `what` and the log's last line.
async fn wait_until<F, Fut>(log: &Path, what: &str, mut probe: F) -> anyhow::Result<()>
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
    bail!(
        "{what} after {READY_TIMEOUT:?} (see {}){}",
        log.display(),
        logs::last_line(log)
    )
}

/// `GET <path>` (HTTP/1.1) over a plain TCP connection; true on status 200.
pub(crate) async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answer = exchange(addr, request.as_bytes()).await;
    answer.starts_with("HTTP/1.1 200 ")
}

/// The agent's TCP health port; true when it answers `READY`.
async fn health(addr: SocketAddr) -> bool {
    exchange(addr, b"").await.trim() == "READY"
}

/// Connects, sends `request`, reads until the peer closes (bounded); empty on any error.
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

pub(crate) fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("path is not UTF-8: {}", path.display()))
}
