//! Local Cloudflare Queues. Producers (`env.MY_QUEUE.send`) put messages in SQLite; a delivery
//! task hands them in batches to the `queue` handler of the Worker that consumes the queue, and
//! applies what the handler decided: acknowledged messages are deleted, retried ones come back
//! after their delay, and a message out of retries moves to the dead letter queue (or is
//! dropped, with a warning).
//!
//! Batching follows the consumer's config: a batch goes out when `max_batch_size` messages are
//! ready or the oldest ready one has waited `max_batch_timeout`. One batch of a queue is in
//! flight at a time. Delivery is at least once: a batch is leased in SQLite before the handler
//! runs, and a process killed mid-delivery delivers it again on the next start.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::config::QueueConsumerConfig;
use crate::engine::Engine;
use crate::js::{
    BindingError, BindingFuture, BindingHost, BindingRequest, DeliveredMessage, MessageDecision, QueueBatch,
    QueueSendMessage, WorkerCode, handle_queue,
};
use crate::model::ErrorInfo;
use crate::store::{NewQueueMessage, QueueMessageRow, Settlement, Store, StoreError};
use crate::workers::Workers;

/// How long a `queue` handler may run, as on Cloudflare; then its batch is retried.
const CONSUMER_WALL_TIME: Duration = Duration::from_secs(15 * 60);

/// Cheap to clone: every clone is the same set of queues.
#[derive(Clone)]
pub struct Queues {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    store: Arc<Store>,
    workers: Workers,
    /// Queues with a batch at their consumer now.
    in_flight: Mutex<HashSet<String>>,
    /// A send, a finished delivery or a reload: time to look at the queues again.
    changed: Notify,
}

/// A queue whose batch is due, with the Worker that consumes it.
struct DueBatch {
    worker: Arc<WorkerCode>,
    consumer: QueueConsumerConfig,
}

impl Queues {
    /// Queues stored with `engine`'s store and delivered to `workers`. Producers in workflow code
    /// and in Workers reach them through the engine's bindings (see `services.rs`).
    pub fn new(engine: Engine, store: Arc<Store>, workers: Workers) -> Self {
        Queues {
            inner: Arc::new(Inner {
                engine,
                store,
                workers,
                in_flight: Mutex::new(HashSet::new()),
                changed: Notify::new(),
            }),
        }
    }

    /// Makes batches that were in flight when the last process stopped deliverable again, and
    /// starts delivering. Call once, inside the tokio runtime.
    pub async fn start(&self) -> Result<(), StoreError> {
        let released = self.inner.store.on_blocking_thread(|store| store.release_queue_leases()).await?;
        if released > 0 {
            tracing::info!(target: "queues", "{released} message(s) were being delivered when stepflare stopped; they will be delivered again");
        }
        tokio::spawn(deliver(self.inner.clone()));
        Ok(())
    }

    async fn send(&self, queue: &str, messages: Vec<QueueSendMessage>) -> Result<(), StoreError> {
        let now = self.inner.engine.now_ms();
        let rows: Vec<NewQueueMessage> = messages
            .into_iter()
            .map(|message| NewQueueMessage {
                id: uuid::Uuid::new_v4().simple().to_string(),
                queue: queue.to_owned(),
                body: message.body,
                content_type: message.content_type,
                visible_at: now + i64::from(message.delay_seconds) * 1000,
            })
            .collect();
        self.inner.store.on_blocking_thread(move |store| store.enqueue(&rows, now)).await?;
        self.inner.changed.notify_one();
        Ok(())
    }
}

impl BindingHost for Queues {
    fn call(&self, request: BindingRequest) -> BindingFuture<'_> {
        Box::pin(async move {
            match request {
                BindingRequest::QueueSend { queue, messages } => {
                    self.send(&queue, messages).await.map_err(|e| BindingError(format!("Queue send failed: {e}")))?;
                    Ok(Value::Null)
                }
                _ => Err(BindingError("this binding is not a queue".into())),
            }
        })
    }
}

