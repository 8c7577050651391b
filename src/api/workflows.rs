//! The workflow routes: list, get, put (create-or-modify), delete, and the account settings.
//! Workflows come from the project's config; the API reports them and their instances.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, ok_with_info, optional_timestamp, shown, timestamp};
use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::paging::Page;
use super::paths::WorkflowPath;
use super::retention::{DEFAULT_RETENTION_MS, Retention, RetentionBody};
use crate::engine::WorkflowDef;

pub(super) async fn instance_counts(state: &AppState, def: &WorkflowDef) -> Result<Value, ApiError> {
    let counts: Map<String, Value> = state
        .engine
        .count_by_status(&def.name)
        .await?
        .into_iter()
        .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
        .collect();
    Ok(Value::Object(counts))
}

async fn workflow_json(state: &AppState, def: &WorkflowDef) -> Result<Value, ApiError> {
    let row = state.engine.workflow_record(&def.name).await?;
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
        "instances": instance_counts(state, def).await?,
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
    let (listed, info) = page.slice(matching);
    let mut result = Vec::with_capacity(listed.len());
    for def in &listed {
        result.push(workflow_json(&state, def).await?);
    }
    let info = info(result.len());
    Ok(ok_with_info(json!(result), info))
}

/// `GET …/workflows/{name}`.
pub async fn get(State(state): State<AppState>, ApiPath(path): ApiPath<WorkflowPath>) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    Ok(ok(workflow_json(&state, &def).await?))
}

/// The body of PUT, in the shapes of Cloudflare's `WorkflowUpsertBody`. `default_retention`
/// sets the default retention where the config does not; `limits` and `schedules` are checked
/// and have no effect: the project's config sets them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    class_name: Option<String>,
    script_name: Option<String>,
    default_retention: Option<RetentionBody>,
    limits: Option<LimitsBody>,
    schedules: Option<Vec<ScheduleBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    steps: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    cron: String,
}

/// The most schedules one PUT may carry, and the longest cron expression (Cloudflare's schema).
const MAX_SCHEDULES: usize = 200;
const MAX_CRON_CHARS: usize = 256;

impl PutBody {
    fn check(&self) -> Result<(), ApiError> {
        if let Some(retention) = &self.default_retention {
            retention.to_ms("default_retention")?;
        }
        if self.limits.as_ref().and_then(|limits| limits.steps) == Some(0) {
            return Err(ApiError::bad_request("limits.steps must be an integer of at least 1"));
        }
        let schedules = self.schedules.as_deref().unwrap_or_default();
        if schedules.len() > MAX_SCHEDULES {
            return Err(ApiError::bad_request(format!("schedules may have at most {MAX_SCHEDULES} items")));
        }
        if schedules.iter().any(|schedule| schedule.cron.is_empty() || schedule.cron.chars().count() > MAX_CRON_CHARS) {
            return Err(ApiError::bad_request(format!("schedules[].cron must be 1 to {MAX_CRON_CHARS} characters")));
        }
        Ok(())
    }
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
                shown(&path.workflow_name)
            ),
        )
    })?;
    if let Some(body) = body {
        body.check()?;
        let differs = |given: &Option<String>, actual: &str| given.as_deref().is_some_and(|g| g != actual);
        if differs(&body.class_name, &def.class_name) || differs(&body.script_name, &def.script_name) {
            return Err(ApiError::bad_request(format!(
                "workflow {} is bound to class {} of script {} by the project's config; edit the config to change it",
                def.name, def.class_name, def.script_name
            )));
        }
        if let Some(retention) = &body.default_retention {
            state.engine.set_default_retention(&path.workflow_name, retention.parse("default_retention")?).await?;
        }
    }
    let mut result = workflow_json(&state, &def).await?;
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

/// `GET …/workflows/settings`: the account default retention is not applied locally; the
/// documented defaults are reported (30 days for both, in milliseconds).
pub async fn get_settings() -> Response {
    ok(retention_json(&Retention { error_ms: DEFAULT_RETENTION_MS, success_ms: DEFAULT_RETENTION_MS }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsBody {
    default_retention: Option<RetentionBody>,
}

/// `PATCH …/workflows/settings`: validated and echoed; the account default is not applied
/// locally.
pub async fn update_settings(ApiJson(body): ApiJson<SettingsBody>) -> Result<Response, ApiError> {
    let retention = match &body.default_retention {
        Some(retention) => retention.to_ms("default_retention")?,
        None => Retention { error_ms: DEFAULT_RETENTION_MS, success_ms: DEFAULT_RETENTION_MS },
    };
    Ok(ok(retention_json(&retention)))
}

fn retention_json(retention: &Retention) -> Value {
    json!({ "default_retention": { "error_retention": retention.error_ms, "success_retention": retention.success_ms } })
}
