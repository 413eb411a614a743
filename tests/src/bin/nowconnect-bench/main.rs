//! `nowconnect-bench`: benchmark commands that print figures (never timed tests).
//!
//! `nowconnect-bench telemetry` measures what telemetry costs (issue 3) in four modes: `off`
//! (`OTEL_SDK_DISABLED=true`), `metrics` (the default: Prometheus bridge, no OTLP), `full`
//! (metrics and traces over OTLP HTTP/protobuf to an in-process sink at the default sampling:
//! one connection in ten traced, with `frame` spans) and `traced-all` (the same with every
//! connection traced, to show what one traced stream costs). It starts one pair of real hub and
//! agent binaries per mode (V2 tunnel, real JWKS and token), all in front of one in-process echo
//! target, then runs `nowconnect-perf`'s TCP phases round after round, each phase on the direct
//! path and on every mode's tunnel back to back in a rotating order (see `rounds.rs`); the pairs
//! not being measured are idle. Round trips and bulk streams are spread over many connections
//! so that the sampled share is represented. The report gives medians, ratios to `off` and to
//! direct, the direct figures' spread (the machine's noise), the connections traced and what
//! reached each sink, and the verdict.
//!
//! Run it through `scripts/bench.sh telemetry` (builds the release binaries first). Work files
//! (config, logs per mode and round) go to `<repo>/.bench/` unless `--work-dir DIR`.

#![allow(clippy::print_stdout)]

mod figure;
mod hold;
mod mode;
mod probe;
mod report;
mod rounds;
mod rss;
mod sink;
mod stack;
mod suite;
mod summary;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::{Args, Parser, Subcommand};
use nowconnect_e2e::creds::Creds;
use nowconnect_perf::cli::DEFAULT_WARMUP;
use nowconnect_perf::tcp::TcpOpts;

use mode::Mode;
use sink::Sink;
use stack::Stack;
use summary::ModeTotals;

#[derive(Debug, Parser)]
#[command(name = "nowconnect-bench", about = "Benchmarks that print figures")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Tunnel throughput and latency with telemetry off, metrics only, metrics + traces at the
    /// default sampling, and metrics + traces of every connection.
    Telemetry(TelemetryArgs),
    /// The published figures: LDAP workloads through the tunnel and directly (real slapd), the
    /// TCP mode over V2 and V1, hub and agent memory with 1000 and 10 000 idle streams.
    Suite(suite::SuiteArgs),
    /// A V2 (or V1) pair in front of an echo process, kept up until Ctrl-C, for profiling.
    Hold(hold::HoldArgs),
}

