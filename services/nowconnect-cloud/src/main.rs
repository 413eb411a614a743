//! `nowconnect-cloud`: parse the CLI, load the config, start telemetry, bind, run.

use clap::{Parser, Subcommand};
use nowconnect_auth::keys::{self, KeyAlg, TokenRequest};
use nowconnect_cloud::config::{self, EXIT_CONFIG, LogFormat};
use nowconnect_cloud::{Hub, HubError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Descriptors besides client connections: listeners' peers, agent tunnels, the JWKS and PDP
/// clients, log and metrics sockets.
const FD_MARGIN: usize = 64;

#[derive(Debug, Parser)]
#[command(name = "nowconnect-cloud", version, about = "NowConnect hub")]
struct Cli {
    /// Path of cloud.yaml (also NC_CONFIG).
    #[arg(long, env = "NC_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub (the default).
    Run,
    /// Validate the configuration and exit (0 = valid, 64 = invalid).
    CheckConfig,
    /// Development credentials: signing key and JWKS.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Agent tokens signed with the development key.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write <dir>/signing-key.pem and <dir>/jwks.json.
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "ES256")]
        alg: KeyAlg,
        #[arg(long, default_value = "nowconnect-dev-1")]
        kid: String,
        /// Replace an existing key.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Sign an agent token with the key in --dir; prints it, or writes it to --out (mode 0600).
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        agent_id: String,
        #[arg(long, default_value = "nowconnect")]
        audience: String,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long, default_value_t = 86_400)]
        ttl_sec: u64,
        /// Comma-separated connectors to grant (the `connectors` claim).
        #[arg(long, value_delimiter = ',')]
        connectors: Option<Vec<String>>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cli.config),
        Command::CheckConfig => match config::load(cli.config.as_deref(), &env) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail_config(&e),
        },
        Command::Keys(KeysCommand::Init {
            dir,
            alg,
            kid,
            force,
        }) => match keys::init_dir(&dir, alg, &kid, force) {
            Ok(out) => {
                eprintln!(
                    "wrote {} and {} (kid {}, {})",
                    out.key_path.display(),
                    out.jwks_path.display(),
                    out.kid,
                    out.alg
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Token(TokenCommand::Issue {
            dir,
            agent_id,
            audience,
            issuer,
            ttl_sec,
            connectors,
            out,
        }) => {
            let req = TokenRequest {
                agent_id,
                audience,
                issuer,
                ttl: Duration::from_secs(ttl_sec),
                connectors,
            };
            let token = match keys::load_dir(&dir).and_then(|key| key.issue_agent_token(&req)) {
                Ok(token) => token,
                Err(e) => return fail(&e),
            };
            match out {
                Some(path) => match write_secret(&path, &token) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(&format!("write {}: {e}", path.display())),
                },
                None => {
                    #[allow(clippy::print_stdout)]
                    {
                        println!("{token}");
                    }
                    ExitCode::SUCCESS
                }
            }
        }
    }
}

fn run(config_path: Option<PathBuf>) -> ExitCode {
    let cfg = match config::load(config_path.as_deref(), &env) {
        Ok(cfg) => cfg,
        Err(e) => return fail_config(&e),
    };
    let settings = nowconnect_telemetry::LogSettings {
        service: "nowconnect-cloud",
        level: cfg.observability.log_level.clone(),
        format: match cfg.observability.log_format {
            LogFormat::Json => nowconnect_telemetry::LogFormat::Json,
            LogFormat::Plain => nowconnect_telemetry::LogFormat::Plain,
        },
    };
    let guard = match nowconnect_telemetry::init(&settings) {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    // One descriptor per client connection, plus listeners, tunnels and a margin.
    let needed = (cfg.limits.max_conn_total)
        .saturating_add(cfg.listeners.len())
        .saturating_add(FD_MARGIN);
    nowconnect_mux::fdlimit::raise_nofile_logged(
        u64::try_from(needed).unwrap_or(u64::MAX),
        "limits.max_conn_total",
    );
    let runtime = match nowconnect_mux::runtime::build(cfg.worker_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    tracing::info!(
        event = "runtime_started",
        worker_threads = nowconnect_mux::runtime::effective_workers(cfg.worker_threads)
    );
    let telemetry = guard.telemetry().clone();
    let code = runtime.block_on(async move {
        let hub = match Hub::bind(cfg, telemetry).await {
            Ok(hub) => hub,
            // Unreadable or invalid certificate/key files are a configuration mistake.
            Err(e @ HubError::Tls(_)) => return fail_config(&e),
            Err(e) => return fail(&e),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(nowconnect_mux::signal::on_terminate(shutdown.clone()));
        match hub.run(shutdown).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    });
    // The runtime first (its tasks may still record), then the guard's final flush.
    drop(runtime);
    drop(guard);
    code
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

fn fail_config(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("nowconnect-cloud: config: {e}");
    ExitCode::from(u8::try_from(EXIT_CONFIG).unwrap_or(64))
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("nowconnect-cloud: {e}");
    ExitCode::FAILURE
}