/// The delivery task: starts every due batch, then sleeps until the next one can be due or
/// something changes (a send, a finished batch, a reload of the Workers).
async fn deliver(inner: Arc<Inner>) {
    let mut reloads = inner.workers.subscribe();
    loop {
        reloads.mark_unchanged();
        let changed = inner.changed.notified();
        let planner = inner.clone();
        // The plan reads and leases in SQLite: on a blocking thread, not the runtime's.
        let planned = tokio::task::spawn_blocking(move || start_due_batches(&planner))
            .await
            .unwrap_or_else(|error| Err(StoreError::Busy(format!("the queue planner failed: {error}"))));
        let next_look = match planned {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(target: "queues", "reading the queues failed: {error}");
                Some(inner.engine.now_ms() + 1000)
            }
        };
        match next_look {
            Some(at) => {
                let wait = Duration::from_millis((at - inner.engine.now_ms()).clamp(0, 60_000) as u64);
                tokio::select! {
                    _ = changed => {}
                    _ = reloads.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            None => {
                tokio::select! {
                    _ = changed => {}
                    _ = reloads.changed() => {}
                }
            }
        }
    }
}

/// Starts a delivery for every consumed queue with a due batch. Returns when a batch may next
/// become due.
fn start_due_batches(inner: &Arc<Inner>) -> Result<Option<i64>, StoreError> {
    let store = &inner.store;
    let now = inner.engine.now_ms();
    let mut next_look: Option<i64> = None;
    let mut consider = |at: i64| next_look = Some(next_look.map_or(at, |next| next.min(at)));
    for worker in inner.workers.all() {
        for consumer in &worker.consumers {
            if inner.in_flight.lock().unwrap_or_else(|p| p.into_inner()).contains(&consumer.queue) {
                continue;
            }
            let backlog = store.queue_backlog(&consumer.queue, now, consumer.max_batch_size)?;
            if let Some(at) = backlog.next_visible_at {
                consider(at);
            }
            let Some(oldest) = backlog.oldest_ready_at else { continue };
            let full_at = oldest + i64::from(consumer.max_batch_timeout_seconds) * 1000;
            if backlog.ready < consumer.max_batch_size && now < full_at {
                consider(full_at);
                continue;
            }
            let batch = store.lease_batch(&consumer.queue, now, consumer.max_batch_size)?;
            if batch.is_empty() {
                continue;
            }
            inner.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(consumer.queue.clone());
            let due = DueBatch { worker: worker.clone(), consumer: consumer.clone() };
            tokio::spawn(deliver_batch(inner.clone(), due, batch));
        }
    }
    Ok(next_look)
}

async fn deliver_batch(inner: Arc<Inner>, due: DueBatch, rows: Vec<QueueMessageRow>) {
    let queue = due.consumer.queue.clone();
    let batch = QueueBatch {
        queue: queue.clone(),
        messages: rows
            .iter()
            .map(|row| DeliveredMessage {
                id: row.id.clone(),
                timestamp: row.created_on,
                body: row.body.clone(),
                content_type: row.content_type.clone(),
                attempts: row.attempts,
            })
            .collect(),
    };
    let bindings: Arc<dyn BindingHost> = Arc::new(inner.engine.clone());
    let handled = tokio::time::timeout(CONSUMER_WALL_TIME, handle_queue(&due.worker, &batch, bindings))
        .await
        .unwrap_or_else(|_| Err(ErrorInfo::new("Error", "the queue handler ran out of time (15 minutes)")));
    let decisions = match handled {
        Ok(outcome) => {
            if let Some(error) = &outcome.error {
                tracing::error!(target: "queues", %queue, "the queue handler threw {}: {}", error.name, error.message);
            }
            outcome.decisions
        }
        Err(error) => {
            tracing::error!(target: "queues", %queue, "the queue handler could not run: {}: {}", error.name, error.message);
            vec![MessageDecision::Retry { delay_seconds: None }; rows.len()]
        }
    };
    let now = inner.engine.now_ms();
    let settlements: Vec<(String, Settlement)> = rows
        .iter()
        .zip(decisions.into_iter().chain(std::iter::repeat(MessageDecision::Retry { delay_seconds: None })))
        .map(|(row, decision)| (row.id.clone(), settle(&due.consumer, row, decision, now)))
        .collect();
    if let Err(error) = inner.store.on_blocking_thread(move |store| store.settle(&settlements, now)).await {
        // The batch stays leased; the next start delivers it again.
        tracing::error!(target: "queues", %queue, "recording the batch's outcome failed: {error}");
    }
    inner.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&queue);
    inner.changed.notify_one();
}

