//! The engine as the host of workflow bindings: `env.MY_WORKFLOW.create(…)` and the instance
//! handle's methods, from a Worker's handlers or from a workflow's steps (child workflows), with
//! the errors and messages of the binding API (spec §1). Other bindings (queue producers) go on to
//! the host given to [`Engine::forward_other_bindings`].

use serde::Deserialize;
use serde_json::{Value, json};

use super::subscribe::{EventFilter, NextEvent};
use super::{Engine, EngineError, NewInstance, RestartFrom};
use crate::ids::{EventType, InstanceId, StepKind};
use crate::js::{BindingError, BindingFuture, BindingHost, BindingRequest};
use crate::model::Retention;

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
    count: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
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

impl Engine {
    async fn answer(&self, request: BindingRequest) -> Result<Value, BindingError> {
        match request {
            BindingRequest::Create { workflow, options } => {
                let row = self.create(&workflow, new_instance(options)?).await?;
                Ok(json!({ "id": row.id }))
            }
            BindingRequest::CreateBatch { workflow, batch } => {
                if batch.is_empty() {
                    return Err(refuse("WorkflowError: batchCreate should have at least 1 instance"));
                }
                let batch = batch.into_iter().map(new_instance).collect::<Result<Vec<_>, _>>()?;
                let rows = self.create_batch(&workflow, batch).await?;
                Ok(Value::Array(rows.into_iter().map(|row| json!({ "id": row.id })).collect()))
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
                let from = match options.from {
                    None => None,
                    Some(from) => Some(RestartFrom {
                        name: from.name,
                        count: from.count.unwrap_or(1).max(1),
                        kind: match from.kind.as_deref() {
                            None => StepKind::Do,
                            Some(text) => StepKind::parse(text)
                                .ok_or_else(|| refuse("TypeError: from.type must be do, sleep or waitForEvent"))?,
                        },
                    }),
                };
                self.restart(&workflow, &addressed(&id)?, from).await?;
                Ok(Value::Null)
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
            request @ BindingRequest::QueueSend { .. } => match self.inner.other_bindings.get() {
                Some(host) => host.call(request).await,
                None => Err(refuse("Queue send failed: queues are not available here")),
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
}
