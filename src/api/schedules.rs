//! stepflare's own route for cron schedules, outside Cloudflare's API:
//! `POST /cdn-cgi/stepflare/workflows/{workflow_name}/schedules/trigger` fires a workflow's
//! schedules now, as a firing would, so that a test or a developer need not wait for the clock.
//! The body `{"cron": "…"}` picks one schedule; without it every schedule of the workflow fires.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::describe::parse_json_text;
use super::envelope::{ApiError, ok};
use super::extract::{ApiPath, OptionalJson};
use super::paths::WorkflowPath;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerBody {
    cron: Option<String>,
}

/// Answers the instances created: `[{id, status, schedule: {cron, scheduledTime}}]`.
pub async fn trigger(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    OptionalJson(body): OptionalJson<TriggerBody>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let crons: Vec<String> = match body.unwrap_or_default().cron {
        Some(cron) => vec![cron],
        None if def.schedules.is_empty() => {
            return Err(ApiError::bad_request(format!("workflow {} has no schedules", def.name)));
        }
        None => def.schedules.iter().map(ToString::to_string).collect(),
    };
    let mut created = Vec::new();
    for cron in crons {
        let row = state.engine.trigger_schedule(def.name.as_str(), &cron).await?;
        created.push(json!({
            "id": row.id,
            "status": row.status.as_str(),
            "schedule": parse_json_text(row.schedule.as_deref()),
        }));
    }
    Ok(ok(Value::Array(created)))
}
