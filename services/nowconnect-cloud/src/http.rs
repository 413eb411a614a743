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

/// Ready while the listeners are bound and serving (not during start-up or the drain), the
/// agents' JWKS has been loaded (else `jwks_unavailable`: no agent can authenticate), and every
/// configured connector has a live agent; otherwise 503 `degraded`, naming what is missing. A
/// connector without an agent accepts clients only to close them, so a load balancer in front
/// of the client listeners should stop sending traffic here (the agents' path to `/tunnel` must
/// not depend on this probe: see docs/configuration.md).
async fn readyz(State(state): State<Arc<HubState>>) -> impl IntoResponse {
    if !state.ready.load(Ordering::SeqCst) {
        let body = json!({"status": "degraded", "reason": "not_serving"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if !state.verifier.is_loaded() {
        let body = json!({"status": "degraded", "reason": "jwks_unavailable"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let down = connectors_down(&state);
    if down.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        let body = json!({"status": "degraded", "reason": "no_agent", "connectors_down": down});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

/// The configured connectors no live agent serves, sorted, each once.
fn connectors_down(state: &HubState) -> Vec<&str> {
    let mut down: Vec<&str> = state
        .cfg
        .listeners
        .iter()
        .map(|l| l.connector.as_str())
        .filter(|c| !state.registry.serves(c))
        .collect();
    down.sort_unstable();
    down.dedup();
    down
}
