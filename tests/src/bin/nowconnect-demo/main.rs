//! `nowconnect-demo`: the whole tunnel on one machine, with real LDAP through it.
//!
//! Starts a seeded slapd, generates credentials with the real `nowconnect-cloud keys init` and
//! `token issue`, runs the real hub and agent binaries as children (JSON logs in the work dir),
//! sends LDAP traffic (ldap3 and `ldapsearch`) through the hub's listener and directly to slapd,
//! checks both answers are identical, and prints what it measured: entries, bytes each way and
//! streams (from the hub's `stream_close` log lines), and the negotiated protocol (the agent's
//! `tunnel_up` line). A real Prometheus scrapes the hub and the agent with the shipped alert
//! rules loaded; the summary shows its URL, what it scraped and every alert's state. The real
//! `crud-service` runs too, with a system pointing at the hub's listener: one group-membership
//! change is sent through it twice, and the summary shows the repeat succeeding idempotently
//! (Prometheus scrapes it as job `nowconnect-crud`). Then it
//! keeps the stack up until SIGINT/SIGTERM, or exits at once with
//! `--once` (or `NOWCONNECT_DEMO_ONCE=1`). Any failed step is one line on stderr and exit 1.
//!
//! Usage: `nowconnect-demo [--once] [--work-dir DIR]` (default work dir: `<repo>/.demo`).

#![allow(clippy::print_stdout)]

mod crud;
mod logs;
mod prom;
mod stack;
mod traffic;

use anyhow::{Context, bail, ensure};
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::slapd::Slapd;
use stack::{Files, Ports};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Wait for the agent's `tunnel_up` line and the hub's `stream_close` lines.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// SIGTERM to exit, per child.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const USAGE: &str = "usage: nowconnect-demo [--once] [--work-dir DIR]";

#[derive(Debug)]
struct Opts {
    once: bool,
    work_dir: PathBuf,
}

