//! The version routes: a version is recorded whenever the config or any loaded source of a
//! workflow changes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, ok_with_info, shown, timestamp};
use super::extract::{ApiPath, ApiQuery};
use super::paging::Page;
use super::paths::{VersionPath, WorkflowPath};
use crate::engine::WorkflowDef;
use crate::model::{Retention, Version};

/// A version; `default_retention` is the workflow's now (the config's, else the one set over
/// REST), in milliseconds, with only the durations that are set.
fn version_json(def: &WorkflowDef, version: &Version, retention: &Retention) -> Value {
    let mut default_retention = serde_json::Map::new();
    if let Some(ms) = retention.success_ms {
        default_retention.insert("success_retention".into(), json!(ms));
    }
    if let Some(ms) = retention.error_ms {
        default_retention.insert("error_retention".into(), json!(ms));
    }
    json!({
        "id": version.id,
        "workflow_id": def.workflow_id,
        "class_name": version.class_name,
        "created_on": timestamp(version.created_on),
        "modified_on": timestamp(version.created_on),
        "has_dag": false,
        "language": "javascript",
        "limits": { "steps": def.steps_limit },
        "default_retention": default_retention,
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

/// `GET …/versions`: newest first.
pub async fn list(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let page = Page::new(query.page, query.per_page, 20)?;
    let versions = state.engine.versions(&def.name).await?;
    let (listed, info) = page.slice(versions);
    let retention = state.engine.default_retention(def.name.as_str()).await?;
    let result: Vec<Value> = listed.iter().map(|v| version_json(&def, v, &retention)).collect();
    let info = info(result.len());
    Ok(ok_with_info(json!(result), info))
}

async fn find_version(
    state: &AppState,
    path: &VersionPath,
) -> Result<(std::sync::Arc<WorkflowDef>, Version), ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let versions = state.engine.versions(&def.name).await?;
    let version = versions.into_iter().find(|v| v.id == path.version_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::VERSION_NOT_FOUND,
            format!("version {} not found", shown(&path.version_id)),
        )
    })?;
    Ok((def, version))
}

/// `GET …/versions/{id}`.
pub async fn get(State(state): State<AppState>, ApiPath(path): ApiPath<VersionPath>) -> Result<Response, ApiError> {
    let (def, version) = find_version(&state, &path).await?;
    let retention = state.engine.default_retention(def.name.as_str()).await?;
    Ok(ok(version_json(&def, &version, &retention)))
}

/// `GET …/versions/{id}/dag` and `/graph`: stepflare does not analyse the code into a graph,
/// which the API allows to be null.
pub async fn dag(State(state): State<AppState>, ApiPath(path): ApiPath<VersionPath>) -> Result<Response, ApiError> {
    graph_like(&state, &path, "dag").await
}

pub async fn graph(State(state): State<AppState>, ApiPath(path): ApiPath<VersionPath>) -> Result<Response, ApiError> {
    graph_like(&state, &path, "graph").await
}

async fn graph_like(state: &AppState, path: &VersionPath, field: &str) -> Result<Response, ApiError> {
    let (def, version) = find_version(state, path).await?;
    let mut result = json!({
        "id": version.id,
        "workflow_id": def.workflow_id,
        "class_name": version.class_name,
        "created_on": timestamp(version.created_on),
        "modified_on": timestamp(version.created_on),
    });
    result[field] = Value::Null;
    Ok(ok(result))
}
