//! The HTTP admin port (`observability.metrics_host`/`metrics_port`): `/metrics` (Prometheus
//! text), `/healthz` (the process answers) and `/readyz` (an acknowledged tunnel is up — the
//! same flag that makes the TCP health port answer `READY`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use nowconnect_telemetry::Telemetry;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
struct AdminState {
    telemetry: Telemetry,
    ready: Arc<AtomicBool>,
}

fn router(telemetry: Telemetry, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState { telemetry, ready })
}

/// Serves until `stop` fires, then lets in-flight requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    telemetry: Telemetry,
    ready: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let app = router(telemetry, ready);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!(event = "admin_port_failed", error = %e);
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let (content_type, body) = state.telemetry.render();
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded"})),
        )
    }
}
