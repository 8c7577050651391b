//! Cloudflare's v4 response envelope, the one mapping from engine errors to its error codes
//! and HTTP statuses, and how an error message may echo what the client sent.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::EngineError;
use crate::ids::InvalidId;

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
    /// Cloudflare's API-wide "please wait and consider throttling your request speed", with
    /// HTTP 429: the code Workflows' creation-rate refusals are given, as theirs is not
    /// published.
    pub const RATE_LIMITED: u32 = 971;
}

/// The most characters of one client value (an id, a name, a header) an error message echoes.
const ECHOED_CHARS: usize = 100;
/// The most characters of any error message: messages written by libraries (serde's "unknown
/// field `…`") echo the client's input whole, and those are not cut value by value.
const MESSAGE_CHARS: usize = 500;

/// `value` as an error message may echo it: at most 100 characters, then `…` when cut, so that
/// a megabyte of bad input does not come back as a megabyte of error.
pub fn shown(value: &str) -> Cow<'_, str> {
    cut(value, ECHOED_CHARS)
}

fn cut(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
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
    /// Seconds for a `Retry-After` header (a 429's).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match cut(&message, MESSAGE_CHARS) {
            Cow::Borrowed(_) => message,
            Cow::Owned(shorter) => shorter,
        };
        ApiError { status, code, message, retry_after: None }
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<InvalidId> for ApiError {
    fn from(error: InvalidId) -> Self {
        ApiError::bad_request(shown_id(error).to_string())
    }
}

fn shown_id(error: InvalidId) -> InvalidId {
    InvalidId { value: shown(&error.value).into_owned(), ..error }
}

/// The engine's message for `error`, with the client's values in it cut by [`shown`].
fn engine_message(error: EngineError) -> String {
    let cut = |value: String| shown(&value).into_owned();
    match error {
        EngineError::WorkflowNotFound(name) => EngineError::WorkflowNotFound(cut(name)),
        EngineError::InstanceNotFound(id) => EngineError::InstanceNotFound(cut(id)),
        EngineError::StepNotFound(name) => EngineError::StepNotFound(cut(name)),
        EngineError::NoSuchSchedule { workflow, cron } => {
            EngineError::NoSuchSchedule { workflow: cut(workflow), cron: cut(cron) }
        }
        EngineError::InvalidId(invalid) => EngineError::InvalidId(shown_id(invalid)),
        other => other,
    }
    .to_string()
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
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
            EngineError::RateLimited(_) | EngineError::QueueFull(_) => {
                (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED)
            }
            EngineError::Store(_) | EngineError::CommandFailed(_) => {
                tracing::error!("internal error: {error}");
                (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
            }
        };
        let retry_after = match &error {
            EngineError::RateLimited(exceeded) => Some((exceeded.retry_after_ms as u64).div_ceil(1000)),
            _ => None,
        };
        ApiError { retry_after, ..ApiError::new(status, code, engine_message(error)) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(timestamp(1_786_001_400_123), "2026-08-06T07:30:00.123Z");
    }

    #[test]
    fn echoed_values_are_cut_at_100_characters() {
        assert_eq!(shown("order-1"), "order-1");
        let exact = "é".repeat(100);
        assert_eq!(shown(&exact), exact);
        assert_eq!(shown(&"é".repeat(101)), format!("{exact}…"));
    }

    #[test]
    fn messages_that_echo_a_value_whole_are_cut() {
        let message = format!("unknown field `{}`", "x".repeat(1 << 20));
        let error = ApiError::bad_request(message);
        assert_eq!(error.message.chars().count(), MESSAGE_CHARS + 1);
        assert!(error.message.ends_with('…'));
    }

    #[test]
    fn engine_errors_cut_the_names_they_echo() {
        let long = "w".repeat(10_000);
        let error = ApiError::from(EngineError::WorkflowNotFound(long.clone()));
        assert_eq!(error.message, format!("workflow {}… not found", &long[..100]));
        let error = ApiError::from(InvalidId { what: "instance id", value: long, rule: "a rule" });
        assert!(error.message.len() < 200 && error.message.ends_with("is invalid: a rule"), "{}", error.message);
    }
}
