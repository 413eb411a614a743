//! `nowconnect-soak`: a long run of mixed traffic through the real binaries while the agent is
//! killed and restarted, checking integrity throughout and watching for resource growth.
//!
//! It starts a throwaway slapd (seed data) and an in-process echo target, the hub binary with
//! two listeners (`ldap`, `echo`) and the agent binary serving both. Then, for `--duration`:
//! LDAP workers (ldap3: bind as a random seed user, four searches compared with slapd's direct
//! answers, unbind) and bulk workers (random-size streams of seeded pseudo-random bytes through
//! the echo connector, verified byte by byte); every `--kill-every` the agent gets SIGKILL and
//! is restarted; every `--sample-every` the hub's and agent's `VmRSS` and open descriptors are
//! read from /proc. The report counts integrity failures, hung streams and interruptions
//! (explained by a kill or not) and gives the least-squares growth trends after `--warmup` (see
//! `trend.rs`). Exit 0 only when the verdict is PASS.
//!
//! Not in CI. Run it through `scripts/soak.sh` (release build); see docs/reliability.md.

#![allow(clippy::print_stdout)]

mod bulk;
mod ldap;
mod report;
mod sample;
mod stack;
mod tally;
mod trend;

use anyhow::Context;
use clap::Parser;
use nowconnect_e2e::slapd::Slapd;
use nowconnect_e2e::targets;
use report::Report;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally::Tally;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "nowconnect-soak",
    about = "Soak: mixed traffic, agent kills, RSS/fd trends"
)]
struct Args {
    /// Traffic time (e.g. 30m, 90s, 1h; a bare number is seconds).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    duration: Duration,
    /// Time between agent SIGKILLs (0 = never).
    #[arg(long, default_value = "150s", value_parser = parse_duration)]
    kill_every: Duration,
    /// Time between RSS / fd samples.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample_every: Duration,
    /// Samples before this are left out of the trends.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    warmup: Duration,
    /// Parallel LDAP clients.
    #[arg(long, default_value_t = 4)]
    ldap_workers: usize,
    /// Parallel bulk echo streams.
    #[arg(long, default_value_t = 8)]
    bulk_streams: usize,
    /// Largest bulk stream, bytes (sizes are uniform from 1 KiB up to this).
    #[arg(long, default_value_t = 2 << 20)]
    max_bulk_bytes: usize,
    /// Pause of each worker between two operations (keeps the load moderate; 0 = flat out).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pause: Duration,
    /// Write the report as JSON here too.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep config and logs here (default: a temp dir removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Run nothing: recompute the trends and the verdict of a JSON report (e.g. with another
    /// `--warmup`).
    #[arg(long)]
    reanalyze: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("unknown unit in {s:?} (use ms, s, m or h)")),
    };
    Ok(Duration::from_secs(secs))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nowconnect-soak: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &args.reanalyze {
        Some(path) => reanalyze(path, args.warmup),
        None => runtime.block_on(run(&args)),
    };
    match result {
        Ok(report) => {
            println!("{}", report.text());
            if report.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("nowconnect-soak: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The report in `path` with its trends and verdict recomputed after `warmup`.
fn reanalyze(path: &std::path::Path, warmup: Duration) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut report: Report = serde_json::from_str(&text).context("parsing the report")?;
    report.warmup_s = warmup.as_secs_f64();
    report.trends = trend::trends(&report.samples, report.warmup_s);
    report.pass = Report::verdict(&report.counts, &report.trends);
    Ok(report)
}

fn progress(t0: Instant, what: &str) {
    eprintln!("[{:>6.0} s] {what}", t0.elapsed().as_secs_f64());
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(
        !args.sample_every.is_zero(),
        "--sample-every must be above 0"
    );
    let temp = tempfile::Builder::new()
        .prefix("nowconnect-soak-")
        .tempdir()?;
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let slapd = tokio::task::spawn_blocking(Slapd::start).await??;
    let echo = targets::echo_server().await;
    let mut stack = stack::Stack::start(&work, slapd.addr(), echo).await?;
    let expected = Arc::new(ldap::expected(slapd.addr()).await?);

    let t0 = Instant::now();
    progress(t0, &format!("traffic starts (work dir {})", work.display()));
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.ldap_workers {
        let (e, t, s) = (expected.clone(), tally.clone(), stop.clone());
        workers.spawn(ldap::worker(stack.ldap, e, args.pause, t, s));
    }
    for _ in 0..args.bulk_streams {
        let (t, s) = (tally.clone(), stop.clone());
        workers.spawn(bulk::worker(
            stack.echo,
            args.max_bulk_bytes,
            args.pause,
            t,
            s,
        ));
    }

    let agent_now = Arc::new(Mutex::new(stack.agent()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (agent_now, samples, stop) = (agent_now.clone(), samples.clone(), stop.clone());
        let (hub_pid, every) = (stack.hub_pid(), args.sample_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            while tokio::select! { _ = tick.tick() => true, _ = stop.cancelled() => false } {
                let Some(hub) = sample::usage(hub_pid) else {
                    continue;
                };
                let agent = *agent_now.lock().unwrap_or_else(|p| p.into_inner());
                let agent = agent.and_then(|(i, pid)| Some((i, sample::usage(pid)?)));
                let s = sample::Sample {
                    t: t0.elapsed().as_secs_f64(),
                    hub,
                    agent,
                };
                samples.lock().unwrap_or_else(|p| p.into_inner()).push(s);
            }
        })
    };

    let end = t0 + args.duration;
    let mut next_kill = (!args.kill_every.is_zero()).then(|| t0 + args.kill_every);
    let mut last_note = t0;
    while Instant::now() < end {
        match next_kill {
            Some(k) if Instant::now() >= k => {
                *agent_now.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tally.killed(Instant::now());
                stack.kill_agent().await?;
                stack.spawn_agent().await?;
                tally.served_again(Instant::now());
                *agent_now.lock().unwrap_or_else(|p| p.into_inner()) = stack.agent();
                let c = tally.counts(t0);
                progress(
                    t0,
                    &format!(
                        "agent killed and back in {:.2} s (kill {}); ok {} LDAP / {} bulk, {} integrity, {} hung, {} interrupted by kills, {} unexplained",
                        c.recovery_secs.last().copied().unwrap_or(f64::NAN),
                        c.kills,
                        c.ok_ldap,
                        c.ok_bulk,
                        c.integrity_failures,
                        c.hung,
                        c.interrupted_by_kill,
                        c.interrupted_unexplained
                    ),
                );
                next_kill = Some(k + args.kill_every);
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        if last_note.elapsed() >= Duration::from_secs(60) {
            last_note = Instant::now();
            let c = tally.counts(t0);
            let s = samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last()
                .copied();
            let mem = s.map_or(String::new(), |s| {
                format!(
                    "; hub {} KiB / {} fds, agent {:?}",
                    s.hub.rss_kib, s.hub.fds, s.agent
                )
            });
            progress(
                t0,
                &format!(
                    "ok {} LDAP / {} bulk, {} MiB verified{mem}",
                    c.ok_ldap,
                    c.ok_bulk,
                    c.bytes_verified >> 20
                ),
            );
        }
    }
    stop.cancel();
    progress(t0, "traffic stops; waiting for the workers");
    // Every worker finishes its operation (each read/write is bounded by the stall limit).
    let drain = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(bulk::STALL * 3, drain).await.is_err() {
        anyhow::bail!("workers did not finish within {:?}", bulk::STALL * 3);
    }
    let _ = sampler.await;
    let counts = tally.counts(t0);
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    let trends = trend::trends(&samples, args.warmup.as_secs_f64());
    stack.stop().await?;
    drop(slapd);
    let pass = Report::verdict(&counts, &trends);
    let report = Report {
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        kill_every_s: args.kill_every.as_secs_f64(),
        sample_every_s: args.sample_every.as_secs_f64(),
        ldap_workers: args.ldap_workers,
        bulk_streams: args.bulk_streams,
        max_bulk_bytes: args.max_bulk_bytes,
        pause_ms: args.pause.as_millis(),
        counts,
        trends,
        samples,
        pass,
    };
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(report)
}
