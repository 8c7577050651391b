//! `POST …/instances/{id}/events/{event_type}`: the body is the event's payload; the answer is
//! `{instanceId, timestamp}`, the official SDKs' model of it.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::envelope::{ApiError, ok, timestamp};
use super::extract::{ApiPath, OptionalJson};
use super::paths::EventPath;

pub async fn send_event(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EventPath>,
    OptionalJson(payload): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let event_type = path.event_type()?;
    let id = path.id()?;
    state.engine.send_event(&path.workflow_name, &id, &event_type, &payload.unwrap_or(Value::Null)).await?;
    Ok(ok(json!({ "instanceId": id.as_str(), "timestamp": timestamp(state.engine.now_ms()) })))
}
