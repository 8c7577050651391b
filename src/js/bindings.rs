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

use super::watchdog::Watchdog;

/// One binding in `env` besides the vars: the name the code uses and what it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum EnvBinding {
    /// `env[binding]` creates and gets instances of `workflow`.
    Workflow { binding: String, workflow: String },
    /// `ctx.exports[class_name]` creates and gets instances of `workflow` (a workflow declared
    /// in the config's `exports`); it is not in `env`.
    Export { class_name: String, workflow: String },
    /// `env[binding]` is the D1 database `database` (its id).
    D1 { binding: String, database: String },
    /// `env[binding]` is the R2 bucket `bucket`.
    R2 { binding: String, bucket: String },
    /// `env[binding]` is the KV namespace `namespace`.
    Kv { binding: String, namespace: String },
    /// `env[binding]` sends to `queue`, by default `delivery_delay` seconds later.
    Queue { binding: String, queue: String, delivery_delay: u32 },
    /// `env[binding]` reaches the Worker named `service` (its default export, or the class
    /// exported as `entrypoint`): `fetch` and RPC method calls.
    Service { binding: String, service: String, entrypoint: Option<String> },
    /// `env[binding]` is the Durable Object namespace `namespace` (its class's name when a
    /// migration created it) of the Worker named `script`.
    DurableObject { binding: String, script: String, namespace: String },
}

/// A message as a producer sends it: the body encoded by content type (by `stepflare:queues`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSendMessage {
    pub body: String,
    pub content_type: String,
    pub delay_seconds: u32,
}

/// One D1 statement as the binding sends it: its SQL and its bound values (`{"blob": base64}`
/// for bytes).
#[derive(Debug, Clone, Deserialize)]
pub struct D1Statement {
    pub sql: String,
    #[serde(default)]
    pub params: Vec<Value>,
}

/// What the binding API asks (spec §1).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum BindingRequest {
    Create {
        workflow: String,
        options: Value,
    },
    /// `batch` is what the code passed: an array (the deprecated form) or `{count}` /
    /// `{instances}`.
    CreateBatch {
        workflow: String,
        batch: Value,
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
    Delete {
        workflow: String,
        id: String,
    },
    /// `ids` is what the code passed, checked by the host.
    DeleteBatch {
        workflow: String,
        ids: Value,
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
    /// KV `get` / `getWithMetadata` of one key or several.
    KvGet {
        namespace: String,
        keys: Vec<String>,
    },
    /// KV `put`: `value` is base64; `expiration` in seconds since the epoch, or `expirationTtl`
    /// seconds from now.
    KvPut {
        namespace: String,
        key: String,
        value: String,
        metadata: Option<Value>,
        expiration: Option<f64>,
        expiration_ttl: Option<f64>,
    },
    KvDelete {
        namespace: String,
        key: String,
    },
    KvList {
        namespace: String,
        prefix: Option<String>,
        limit: Option<f64>,
        cursor: Option<String>,
    },
    /// D1 statements (`first`/`all`/`run`/`raw` send one; `batch` several, in a transaction).
    D1Query {
        database: String,
        statements: Vec<D1Statement>,
        batch: bool,
    },
    D1Exec {
        database: String,
        sql: String,
    },
    R2Head {
        bucket: String,
        key: String,
    },
    /// R2 `get`, whole or the range `offset`/`length`, or the last `suffix` bytes.
    R2Get {
        bucket: String,
        key: String,
        offset: Option<u64>,
        length: Option<u64>,
        suffix: Option<u64>,
    },
    /// R2 `put`: `body` is base64.
    R2Put {
        bucket: String,
        key: String,
        body: String,
        http_metadata: Option<Value>,
        custom_metadata: Option<Value>,
    },
    R2Delete {
        bucket: String,
        keys: Vec<String>,
    },
    /// A call to one Durable Object (`stub.fetch(…)`, an RPC method, as `durable.js` encodes
    /// it), answered with what the object's handler returned or threw.
    DurableObjectCall {
        script: String,
        namespace: String,
        /// 64 hex digits.
        id: String,
        /// The name the id was made from, when it was.
        name: Option<String>,
        call: Value,
    },
    R2List {
        bucket: String,
        prefix: Option<String>,
        cursor: Option<String>,
        limit: Option<usize>,
        delimiter: Option<String>,
    },
    /// A call on a service binding: `call` is `{kind: "fetch", method, url, headers, body}` (the
    /// body base64, or null), `{kind: "rpc", method, args}` or `{kind: "get", property}`
    /// (`stepflare:rpc` says how values cross).
    ServiceCall {
        service: String,
        entrypoint: Option<String>,
        call: Value,
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
/// captures. Code that is being stopped (`watchdog`) gets no answer and is not heard: an
/// instance that deleted, terminated or restarted itself must not go on past the `await`, and
/// the interrupt handler is only asked now and then, so a few of its statements could run.
pub fn install<'js>(ctx: &Ctx<'js>, host: Option<Arc<dyn BindingHost>>, watchdog: Watchdog) -> rquickjs::Result<()> {
    ctx.globals().set(
        "__stepflare_binding",
        Func::from(Async(move |ctx: Ctx<'js>, request: String| {
            let (host, watchdog) = (host.clone(), watchdog.clone());
            async move {
                if watchdog.stopping() {
                    return std::future::pending().await;
                }
                let Some(host) = host else {
                    return Err(Exception::throw_message(&ctx, "workflow bindings are not available here"));
                };
                let request: BindingRequest = serde_json::from_str(&request)
                    .map_err(|e| Exception::throw_type(&ctx, &format!("invalid binding request: {e}")))?;
                let answered = host.call(request).await;
                if watchdog.stopping() {
                    return std::future::pending().await;
                }
                match answered {
                    Ok(value) => Ok(value.to_string()),
                    Err(BindingError(message)) => Err(Exception::throw_message(&ctx, &message)),
                }
            }
        })),
    )
}
