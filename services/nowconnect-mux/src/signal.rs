//! SIGTERM / SIGINT → cancel the root token.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or SIGINT.
pub async fn on_terminate(token: CancellationToken) {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        tracing::warn!(event = "signal_setup_failed", "SIGTERM handler unavailable");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(event = "signal", signal = "SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!(event = "signal", signal = "SIGINT"),
        _ = token.cancelled() => return,
    }
    token.cancel();
}