/// What `decision` means for `row`: a retry past `max_retries` goes to the dead letter queue.
fn settle(consumer: &QueueConsumerConfig, row: &QueueMessageRow, decision: MessageDecision, now: i64) -> Settlement {
    let MessageDecision::Retry { delay_seconds } = decision else {
        return Settlement::Ack;
    };
    if row.attempts <= consumer.max_retries {
        let delay = delay_seconds.unwrap_or(consumer.retry_delay_seconds);
        return Settlement::RetryAt(now + i64::from(delay) * 1000);
    }
    match &consumer.dead_letter_queue {
        Some(dead_letter_queue) => {
            tracing::warn!(target: "queues", queue = %consumer.queue, "message {} failed {} times; moved to {dead_letter_queue}", row.id, row.attempts);
            Settlement::DeadLetter {
                queue: dead_letter_queue.clone(),
                new_id: uuid::Uuid::new_v4().simple().to_string(),
            }
        }
        None => {
            tracing::warn!(target: "queues", queue = %consumer.queue, "message {} failed {} times and the queue has no dead_letter_queue; it is dropped", row.id, row.attempts);
            Settlement::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceLocation;

    fn consumer(dead_letter_queue: Option<&str>) -> QueueConsumerConfig {
        QueueConsumerConfig {
            queue: "jobs".into(),
            max_batch_size: 10,
            max_batch_timeout_seconds: 0,
            max_retries: 2,
            retry_delay_seconds: 7,
            dead_letter_queue: dead_letter_queue.map(String::from),
            max_concurrency: None,
            pull: false,
            location: SourceLocation { path: "wrangler.jsonc".into(), line: 1, column: 1 },
        }
    }

    fn row(attempts: u32) -> QueueMessageRow {
        QueueMessageRow {
            id: "m".into(),
            queue: "jobs".into(),
            body: "1".into(),
            content_type: "json".into(),
            attempts,
            created_on: 0,
        }
    }

    #[test]
    fn a_retry_waits_its_own_delay_or_the_consumers() {
        let retry = |delay_seconds| MessageDecision::Retry { delay_seconds };
        assert_eq!(settle(&consumer(None), &row(1), retry(None), 1000), Settlement::RetryAt(8000));
        assert_eq!(settle(&consumer(None), &row(1), retry(Some(2)), 1000), Settlement::RetryAt(3000));
        assert_eq!(settle(&consumer(None), &row(3), MessageDecision::Ack, 0), Settlement::Ack);
    }

    #[test]
    fn max_retries_counts_deliveries_after_the_first() {
        let retry = MessageDecision::Retry { delay_seconds: Some(0) };
        assert_eq!(settle(&consumer(None), &row(2), retry, 0), Settlement::RetryAt(0));
        assert_eq!(settle(&consumer(None), &row(3), retry, 0), Settlement::Drop);
        assert!(matches!(
            settle(&consumer(Some("dlq")), &row(3), retry, 0),
            Settlement::DeadLetter { queue, .. } if queue == "dlq"
        ));
    }
}
