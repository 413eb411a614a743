//! `crud-service`: read `SERVICE_CONFIG_DIR` and `CRUD_*`, start telemetry, bind, serve until
//! SIGTERM/SIGINT. A bad configuration is one line on stderr and exit code 64.

use std::process::ExitCode;

use clap::Parser;
use crud_service::CrudService;
use crud_service::config::{self, EXIT_CONFIG};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "crud-service",
    version,
    about = "NowConnect CRUD service: LDAP users and groups over HTTP (configured by SERVICE_CONFIG_DIR, CRUD_LISTEN)"
)]
struct Cli {
    /// Validate the configuration and exit (0 = valid, 64 = invalid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match config::load(&|name| std::env::var(name).ok()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("crud-service: config: {e}");
            return ExitCode::from(u8::try_from(EXIT_CONFIG).unwrap_or(64));
        }
    };
    if cli.check_config {
        return ExitCode::SUCCESS;
    }
    let settings = nowconnect_telemetry::LogSettings {
        service: "crud-service",
        level: cfg.log_level.clone(),
        format: nowconnect_telemetry::LogFormat::Json,
    };
    // Dropped last (after the runtime): flushes and shuts the exporters down.
    let guard = match nowconnect_telemetry::init(&settings) {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    let telemetry = guard.telemetry().clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    runtime.block_on(async move {
        let service = match CrudService::bind(cfg, telemetry).await {
            Ok(service) => service,
            Err(e) => return fail(&e),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(on_terminate(shutdown.clone()));
        match service.run(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

/// Cancels `token` on SIGTERM or SIGINT.
async fn on_terminate(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            token.cancel();
            return;
        }
    }
    let _ = ctrl_c.await;
    token.cancel();
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("crud-service: {e}");
    ExitCode::FAILURE
}
