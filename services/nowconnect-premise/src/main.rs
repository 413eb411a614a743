//! `nowconnect-premise`: load config (NC_* env first, premise.yaml optional), start logging,
//! bind the health and admin ports, keep the tunnel up until SIGTERM/SIGINT.

use clap::Parser;
use nowconnect_premise::Agent;
use nowconnect_premise::config::{self, EXIT_CONFIG, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Descriptors besides target connections: the tunnel, the health and admin ports and their
/// clients, the token file.
const FD_MARGIN: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "nowconnect-premise",
    version,
    about = "NowConnect premise agent"
)]
struct Cli {
    /// Optional premise.yaml (also NC_CONFIG); NC_* variables win over it.
    #[arg(long, env = "NC_CONFIG")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit (0 = valid, 64 = invalid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = |name: &str| std::env::var(name).ok();
    let cfg = match config::load(cli.config.as_deref(), &env) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("nowconnect-premise: config: {e}");
            return ExitCode::from(u8::try_from(EXIT_CONFIG).unwrap_or(64));
        }
    };
    if cli.check_config {
        return ExitCode::SUCCESS;
    }
    let settings = nowconnect_telemetry::LogSettings {
        service: "nowconnect-premise",
        level: cfg.log_level.clone(),
        format: match cfg.log_format {
            LogFormat::Json => nowconnect_telemetry::LogFormat::Json,
            LogFormat::Plain => nowconnect_telemetry::LogFormat::Plain,
        },
    };
    // Dropped last (after the runtime): flushes and shuts the exporters down.
    let guard = match nowconnect_telemetry::init(&settings) {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    // One descriptor per target connection, plus the tunnel, health/admin ports and a margin.
    let needed = cfg.limits.max_inflight_cids.saturating_add(FD_MARGIN);
    nowconnect_mux::fdlimit::raise_nofile_logged(
        u64::try_from(needed).unwrap_or(u64::MAX),
        "limits.max_inflight_cids",
    );
    let telemetry = guard.telemetry().clone();
    let runtime = match nowconnect_mux::runtime::build(cfg.worker_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    tracing::info!(
        event = "runtime_started",
        worker_threads = nowconnect_mux::runtime::effective_workers(cfg.worker_threads)
    );
    runtime.block_on(async move {
        let agent = match Agent::bind(cfg, telemetry).await {
            Ok(agent) => agent,
            Err(e) => return fail(&e),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(nowconnect_mux::signal::on_terminate(shutdown.clone()));
        agent.run(shutdown).await;
        ExitCode::SUCCESS
    })
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("nowconnect-premise: {e}");
    ExitCode::FAILURE
}
