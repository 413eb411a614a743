//! The API's errors: every refusal is a status and a stable `code`, answered as
//! `{"error": {"code", "message", "ldap_code"?}}`. Codes are documented in `docs/crud-service.md`
//! and never change meaning.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::action::RequestError;
use crate::ldap::LdapOpError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub ldap_code: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            ldap_code: None,
        }
    }
}

impl From<&RequestError> for ApiError {
    fn from(e: &RequestError) -> Self {
        let (status, code) = match e {
            RequestError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            RequestError::NotAnObject
            | RequestError::MissingField(_)
            | RequestError::WrongType { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            RequestError::UnknownSystem(_) => (StatusCode::NOT_FOUND, "unknown_system"),
            RequestError::UnknownObjectType(_) => (StatusCode::BAD_REQUEST, "unknown_object_type"),
            RequestError::UnknownAction { .. } => (StatusCode::BAD_REQUEST, "unknown_action"),
            RequestError::MissingParam(_) => (StatusCode::UNPROCESSABLE_ENTITY, "missing_param"),
            RequestError::InvalidParam { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_param")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<&LdapOpError> for ApiError {
    fn from(e: &LdapOpError) -> Self {
        let (status, code) = match e {
            LdapOpError::Result { rc, .. } => from_rc(*rc),
            LdapOpError::Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable")
            }
            LdapOpError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            LdapOpError::PoolBusy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "pool_busy"),
            LdapOpError::Bind { .. } => (StatusCode::BAD_GATEWAY, "bind_failed"),
            LdapOpError::WouldEmptyGroup { .. } => (StatusCode::CONFLICT, "would_empty_group"),
            LdapOpError::MembersNotFound { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "member_not_found")
            }
            LdapOpError::NotAGroup { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_group"),
            LdapOpError::BadFilter => (StatusCode::BAD_REQUEST, "invalid_filter"),
            LdapOpError::TooManyEntries { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "too_many_entries")
            }
            LdapOpError::Contended { .. } => (StatusCode::CONFLICT, "contended"),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
            ldap_code: e.rc(),
        }
    }
}

/// Status and code for an LDAP result code.
pub fn from_rc(rc: u32) -> (StatusCode, &'static str) {
    match rc {
        32 => (StatusCode::NOT_FOUND, "not_found"),
        68 => (StatusCode::CONFLICT, "already_exists"),
        20 => (StatusCode::CONFLICT, "value_exists"),
        21 => (StatusCode::BAD_REQUEST, "invalid_syntax"),
        34 => (StatusCode::BAD_REQUEST, "invalid_dn"),
        16 | 17 | 19 | 64 | 65 | 67 | 69 => (StatusCode::UNPROCESSABLE_ENTITY, "schema_violation"),
        4 | 11 => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        53 | 66 => (StatusCode::UNPROCESSABLE_ENTITY, "unwilling_to_perform"),
        50 => (StatusCode::FORBIDDEN, "access_denied"),
        122 => (StatusCode::CONFLICT, "assertion_failed"),
        51 | 52 => (StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable"),
        3 => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        _ => (StatusCode::BAD_GATEWAY, "ldap_error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(rc) = self.ldap_code {
            error["ldap_code"] = json!(rc);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_codes_map_to_statuses() {
        let cases = [
            (32, 404, "not_found"),
            (68, 409, "already_exists"),
            (21, 400, "invalid_syntax"),
            (65, 422, "schema_violation"),
            (52, 503, "upstream_unavailable"),
            (3, 504, "upstream_timeout"),
            (80, 502, "ldap_error"),
        ];
        for (rc, status, code) in cases {
            let (s, c) = from_rc(rc);
            assert_eq!((s.as_u16(), c), (status, code), "rc {rc}");
        }
        let t = ApiError::from(&LdapOpError::Timeout {
            op: "x",
            timeout: std::time::Duration::from_secs(1),
        });
        assert_eq!((t.status.as_u16(), t.code), (504, "upstream_timeout"));
    }
}