#[derive(Debug, Args)]
struct TelemetryArgs {
    /// Rounds; each measures every phase on every target once.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=50))]
    rounds: u16,
    /// Seconds each throughput phase writes, per target.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Parallel streams of the multi-stream throughput phase.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    streams: u16,
    /// Connections each throughput stream is made of, one after the other.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    connections_per_stream: u16,
    /// Recorded 64-byte round trips per target and round.
    #[arg(long, default_value_t = 4000)]
    round_trips: usize,
    /// Kept connections per target and round the round trips are spread over.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    rtt_connections: u16,
    /// Sequential connection set-ups per target and round.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Modes to compare (comma list of off, metrics, full, traced-all).
    #[arg(long, value_delimiter = ',', default_values_t = mode::ALL)]
    modes: Vec<Mode>,
    /// Where configs and logs go (default `<repo>/.bench`).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also write the full report (every run) as JSON to FILE.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let bench = Cli::parse().bench;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|rt| {
            rt.block_on(async {
                match bench {
                    Bench::Telemetry(args) => telemetry(args).await,
                    Bench::Hold(args) => {
                        check_binaries()?;
                        hold::run(args, &work_dir(None)?).await
                    }
                    Bench::Suite(args) => {
                        check_binaries()?;
                        let work = work_dir(None)?;
                        suite::run(args, &work, progress).await
                    }
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nowconnect-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn telemetry(args: TelemetryArgs) -> anyhow::Result<()> {
    check_binaries()?;
    ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be a positive number"
    );
    ensure!(
        args.round_trips > 0 && args.connections > 0,
        "--round-trips and --connections must be positive"
    );
    let mut modes = Vec::new();
    for m in &args.modes {
        if !modes.contains(m) {
            modes.push(*m);
        }
    }
    ensure!(!modes.is_empty(), "--modes names no mode");
    let work = work_dir(args.work_dir.as_deref())?;
    let creds = tokio::task::spawn_blocking(Creds::new).await?;
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the echo target")?;
    let target = echo.local_addr()?;
    tokio::spawn(nowconnect_perf::echo::serve(echo));
    progress(&format!(
        "echo target {target}, work dir {}",
        work.display()
    ));

    let mut stacks = Vec::new();
    for &mode in &modes {
        // Each exporting mode gets a sink of its own, so its spans and traces are its own.
        let sink = if mode.exports() {
            Some(Sink::start().await?)
        } else {
            None
        };
        // A mode without a sink gets an address it never uses (its env has no OTLP variable).
        let sink_addr = sink.as_ref().map_or(target, |s| s.addr);
        let stack = Stack::start(
            &creds,
            &work,
            mode.as_str(),
            &mode.env(sink_addr),
            target,
            &stack::StackOpts::default(),
        )
        .await
        .with_context(|| format!("starting hub and agent ({mode})"))?;
        ensure!(
            stack.protocol == "v2",
            "{mode}: the tunnel negotiated {}, expected v2",
            stack.protocol
        );
        let sink_note = sink
            .as_ref()
            .map(|s| format!(", OTLP sink {}", s.addr))
            .unwrap_or_default();
        progress(&format!(
            "{mode}: hub listener {} (V2){sink_note}",
            stack.listener
        ));
        stacks.push((mode, stack, sink));
    }

    let opts = TcpOpts {
        tunnel: target,
        direct: target,
        streams: usize::from(args.streams),
        connections_per_stream: usize::from(args.connections_per_stream),
        duration: Duration::try_from_secs_f64(args.seconds)?,
        round_trips: args.round_trips,
        warmup: DEFAULT_WARMUP,
        rtt_connections: usize::from(args.rtt_connections),
        message_size: 64,
        connections: args.connections,
    };
    let tunnels: Vec<(Mode, SocketAddr)> =
        stacks.iter().map(|(m, s, _)| (*m, s.listener)).collect();
    let rounds = usize::from(args.rounds);
    progress(&format!("load average before: {}", load_average()));
    let (runs, incidents) = rounds::measure(&opts, &tunnels, rounds, progress).await?;
    progress(&format!("load average after: {}", load_average()));

    let mut totals = Vec::new();
    for (mode, stack, sink) in stacks {
        let (protocol, hub_log, agent_log) = (
            stack.protocol.clone(),
            stack.hub_log.clone(),
            stack.agent_log.clone(),
        );
        let cpu_seconds = stack.cpu_seconds().unwrap_or(f64::NAN);
        stack
            .stop()
            .await
            .with_context(|| format!("stopping hub and agent ({mode})"))?;
        // Read after the stop: the processes flush their spans on SIGTERM.
        let relayed = probe::relayed(&hub_log);
        totals.push(ModeTotals {
            mode,
            protocol,
            sink: sink.as_ref().map(Sink::received).unwrap_or_default(),
            dropped_spans: probe::dropped_spans(&hub_log) + probe::dropped_spans(&agent_log),
            cpu_seconds,
            relayed_bytes: relayed.bytes,
            streams: relayed.streams,
        });
    }
    let streams = usize::from(args.streams);
    print!(
        "{}",
        report::render(&runs, &totals, &incidents, streams, rounds)
    );
    if let Some(path) = &args.json {
        let report = report::to_json(&runs, &totals, &incidents, rounds);
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `/proc/loadavg`'s first three fields: how busy the machine was besides the bench.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Fails with a clear line when the hub or agent binary is not next to this one.
fn check_binaries() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let dir = exe.parent().context("bench binary has no directory")?;
    for name in ["nowconnect-cloud", "nowconnect-premise", "nowconnect-perf"] {
        ensure!(
            dir.join(name).is_file(),
            "{name} not found in {}: run `scripts/bench.sh` (or `cargo build --release --bins`)",
            dir.display()
        );
    }
    Ok(())
}

fn work_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join(".bench"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.canonicalize()?)
}

/// Progress goes to stderr; stdout carries the report only.
fn progress(msg: &str) {
    eprintln!("nowconnect-bench: {msg}");
}
