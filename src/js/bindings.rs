//! Bindings in `env`: workflow bindings (`env.MY_WORKFLOW.create(…)`, `.get(id)`, and the instance
//! handle's `status()`, `pause()`, …) and queue producers (`env.MY_QUEUE.send(…)`): the requests
//! JavaScript makes, and the [`BindingHost`] that answers them. The engine is the host; this side
//! only carries requests across.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rquickjs::prelude::{Async, Func};
use rquickjs::{Ctx, Exception};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One binding in `env` besides the vars: the name the code uses and what it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum EnvBinding {
    /// `env[binding]` creates and gets instances of `workflow`.
    Workflow { binding: String, workflow: String },
    /// `env[binding]` sends to `queue`, by default `delivery_delay` seconds later.
    Queue { binding: String, queue: String, delivery_delay: u32 },
}

/// A message as a producer sends it: the body encoded by content type (by `stepflare:queues`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSendMessage {
    pub body: String,
    pub content_type: String,
    pub delay_seconds: u32,
}

/// What the binding API asks (spec §1).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum BindingRequest {
    Create {
        workflow: String,
        options: Value,
    },
    CreateBatch {
        workflow: String,
        batch: Vec<Value>,
    },
    Get {
        workflow: String,
        id: String,
    },
    Status {
        workflow: String,
        id: String,
    },
    Pause {
        workflow: String,
        id: String,
    },
    Resume {
        workflow: String,
        id: String,
    },
    Terminate {
        workflow: String,
        id: String,
        /// `{rollback?: boolean}`, or null.
        #[serde(default)]
        options: Value,
    },
    Restart {
        workflow: String,
        id: String,
        options: Value,
    },
    SendEvent {
        workflow: String,
        id: String,
        event: Value,
    },
    /// `instance.subscribe()`: checks the filter and that the instance exists.
    Subscribe {
        workflow: String,
        id: String,
        filter: Vec<String>,
    },
    /// The next event of a subscription after `cursor` (`instance.subscribe()`'s `next()`).
    SubscribeNext {
        workflow: String,
        id: String,
        cursor: u64,
        filter: Vec<String>,
    },
    QueueSend {
        queue: String,
        messages: Vec<QueueSendMessage>,
    },
}

/// A refusal, thrown to JavaScript as an `Error` with this message (Cloudflare's messages read
/// `"(instance.not_found) Instance not found"`).
#[derive(Debug, Clone)]
pub struct BindingError(pub String);

pub type BindingFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, BindingError>> + Send + 'a>>;

/// Answers binding requests; object-safe so one host serves every runtime.
pub trait BindingHost: Send + Sync + 'static {
    fn call(&self, request: BindingRequest) -> BindingFuture<'_>;
}

/// Installs `__stepflare_binding(requestJson) -> Promise<resultJson>`, which the prelude
/// captures.
pub fn install<'js>(ctx: &Ctx<'js>, host: Option<Arc<dyn BindingHost>>) -> rquickjs::Result<()> {
    ctx.globals().set(
        "__stepflare_binding",
        Func::from(Async(move |ctx: Ctx<'js>, request: String| {
            let host = host.clone();
            async move {
                let Some(host) = host else {
                    return Err(Exception::throw_message(&ctx, "workflow bindings are not available here"));
                };
                let request: BindingRequest = serde_json::from_str(&request)
                    .map_err(|e| Exception::throw_type(&ctx, &format!("invalid binding request: {e}")))?;
                match host.call(request).await {
                    Ok(value) => Ok(value.to_string()),
                    Err(BindingError(message)) => Err(Exception::throw_message(&ctx, &message)),
                }
            }
        })),
    )
}
