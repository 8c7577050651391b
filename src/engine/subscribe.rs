//! Subscriptions to an instance's events (`instance.subscribe()`, the REST event stream): the
//! journal read after a cursor, through a filter, waiting for the writer's next commit when
//! nothing new is there. A subscription is the caller's `(cursor, filter)`; the engine keeps
//! nothing per subscriber, so one that goes away costs nothing.
//!
//! A subscription ends after the instance's terminal event (`workflow_completed`, `_errored`,
//! `_terminated`), also when the filter hides it. A terminal event that later events follow
//! (the instance was restarted since) does not end it: history replays through to the run
//! that is current.

use std::collections::HashSet;
use std::pin::pin;

use serde_json::{Value, json};

use super::{Engine, EngineError};
use crate::ids::InstanceId;
use crate::model::{InstanceEvent, NumberedEvent};

/// Which event types a subscription wants; all of them when empty.
#[derive(Debug, Clone, Default)]
pub struct EventFilter(HashSet<&'static str>);

/// A filter that names something other than an event type.
#[derive(Debug, thiserror::Error)]
#[error("unknown event type {0:?} in the filter")]
pub struct UnknownEventType(pub String);

impl EventFilter {
    /// From event type names. The `*_failed` names of an early version of Cloudflare's local
    /// engine stand for the `*_errored` events production names.
    pub fn new<'a>(types: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownEventType> {
        let mut wanted = HashSet::new();
        for name in types {
            let name = match name.strip_suffix("_failed") {
                Some(stem) => format!("{stem}_errored"),
                None => name.to_owned(),
            };
            let known = InstanceEvent::TYPES.iter().find(|known| **known == name).ok_or(UnknownEventType(name))?;
            wanted.insert(*known);
        }
        Ok(EventFilter(wanted))
    }

    fn lets_through(&self, event: &InstanceEvent) -> bool {
        self.0.is_empty() || self.0.contains(event.type_name())
    }
}

/// What a subscription gets next.
#[derive(Debug)]
pub enum NextEvent {
    /// An event, as production's `WorkflowInstanceEvent`; `last` when it is the terminal one.
    Event { event: Value, event_id: u64, last: bool },
    /// The subscription is over: its terminal event was passed (filtered out), the instance was
    /// deleted, or stepflare is stopping.
    Done,
}

/// An event as `subscribe` delivers it: `{instanceId, eventId, timestamp, type, …}`.
pub fn event_json(instance_id: &str, numbered: &NumberedEvent) -> Value {
    let mut event = json!({ "instanceId": instance_id, "eventId": numbered.event_id });
    if let (Value::Object(fields), Ok(Value::Object(entry))) = (&mut event, serde_json::to_value(&numbered.entry)) {
        fields.extend(entry);
    }
    event
}

impl Engine {
    /// The instance's next event after `cursor` that `filter` lets through, waiting for it. The
    /// instance must exist when this is called; if it is deleted while the call waits, the
    /// subscription is [`NextEvent::Done`].
    pub async fn next_event(
        &self,
        workflow: &str,
        id: &InstanceId,
        mut cursor: u64,
        filter: &EventFilter,
    ) -> Result<NextEvent, EngineError> {
        let key = self.key(workflow, id)?;
        let mut first = true;
        loop {
            // Enabled before the read, so that a commit between the read and the wait wakes it.
            let mut committed = pin!(self.inner.store.committed().notified());
            committed.as_mut().enable();
            let read = key.clone();
            let (exists, events) = self
                .inner
                .with_store(move |store| {
                    let exists = store.instance(&read)?.is_some();
                    Ok((exists, if exists { store.journal(&read, cursor)? } else { Vec::new() }))
                })
                .await?;
            if !exists {
                return if first { Err(EngineError::InstanceNotFound(id.to_string())) } else { Ok(NextEvent::Done) };
            }
            first = false;
            let count = events.len();
            for (index, numbered) in events.iter().enumerate() {
                cursor = numbered.event_id;
                let last = numbered.entry.event.is_terminal() && index + 1 == count;
                if filter.lets_through(&numbered.entry.event) {
                    let event = event_json(id.as_str(), numbered);
                    return Ok(NextEvent::Event { event, event_id: numbered.event_id, last });
                }
                if last {
                    return Ok(NextEvent::Done);
                }
            }
            tokio::select! {
                _ = committed => {}
                _ = self.inner.stopping.cancelled() => return Ok(NextEvent::Done),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_production_names_and_the_early_local_aliases() {
        let filter = EventFilter::new(["step_completed", "workflow_failed"]).unwrap();
        assert!(
            filter.lets_through(&InstanceEvent::WorkflowErrored { error: crate::model::ErrorInfo::new("Error", "x") })
        );
        assert!(!filter.lets_through(&InstanceEvent::WorkflowQueued));
        assert!(EventFilter::new(["internal"]).is_err());
        assert!(EventFilter::new(["step_done"]).is_err());
        assert!(EventFilter::default().lets_through(&InstanceEvent::WorkflowQueued));
    }

    #[test]
    fn every_type_name_is_the_serialized_type() {
        let events = [
            InstanceEvent::WorkflowQueued,
            InstanceEvent::WorkflowStarted { params: None },
            InstanceEvent::WorkflowWaitingForPause,
            InstanceEvent::WorkflowCompleted { output: None },
            InstanceEvent::WorkflowTerminated,
            InstanceEvent::StepStarted { step_name: "a-1".into(), config: None },
            InstanceEvent::SleepStarted { step_name: "s-1".into(), duration_ms: 5 },
            InstanceEvent::WaitTimedOut { step_name: "w-1".into() },
            InstanceEvent::RollbackStarted,
            InstanceEvent::RollbackAttemptStarted { step_name: "a-1".into(), attempt: 1 },
            InstanceEvent::RollbackErrored,
        ];
        for event in events {
            let serialized = serde_json::to_value(&event).unwrap();
            assert_eq!(serialized["type"], json!(event.type_name()), "{serialized}");
        }
    }
}
