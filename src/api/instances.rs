//! The instance routes: create, list, describe, change status, send event.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::{ApiError, ok, ok_with_info, optional_timestamp, parse_timestamp, timestamp};
use super::{AppState, parse_json_body};
use crate::engine::lifecycle::InstanceStatus;
use crate::engine::{InstanceHistory, NewInstance, RestartFrom};
use crate::ids::{EventType, InstanceId, StepKind};
use crate::store::{InstanceFilter, InstanceRow, StepRow, StepState};

#[derive(Deserialize)]
pub struct WorkflowPath {
    #[allow(dead_code)]
    account_id: String,
    workflow_name: String,
}

#[derive(Deserialize)]
pub struct InstancePath {
    #[allow(dead_code)]
    account_id: String,
    workflow_name: String,
    instance_id: String,
}

#[derive(Deserialize)]
pub struct EventPath {
    #[allow(dead_code)]
    account_id: String,
    workflow_name: String,
    instance_id: String,
    event_type: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    instance_id: Option<String>,
    params: Option<Value>,
    #[allow(dead_code)]
    instance_retention: Option<Value>,
    #[allow(dead_code)]
    location_hint: Option<String>,
}

/// `POST …/instances`.
pub async fn create(
    State(state): State<AppState>,
    Path(path): Path<WorkflowPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody =
        if body.iter().all(u8::is_ascii_whitespace) { CreateBody::default() } else { parse_json_body(&body)? };
    let id = body
        .instance_id
        .as_deref()
        .map(InstanceId::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let row = state.engine.create(
        &path.workflow_name,
        NewInstance { id, params: body.params.unwrap_or(Value::Null), trigger_source: "api" },
    )?;
    let def = state.engine.workflow(&path.workflow_name)?;
    Ok(ok(json!({
        "id": row.id,
        "status": row.status.as_str(),
        "version_id": row.version_id,
        "workflow_id": def.workflow_id,
    })))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    per_page: Option<u32>,
    cursor: Option<String>,
    direction: Option<String>,
    date_start: Option<String>,
    date_end: Option<String>,
}

/// `GET …/instances`: newest first, cursor-paginated.
pub async fn list(
    State(state): State<AppState>,
    Path(path): Path<WorkflowPath>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| InstanceStatus::parse(s).ok_or_else(|| ApiError::bad_request(format!("unknown status {s:?}"))))
        .transpose()?;
    let per_page = query.per_page.unwrap_or(50).clamp(1, 100);
    let ascending = match query.direction.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("direction must be asc or desc, not {other:?}")));
        }
    };
    let date = |text: &Option<String>, what: &str| {
        text.as_deref()
            .map(|t| {
                parse_timestamp(t).ok_or_else(|| ApiError::bad_request(format!("{what} must be an ISO 8601 date")))
            })
            .transpose()
    };
    let after = query.cursor.as_deref().filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
    let filter = InstanceFilter {
        workflow: path.workflow_name.clone(),
        status,
        created_from: date(&query.date_start, "date_start")?,
        created_to: date(&query.date_end, "date_end")?,
        after,
        ascending,
        limit: per_page + 1,
    };
    let mut rows = state.engine.list(&filter)?;
    let more = rows.len() > per_page as usize;
    rows.truncate(per_page as usize);
    let cursor = if more { rows.last().map(|r| format!("{}.{}", r.created_on, r.id)) } else { None };
    let def = state.engine.workflow(&path.workflow_name)?;
    let result: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "created_on": timestamp(row.created_on),
                "modified_on": timestamp(row.modified_on),
                "started_on": optional_timestamp(row.started_on),
                "ended_on": optional_timestamp(row.ended_on),
                "status": row.status.as_str(),
                "version_id": row.version_id,
                "workflow_id": def.workflow_id,
                "trigger_source": row.trigger_source,
            })
        })
        .collect();
    let count = result.len();
    Ok(ok_with_info(
        Value::Array(result),
        json!({ "count": count, "per_page": per_page, "total_count": count, "cursor": cursor.unwrap_or_default() }),
    ))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let invalid = || ApiError::bad_request("invalid cursor");
    let (created, id) = cursor.split_once('.').ok_or_else(invalid)?;
    Ok((created.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// `GET …/instances/{id}`.
pub async fn describe(State(state): State<AppState>, Path(path): Path<InstancePath>) -> Result<Response, ApiError> {
    let id = InstanceId::parse_addressable(&path.instance_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let history = state.engine.history(&path.workflow_name, id.as_str())?;
    Ok(ok(instance_details(&history)))
}

fn parse_json_text(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

fn instance_details(history: &InstanceHistory) -> Value {
    let row: &InstanceRow = &history.instance;
    let success = match row.status {
        InstanceStatus::Complete => json!(true),
        InstanceStatus::Errored | InstanceStatus::Terminated => json!(false),
        _ => Value::Null,
    };
    let mut steps: Vec<Value> = history.steps.iter().map(|step| step_details(step, history)).collect();
    if let Some(source) = &row.terminated_by {
        steps.push(json!({ "type": "termination", "trigger": { "source": source } }));
    }
    let mut details = json!({
        "status": row.status.as_str(),
        "params": parse_json_text(Some(&row.params)),
        "trigger": { "source": row.trigger_source },
        "versionId": row.version_id,
        "queued": timestamp(row.created_on),
        "start": optional_timestamp(row.started_on),
        "end": optional_timestamp(row.ended_on),
        "success": success,
        "error": row.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message })),
        "output": parse_json_text(row.output.as_deref()),
        "step_count": history.steps.iter().filter(|s| s.key.kind == StepKind::Do).count(),
        "steps": steps,
    });
    if let Some(schedule) = &row.schedule {
        details["schedule"] = parse_json_text(Some(schedule));
    }
    details
}

fn step_details(step: &StepRow, history: &InstanceHistory) -> Value {
    let finished = step.state == StepState::Succeeded || step.state == StepState::Failed;
    let error = step.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message }));
    match step.key.kind {
        StepKind::Do => {
            let config = parse_json_text(step.config.as_deref());
            let sensitive = config.get("sensitive").is_some();
            let output = match step.output.as_deref() {
                Some(_) if sensitive => json!("[REDACTED]"),
                other => parse_json_text(other),
            };
            let attempts: Vec<Value> = history
                .attempts_of(step)
                .iter()
                .map(|a| {
                    json!({
                        "start": timestamp(a.started_on),
                        "end": optional_timestamp(a.ended_on),
                        "success": a.success,
                        "error": a.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message })),
                    })
                })
                .collect();
            json!({
                "type": "step",
                "name": step.key.display_name(),
                "start": timestamp(step.started_on),
                "end": optional_timestamp(step.ended_on),
                "success": match step.state {
                    StepState::Succeeded => json!(true),
                    StepState::Failed => json!(false),
                    _ => Value::Null,
                },
                "output": output,
                "config": config,
                "attempts": attempts,
            })
        }
        StepKind::Sleep => json!({
            "type": "sleep",
            "name": step.key.display_name(),
            "start": timestamp(step.started_on),
            "end": optional_timestamp(step.ended_on.or(step.wake_at)),
            "finished": finished,
            "error": error,
        }),
        StepKind::WaitForEvent => {
            let event = parse_json_text(step.output.as_deref());
            json!({
                "type": "waitForEvent",
                "name": step.key.display_name(),
                "start": timestamp(step.started_on),
                "end": optional_timestamp(step.ended_on),
                "finished": finished,
                "error": error,
                "event_type": step.event_type,
                "output": event.get("payload").cloned().unwrap_or(Value::Null),
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    #[serde(default)]
    rollback: Option<bool>,
    #[serde(default)]
    from: Option<FromBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromBody {
    name: String,
    count: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `PATCH …/instances/{id}/status`.
pub async fn change_status(
    State(state): State<AppState>,
    Path(path): Path<InstancePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: StatusBody = parse_json_body(&body)?;
    let id = InstanceId::parse_addressable(&path.instance_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (workflow, id) = (path.workflow_name.as_str(), id.as_str());
    let engine = &state.engine;
    let _ = body.rollback;
    let status = match body.status.as_str() {
        "pause" => engine.pause(workflow, id)?,
        "resume" => engine.resume(workflow, id)?,
        "terminate" => engine.terminate(workflow, id).await?,
        "restart" => {
            let from = body
                .from
                .map(|from| {
                    let kind = match from.kind.as_deref() {
                        None => StepKind::Do,
                        Some(text) => StepKind::parse(text)
                            .ok_or_else(|| ApiError::bad_request("from.type must be do, sleep or waitForEvent"))?,
                    };
                    let count = from.count.unwrap_or(1);
                    if count == 0 {
                        return Err(ApiError::bad_request("from.count must be a positive integer"));
                    }
                    Ok(RestartFrom { name: from.name, count, kind })
                })
                .transpose()?;
            engine.restart(workflow, id, from).await?
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "status must be one of pause, resume, terminate, restart (got {other:?})"
            )));
        }
    };
    Ok(ok(json!({ "status": status.as_str(), "timestamp": timestamp(engine.now_ms()) })))
}

/// `POST …/instances/{id}/events/{event_type}`: the body is the payload.
pub async fn send_event(
    State(state): State<AppState>,
    Path(path): Path<EventPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let event_type = EventType::parse(&path.event_type).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let id = InstanceId::parse_addressable(&path.instance_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) { Value::Null } else { parse_json_body(&body)? };
    state.engine.send_event(&path.workflow_name, id.as_str(), &event_type, &payload)?;
    Ok(ok(Value::Null))
}
