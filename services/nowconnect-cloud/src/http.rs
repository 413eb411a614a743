//! The HTTP side of the tunnel port: `/tunnel`, `/healthz`, `/readyz`, `/metrics`; and the
//! separate metrics port (`/metrics` only).

use crate::hub::HubState;
use crate::tunnel;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(crate) fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/tunnel", get(tunnel::upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The router of `observability.metrics_port`.
pub(crate) fn metrics_router(state: Arc<HubState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The Prometheus text format of every hub instrument.
async fn metrics(State(state): State<Arc<HubState>>) -> impl IntoResponse {
    let (content_type, body) = state.telemetry.render();
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready while the listeners are bound and serving (not during start-up or the drain).
async fn readyz(State(state): State<Arc<HubState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded"})),
        )
    }
}
