//! The engine as the host of workflow bindings: `env.MY_WORKFLOW.create(…)` and the instance
//! handle's methods, from a Worker's handlers or from a workflow's steps (child workflows), with
//! the errors and messages of the binding API (spec §1). Other bindings (queue producers) go on to
//! the host given to [`Engine::forward_other_bindings`].

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::duration::parse_duration_text;
use super::subscribe::{EventFilter, NextEvent};
use super::{BatchEntry, Deletion, Engine, EngineError, MAX_BATCH, NewInstance, RestartFrom};
use crate::ids::{EventType, InstanceId, StepKind};
use crate::js::{BindingError, BindingFuture, BindingHost, BindingRequest};
use crate::model::Retention;

/// The `locationHint` values of `WorkflowInstanceCreateOptions`.
const LOCATION_HINTS: [&str; 11] =
    ["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"];

/// `create`'s options; `locationHint` is accepted and has no effect locally.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateOptions {
    id: Option<String>,
    params: Option<Value>,
    retention: Option<RetentionOptions>,
    #[allow(dead_code)]
    location_hint: Option<String>,
}

/// `retention: { successRetention?, errorRetention? }`, each `"<n> <unit>"` or milliseconds.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetentionOptions {
    success_retention: Option<Value>,
    error_retention: Option<Value>,
}

impl RetentionOptions {
    /// The durations, capped at production's maximum; a value that is not a duration throws.
    fn parse(&self) -> Result<Retention, BindingError> {
        let read = |field: &str, value: &Option<Value>| -> Result<Option<u64>, BindingError> {
            let Some(value) = value else { return Ok(None) };
            let ms = match value {
                Value::String(text) => Retention::parse_text(text),
                Value::Number(number) => number.as_u64(),
                _ => None,
            };
            ms.map(Some).ok_or_else(|| {
                refuse(format!(
                    "TypeError: invalid retention.{field}: {value} is not a duration like \"3 days\" or a whole number of milliseconds"
                ))
            })
        };
        Ok(Retention::capped_from(
            read("successRetention", &self.success_retention)?,
            read("errorRetention", &self.error_retention)?,
        ))
    }
}

#[derive(Deserialize, Default)]
struct RestartOptions {
    from: Option<RestartFromOptions>,
}

#[derive(Deserialize)]
struct RestartFromOptions {
    name: String,
    count: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl RestartFromOptions {
    /// `{name, count = 1, type = "do"}`, checked as wrangler checks its restart flags.
    fn into_restart_from(self) -> Result<RestartFrom, BindingError> {
        let count = match &self.count {
            None | Some(Value::Null) => 1,
            Some(value) => value
                .as_u64()
                .and_then(|count| u32::try_from(count).ok())
                .filter(|count| *count > 0)
                .ok_or_else(|| refuse("TypeError: from.count must be a positive integer"))?,
        };
        let kind = match self.kind.as_deref() {
            None | Some("do") => StepKind::Do,
            Some("sleep") => StepKind::Sleep,
            Some("waitForEvent") => StepKind::WaitForEvent,
            Some(_) => return Err(refuse("TypeError: from.type must be do, sleep or waitForEvent")),
        };
        Ok(RestartFrom { name: self.name, count, kind })
    }
}

#[derive(Deserialize)]
struct EventOptions {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    payload: Value,
}

fn refuse(message: impl Into<String>) -> BindingError {
    BindingError(message.into())
}

/// The binding API's messages carry Cloudflare's `(code) text` form.
impl From<EngineError> for BindingError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InstanceNotFound(_) => refuse("(instance.not_found) Instance not found"),
            EngineError::WorkflowNotFound(name) => refuse(format!("(workflow.not_found) Workflow {name} not found")),
            EngineError::InvalidId(invalid) => refuse(format!("(instance.invalid_id) {invalid}")),
            other => refuse(other.to_string()),
        }
    }
}

fn parse<T: for<'de> Deserialize<'de> + Default>(value: Value, what: &str) -> Result<T, BindingError> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(value).map_err(|e| refuse(format!("TypeError: invalid {what}: {e}")))
}

