//! `nowconnect-bench suite`: the published figures in one command. Brings up slapd, an echo
//! target and hub + agent pairs (release binaries) on loopback, then runs:
//! 1. the perf runner's LDAP workloads (10×2, 20×3, 50×2 rps, page size 1000, closed loop like
//!    the runner), each through the tunnel (V2), directly and through two plain relays, back to
//!    back, order rotating;
//! 2. `nowconnect-perf tcp` through a V2 and a V1 tunnel (each against direct in the same run),
//!    and through two plain `nowconnect-perf relay` processes in series: the floor any two-hop
//!    tunnel pays on this machine (same extra sockets and wake-ups, no protocol);
//! 3. hub and agent memory idle and with 1000 and 10 000 idle streams held open (the echo
//!    target is a separate `nowconnect-perf echo` process so the bench stays under its fd limit).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::slapd::Slapd;
use nowconnect_perf::cli::DEFAULT_WARMUP;
use nowconnect_perf::ldap::{self, LdapOpts, LdapReport, LdapTarget, Pacing, Scope};
use nowconnect_perf::report::TcpReport;
use nowconnect_perf::table;
use nowconnect_perf::tcp::{self, TcpOpts};

use crate::rss::{self, Sample};
use crate::stack::{Stack, StackOpts};

/// The perf runner's published workloads: (workers, requests per second per worker).
pub(crate) const WORKLOADS: [(usize, f64); 3] = [(10, 2.0), (20, 3.0), (50, 2.0)];
const PAGE_SIZE: u32 = 1000;
const QUICK_SECONDS: f64 = 5.0;
const HELD_STREAMS: [usize; 2] = [1000, 10_000];

#[derive(Debug, Args)]
pub(crate) struct SuiteArgs {
    /// Seconds per LDAP workload and path.
    #[arg(long, default_value_t = 30.0)]
    pub(crate) duration: f64,
    /// Short run: 5 s per LDAP workload, shorter TCP phases (overrides --duration).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Parts to run (comma list of ldap, tcp, rss).
    #[arg(long, value_delimiter = ',', default_values_t = ["ldap".to_owned(), "tcp".to_owned(), "rss".to_owned()])]
    pub(crate) parts: Vec<String>,
    /// Also write every report as JSON to FILE.
    #[arg(long)]
    pub(crate) json: Option<std::path::PathBuf>,
    /// `runtime.worker_threads` of every hub and agent (default: theirs, one per CPU). The tcp
    /// part also measures V2 with 1 worker either way.
    #[arg(long)]
    pub(crate) worker_threads: Option<usize>,
}

#[derive(Debug, Default, serde::Serialize)]
struct SuiteReport {
    ldap: Vec<LdapReport>,
    tcp: Vec<(String, TcpReport)>,
    rss: Vec<Sample>,
}

