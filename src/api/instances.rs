//! The instance routes: create (one or a batch), list, delete (one or a batch), and terminate
//! many at once. Describe and `/step` are in `describe.rs`, status changes in `status.rs`,
//! events in `events.rs`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, ok_with_info, optional_timestamp, parse_timestamp, timestamp};
use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::paths::{InstancePath, WorkflowPath, requested_id};
use crate::engine::lifecycle::InstanceStatus;
use crate::engine::{EngineError, MAX_BATCH, NewInstance, WorkflowDef};
use crate::ids::InstanceId;
use crate::store::{InstanceFilter, InstanceRow};

/// The body of create; `instance_retention` and `location_hint` are accepted and have no
/// effect locally.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    instance_id: Option<String>,
    params: Option<Value>,
    #[allow(dead_code)]
    instance_retention: Option<Value>,
    #[allow(dead_code)]
    location_hint: Option<String>,
}

impl CreateBody {
    fn into_new_instance(self) -> Result<NewInstance, ApiError> {
        let id = requested_id(self.instance_id.as_deref())?;
        Ok(NewInstance { id, params: self.params.unwrap_or(Value::Null), trigger_source: "api" })
    }
}

fn summary(row: &InstanceRow, def: &WorkflowDef) -> Value {
    json!({
        "id": row.id,
        "status": row.status.as_str(),
        "version_id": row.version_id,
        "workflow_id": def.workflow_id,
        "trigger_source": row.trigger_source,
    })
}

/// `POST …/instances`.
pub async fn create(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    OptionalJson(body): OptionalJson<CreateBody>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let new = body.unwrap_or_default().into_new_instance()?;
    let row = state.engine.create(&path.workflow_name, new)?;
    Ok(ok(summary(&row, &def)))
}

/// `POST …/instances/batch`: ids that exist already are skipped and left out of the result.
pub async fn create_batch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiJson(body): ApiJson<Vec<CreateBody>>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let batch = body.into_iter().map(CreateBody::into_new_instance).collect::<Result<Vec<_>, _>>()?;
    let rows = state.engine.create_batch(&path.workflow_name, batch)?;
    Ok(ok(Value::Array(rows.iter().map(|row| summary(row, &def)).collect())))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    per_page: Option<u32>,
    page: Option<u32>,
    cursor: Option<String>,
    direction: Option<String>,
    date_start: Option<String>,
    date_end: Option<String>,
}

pub(super) struct ListRequest {
    pub filter: InstanceFilter,
    pub per_page: u32,
}

impl ListQuery {
    /// The store filter for one page (one row more than asked, to know whether another page
    /// follows).
    pub(super) fn into_request(self, workflow: &str, default_per_page: u32) -> Result<ListRequest, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|s| InstanceStatus::parse(s).ok_or_else(|| ApiError::bad_request(format!("unknown status {s:?}"))))
            .transpose()?;
        let per_page = self.per_page.unwrap_or(default_per_page);
        if !(1..=100).contains(&per_page) {
            return Err(ApiError::bad_request("per_page must be from 1 to 100"));
        }
        if self.page == Some(0) {
            return Err(ApiError::bad_request("page starts at 1"));
        }
        let ascending = match self.direction.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => return Err(ApiError::bad_request(format!("direction must be asc or desc, not {other:?}"))),
        };
        let date = |text: &Option<String>, what: &str| {
            text.as_deref()
                .map(|t| {
                    parse_timestamp(t).ok_or_else(|| ApiError::bad_request(format!("{what} must be an ISO 8601 date")))
                })
                .transpose()
        };
        let after = self.cursor.as_deref().filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
        Ok(ListRequest {
            filter: InstanceFilter {
                workflow: workflow.to_owned(),
                status,
                created_from: date(&self.date_start, "date_start")?,
                created_to: date(&self.date_end, "date_end")?,
                after,
                ascending,
                offset: (self.page.unwrap_or(1) - 1) * per_page,
                limit: per_page + 1,
            },
            per_page,
        })
    }
}

