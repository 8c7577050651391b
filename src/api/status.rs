//! `PATCH …/instances/{id}/status`: pause, resume, terminate and restart (from a step).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::envelope::{ApiError, ok, shown, timestamp};
use super::extract::{ApiJson, ApiPath};
use super::paths::InstancePath;
use crate::engine::RestartFrom;
use crate::ids::StepKind;
use crate::model::InstanceStatus;

/// `{status}` in Cloudflare's API; the local explorer API of older wrangler versions sends
/// `{action}` instead, so both are read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    #[serde(alias = "action")]
    status: String,
    /// With `terminate`: run the rollback handlers first.
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

impl FromBody {
    fn into_restart_from(self) -> Result<RestartFrom, ApiError> {
        let kind = match self.kind.as_deref() {
            None => StepKind::Do,
            Some(text) => StepKind::parse(text)
                .ok_or_else(|| ApiError::bad_request("from.type must be do, sleep or waitForEvent"))?,
        };
        let count = self.count.unwrap_or(1);
        if count == 0 {
            return Err(ApiError::bad_request("from.count must be a positive integer"));
        }
        if self.name.is_empty() || self.name.len() > 256 {
            return Err(ApiError::bad_request("from.name must be 1 to 256 characters"));
        }
        Ok(RestartFrom { name: self.name, count, kind })
    }
}

pub async fn change_status(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response, ApiError> {
    let status = apply(&state, &path, body).await?;
    Ok(ok(json!({ "status": status.as_str(), "timestamp": timestamp(state.engine.now_ms()) })))
}

pub(super) async fn apply(state: &AppState, path: &InstancePath, body: StatusBody) -> Result<InstanceStatus, ApiError> {
    let id = path.id()?;
    let (workflow, id) = (path.workflow_name.as_str(), &id);
    let engine = &state.engine;
    if body.from.is_some() && body.status != "restart" {
        return Err(ApiError::bad_request("from is only valid with status restart"));
    }
    let rollback = body.rollback.unwrap_or(false);
    if body.rollback.is_some() && body.status != "terminate" {
        // The local explorer API's words.
        return Err(ApiError::bad_request("'rollback' is only valid when terminating."));
    }
    Ok(match body.status.as_str() {
        "pause" => engine.pause(workflow, id).await?,
        "resume" => engine.resume(workflow, id).await?,
        "terminate" if rollback => engine.terminate_with_rollback(workflow, id).await?,
        "terminate" => engine.terminate(workflow, id).await?,
        "restart" => {
            let from = body.from.map(FromBody::into_restart_from).transpose()?;
            engine.restart(workflow, id, from).await?
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "status must be one of pause, resume, terminate, restart (got {:?})",
                shown(other)
            )));
        }
    })
}
