//! `POST …/instances/{id}/events/{event_type}`: the body is the event's payload.

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use super::envelope::{ApiError, ok};
use super::extract::{ApiPath, OptionalJson};
use super::paths::EventPath;

pub async fn send_event(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EventPath>,
    OptionalJson(payload): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let event_type = path.event_type()?;
    let id = path.id()?;
    state.engine.send_event(&path.workflow_name, id.as_str(), &event_type, &payload.unwrap_or(Value::Null))?;
    Ok(ok(Value::Object(Default::default())))
}
