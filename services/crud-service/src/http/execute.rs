//! `POST /execute`: body → [`crate::action::parse`] → [`crate::dispatch::run`] → JSON.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::{ApiError, AppState};
use crate::action;
use crate::dispatch;

/// The `action` label of requests refused before their action was known.
const INVALID: &str = "invalid";

pub(super) async fn execute(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(target: "nowconnect::crud::http", "POST /execute",
        http.request.method = "POST", http.route = "/execute",
        crud.system = tracing::field::Empty, crud.action = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty, error.type = tracing::field::Empty);
    async move {
        let (name, outcome) = handle(&state, body).await;
        let span = tracing::Span::current();
        let (status, code, response) = match outcome {
            Ok(result) => (StatusCode::OK, "ok", (StatusCode::OK, Json(json!({"result": result}))).into_response()),
            Err(e) => {
                span.record("error.type", e.code);
                if e.status.is_server_error() {
                    tracing::warn!(target: "nowconnect::crud::http", event = "request_failed",
                        action = name, status = e.status.as_u16(), code = e.code, error = %e.message);
                } else {
                    tracing::info!(target: "nowconnect::crud::http", event = "request_refused",
                        action = name, status = e.status.as_u16(), code = e.code, error = %e.message);
                }
                (e.status, e.code, e.into_response())
            }
        };
        span.record("http.response.status_code", status.as_u16());
        state.metrics.request(name, code, started.elapsed());
        response
    }
    .instrument(span)
    .await
}

/// The action's name (for metrics) and the result or the error.
async fn handle(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> (&'static str, Result<serde_json::Value, ApiError>) {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                INVALID,
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "request body exceeds the configured limit (CRUD_MAX_BODY_BYTES)",
                )),
            );
        }
        Err(rejection) => {
            return (
                INVALID,
                Err(ApiError::new(
                    rejection.status(),
                    "invalid_request",
                    rejection.body_text(),
                )),
            );
        }
    };
    let request = match action::parse(&body, &|s| state.directories.contains_key(s)) {
        Ok(request) => request,
        Err(e) => return (INVALID, Err(ApiError::from(&e))),
    };
    let name = request.action.name();
    let span = tracing::Span::current();
    span.record("crud.system", request.system.as_str());
    span.record("crud.action", name);
    let Some(dir) = state.directories.get(&request.system) else {
        return (
            name,
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_system",
                "unknown system",
            )),
        );
    };
    (
        name,
        dispatch::run(dir, request.action)
            .await
            .map_err(|e| ApiError::from(&e)),
    )
}