fn new_instance(options: Value) -> Result<NewInstance, BindingError> {
    let options: CreateOptions = parse(options, "instance options")?;
    let id = options.id.as_deref().map(InstanceId::parse).transpose().map_err(EngineError::from)?;
    // Cloudflare's own local engine gives an instance created without params the payload `{}`.
    let params = options.params.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    let retention = options.retention.as_ref().map(RetentionOptions::parse).transpose()?.unwrap_or_default();
    Ok(NewInstance { id, params, trigger_source: "binding", retention })
}

/// The instance a binding names. An id no instance can have is one that is not found, as it was
/// before ids were checked here.
fn addressed(id: &str) -> Result<InstanceId, EngineError> {
    InstanceId::parse_addressable(id).map_err(|_| EngineError::InstanceNotFound(id.to_owned()))
}

/// A refusal of the request's shape, in the `(body) …` form of Cloudflare's binding.
fn refuse_body(message: &str) -> BindingError {
    refuse(format!("(body) {message}"))
}

fn invalid_argument() -> BindingError {
    refuse_body("Provided argument is invalid")
}

fn invalid_instance_id() -> BindingError {
    refuse("(instance.invalid_id) Instance ID is invalid")
}

/// The entries of `createBatch({count})` or `createBatch({instances})`, every one checked before
/// anything is created: a bad id, retention or location hint anywhere refuses the whole call.
fn object_form_batch(options: Value) -> Result<Vec<NewInstance>, BindingError> {
    let Value::Object(mut options) = options else { return Err(invalid_argument()) };
    match (options.remove("count"), options.remove("instances")) {
        (Some(_), Some(_)) => Err(refuse_body("Provided argument is invalid: pass either count or instances")),
        (Some(count), None) => {
            let count = count
                .as_u64()
                .filter(|count| *count > 0)
                .ok_or_else(|| refuse_body("count must be a positive integer"))?;
            if count > MAX_BATCH as u64 {
                return Err(refuse_body("batchCreate only supports 100 instances at a time"));
            }
            // Every instance gets a generated id and the shared params and retention.
            options.remove("id");
            let shared = checked_entry(options)?;
            Ok((0..count).map(|_| shared.clone()).collect())
        }
        (None, Some(Value::Array(instances))) => {
            if instances.is_empty() {
                return Err(refuse_body("batchCreate should have at least 1 instance"));
            }
            if instances.len() > MAX_BATCH {
                return Err(refuse_body("Batch size exceeds maximum allowed"));
            }
            instances
                .into_iter()
                .map(|entry| match entry {
                    Value::Object(entry) => checked_entry(entry),
                    _ => Err(refuse_body("each entry of instances must be an object")),
                })
                .collect()
        }
        _ => Err(invalid_argument()),
    }
}

/// One entry of the object form of `createBatch`, with the checks Cloudflare's binding makes:
/// an id by the rules of `create` (reserved ids included), retention durations that are whole
/// positive milliseconds or `"<n> <unit>"`, a known location hint.
fn checked_entry(mut entry: Map<String, Value>) -> Result<NewInstance, BindingError> {
    let id = match entry.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(InstanceId::parse(&id).map_err(|_| invalid_instance_id())?),
        Some(_) => return Err(invalid_instance_id()),
    };
    match entry.get("retention") {
        None | Some(Value::Null) => {}
        Some(Value::Object(retention)) => {
            for field in ["successRetention", "errorRetention"] {
                if let Some(duration) = retention.get(field)
                    && !is_retention_duration(duration)
                {
                    return Err(refuse_body(
                        "Duration must be a number or a string in format '{{number}} {{unit}}' where unit is \
                         second(s), minute(s), etc.",
                    ));
                }
            }
        }
        Some(_) => return Err(refuse_body("retention must be an object")),
    }
    match entry.get("locationHint") {
        None | Some(Value::Null) => {}
        Some(Value::String(hint)) if LOCATION_HINTS.contains(&hint.as_str()) => {}
        Some(other) => {
            let expected = LOCATION_HINTS.map(|hint| format!("'{hint}'")).join(" | ");
            return Err(refuse_body(&format!("Invalid enum value. Expected {expected}, received {other}")));
        }
    }
    let retention = match entry.remove("retention") {
        Some(retention @ Value::Object(_)) => {
            let options: RetentionOptions = serde_json::from_value(retention)
                .map_err(|error| refuse(format!("TypeError: invalid retention: {error}")))?;
            options.parse()?
        }
        _ => Retention::default(),
    };
    // As `create`: no params is the payload `{}`.
    let params = entry.remove("params").unwrap_or_else(|| Value::Object(Map::new()));
    Ok(NewInstance { id, params, trigger_source: "binding", retention })
}

