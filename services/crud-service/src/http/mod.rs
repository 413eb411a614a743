//! The HTTP edge (axum): `POST /execute`, `GET /health`, `GET /metrics`.
//!
//! A request span (`POST /execute`) wraps validation, the LDAP operations (their spans are its
//! children) and the answer; the answer is logged once, with its code, never with the body
//! (which may hold a password).

mod error;
mod execute;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use nowconnect_telemetry::Telemetry;
use serde_json::json;

pub use error::{ApiError, from_rc};

use crate::ldap::Directory;
use crate::metrics::CrudMetrics;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub directories: Arc<BTreeMap<String, Directory>>,
    pub metrics: CrudMetrics,
    pub telemetry: Telemetry,
}

/// The service's routes; bodies over `max_body_bytes` are answered 413.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/execute", post(execute::execute))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let systems: Vec<&String> = state.directories.keys().collect();
    axum::Json(json!({"status": "ok", "systems": systems}))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (content_type, body) = state.telemetry.render();
    ([(header::CONTENT_TYPE, content_type)], body)
}
