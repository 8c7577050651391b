//! The `InstanceDetails` shape of describe (shared with the local explorer API), and the
//! `/step` route that returns one step's full output (the raw bytes of a stream output).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, optional_timestamp, shown, timestamp};
use super::extract::{ApiPath, ApiQuery};
use super::paths::InstancePath;
use crate::engine::InstanceHistory;
use crate::ids::StepKind;
use crate::model::{Instance, InstanceStatus, Step, StepState};
use crate::outputs;

#[derive(Deserialize, Default)]
pub struct DescribeQuery {
    order: Option<String>,
    simple: Option<String>,
}

/// `GET …/instances/{id}`: `simple=true` leaves out the steps, `order=desc` lists them newest
/// first.
pub async fn describe(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
    ApiQuery(query): ApiQuery<DescribeQuery>,
) -> Result<Response, ApiError> {
    let simple = match query.simple.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("simple must be true or false, not {:?}", shown(other))));
        }
    };
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::bad_request(format!("order must be asc or desc, not {:?}", shown(other)))),
    };
    let history = state.engine.history(&path.workflow_name, &path.id()?).await?;
    let mut details = instance_details(&history);
    if simple {
        if let Some(object) = details.as_object_mut() {
            object.remove("steps");
        }
    } else if descending && let Some(steps) = details["steps"].as_array_mut() {
        steps.reverse();
    }
    Ok(ok(details))
}

pub(super) fn parse_json_text(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

pub(super) fn instance_details(history: &InstanceHistory) -> Value {
    let row: &Instance = &history.instance;
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
        "status": row.shown_status(),
        "params": parse_json_text(Some(&row.params)),
        "trigger": { "source": row.trigger_source },
        "versionId": row.version_id,
        "queued": timestamp(row.created_on),
        "start": optional_timestamp(row.started_on),
        "end": optional_timestamp(row.ended_on),
        "success": success,
        "error": row.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message })),
        "output": outputs::readable(row.output.as_deref()),
        "step_count": history.steps.iter().filter(|s| s.key.kind == StepKind::Do).count(),
        "rollback": row.rollback_result(),
        "steps": steps,
    });
    if let Some(schedule) = &row.schedule {
        details["schedule"] = parse_json_text(Some(schedule));
    }
    details
}

/// Whether the step's config says `sensitive: "output"`: REST then shows `"[REDACTED]"`.
fn is_sensitive(step: &Step) -> bool {
    parse_json_text(step.config.as_deref()).get("sensitive").is_some()
}

fn step_details(step: &Step, history: &InstanceHistory) -> Value {
    let finished = step.state == StepState::Succeeded || step.state == StepState::Failed;
    let error = step.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message }));
    match step.key.kind {
        StepKind::Do => {
            let config = parse_json_text(step.config.as_deref());
            let output = match step.output.as_deref() {
                Some(_) if is_sensitive(step) => json!("[REDACTED]"),
                other => outputs::readable(other),
            };
            let attempts: Vec<Value> = history.attempts_of(step).iter().map(attempt_details).collect();
            json!({
                "type": "step",
                "name": step.key.display_name(),
                "start": timestamp(step.started_on),
                "end": optional_timestamp(step.ended_on),
                "success": success_of(step.state),
                "output": output,
                "config": config,
                "attempts": attempts,
            })
        }
        StepKind::Rollback => {
            let attempts: Vec<Value> = history.attempts_of(step).iter().map(attempt_details).collect();
            json!({
                "type": "rollback",
                "name": step.key.display_name(),
                "start": timestamp(step.started_on),
                "end": optional_timestamp(step.ended_on),
                "success": success_of(step.state),
                // A handler's result is not kept; its errors are its attempts'.
                "output": Value::Null,
                "config": parse_json_text(step.config.as_deref()),
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

fn attempt_details(attempt: &crate::model::Attempt) -> Value {
    json!({
        "start": timestamp(attempt.started_on),
        "end": optional_timestamp(attempt.ended_on),
        "success": attempt.success,
        "error": attempt.error.as_ref().map(|e| json!({ "name": e.name, "message": e.message })),
    })
}

#[derive(Deserialize)]
pub struct StepQuery {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    attempt: Option<u32>,
}

/// `GET …/instances/{id}/step?name=<name>-<n>&type=step|waitForEvent[&attempt=N]`: one step's
/// status, error and whole output.
pub async fn step_output(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
    ApiQuery(query): ApiQuery<StepQuery>,
) -> Result<Response, ApiError> {
    let kind = match query.kind.as_str() {
        "step" | "do" => StepKind::Do,
        "waitForEvent" => StepKind::WaitForEvent,
        other => {
            return Err(ApiError::bad_request(format!("type must be step or waitForEvent, not {:?}", shown(other))));
        }
    };
    let not_found = || {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            codes::STEP_NOT_FOUND,
            format!(
                "no {} step named {:?} (names carry their counter, as in \"fetch-1\")",
                query.kind,
                shown(&query.name)
            ),
        )
    };
    let (name, count) = query.name.rsplit_once('-').ok_or_else(not_found)?;
    let count: u32 = count.parse().map_err(|_| not_found())?;
    let history = state.engine.history(&path.workflow_name, &path.id()?).await?;
    let step = history
        .steps
        .iter()
        .find(|s| s.key.kind == kind && s.key.name == name && s.key.count == count)
        .ok_or_else(not_found)?;
    let status = match step.state {
        StepState::Succeeded => InstanceStatus::Complete,
        StepState::Failed => InstanceStatus::Errored,
        StepState::Retrying if history.attempts_of(step).iter().any(|a| a.ended_on.is_none()) => {
            InstanceStatus::Running
        }
        StepState::Retrying | StepState::Waiting => InstanceStatus::Waiting,
    };
    let error = match query.attempt {
        Some(n) => {
            let attempts = history.attempts_of(step);
            let attempt = attempts.iter().find(|a| a.attempt == n).ok_or_else(not_found)?;
            attempt.error.clone()
        }
        None => step.error.clone(),
    };
    if kind == StepKind::Do
        && !is_sensitive(step)
        && let Some(bytes) = step.output.as_deref().and_then(outputs::stream_bytes)
    {
        // A stream output is its bytes, not JSON (reference §4.3).
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    let mut output = outputs::readable(step.output.as_deref());
    if kind == StepKind::WaitForEvent {
        output = output.get("payload").cloned().unwrap_or(Value::Null);
    } else if step.output.is_some() && is_sensitive(step) {
        output = json!("[REDACTED]");
    }
    let mut result = json!({
        "status": status.as_str(),
        "error": error.map(|e| json!({ "name": e.name, "message": e.message })),
        "output": output,
    });
    if let Some(event_type) = &step.event_type {
        result["event_type"] = json!(event_type);
    }
    Ok(ok(result))
}

/// A step's `success` over REST: whether it ended well, `null` while it has not ended.
fn success_of(state: StepState) -> Value {
    match state {
        StepState::Succeeded => json!(true),
        StepState::Failed => json!(false),
        _ => Value::Null,
    }
}