/// A `WorkflowRetentionDuration`: a whole positive number of milliseconds, or a duration text
/// that is longer than nothing.
fn is_retention_duration(value: &Value) -> bool {
    match value {
        Value::Number(ms) => ms.as_u64().is_some_and(|ms| ms > 0),
        Value::String(text) => parse_duration_text(text).is_some_and(|ms| ms > 0),
        _ => false,
    }
}

/// The ids of `deleteBatch`, checked before anything is deleted.
fn delete_batch_ids(ids: Value) -> Result<Vec<InstanceId>, BindingError> {
    let Value::Array(ids) = ids else { return Err(invalid_argument()) };
    if ids.len() > MAX_BATCH {
        return Err(refuse_body("batchDeleteInstances only supports 100 instances at a time"));
    }
    if ids.is_empty() {
        return Err(refuse_body("batchDeleteInstances should have at least 1 instance"));
    }
    ids.iter()
        .map(|id| id.as_str().and_then(|id| InstanceId::parse_addressable(id).ok()).ok_or_else(invalid_instance_id))
        .collect()
}

/// `{created, errors}` of the object form of `createBatch`, with the codes and messages of
/// Cloudflare's binding.
fn batch_created(entries: Vec<BatchEntry>) -> Value {
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        match entry {
            BatchEntry::Created(row) => created.push(json!({ "id": row.id })),
            BatchEntry::Exists(id) => errors.push(json!({
                "index": index, "id": id.as_str(), "code": 10405,
                "message": "workflows.api.error.instance.already_exists",
            })),
            BatchEntry::DuplicateInBatch(id) => errors.push(json!({
                "index": index, "id": id.as_str(), "code": 10415,
                "message": "workflows.api.error.instance.duplicate_in_batch",
            })),
        }
    }
    json!({ "created": created, "errors": errors })
}

/// `{deleted, errors}` of `deleteBatch`, each in the order of the ids asked for.
fn batch_deleted(outcomes: Vec<(InstanceId, Deletion)>) -> Value {
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (id, outcome) in outcomes {
        match outcome {
            Deletion::Deleted => deleted.push(json!({ "id": id.as_str() })),
            Deletion::NotFound => errors.push(json!({
                "id": id.as_str(), "code": 10400, "message": "workflows.api.error.instance.not_found",
            })),
            Deletion::Failed => errors.push(json!({
                "id": id.as_str(), "code": 10001, "message": "workflows.api.error.internal_server",
            })),
        }
    }
    json!({ "deleted": deleted, "errors": errors })
}

