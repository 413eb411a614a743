//! Hub and agent as real processes (release binaries next to this one) for one telemetry mode:
//! real ES256 key, JWKS and agent token, the hub's listener leading through a V2 tunnel to the
//! bench's echo target. Started, waited for until routable, stopped with SIGTERM.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use nowconnect_cloud::config::env as hub_env;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;
use nowconnect_premise::config::env as nc;

use crate::probe;

const AGENT_ID: &str = "bench-agent";
const CONNECTOR: &str = "bench";
/// SIGTERM to exit, per process.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What differs between the pairs a bench starts.
#[derive(Debug, Clone)]
pub(crate) struct StackOpts {
    /// Offer V2 on both ends (otherwise both stay on V1).
    pub(crate) v2: bool,
    /// Raise the hub's `max_conn_total` and the agent's `max_inflight_cids` (and the idle
    /// timeout) for many held streams; `None` = the defaults.
    pub(crate) max_streams: Option<usize>,
    /// The target echoes: wait until a byte comes back through the listener. Otherwise (a
    /// directory) the hub's readiness is the only wait.
    pub(crate) target_echoes: bool,
    /// `runtime.worker_threads` of hub and agent; `None` = their default (one per CPU).
    pub(crate) worker_threads: Option<usize>,
}

impl Default for StackOpts {
    fn default() -> Self {
        StackOpts {
            v2: true,
            max_streams: None,
            target_echoes: true,
            worker_threads: None,
        }
    }
}

/// Idle timeout while many streams are held open (the RSS measurement).
const HOLD_IDLE_MS: u64 = 600_000;

/// A running hub + agent pair.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The hub's listener: the tunnel path to the echo target.
    pub(crate) listener: SocketAddr,
    /// The negotiated protocol, from the agent's `tunnel_up` line.
    pub(crate) protocol: String,
    pub(crate) hub_log: PathBuf,
    pub(crate) agent_log: PathBuf,
    hub: Proc,
    agent: Proc,
}

/// Loopback ports picked at once (so they differ), then released for the children to bind.
fn ports<const N: usize>() -> anyhow::Result<[SocketAddr; N]> {
    let held = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("picking free loopback ports")?;
    let addrs = held
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    addrs
        .try_into()
        .map_err(|_| anyhow::anyhow!("picked the wrong number of ports"))
}