/// The cursor is the `(created_on, id)` of the last row of a page: stable while instances are
/// created, unlike an offset.
fn encode_cursor(row: &InstanceRow) -> String {
    format!("{}.{}", row.created_on, row.id)
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let invalid = || ApiError::bad_request("invalid cursor");
    let (created, id) = cursor.split_once('.').ok_or_else(invalid)?;
    Ok((created.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// `GET …/instances`: newest first, cursor-paginated (`result_info.cursor` is empty on the last
/// page); `page` is accepted too.
pub async fn list(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let page = query.page.unwrap_or(1);
    let request = query.into_request(&path.workflow_name, 50)?;
    let mut rows = state.engine.list(&request.filter)?;
    let more = rows.len() > request.per_page as usize;
    rows.truncate(request.per_page as usize);
    let cursor = if more { rows.last().map(encode_cursor).unwrap_or_default() } else { String::new() };
    let total = state.engine.count(&request.filter)?;
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
    Ok(ok_with_info(
        json!(result),
        json!({
            "count": result.len(),
            "per_page": request.per_page,
            "total_count": total,
            "page": page,
            "total_pages": total.div_ceil(u64::from(request.per_page)),
            "cursor": cursor,
        }),
    ))
}

/// `DELETE …/instances/{id}`.
pub async fn delete(State(state): State<AppState>, ApiPath(path): ApiPath<InstancePath>) -> Result<Response, ApiError> {
    let id = path.id()?;
    state.engine.delete(&path.workflow_name, id.as_str()).await?;
    Ok(ok(json!({ "instanceId": id.as_str(), "timestamp": timestamp(state.engine.now_ms()) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchDeleteBody {
    instances: Vec<String>,
}

impl BatchDeleteBody {
    pub(super) fn into_ids(self) -> Vec<String> {
        self.instances
    }
}

/// `POST …/instances/batch/delete`: one entry per id, in `deleted` or in `errors`.
pub async fn delete_batch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiJson(body): ApiJson<BatchDeleteBody>,
) -> Result<Response, ApiError> {
    Ok(ok(delete_many(&state, &path.workflow_name, body.into_ids()).await?))
}

pub(super) async fn delete_many(state: &AppState, workflow: &str, ids: Vec<String>) -> Result<Value, ApiError> {
    state.engine.workflow(workflow)?;
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(EngineError::BatchSize(ids.len()).into());
    }
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let outcome = match InstanceId::parse_addressable(&id) {
            Ok(valid) => state.engine.delete(workflow, valid.as_str()).await.map_err(ApiError::from),
            Err(error) => Err(ApiError::bad_request(error.to_string())),
        };
        match outcome {
            Ok(()) => deleted.push(json!({ "id": id })),
            Err(error) if error.code == codes::INSTANCE_NOT_FOUND => errors.push(json!({
                "id": id, "code": codes::INSTANCE_NOT_FOUND, "message": "workflows.api.error.instance.not_found",
            })),
            Err(error) => errors.push(json!({ "id": id, "code": error.code, "message": error.message })),
        }
    }
    Ok(json!({ "deleted": deleted, "errors": errors }))
}

/// `POST …/instances/batch/terminate` with an array of ids.
pub async fn terminate_batch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiJson(ids): ApiJson<Vec<String>>,
) -> Result<Response, ApiError> {
    state.engine.workflow(&path.workflow_name)?;
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(EngineError::BatchSize(ids.len()).into());
    }
    let ids = ids
        .iter()
        .map(|id| {
            InstanceId::parse_addressable(id).map(|id| id.to_string()).map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let terminated = state.engine.terminate_each(&path.workflow_name, &ids).await?;
    Ok(ok(json!({ "status": "ok", "instancesTerminated": terminated })))
}

#[derive(Deserialize, Default)]
pub struct TerminateAllQuery {
    status: Option<String>,
}

/// `PUT …/instances/terminate[?status=]`: terminates every unfinished instance (or those in
/// `status`). It finishes before answering, so there is never a job "already running".
pub async fn terminate_all(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiQuery(query): ApiQuery<TerminateAllQuery>,
) -> Result<Response, ApiError> {
    const UNFINISHED: [InstanceStatus; 5] = [
        InstanceStatus::Queued,
        InstanceStatus::Running,
        InstanceStatus::Paused,
        InstanceStatus::WaitingForPause,
        InstanceStatus::Waiting,
    ];
    let statuses = match query.status.as_deref() {
        None => UNFINISHED.to_vec(),
        Some(text) => {
            let status = InstanceStatus::parse(text).filter(|s| UNFINISHED.contains(s)).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status must be one of queued, running, paused, waitingForPause, waiting (got {text:?})"
                ))
            })?;
            vec![status]
        }
    };
    state.engine.terminate_all(&path.workflow_name, &statuses).await?;
    Ok(ok(json!({ "status": "ok" })))
}

/// `GET …/instances/terminate`: whether a terminate-all job runs (never, after it answered).
pub async fn terminate_all_status(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
) -> Result<Response, ApiError> {
    state.engine.workflow(&path.workflow_name)?;
    Ok(ok(json!({ "status": "not_running" })))
}
