//! The workflow routes: list, get, put (create-or-modify), delete, and the account settings.
//! Workflows come from the project's config; the API reports them and their instances.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, ok_with_info, optional_timestamp, timestamp};
use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::paging::Page;
use super::paths::WorkflowPath;
use crate::engine::{EngineError, WorkflowDef};

pub(super) fn instance_counts(state: &AppState, def: &WorkflowDef) -> Result<Value, ApiError> {
    let counts: Map<String, Value> = state
        .engine
        .store()
        .count_by_status(def.name.as_str())
        .map_err(EngineError::from)?
        .into_iter()
        .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
        .collect();
    Ok(Value::Object(counts))
}

fn workflow_json(state: &AppState, def: &WorkflowDef) -> Result<Value, ApiError> {
    let row = state.engine.store().workflow(def.name.as_str()).map_err(EngineError::from)?;
    let (created, modified) = row.map(|r| (r.created_on, r.modified_on)).unwrap_or_default();
    let now = state.engine.now_ms();
    let schedules: Vec<Value> = def
        .schedules
        .iter()
        .map(|cron| json!({ "cron": cron.as_str(), "next_instance": optional_timestamp(cron.next_after(now)) }))
        .collect();
    Ok(json!({
        "id": def.workflow_id,
        "name": def.name.as_str(),
        "class_name": def.class_name,
        "script_name": def.script_name,
        "created_on": timestamp(created),
        "modified_on": timestamp(modified),
        "triggered_on": Value::Null,
        "instances": instance_counts(state, def)?,
        "schedules": schedules,
    }))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    search: Option<String>,
}

/// `GET …/workflows`: page-numbered, `search` matches part of the name.
pub async fn list(State(state): State<AppState>, ApiQuery(query): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    let page = Page::new(query.page, query.per_page, 10)?;
    let matching: Vec<Arc<WorkflowDef>> = state
        .engine
        .workflows()
        .into_iter()
        .filter(|def| query.search.as_deref().is_none_or(|s| def.name.as_str().contains(s)))
        .collect();
    let (shown, info) = page.slice(matching);
    let result = shown.iter().map(|def| workflow_json(&state, def)).collect::<Result<Vec<_>, _>>()?;
    let info = info(result.len());
    Ok(ok_with_info(json!(result), info))
}

/// `GET …/workflows/{name}`.
pub async fn get(State(state): State<AppState>, ApiPath(path): ApiPath<WorkflowPath>) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    Ok(ok(workflow_json(&state, &def)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    class_name: Option<String>,
    script_name: Option<String>,
    #[allow(dead_code)]
    default_retention: Option<Value>,
    #[allow(dead_code)]
    limits: Option<Value>,
    #[allow(dead_code)]
    schedules: Option<Value>,
}

/// `PUT …/workflows/{name}`. The project's config defines the workflows stepflare runs, so a
/// PUT can only confirm one of them; it cannot bind a new class.
pub async fn put(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    OptionalJson(body): OptionalJson<PutBody>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::WORKFLOW_NOT_FOUND,
            format!(
                "workflow {} is not in the project's config; stepflare runs the workflows its wrangler config declares",
                path.workflow_name
            ),
        )
    })?;
    if let Some(body) = body {
        let differs = |given: &Option<String>, actual: &str| given.as_deref().is_some_and(|g| g != actual);
        if differs(&body.class_name, &def.class_name) || differs(&body.script_name, &def.script_name) {
            return Err(ApiError::bad_request(format!(
                "workflow {} is bound to class {} of script {} by the project's config; edit the config to change it",
                def.name, def.class_name, def.script_name
            )));
        }
    }
    let mut result = workflow_json(&state, &def)?;
    let object = result.as_object_mut().expect("workflow_json returns an object");
    object.remove("instances");
    object.remove("schedules");
    object.insert("version_id".into(), json!(def.version_id));
    object.insert("is_deleted".into(), json!(0));
    object.insert("terminator_running".into(), json!(0));
    Ok(ok(result))
}

/// `DELETE …/workflows/{name}`: deletes every instance of the workflow. The workflow itself
/// stays, since the config declares it.
pub async fn delete(State(state): State<AppState>, ApiPath(path): ApiPath<WorkflowPath>) -> Result<Response, ApiError> {
    state.engine.delete_all(&path.workflow_name).await?;
    Ok(ok(json!({ "status": "ok", "success": true })))
}

/// `GET …/workflows/settings`: retention is not enforced locally; the documented defaults are
/// reported (30 days for both, in milliseconds).
pub async fn get_settings() -> Response {
    ok(json!({ "default_retention": { "error_retention": RETENTION_MS, "success_retention": RETENTION_MS } }))
}

const RETENTION_MS: u64 = 30 * 86_400_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsBody {
    default_retention: Option<RetentionBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    error_retention: Option<Value>,
    success_retention: Option<Value>,
}

/// `PATCH …/workflows/settings`: validated and echoed; retention is not enforced locally.
pub async fn update_settings(ApiJson(body): ApiJson<SettingsBody>) -> Result<Response, ApiError> {
    let retention = |value: Option<Value>| -> Result<u64, ApiError> {
        match value {
            None => Ok(RETENTION_MS),
            Some(Value::Number(n)) => {
                n.as_u64().ok_or_else(|| ApiError::bad_request("retention must be a positive integer of milliseconds"))
            }
            Some(Value::String(text)) => crate::engine::duration::parse_duration_text(&text)
                .filter(|_| text.contains(' '))
                .ok_or_else(|| ApiError::bad_request(format!("retention {text:?} must look like \"30 days\""))),
            Some(_) => {
                Err(ApiError::bad_request("retention must be a number of milliseconds or a string like \"30 days\""))
            }
        }
    };
    let (error, success) = match body.default_retention {
        Some(r) => (retention(r.error_retention)?, retention(r.success_retention)?),
        None => (RETENTION_MS, RETENTION_MS),
    };
    Ok(ok(json!({ "default_retention": { "error_retention": error, "success_retention": success } })))
}
