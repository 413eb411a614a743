//! NowConnect telemetry: one place that installs the process-wide `tracing` subscriber.
//!
//! Main types: [`LogSettings`] (level and format, parsed by the services' config layers) and
//! [`init`], which installs the subscriber and returns a [`TelemetryGuard`]. Libraries never
//! install a subscriber; only binaries call [`init`]. Tests use [`init_for_tests`].
//!
//! Deliberately absent for now: OpenTelemetry metrics and traces (the observability issue adds
//! them here, behind the same guard). This crate knows nothing about tunnels or LDAP.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable single lines.
    Plain,
    /// One JSON object per line (fields flattened: `event`, `cid`, `agent_id`, …).
    Json,
}

/// What [`init`] needs.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `service.name`, written into every JSON line as `service`.
    pub service: &'static str,
    /// A level (`info`) or a full `EnvFilter` directive (`info,nowconnect_mux=debug`).
    pub level: String,
    pub format: LogFormat,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log level {0:?}: {1}")]
    Level(String, String),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps telemetry alive; dropping it flushes what is buffered.
#[derive(Debug)]
#[must_use = "telemetry stops when the guard is dropped"]
pub struct TelemetryGuard {
    _private: (),
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(settings: &LogSettings) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&settings.level)
        .map_err(|e| TelemetryError::Level(settings.level.clone(), e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_span_events(FmtSpan::NONE);
    let installed = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Plain => builder.with_target(false).try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    tracing::debug!(service = settings.service, "telemetry initialised");
    Ok(TelemetryGuard { _private: () })
}

/// Test helper: a plain subscriber writing through the test harness's capture; `RUST_LOG`
/// selects the level (default `warn`). Safe to call from every test.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
