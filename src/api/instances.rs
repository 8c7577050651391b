//! The instance routes: create (one or a batch), list, delete (one or a batch), and terminate
//! many at once. Describe and `/step` are in `describe.rs`, status changes in `status.rs`,
//! events in `events.rs`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::envelope::{ApiError, codes, ok, ok_with_info, optional_timestamp, shown, timestamp};
use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::paths::{InstancePath, WorkflowPath, requested_id};
use super::retention::RetentionBody;
use crate::engine::{BatchEntry, Deletion, EngineError, MAX_BATCH, NewInstance, WorkflowDef};
use crate::ids::InstanceId;
use crate::model::{Instance, InstanceFilter, InstanceStatus};

/// The body of create; `location_hint` is checked against Cloudflare's schema and has no effect
/// locally.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    instance_id: Option<String>,
    params: Option<Value>,
    instance_retention: Option<RetentionBody>,
    location_hint: Option<String>,
}

/// Cloudflare's `LocationHint` values (`apac-ne` and `apac-se` are in its API documentation but
/// not in every SDK; both are accepted).
const LOCATION_HINTS: [&str; 11] =
    ["wnam", "weur", "enam", "eeur", "apac", "apac-ne", "apac-se", "oc", "sam", "afr", "me"];

impl CreateBody {
    fn into_new_instance(self) -> Result<NewInstance, ApiError> {
        let id = requested_id(self.instance_id.as_deref())?;
        let retention = match &self.instance_retention {
            Some(retention) => retention.parse("instance_retention")?,
            None => Default::default(),
        };
        if let Some(hint) = self.location_hint.as_deref().filter(|hint| !LOCATION_HINTS.contains(hint)) {
            return Err(ApiError::bad_request(format!(
                "location_hint must be one of {}, not {:?}",
                LOCATION_HINTS.join(", "),
                shown(hint)
            )));
        }
        Ok(NewInstance { id, params: self.params.unwrap_or(Value::Null), trigger_source: "api", retention })
    }
}

fn summary(row: &Instance, def: &WorkflowDef) -> Value {
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
    let row = state.engine.create(&path.workflow_name, new).await?;
    Ok(ok(summary(&row, &def)))
}

/// `POST …/instances/batch`: ids that exist already, or that an earlier entry has, are skipped
/// and left out of the result (Cloudflare's API has no per-entry errors here).
pub async fn create_batch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WorkflowPath>,
    ApiJson(body): ApiJson<Vec<CreateBody>>,
) -> Result<Response, ApiError> {
    let def = state.engine.workflow(&path.workflow_name)?;
    let batch = body.into_iter().map(CreateBody::into_new_instance).collect::<Result<Vec<_>, _>>()?;
    let entries = state.engine.create_batch(&path.workflow_name, batch).await?;
    let created = entries.iter().filter_map(|entry| match entry {
        BatchEntry::Created(row) => Some(summary(row, &def)),
        BatchEntry::Exists(_) | BatchEntry::DuplicateInBatch(_) => None,
    });
    Ok(ok(Value::Array(created.collect())))
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
            .map(|s| {
                InstanceStatus::parse(s).ok_or_else(|| ApiError::bad_request(format!("unknown status {:?}", shown(s))))
            })
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
            Some(other) => {
                return Err(ApiError::bad_request(format!("direction must be asc or desc, not {:?}", shown(other))));
            }
        };
        let date = |text: &Option<String>, name: &str| text.as_deref().map(|text| date_filter(name, text)).transpose();
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

/// A `date_start` or `date_end` filter in milliseconds. The official SDKs pass on the caller's
/// string or an ISO 8601 rendering of a date: RFC 3339 with `Z` or an offset, with a fraction of
/// a second or not. Cloudflare documents "UTC, no timezone offset", so a time without one is
/// UTC, and a date alone is the start of that day, UTC. An offset's `+` arrives as a space
/// when the client did not percent-encode it, and is read back.
fn date_filter(name: &str, text: &str) -> Result<i64, ApiError> {
    parse_date(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name} must be an ISO 8601 date or time such as 2026-12-02, 2026-12-02T10:00:00Z or \
             2026-12-02T10:00:00.5+02:00, not {:?}",
            shown(text)
        ))
    })
}

fn parse_date(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};

    let ms = |time: OffsetDateTime| i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok();
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return ms(time);
    }
    if let Some((time, offset)) = text.rsplit_once(' ')
        && let Ok(time) = OffsetDateTime::parse(&format!("{time}+{offset}"), &Rfc3339)
    {
        return ms(time);
    }
    let without_offset = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    if let Ok(time) = PrimitiveDateTime::parse(text, without_offset) {
        return ms(time.assume_utc());
    }
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    ms(date.midnight().assume_utc())
}

/// The cursor is the `(created_on, id)` of the last row of a page: stable while instances are
/// created, unlike an offset.
fn encode_cursor(row: &Instance) -> String {
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
    let mut rows = state.engine.list(&request.filter).await?;
    let more = rows.len() > request.per_page as usize;
    rows.truncate(request.per_page as usize);
    let cursor = if more { rows.last().map(encode_cursor).unwrap_or_default() } else { String::new() };
    let total = state.engine.count(&request.filter).await?;
    let result: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "created_on": timestamp(row.created_on),
                "modified_on": timestamp(row.modified_on),
                "started_on": optional_timestamp(row.started_on),
                "ended_on": optional_timestamp(row.ended_on),
                "status": row.shown_status(),
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
    state.engine.delete(&path.workflow_name, &id).await?;
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

/// `POST …/instances/batch/delete`: one entry per id asked for, in order, in `deleted` or in
/// `errors` (a repeated id is deleted once and answered at each of its places). An id no
/// instance can have refuses the whole request before anything is deleted.
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
    let ids = ids.iter().map(|id| InstanceId::parse_addressable(id)).collect::<Result<Vec<_>, _>>()?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (id, outcome) in state.engine.delete_batch(workflow, &ids).await? {
        match outcome {
            Deletion::Deleted => deleted.push(json!({ "id": id.as_str() })),
            Deletion::NotFound => errors.push(json!({
                "id": id.as_str(), "code": codes::INSTANCE_NOT_FOUND, "message": "workflows.api.error.instance.not_found",
            })),
            Deletion::Failed => errors.push(json!({
                "id": id.as_str(), "code": codes::INTERNAL, "message": "workflows.api.error.internal_server",
            })),
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
        .map(|id| InstanceId::parse_addressable(id).map_err(ApiError::from))
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
                    "status must be one of queued, running, paused, waitingForPause, waiting (got {:?})",
                    shown(text)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_filters_take_the_forms_the_sdks_send() {
        let ten_utc = 1_796_205_600_000; // 2026-12-02T10:00:00Z
        for text in [
            "2026-12-02T10:00:00Z",
            "2026-12-02T10:00:00.000Z",
            "2026-12-02T10:00:00z",
            "2026-12-02T12:00:00+02:00",
            "2026-12-02T12:00:00 02:00",
            "2026-12-02T05:30:00-04:30",
            "2026-12-02T10:00:00",
            "2026-12-02T10:00:00.000000",
        ] {
            assert_eq!(parse_date(text), Some(ten_utc), "{text}");
        }
        assert_eq!(parse_date("2026-12-02T10:00:00.250+00:00"), Some(ten_utc + 250));
        assert_eq!(parse_date("2026-12-02"), Some(ten_utc - 10 * 3_600_000), "a date is the start of its day");
        for bad in ["yesterday", "2026-13-02", "2026-12-02T25:00:00Z", "1796205600000", "2026-12-02T10:00Z", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
