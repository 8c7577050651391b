//! The workflow routes: list and get.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::envelope::{ApiError, ok, ok_with_info, timestamp};
use crate::engine::WorkflowDef;

#[derive(Deserialize)]
pub struct WorkflowPath {
    #[allow(dead_code)]
    account_id: String,
    workflow_name: String,
}

fn workflow_json(state: &AppState, def: &WorkflowDef) -> Result<Value, ApiError> {
    let store = state.engine.store();
    let row =
        store.workflows().map_err(crate::engine::EngineError::from)?.into_iter().find(|w| w.name == def.name.as_str());
    let counts: Map<String, Value> = store
        .count_by_status(def.name.as_str())
        .map_err(crate::engine::EngineError::from)?
        .into_iter()
        .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
        .collect();
    let (created, modified) = row.map(|r| (r.created_on, r.modified_on)).unwrap_or_default();
    Ok(json!({
        "id": def.workflow_id,
        "name": def.name.as_str(),
        "class_name": def.class_name,
        "script_name": def.script_name,
        "created_on": timestamp(created),
        "modified_on": timestamp(modified),
        "triggered_on": Value::Null,
        "instances": counts,
    }))
}

/// `GET …/workflows`.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let defs = state.engine.workflows();
    let result = defs.iter().map(|def| workflow_json(&state, def)).collect::<Result<Vec<_>, _>>()?;
    let count = result.len();
    Ok(ok_with_info(
        Value::Array(result),
        json!({ "count": count, "per_page": count, "total_count": count, "page": 1 }),
    ))
}

/// `GET …/workflows/{name}`.
pub async fn get(State(state): State<AppState>, Path(path): Path<WorkflowPath>) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    Ok(ok(workflow_json(&state, &def)?))
}
