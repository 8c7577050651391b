//! Cloudflare's v4 response envelope, and the one mapping from engine errors to its error codes
//! and HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::EngineError;

/// Error codes of the Workflows API (spec §1.3).
pub mod codes {
    pub const INTERNAL: u32 = 10001;
    pub const INVALID_BODY: u32 = 10002;
    pub const WORKFLOW_NOT_FOUND: u32 = 10200;
    pub const INSTANCE_NOT_FOUND: u32 = 10400;
    pub const INSTANCE_EXISTS: u32 = 10405;
    pub const INVALID_STATUS_CHANGE: u32 = 10403;
    pub const STEP_NOT_FOUND: u32 = 10401;
    pub const VERSION_NOT_FOUND: u32 = 10300;
    pub const AUTHENTICATION: u32 = 10000;
    pub const ROUTE_NOT_FOUND: u32 = 7003;
    pub const METHOD_NOT_ALLOWED: u32 = 7001;
}

/// `{"success": true, "errors": [], "messages": [], "result": …}`.
pub fn ok(result: Value) -> Response {
    Json(json!({ "success": true, "errors": [], "messages": [], "result": result })).into_response()
}

pub fn ok_with_info(result: Value, result_info: Value) -> Response {
    Json(json!({ "success": true, "errors": [], "messages": [], "result": result, "result_info": result_info }))
        .into_response()
}

/// An error response in the envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_BODY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "errors": [{ "code": self.code, "message": self.message }],
            "messages": [],
            "result": null,
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            EngineError::WorkflowNotFound(_) => (StatusCode::NOT_FOUND, codes::WORKFLOW_NOT_FOUND),
            EngineError::InstanceNotFound(_) => (StatusCode::NOT_FOUND, codes::INSTANCE_NOT_FOUND),
            EngineError::InstanceExists(_) => (StatusCode::CONFLICT, codes::INSTANCE_EXISTS),
            EngineError::InvalidId(_)
            | EngineError::TooLarge { .. }
            | EngineError::BatchSize(_)
            | EngineError::NoSuchSchedule { .. } => (StatusCode::BAD_REQUEST, codes::INVALID_BODY),
            EngineError::Refused(_) | EngineError::StepNotFound(_) => {
                (StatusCode::CONFLICT, codes::INVALID_STATUS_CHANGE)
            }
            EngineError::Store(_) => {
                tracing::error!("internal error: {error}");
                (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
            }
        };
        ApiError::new(status, code, message)
    }
}

/// RFC 3339 UTC with milliseconds, as Cloudflare prints timestamps.
pub fn timestamp(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn optional_timestamp(ms: Option<i64>) -> Value {
    ms.map(|ms| Value::String(timestamp(ms))).unwrap_or(Value::Null)
}

/// Parses an RFC 3339 timestamp into milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(timestamp(1_786_001_400_123), "2026-08-06T07:30:00.123Z");
        assert_eq!(parse_timestamp("2026-08-06T07:30:00.123Z"), Some(1_786_001_400_123));
    }
}
