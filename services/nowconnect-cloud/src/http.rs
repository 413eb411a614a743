//! The HTTP side of the tunnel port: `/tunnel`, `/healthz`, `/readyz`.

use crate::hub::HubState;
use crate::tunnel;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
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
        .with_state(state)
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