impl Engine {
    async fn answer(&self, request: BindingRequest) -> Result<Value, BindingError> {
        match request {
            BindingRequest::Create { workflow, options } => {
                let row = self.create(&workflow, new_instance(options)?).await?;
                Ok(json!({ "id": row.id }))
            }
            // The deprecated form: clashing ids are skipped and left out of the answer.
            BindingRequest::CreateBatch { workflow, batch: Value::Array(batch) } => {
                if batch.is_empty() {
                    return Err(refuse("WorkflowError: batchCreate should have at least 1 instance"));
                }
                if batch.len() > MAX_BATCH {
                    return Err(refuse("WorkflowError: batchCreate only supports 100 instances at a time"));
                }
                let batch = batch.into_iter().map(new_instance).collect::<Result<Vec<_>, _>>()?;
                let entries = self.create_batch(&workflow, batch).await?;
                let created = entries.into_iter().filter_map(|entry| match entry {
                    BatchEntry::Created(row) => Some(json!({ "id": row.id })),
                    BatchEntry::Exists(_) | BatchEntry::DuplicateInBatch(_) => None,
                });
                Ok(Value::Array(created.collect()))
            }
            BindingRequest::CreateBatch { workflow, batch } => {
                let batch = object_form_batch(batch)?;
                Ok(batch_created(self.create_batch(&workflow, batch).await?))
            }
            BindingRequest::Get { workflow, id } => {
                let row = self.instance(&workflow, &addressed(&id)?).await?;
                Ok(json!({ "id": row.id }))
            }
            BindingRequest::Status { workflow, id } => {
                let row = self.instance(&workflow, &addressed(&id)?).await?;
                // While its rollback runs the binding says "running" (REST: `rollingBack`).
                let shown = if row.rolling_back() { "running" } else { row.status.as_str() };
                let mut status = json!({ "status": shown, "rollback": row.rollback_result() });
                if let Some(error) = row.error {
                    status["error"] = json!({ "name": error.name, "message": error.message });
                }
                // As stored: the prelude decodes it into the value `run()` returned.
                if let Some(output) = row.output {
                    status["storedOutput"] = json!(output);
                }
                Ok(status)
            }
            BindingRequest::Pause { workflow, id } => {
                self.pause(&workflow, &addressed(&id)?).await?;
                Ok(Value::Null)
            }
            BindingRequest::Resume { workflow, id } => {
                self.resume(&workflow, &addressed(&id)?).await?;
                Ok(Value::Null)
            }
            BindingRequest::Terminate { workflow, id, options } => {
                let rollback = match options.get("rollback") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(rollback)) => *rollback,
                    Some(_) => return Err(refuse("TypeError: options.rollback must be a boolean")),
                };
                if rollback {
                    self.terminate_with_rollback(&workflow, &addressed(&id)?).await?;
                } else {
                    self.terminate(&workflow, &addressed(&id)?).await?;
                }
                Ok(Value::Null)
            }
            BindingRequest::Restart { workflow, id, options } => {
                let options: RestartOptions = parse(options, "restart options")?;
                let from = options.from.map(RestartFromOptions::into_restart_from).transpose()?;
                self.restart(&workflow, &addressed(&id)?, from).await?;
                Ok(Value::Null)
            }
            BindingRequest::Delete { workflow, id } => {
                self.delete(&workflow, &addressed(&id)?).await?;
                Ok(Value::Null)
            }
            BindingRequest::DeleteBatch { workflow, ids } => {
                let outcomes = self.delete_batch(&workflow, &delete_batch_ids(ids)?).await?;
                Ok(batch_deleted(outcomes))
            }
            BindingRequest::Subscribe { workflow, id, filter } => {
                EventFilter::new(filter.iter().map(String::as_str))
                    .map_err(|_| refuse("Invalid Workflow subscription options"))?;
                self.instance(&workflow, &addressed(&id)?).await?;
                Ok(Value::Null)
            }
            BindingRequest::SubscribeNext { workflow, id, cursor, filter } => {
                let filter = EventFilter::new(filter.iter().map(String::as_str))
                    .map_err(|_| refuse("Invalid Workflow subscription options"))?;
                Ok(match self.next_event(&workflow, &addressed(&id)?, cursor, &filter).await? {
                    NextEvent::Event { event, last, .. } => json!({ "event": event, "last": last }),
                    NextEvent::Done => json!({ "done": true }),
                })
            }
            BindingRequest::SendEvent { workflow, id, event } => {
                let event: EventOptions = serde_json::from_value(event)
                    .map_err(|e| refuse(format!("TypeError: sendEvent expects {{type, payload}}: {e}")))?;
                let event_type = EventType::parse(&event.event_type)
                    .map_err(|e| refuse(format!("(workflow.invalid_event_type) {e}")))?;
                self.send_event(&workflow, &addressed(&id)?, &event_type, &event.payload).await?;
                Ok(Value::Null)
            }
            // Every other binding (queues, KV, D1, R2) is answered by the host of the services,
            // which says which request goes where.
            request => match self.inner.other_bindings.get() {
                Some(host) => host.call(request).await,
                None => Err(refuse("this binding is not available here")),
            },
        }
    }
}

