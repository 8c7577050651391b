//! Durable Objects' alarms: one per object, kept in the object's file and in the store's
//! `durable_alarms` table, which the alarm task reads to find what is due (at start too, so an
//! alarm set before a crash still fires). The task sleeps until the next alarm on the engine's
//! clock, or until an object sets one; it calls the object's `alarm({retryCount, isRetry})`, and
//! on a throw retries with production's backoff (2 s doubling, at most 6 retries). An alarm is
//! deleted once its handler succeeded or its retries ran out, unless the object set it again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{DurableObjects, ObjectKey};
use crate::store::{DurableAlarm, Store, StoreError};

/// The first retry's delay; each next one doubles it.
const RETRY_BASE_MS: i64 = 2_000;
/// Retries after the first run of an alarm's handler.
const MAX_RETRIES: u32 = 6;
/// The longest the task sleeps without looking again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Cheap to clone.
#[derive(Clone)]
pub struct Alarms {
    store: Arc<Store>,
    wake: Arc<Notify>,
    /// Objects whose alarm handler runs now: not fired again until it ends.
    firing: Arc<Mutex<HashSet<ObjectKey>>>,
}

impl Alarms {
    pub(super) fn new(store: Arc<Store>) -> Self {
        Alarms { store, wake: Arc::new(Notify::new()), firing: Arc::default() }
    }

    /// Records an object's alarm (or its deletion) and wakes the task. Blocking: it commits.
    pub(super) fn set(&self, key: &ObjectKey, time: Option<i64>) -> Result<(), StoreError> {
        self.store.set_durable_alarm(&key.script, &key.namespace, &key.id, time)?;
        self.wake.notify_one();
        Ok(())
    }

    pub(super) async fn run(self, host: DurableObjects) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let alarms = match self.store.on_blocking_thread(|store| store.durable_alarms()).await {
                Ok(alarms) => alarms,
                Err(error) => {
                    tracing::error!("cannot read Durable Object alarms: {error}");
                    Vec::new()
                }
            };
            let now = host.now_ms();
            let mut next: Option<i64> = None;
            for alarm in alarms {
                let key = ObjectKey {
                    script: alarm.script.clone(),
                    namespace: alarm.namespace.clone(),
                    id: alarm.object_id.clone(),
                };
                if self.firing().contains(&key) {
                    continue;
                }
                if alarm.due_at <= now {
                    self.firing().insert(key.clone());
                    let (alarms, host) = (self.clone(), host.clone());
                    tokio::spawn(async move {
                        alarms.fire(&host, &alarm, &key).await;
                        alarms.firing().remove(&key);
                        alarms.wake.notify_one();
                    });
                } else {
                    next = Some(next.map_or(alarm.due_at, |n| n.min(alarm.due_at)));
                }
            }
            let sleep = next.map_or(MAX_SLEEP, |due| Duration::from_millis((due - now).max(0) as u64).min(MAX_SLEEP));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = woken => {}
            }
        }
    }

    fn firing(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectKey>> {
        self.firing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the handler once and records what follows: done, or the next retry.
    async fn fire(&self, host: &DurableObjects, alarm: &DurableAlarm, key: &ObjectKey) {
        let call = json!({ "kind": "alarm", "retryCount": alarm.retries, "scheduledAt": alarm.scheduled_at });
        let outcome = host.call(key.clone(), None, call).await;
        let failure = match &outcome {
            Ok(answer) if answer.get("threw").is_none() => None,
            Ok(answer) => Some(thrown_message(answer.get("threw"))),
            Err(error) => Some(error.0.clone()),
        };
        let store = self.store.clone();
        let alarm = alarm.clone();
        let done = match failure {
            None => true,
            Some(error) if alarm.retries >= MAX_RETRIES => {
                tracing::warn!(
                    "the alarm of Durable Object {} ({}) failed {} times and is dropped: {error}",
                    key.id,
                    key.namespace,
                    alarm.retries + 1
                );
                true
            }
            Some(error) => {
                let delay = RETRY_BASE_MS << alarm.retries;
                tracing::info!(
                    "the alarm of Durable Object {} ({}) threw; retry {} in {} ms: {error}",
                    key.id,
                    key.namespace,
                    alarm.retries + 1,
                    delay
                );
                let due_at = host.now_ms() + delay;
                let retrying = alarm.clone();
                let retried = store
                    .on_blocking_thread(move |store| store.retry_durable_alarm(&retrying, due_at, retrying.retries + 1))
                    .await;
                if let Err(error) = retried {
                    tracing::error!("cannot record an alarm's retry: {error}");
                }
                false
            }
        };
        if done {
            let finished = store.on_blocking_thread(move |store| store.finish_durable_alarm(&alarm)).await;
            if let Err(error) = finished {
                tracing::error!("cannot delete a fired alarm: {error}");
            }
        }
    }
}

/// `Name: message` of what a handler threw, from its structured clone text (an error is
/// `["e", name, message, stack]`); the text itself for anything else.
fn thrown_message(threw: Option<&Value>) -> String {
    let text = threw.and_then(Value::as_str).unwrap_or_default();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(parts)) if parts.first().and_then(Value::as_str) == Some("e") => format!(
            "{}: {}",
            parts.get(1).and_then(Value::as_str).unwrap_or("Error"),
            parts.get(2).and_then(Value::as_str).unwrap_or_default()
        ),
        _ => text.to_owned(),
    }
}
