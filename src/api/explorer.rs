//! The Local Explorer API that `wrangler workflows … --local` and wrangler's local dashboard
//! call: `/cdn-cgi/local/explorer/api/workflows…`, Cloudflare's envelope with the shapes of
//! wrangler's own local server (page-numbered lists, `{id}` on create, `{status}` or `{action}`
//! on status changes).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::describe::instance_details;
use super::envelope::{ApiError, ok, ok_with_info, timestamp};
use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::instances::{BatchDeleteBody, ListQuery, delete_many};
use super::paths::{InstancePath, WorkflowPath, requested_id};
use super::status::StatusBody;
use super::workflows::instance_counts;
use crate::engine::NewInstance;

/// `GET /workflows`.
pub async fn list_workflows(State(state): State<AppState>) -> Response {
    let result: Vec<Value> = state
        .engine
        .workflows()
        .iter()
        .map(|def| json!({ "name": def.name.as_str(), "class_name": def.class_name, "script_name": def.script_name }))
        .collect();
    ok_with_info(json!(result), json!({ "count": result.len() }))
}

/// `GET /workflows/{name}`.
pub async fn get_workflow(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    Ok(ok(json!({
        "name": def.name.as_str(),
        "class_name": def.class_name,
        "script_name": def.script_name,
        "instances": instance_counts(&state, &def).await?,
    })))
}

/// `GET /workflows/{name}/instances`: page-numbered, 25 a page by default.
pub async fn list_instances(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    state.engine.workflow(&path.workflow_name)?;
    let request = query.into_request(&path.workflow_name, 25)?;
    let page = request.filter.offset / request.per_page + 1;
    let mut rows = state.engine.list(&request.filter).await?;
    rows.truncate(request.per_page as usize);
    let total = state.engine.count(&request.filter).await?;
    let result: Vec<Value> = rows
        .iter()
        .map(|row| json!({ "id": row.id, "status": row.shown_status(), "created_on": timestamp(row.created_on) }))
        .collect();
    Ok(ok_with_info(
        json!(result),
        json!({
            "page": page,
            "per_page": request.per_page,
            "count": result.len(),
            "total_count": total,
            "total_pages": total.div_ceil(u64::from(request.per_page)),
        }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    id: Option<String>,
    params: Option<Value>,
}

/// `POST /workflows/{name}/instances` with `{id?, params?}`.
pub async fn create_instance(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    OptionalJson(body): OptionalJson<CreateBody>,
) -> Result<Response, ApiError> {
    let body = body.unwrap_or_default();
    let id = requested_id(body.id.as_deref())?;
    let new = NewInstance {
        id,
        params: body.params.unwrap_or(Value::Null),
        trigger_source: "api",
        retention: Default::default(),
    };
    let row = state.engine.create(&path.workflow_name, new).await?;
    Ok(ok(json!({ "id": row.id })))
}

/// `GET /workflows/{name}/instances/{id}`: the same details as the REST describe, plus `id`.
pub async fn get_instance(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
) -> Result<Response, ApiError> {
    let history = state.engine.history(&path.workflow_name, &path.id()?).await?;
    let mut details = instance_details(&history);
    details["id"] = json!(history.instance.id);
    Ok(ok(details))
}

/// `DELETE /workflows/{name}/instances/{id}`.
pub async fn delete_instance(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
) -> Result<Response, ApiError> {
    state.engine.delete(&path.workflow_name, &path.id()?).await?;
    Ok(ok(json!({ "success": true })))
}

/// `POST /workflows/{name}/instances/batch/delete`.
pub async fn delete_instances(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiJson(body): ApiJson<BatchDeleteBody>,
) -> Result<Response, ApiError> {
    Ok(ok(delete_many(&state, &path.workflow_name, body.into_ids()).await?))
}

/// `PATCH /workflows/{name}/instances/{id}/status`.
pub async fn change_status(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<InstancePath>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response, ApiError> {
    let status = super::status::apply(&state, &path, body).await?;
    Ok(ok(json!({ "status": status.as_str(), "timestamp": timestamp(state.engine.now_ms()) })))
}