impl Stack {
    /// Starts hub and agent with `mode_env` added to their environment; files go to
    /// `dir/<tag>-{cloud.yaml,hub.log,agent.log}`.
    pub(crate) async fn start(
        creds: &Creds,
        dir: &Path,
        tag: &str,
        mode_env: &HashMap<String, String>,
        target: SocketAddr,
        opts: &StackOpts,
    ) -> anyhow::Result<Stack> {
        let [listener, tunnel, health, metrics] = ports::<4>()?;
        let hub_log = dir.join(format!("{tag}-hub.log"));
        let agent_log = dir.join(format!("{tag}-agent.log"));
        let cloud_yaml = dir.join(format!("{tag}-cloud.yaml"));
        let limits = match opts.max_streams {
            Some(n) => {
                format!("limits:\n  max_conn_total: {n}\n  idle_timeout_ms: {HOLD_IDLE_MS}\n")
            }
            None => String::new(),
        };
        let yaml = format!(
            "listeners:\n  - name: bench\n    bind: {listener}\n    connector: {CONNECTOR}\n\
             tunnel:\n  host: {host}\n  port: {port}\n  v2: {v2}\n\
             security:\n  jwks_url: {jwks}\n\
             observability:\n  log_level: info\n  log_format: json\n{limits}",
            host = tunnel.ip(),
            port = tunnel.port(),
            v2 = opts.v2,
            jwks = utf8(&creds.jwks_path())?,
        );
        std::fs::write(&cloud_yaml, yaml).context("writing cloud.yaml")?;
        let mut hub_env = mode_env.clone();
        if let Some(n) = opts.worker_threads {
            hub_env.insert(hub_env::NOWCONNECT_WORKER_THREADS.to_owned(), n.to_string());
        }
        let hub = Proc::spawn(
            "nowconnect-cloud",
            &["--config", utf8(&cloud_yaml)?],
            &hub_env,
            &hub_log,
        );
        probe::wait_until(&hub_log, "hub GET /healthz != 200", || {
            probe::http_ok(tunnel, "/healthz")
        })
        .await?;

        let token = creds.token_file(AGENT_ID, &creds.token(AGENT_ID));
        let mut env = mode_env.clone();
        env.extend([
            (nc::NC_AGENT_URL.to_owned(), format!("ws://{tunnel}/tunnel")),
            (nc::NC_AGENT_ID.to_owned(), AGENT_ID.to_owned()),
            (nc::NC_TOKEN_FILE.to_owned(), utf8(&token)?.to_owned()),
            (nc::NC_CONNECTORS.to_owned(), CONNECTOR.to_owned()),
            (nc::target_host_var(CONNECTOR), target.ip().to_string()),
            (nc::target_port_var(CONNECTOR), target.port().to_string()),
            (nc::NC_HEALTH_HOST.to_owned(), health.ip().to_string()),
            (nc::NC_HEALTH_PORT.to_owned(), health.port().to_string()),
            (nc::NC_METRICS_HOST.to_owned(), metrics.ip().to_string()),
            (nc::NC_METRICS_PORT.to_owned(), metrics.port().to_string()),
            (nc::NC_LOG_FORMAT.to_owned(), "json".to_owned()),
            (nc::NC_PROTOCOL_V2.to_owned(), opts.v2.to_string()),
        ]);
        if let Some(n) = opts.worker_threads {
            env.insert(nc::NC_WORKER_THREADS.to_owned(), n.to_string());
        }
        if let Some(n) = opts.max_streams {
            env.insert(nc::NC_MAX_INFLIGHT_CIDS.to_owned(), n.to_string());
            env.insert(nc::NC_IDLE_TIMEOUT_MS.to_owned(), HOLD_IDLE_MS.to_string());
        }
        let agent = Proc::spawn("nowconnect-premise", &[], &env, &agent_log);
        probe::wait_until(&hub_log, "hub GET /readyz != 200", || {
            probe::http_ok(tunnel, "/readyz")
        })
        .await?;
        if opts.target_echoes {
            probe::wait_until(&agent_log, "no echo through the listener", || {
                probe::echoes(listener)
            })
            .await?;
        }
        let protocol = probe::event_field(&agent_log, "tunnel_up", "protocol")
            .unwrap_or_else(|| "?".to_owned());
        Ok(Stack {
            listener,
            protocol,
            hub_log,
            agent_log,
            hub,
            agent,
        })
    }

    /// Process ids of hub and agent.
    pub(crate) fn pids(&self) -> (u32, u32) {
        (self.hub.pid(), self.agent.pid())
    }

    /// CPU time (user + system) hub and agent have used so far, in seconds.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        Some(cpu_seconds(self.hub.pid())? + cpu_seconds(self.agent.pid())?)
    }

    /// SIGTERM to the agent, then the hub; each must exit 0 within [`STOP_TIMEOUT`].
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let Stack {
            mut hub, mut agent, ..
        } = self;
        tokio::task::spawn_blocking(move || {
            for (name, proc) in [("agent", &mut agent), ("hub", &mut hub)] {
                let status = proc.terminate(STOP_TIMEOUT);
                ensure!(
                    status.is_some_and(|s| s.success()),
                    "{name} did not exit cleanly within {STOP_TIMEOUT:?}: {status:?}"
                );
            }
            Ok(())
        })
        .await?
    }
}

/// `utime + stime` of a process (all its threads) from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    /// Clock ticks per second of `/proc` times (USER_HZ: 100 on every mainstream Linux build).
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may contain spaces); utime and stime
    // are fields 14 and 15 of the whole line, so 12 and 13 after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("path is not UTF-8: {}", path.display()))
}
