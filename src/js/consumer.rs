//! A Worker's `queue` handler: one batch of messages delivered in a fresh context, and what the
//! handler decided about each message (`ack`, `retry`, or the default for its return or throw).

use std::sync::Arc;

use rquickjs::{CatchResultExt, Function, Module, Object, Value, async_with};
use serde::{Deserialize, Serialize};

use super::bindings::BindingHost;
use super::loader::QUEUES;
use super::runtime::{drain_wait_until, error_info, execution_context};
use super::threads;
use super::watchdog::Watchdog;
use super::worker::{WorkerCode, call_handler, fresh_context, prepare, stopped_or};
use crate::model::ErrorInfo;

/// A batch as the handler receives it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueBatch {
    pub queue: String,
    pub messages: Vec<DeliveredMessage>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredMessage {
    pub id: String,
    /// When the message was sent, in ms.
    pub timestamp: i64,
    /// The body as the producer encoded it.
    pub body: String,
    pub content_type: String,
    /// 1 on the first delivery.
    pub attempts: u32,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageDecision {
    Ack,
    /// Retry, after this many seconds or the consumer's `retry_delay`.
    Retry {
        delay_seconds: Option<u32>,
    },
}

/// The decisions, in the batch's order, and the handler's error if it threw.
#[derive(Debug, Clone)]
pub struct QueueOutcome {
    pub decisions: Vec<MessageDecision>,
    pub error: Option<ErrorInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDecision {
    ack: bool,
    delay_seconds: Option<u32>,
}

/// Calls the Worker's `queue` handler with `batch`. An error comes back only when the handler
/// could not be called at all; the caller then retries the whole batch.
pub async fn handle_queue(
    worker: &WorkerCode,
    batch: &QueueBatch,
    bindings: Arc<dyn BindingHost>,
) -> Result<QueueOutcome, ErrorInfo> {
    let (worker, batch) = (worker.clone(), batch.clone());
    let handled = threads::on_js_thread(worker.code.cpu_limit(), move |watchdog| async move {
        stopped_or(&watchdog, queue_in_fresh_context(&worker, &batch, bindings, &watchdog)).await
    });
    handled.await.unwrap_or_else(|| Err(ErrorInfo::new("Error", "the queue handler failed inside stepflare")))
}

async fn queue_in_fresh_context(
    worker: &WorkerCode,
    batch: &QueueBatch,
    bindings: Arc<dyn BindingHost>,
    watchdog: &Watchdog,
) -> Result<QueueOutcome, ErrorInfo> {
    let (_runtime, context) = fresh_context(worker, watchdog).await?;
    let messages = serde_json::to_string(&batch.messages).unwrap_or_else(|_| "[]".into());
    async_with!(context => |ctx| {
        let delivered = async {
            let env = prepare(&ctx, worker, bindings, watchdog).await?;
            // The batch's classes are in `stepflare:queues`, which only a producer's `env` loads.
            Module::import(&ctx, QUEUES)?.into_future::<Value>().await?;
            let stepflare: Object = ctx.globals().get("__stepflare")?;
            let new_batch: Function = stepflare.get("newMessageBatch")?;
            let made: Object = new_batch.call((batch.queue.as_str(), ctx.json_parse(messages)?))?;
            let execution_context = execution_context(&ctx)?;
            let handled = call_handler(&ctx, worker, env, "queue", made.get("batch")?, execution_context.clone()).await;
            let error = match handled.catch(&ctx) {
                Ok(_) => None,
                Err(caught) => Some(error_info(&ctx, caught)),
            };
            drain_wait_until(&execution_context).await?;
            let outcome: Function = made.get("outcome")?;
            let decided: rquickjs::Value = outcome.call((error.is_some(),))?;
            let decided = ctx.json_stringify(decided)?.map(|text| text.to_string()).transpose()?.unwrap_or_default();
            Ok::<_, rquickjs::Error>((decided, error))
        };
        let (decided, error) = delivered.await.catch(&ctx).map_err(|caught| error_info(&ctx, caught))?;
        let raw: Vec<RawDecision> = serde_json::from_str(&decided)
            .map_err(|e| ErrorInfo::new("Error", format!("the queue batch's decisions could not be read: {e}")))?;
        let decisions = raw
            .into_iter()
            .map(|d| if d.ack { MessageDecision::Ack } else { MessageDecision::Retry { delay_seconds: d.delay_seconds } })
            .collect();
        Ok(QueueOutcome { decisions, error })
    })
    .await
}