impl Opts {
    fn parse() -> anyhow::Result<Opts> {
        let env_once = std::env::var("NOWCONNECT_DEMO_ONCE").is_ok_and(|v| v == "1" || v == "true");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."));
        let mut opts = Opts {
            once: env_once,
            work_dir: repo.join(".demo"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--once" => opts.once = true,
                "--work-dir" => {
                    opts.work_dir = args.next().context("--work-dir needs a value")?.into()
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}` ({USAGE})"),
            }
        }
        Ok(opts)
    }
}

fn main() -> ExitCode {
    let result = Opts::parse().and_then(|opts| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(run(opts))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nowconnect-demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opts: Opts) -> anyhow::Result<()> {
    stack::check_binaries()?;
    std::fs::create_dir_all(&opts.work_dir)
        .with_context(|| format!("creating {}", opts.work_dir.display()))?;
    let work = opts.work_dir.canonicalize()?;
    let files = Files::new(&work);
    progress(&format!("work dir {}", work.display()));

    let slapd = tokio::task::spawn_blocking(Slapd::start)
        .await?
        .context("starting slapd")?;
    progress(&format!("slapd (seeded) on {}", slapd.url()));
    tokio::task::spawn_blocking({
        let files = files.clone();
        move || stack::credentials(&files)
    })
    .await?
    .context("generating credentials")?;
    progress(&format!(
        "keys in {}, agent token {}",
        files.keys.display(),
        files.token.display()
    ));

    let ports = Ports::pick()?;
    let hub = stack::start_hub(&files, &ports)
        .await
        .context("starting nowconnect-cloud")?;
    progress(&format!(
        "hub ready: listener {} tunnel {}",
        ports.listener, ports.tunnel
    ));
    let agent = stack::start_agent(&files, &ports, slapd.addr())
        .await
        .context("starting nowconnect-premise")?;
    let tunnel_up = logs::wait_event(&files.agent_log, "tunnel_up", LOG_WAIT).await?;
    let protocol = tunnel_up
        .get("protocol")
        .and_then(|p| p.as_str())
        .unwrap_or("?")
        .to_owned();
    progress(&format!("agent ready: tunnel up ({protocol})"));
    let crud_service = crud::start(&files, &ports)
        .await
        .context("starting crud-service")?;
    progress(&format!(
        "crud-service ready on {} (system {} -> hub listener)",
        ports.crud,
        crud::SYSTEM
    ));
    let prometheus = prom::start(&ports).await.context("starting prometheus")?;
    progress(&format!(
        "prometheus on {} (scraping hub, agent and crud-service every 1 s, alert rules loaded)",
        prometheus.url()
    ));

    let traffic = traffic::run(ports.listener, slapd.addr()).await?;
    let membership = crud::membership_twice(&ports).await?;
    let totals =
        logs::wait_stream_totals(&files.hub_log, traffic.tunnel_connections, LOG_WAIT).await?;
    let seen = prom::observe(&prometheus, totals.bytes_c2a, totals.bytes_a2c).await?;
    print_summary(&traffic, &totals, &protocol);
    print_crud(&membership);
    print_prometheus(&prometheus.url(), &seen);
    if let Some(c) = traffic.compared.iter().find(|c| !c.identical) {
        bail!(
            "{} {} under {}: the answer through the tunnel differs from slapd's direct answer",
            c.client,
            c.filter,
            c.base
        );
    }
    ensure!(
        membership.idempotent(),
        "the repeated membership change was not a successful no-op: {:?}",
        membership.repeat
    );
    ensure!(
        totals.bytes_c2a > 0 && totals.bytes_a2c > 0,
        "hub counted {} bytes c2a and {} bytes a2c: expected traffic both ways",
        totals.bytes_c2a,
        totals.bytes_a2c
    );

    if opts.once {
        println!(
            "logs: {}  {}",
            files.hub_log.display(),
            files.agent_log.display()
        );
    } else {
        let metrics = (
            stack::http_ok(ports.tunnel, "/metrics").await,
            stack::http_ok(ports.metrics, "/metrics").await,
        );
        print_addresses(&ports, &slapd, &files, metrics);
        println!(
            "  prometheus       {}  (alerts: {}/alerts)",
            prometheus.url(),
            prometheus.url()
        );
        wait_for_signal().await?;
        progress("stopping");
    }
    stop("crud-service", crud_service).await;
    stop("agent", agent).await;
    stop("hub", hub).await;
    Ok(())
}

fn print_summary(traffic: &traffic::Traffic, totals: &logs::StreamTotals, protocol: &str) {
    println!("NowConnect demo: LDAP through the tunnel vs. directly against slapd");
    println!(
        "  {:<10} {:<5} {:<40} {:<28} {:>6} {:>6} {:>6}  result",
        "client", "scope", "base", "filter", "tunnel", "direct", "values"
    );
    for c in &traffic.compared {
        println!(
            "  {:<10} {:<5} {:<40} {:<28} {:>6} {:>6} {:>6}  {}",
            c.client,
            c.scope,
            c.base,
            c.filter,
            c.via_tunnel,
            c.direct,
            c.values,
            if c.identical {
                "identical"
            } else {
                "DIFFERENT"
            }
        );
    }
    let identical = traffic.compared.iter().filter(|c| c.identical).count();
    println!(
        "searches identical: {identical}/{} (tunnel vs. direct)",
        traffic.compared.len()
    );
    println!(
        "tunnel streams: {} (client connections made: {})",
        totals.streams, traffic.tunnel_connections
    );
    println!("bytes c2a (client -> target): {}", totals.bytes_c2a);
    println!("bytes a2c (target -> client): {}", totals.bytes_a2c);
    println!("protocol: {protocol}");
}

fn print_crud(m: &crud::Membership) {
    let who = nowconnect_e2e::slapd::Slapd::user_dn(crud::MEMBER);
    let r = &m.first.result;
    println!(
        "crud-service: add {who} to group {} through the tunnel: {} added, {} skipped, {} batch(es)",
        crud::GROUP,
        r["added"],
        r["skipped"],
        r["batches"]
    );
    let r = &m.repeat.result;
    println!(
        "crud-service: the same request again: HTTP {}, {} added, {} skipped, {} batch(es): {}",
        m.repeat.status,
        r["added"],
        r["skipped"],
        r["batches"],
        if m.idempotent() {
            "the repeat succeeded idempotently"
        } else {
            "NOT IDEMPOTENT"
        }
    );
}

fn print_prometheus(url: &str, seen: &prom::Seen) {
    println!("prometheus: {url}");
    println!(
        "prometheus targets up: {}/{} (hub, agent, crud)",
        seen.targets_up,
        prom::TARGETS
    );
    println!(
        "prometheus hub bytes: c2a {} a2c {}",
        seen.hub_bytes_c2a, seen.hub_bytes_a2c
    );
    println!(
        "alerts ({} rules from {} file(s) in alerts/):",
        seen.alerts.len(),
        seen.rules
    );
    for (name, state) in &seen.alerts {
        println!("  {name:<32} {state}");
    }
}

/// `metrics`: whether the hub's and the agent's `/metrics` answered 200 (printed only then).
fn print_addresses(ports: &Ports, slapd: &Slapd, files: &Files, metrics: (bool, bool)) {
    let t = ports.tunnel;
    println!();
    println!("Running. Addresses:");
    println!(
        "  LDAP via tunnel  ldap://{}  (hub listener `ldap` -> connector `{}`)",
        ports.listener,
        stack::CONNECTOR
    );
    println!("  hub tunnel       ws://{t}/tunnel");
    println!("  hub health       http://{t}/healthz  http://{t}/readyz");
    if metrics.0 {
        println!("  hub metrics      http://{t}/metrics");
    }
    println!("  agent health     tcp {} (answers READY)", ports.health);
    if metrics.1 {
        println!("  agent metrics    http://{}/metrics", ports.metrics);
    }
    println!(
        "  crud-service     http://{}/execute  /health  /metrics  (system `{}` -> hub listener)",
        ports.crud,
        crud::SYSTEM
    );
    println!("  slapd direct     {}", slapd.url());
    println!("  hub log          {}", files.hub_log.display());
    println!("  agent log        {}", files.agent_log.display());
    println!(
        "  config, keys     {}  {}",
        files.cloud_yaml.display(),
        files.keys.display()
    );
    println!("Try:");
    println!(
        "  ldapsearch -x -H ldap://{} -D {} -w {} -b {} '(objectClass=inetOrgPerson)' cn mail",
        ports.listener,
        Slapd::ADMIN_DN,
        Slapd::ADMIN_PASSWORD,
        Slapd::BASE_DN
    );
    println!("Ctrl-C (SIGINT) or SIGTERM stops everything.");
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
    }
    Ok(())
}

/// SIGTERM, then waits for the exit; a child still running after [`STOP_TIMEOUT`] is killed.
async fn stop(name: &'static str, mut proc: Proc) {
    let status = tokio::task::spawn_blocking(move || proc.terminate(STOP_TIMEOUT)).await;
    match status {
        Ok(Some(status)) => progress(&format!("{name} stopped ({status})")),
        _ => progress(&format!(
            "{name} did not stop within {STOP_TIMEOUT:?}; killed"
        )),
    }
}

/// Progress goes to stderr; stdout carries the summary only.
fn progress(msg: &str) {
    eprintln!("nowconnect-demo: {msg}");
}