pub(crate) async fn run(args: SuiteArgs, work: &Path, progress: fn(&str)) -> anyhow::Result<()> {
    let seconds = if args.quick {
        QUICK_SECONDS
    } else {
        args.duration
    };
    ensure!(
        seconds.is_finite() && seconds > 0.0,
        "--duration must be positive"
    );
    for p in &args.parts {
        ensure!(
            ["ldap", "tcp", "rss"].contains(&p.as_str()),
            "--parts: unknown part {p:?}"
        );
    }
    let wants = |p: &str| args.parts.iter().any(|x| x == p);
    let creds = tokio::task::spawn_blocking(Creds::new).await?;
    let mut report = SuiteReport::default();

    if wants("ldap") {
        let slapd = tokio::task::spawn_blocking(Slapd::start).await??;
        let stack = Stack::start(
            &creds,
            work,
            "suite-ldap",
            &HashMap::new(),
            slapd.addr(),
            &StackOpts {
                target_echoes: false,
                worker_threads: args.worker_threads,
                ..StackOpts::default()
            },
        )
        .await?;
        progress(&format!(
            "slapd {}, tunnel listener {} ({})",
            slapd.addr(),
            stack.listener,
            stack.protocol
        ));
        let (relays, _relay_procs) = start_relays(slapd.addr(), work, "ldap").await?;
        for (i, &(workers, rps)) in WORKLOADS.iter().enumerate() {
            let mut paths = [
                ("tunnel", stack.listener),
                ("direct", slapd.addr()),
                ("relays", relays),
            ];
            let n = paths.len();
            paths.rotate_left(i % n);
            for (name, addr) in paths {
                progress(&format!("ldap {workers}x{rps} {name}, {seconds} s"));
                let opts = ldap_opts(addr, workers, rps, seconds, name);
                report.ldap.push(ldap::run(&opts).await?);
            }
        }
        stack.stop().await?;
        print!("{}", render_ldap(&report.ldap));
    }

    if wants("tcp") {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let target = echo.local_addr()?;
        let echo_task = tokio::spawn(nowconnect_perf::echo::serve(echo));
        let workers = args.worker_threads;
        let mut pairs = vec![("v2", "v2", workers)];
        if workers != Some(1) {
            pairs.push(("v2-1w", "v2", Some(1)));
        }
        pairs.push(("v1", "v1", workers));
        for (tag, protocol, worker_threads) in pairs {
            let opts = StackOpts {
                v2: protocol == "v2",
                worker_threads,
                ..StackOpts::default()
            };
            let stack = Stack::start(
                &creds,
                work,
                &format!("suite-tcp-{tag}"),
                &HashMap::new(),
                target,
                &opts,
            )
            .await?;
            ensure!(
                stack.protocol == protocol,
                "expected {protocol}, the tunnel negotiated {}",
                stack.protocol
            );
            let tag = match worker_threads {
                Some(n) if tag != "v1" => format!("{protocol}, {n} worker thread(s)"),
                _ => tag.to_owned(),
            };
            progress(&format!("tcp through {tag}: listener {}", stack.listener));
            let r = tcp::run(&tcp_opts(stack.listener, target, args.quick)).await?;
            println!("\n[{tag}] {}", r.render());
            report.tcp.push((tag, r));
            stack.stop().await?;
        }
        let floor = relay_floor(target, work, args.quick, progress).await?;
        println!(
            "\n[floor: two plain TCP relays in series] {}",
            floor.render()
        );
        for (tag, v2) in report.tcp.iter().filter(|(tag, _)| tag.starts_with("v2")) {
            print!("{}", render_against_floor(tag, v2, &floor));
        }
        report.tcp.push(("floor".to_owned(), floor));
        echo_task.abort();
    }

    if wants("rss") {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let log = work.join("suite-echo.log");
        let _echo = Proc::spawn(
            "nowconnect-perf",
            &["echo", "--listen", &port.to_string()],
            &HashMap::new(),
            &log,
        );
        wait_port(port).await?;
        let max = HELD_STREAMS.iter().max().copied().unwrap_or(0) + 100;
        let opts = StackOpts {
            max_streams: Some(max),
            worker_threads: args.worker_threads,
            ..StackOpts::default()
        };
        let stack = Stack::start(&creds, work, "suite-rss", &HashMap::new(), port, &opts).await?;
        report.rss = rss::measure(stack.listener, stack.pids(), &HELD_STREAMS, progress).await?;
        stack.stop().await?;
        print!("{}", render_rss(&report.rss));
    }

    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn ldap_opts(addr: SocketAddr, workers: usize, rps: f64, seconds: f64, path: &str) -> LdapOpts {
    LdapOpts {
        target: LdapTarget {
            host: addr.ip().to_string(),
            port: addr.port(),
            ssl: false,
            insecure: false,
            bind_dn: Slapd::ADMIN_DN.into(),
            password: Slapd::ADMIN_PASSWORD.into(),
            base_dn: Slapd::BASE_DN.into(),
            filter: "(objectClass=*)".into(),
            attrs: Vec::new(),
            scope: Scope::Sub,
            page_size: PAGE_SIZE,
        },
        concurrency: workers,
        rps_per_worker: rps,
        duration: Duration::from_secs_f64(seconds),
        timeout: Duration::from_secs(10),
        pacing: Pacing::Closed,
        max_in_flight: ldap::DEFAULT_MAX_IN_FLIGHT,
        workload: Some(format!("{workers}x{rps} {path}")),
        run_id: None,
        progress: None,
    }
}

fn tcp_opts(tunnel: SocketAddr, direct: SocketAddr, quick: bool) -> TcpOpts {
    TcpOpts {
        tunnel,
        direct,
        streams: 8,
        connections_per_stream: 10,
        duration: Duration::from_secs_f64(if quick { 1.0 } else { 3.0 }),
        round_trips: if quick { 1000 } else { 3000 },
        warmup: DEFAULT_WARMUP,
        rtt_connections: 50,
        message_size: 64,
        connections: if quick { 100 } else { 300 },
    }
}

/// `nowconnect-perf tcp` through `relay → relay → target`, each relay its own process.
async fn relay_floor(
    target: SocketAddr,
    work: &Path,
    quick: bool,
    progress: fn(&str),
) -> anyhow::Result<TcpReport> {
    let (first, _relays) = start_relays(target, work, "tcp").await?;
    progress(&format!(
        "tcp through two plain relays: {first} -> (relay) -> {target}"
    ));
    Ok(tcp::run(&tcp_opts(first, target, quick)).await?)
}

/// Two `nowconnect-perf relay` processes in series in front of `target`: returns the first
/// one's address and both processes (stopped when dropped).
async fn start_relays(
    target: SocketAddr,
    work: &Path,
    tag: &str,
) -> anyhow::Result<(SocketAddr, [Proc; 2])> {
    let free = || -> anyhow::Result<SocketAddr> {
        Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
    };
    let (second, first) = (free()?, free()?);
    let spawn = |listen: SocketAddr, to: SocketAddr, name: &str| {
        Proc::spawn(
            "nowconnect-perf",
            &[
                "relay",
                "--listen",
                &listen.to_string(),
                "--to",
                &to.to_string(),
            ],
            &HashMap::new(),
            &work.join(format!("suite-{tag}-{name}.log")),
        )
    };
    let procs = [
        spawn(second, target, "relay-2"),
        spawn(first, second, "relay-1"),
    ];
    wait_port(second).await?;
    wait_port(first).await?;
    Ok((first, procs))
}

/// The V2 tunnel's ratios to direct divided by the relay chain's: what the protocol costs on
/// top of the two hops (1.0 = nothing; each run against its own direct figures).
fn render_against_floor(tag: &str, tunnel: &TcpReport, floor: &TcpReport) -> String {
    let (t, f) = (&tunnel.ratio, &floor.ratio);
    let rows = [
        ("throughput, 1 stream", t.bulk_1, f.bulk_1),
        ("throughput, N streams", t.bulk_n, f.bulk_n),
        ("round trip p50", t.rtt_p50, f.rtt_p50),
        ("round trip p99", t.rtt_p99, f.rtt_p99),
        ("connection set-up", t.setup_rate, f.setup_rate),
    ];
    let mut out = format!(
        "\n[{tag} against the floor] ratio to direct: tunnel, two plain relays, tunnel/relays\n"
    );
    for (name, tv, fv) in rows {
        out.push_str(&format!(
            "{name:<24} {tv:>7.2} {fv:>7.2} {:>7.2}\n",
            nowconnect_perf::report::ratio(tv, fv)
        ));
    }
    out
}

pub(crate) async fn wait_port(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the echo process never listened on {addr}")
}

fn render_ldap(reports: &[LdapReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let l = &r.latency_ms;
            vec![
                r.workload.clone(),
                r.requests_total.to_string(),
                r.errors_total.to_string(),
                format!("{:.2}", l.p50_ms),
                format!("{:.2}", l.p90_ms),
                format!("{:.2}", l.p99_ms),
                format!("{:.2}", l.max_ms),
            ]
        })
        .collect();
    let mut out = format!(
        "\nLDAP workloads (closed loop, page size {PAGE_SIZE}; latency ms)\n{}",
        table::render(
            &["workload", "requests", "errors", "p50", "p90", "p99", "max"],
            &rows
        )
    );
    for &(workers, rps) in &WORKLOADS {
        let find = |path: &str| {
            let name = format!("{workers}x{rps} {path}");
            reports.iter().find(|r| r.workload == name)
        };
        if let (Some(t), Some(d)) = (find("tunnel"), find("direct")) {
            out.push_str(&format!(
                "{workers}x{rps}: p99 tunnel/direct {:.2}, p50 tunnel/direct {:.2}",
                t.latency_ms.p99_ms / d.latency_ms.p99_ms,
                t.latency_ms.p50_ms / d.latency_ms.p50_ms
            ));
            if let Some(f) = find("relays") {
                out.push_str(&format!(
                    "; two plain relays: p99 {:.2}, p50 {:.2}",
                    f.latency_ms.p99_ms / d.latency_ms.p99_ms,
                    f.latency_ms.p50_ms / d.latency_ms.p50_ms
                ));
            }
            out.push('\n');
        }
    }
    out
}

fn render_rss(samples: &[Sample]) -> String {
    let Some(idle) = samples.first() else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = samples
        .iter()
        .map(|s| {
            let per = rss::per_stream_kib(idle, s);
            vec![
                s.streams.to_string(),
                format!("{} / {}", s.hub.rss_kib, s.hub.hwm_kib),
                format!("{} / {}", s.agent.rss_kib, s.agent.hwm_kib),
                if per.is_finite() {
                    format!("{per:.2}")
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    format!(
        "\nMemory (V2; KiB, VmRSS / VmHWM)\n{}",
        table::render(
            &["idle streams", "hub", "agent", "hub+agent KiB per stream"],
            &rows
        )
    )
}