impl BindingHost for Engine {
    fn call(&self, request: BindingRequest) -> BindingFuture<'_> {
        Box::pin(self.answer(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_errors_use_cloudflare_messages() {
        let not_found = BindingError::from(EngineError::InstanceNotFound("x".into()));
        assert_eq!(not_found.0, "(instance.not_found) Instance not found");
        let exists = BindingError::from(EngineError::InstanceExists("x".into()));
        assert_eq!(exists.0, "(instance.already_exists) Instance already exists");
    }

    fn refusal<T: std::fmt::Debug>(result: Result<T, BindingError>) -> String {
        result.expect_err("refused").0
    }

    #[test]
    fn the_object_form_of_create_batch_gives_one_entry_per_instance() {
        let entries = object_form_batch(json!({ "count": 2, "params": { "n": 1 }, "id": "ignored" })).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|entry| entry.id.is_none() && entry.params == json!({ "n": 1 })));
        let entries =
            object_form_batch(json!({ "instances": [{ "id": "a" }, { "params": 7, "locationHint": "weur" }] }))
                .unwrap();
        assert_eq!(entries[0].id.as_ref().map(InstanceId::as_str), Some("a"));
        assert_eq!(entries[0].params, json!({}), "no params is the payload {{}}, as for create");
        assert_eq!((entries[1].id.is_none(), &entries[1].params), (true, &json!(7)));
        let retention = json!({ "successRetention": "3 days", "errorRetention": 1000 });
        assert!(object_form_batch(json!({ "instances": [{ "retention": retention }] })).is_ok());
    }

    #[test]
    fn the_object_form_of_create_batch_is_refused_as_cloudflare_refuses_it() {
        let refused = [
            (json!(null), "(body) Provided argument is invalid"),
            (json!({}), "(body) Provided argument is invalid"),
            (
                json!({ "count": 1, "instances": [] }),
                "(body) Provided argument is invalid: pass either count or instances",
            ),
            (json!({ "count": -1 }), "(body) count must be a positive integer"),
            (json!({ "count": null }), "(body) count must be a positive integer"),
            (json!({ "count": 101 }), "(body) batchCreate only supports 100 instances at a time"),
            (json!({ "instances": [] }), "(body) batchCreate should have at least 1 instance"),
            (json!({ "instances": [{ "id": "a b" }] }), "(instance.invalid_id) Instance ID is invalid"),
            (json!({ "instances": [{ "retention": { "successRetention": 0 } }] }), "(body) Duration must be"),
            (
                json!({ "instances": [{ "retention": { "errorRetention": "1.5 fortnights" } }] }),
                "(body) Duration must be",
            ),
            (json!({ "instances": [{ "retention": "1 day" }] }), "(body) retention must be an object"),
            (json!({ "count": 1, "locationHint": "moon" }), "(body) Invalid enum value. Expected 'wnam' | 'enam'"),
        ];
        for (options, message) in refused {
            let refusal = refusal(object_form_batch(options.clone()));
            assert!(refusal.starts_with(message), "{options}: {refusal}");
        }
    }

    #[test]
    fn delete_batch_ids_are_checked_before_anything_is_deleted() {
        let ids = delete_batch_ids(json!(["a", "*/5 * * * *-1786001400000", "a"])).unwrap();
        assert_eq!(ids.len(), 3, "a cron id is addressable and duplicates stay");
        let too_many = Value::Array((0..101).map(|i| json!(format!("i{i}"))).collect());
        for (ids, message) in [
            (json!({ "instances": ["a"] }), "(body) Provided argument is invalid"),
            (json!([]), "(body) batchDeleteInstances should have at least 1 instance"),
            (too_many, "(body) batchDeleteInstances only supports 100 instances at a time"),
            (json!(["a", "b?"]), "(instance.invalid_id) Instance ID is invalid"),
            (json!(["a", null]), "(instance.invalid_id) Instance ID is invalid"),
        ] {
            assert_eq!(refusal(delete_batch_ids(ids.clone())), message, "{ids}");
        }
    }

    #[test]
    fn restart_from_defaults_to_the_first_do_step_of_that_name() {
        let from = |options: Value| -> Result<RestartFrom, BindingError> {
            serde_json::from_value::<RestartFromOptions>(options).unwrap().into_restart_from()
        };
        let first = from(json!({ "name": "charge" })).unwrap();
        assert_eq!((first.name.as_str(), first.count, first.kind), ("charge", 1, StepKind::Do));
        let third = from(json!({ "name": "wait", "count": 3, "type": "waitForEvent" })).unwrap();
        assert_eq!((third.count, third.kind), (3, StepKind::WaitForEvent));
        for bad in [json!({ "name": "x", "count": 0 }), json!({ "name": "x", "count": 1.5 })] {
            assert_eq!(refusal(from(bad)), "TypeError: from.count must be a positive integer");
        }
        assert_eq!(
            refusal(from(json!({ "name": "x", "type": "step" }))),
            "TypeError: from.type must be do, sleep or waitForEvent"
        );
    }
}
