//! The Worker itself: the entry module's default export (an object with `fetch`, or a
//! `WorkerEntrypoint` class) answering HTTP requests with `env` holding the vars and the
//! bindings. Each request gets a fresh context, like each workflow run. Bodies are bytes; a
//! response whose body is a stream (or a passed-on `fetch` response) is sent on chunk by chunk
//! while the handler's context keeps running.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use rquickjs::function::{Constructor, This};
use rquickjs::{
    AsyncContext, AsyncRuntime, CatchResultExt, Ctx, Function, Module, Object, Promise, TypedArray, Value, async_with,
};
use serde_json::Value as Json;

use super::bindings::{BindingHost, EnvBinding};
use super::loader::{ProjectCode, RPC};
use super::runtime::{self, NoSteps, drain_wait_until, error_info, execution_context, prepare_context};
use super::threads;
use super::watchdog::Watchdog;
use crate::cron::CronExpression;
use crate::model::ErrorInfo;

/// The Worker of a project: its code, vars, bindings, and what it consumes and is triggered by.
#[derive(Debug, Clone)]
pub struct WorkerCode {
    /// The Worker's `name` from its config (`worker` when it has none).
    pub name: String,
    /// Whether this Worker answers HTTP on the server's port (the first config's does, when its
    /// default export has handlers).
    pub served: bool,
    /// Which of `fetch`, `scheduled` and `queue` its default export has.
    pub handlers: Vec<String>,
    pub code: Arc<ProjectCode>,
    pub vars: Json,
    pub bindings: Vec<EnvBinding>,
    /// The queues whose batches this Worker's `queue` handler receives.
    pub consumers: Vec<crate::config::QueueConsumerConfig>,
    /// Its cron triggers (`triggers.crons`): each firing calls the `scheduled` handler.
    pub crons: Vec<CronExpression>,
}

/// An HTTP request as the Worker sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// The full URL, `http://host/path?query`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Read whole before the handler runs; the handler sees it as bytes and as a stream.
    pub body: Bytes,
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ResponseBody,
}

#[derive(Debug)]
pub enum ResponseBody {
    /// The whole body, known when the handler's Response was read (a string, bytes, JSON).
    Full(Bytes),
    /// Chunks as the Worker's stream gives them; the channel closes at the end. Dropping the
    /// receiver cancels the stream.
    Stream(mpsc::Receiver<Result<Bytes, BodyStreamError>>),
}

/// A Worker's response stream failed after the response had started; the connection is cut.
#[derive(Debug, thiserror::Error)]
#[error("the Worker's response stream failed: {0}")]
pub struct BodyStreamError(String);

/// How many chunks may wait for the client before the stream is not pulled any further.
const CHUNKS_IN_FLIGHT: usize = 4;

/// How long `ctx.waitUntil` work may go on after the response; Cloudflare allows 30 seconds.
const WAIT_UNTIL_LIMIT: Duration = Duration::from_secs(30);

/// What Cloudflare says when a Worker invocation used more CPU than `limits.cpu_ms`.
pub const EXCEEDED_CPU: &str = "Worker exceeded CPU time limit.";

/// Why the `fetch` handler gave no response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// It threw, or returned something that is not a `Response`.
    #[error("{}: {}", .0.name, .0.message)]
    Threw(ErrorInfo),
    /// It used more CPU than `limits.cpu_ms` and was stopped.
    #[error("{EXCEEDED_CPU}")]
    ExceededCpu,
}

/// Calls the Worker's `fetch` handler with `request`. The answer comes as soon as the handler
/// has returned its Response; a streamed body follows chunk by chunk, and `ctx.waitUntil` work
/// goes on meanwhile and afterwards, in the same context, in a task of its own. All of it
/// together may use the Worker's CPU limit; past it the code is stopped.
pub async fn handle_fetch(
    worker: Arc<WorkerCode>,
    request: HttpRequest,
    bindings: Arc<dyn BindingHost>,
) -> Result<HttpResponse, FetchError> {
    handle_fetch_at(worker, None, request, bindings).await
}

/// [`handle_fetch`] at an entrypoint: the default export (`None`) or the `WorkerEntrypoint`
/// class exported under that name (a service binding's `entrypoint`).
pub async fn handle_fetch_at(
    worker: Arc<WorkerCode>,
    entrypoint: Option<String>,
    request: HttpRequest,
    bindings: Arc<dyn BindingHost>,
) -> Result<HttpResponse, FetchError> {
    let (answer, answered) = oneshot::channel();
    let watchdog = Watchdog::new(worker.code.cpu_limit());
    let stopped = watchdog.clone();
    threads::spawn_on_js_thread(&watchdog, async move {
        let Some((_runtime, context, answer)) =
            fresh_or_answer(&worker, &stopped, answer, |error| Err(FetchError::Threw(error))).await
        else {
            return;
        };
        let host_watchdog = stopped.clone();
        let handled = async_with!(context => |ctx| {
            let handled = async {
                let env = prepare(&ctx, &worker, bindings, &host_watchdog).await?;
                let js_request = build_request(&ctx, &request)?;
                let execution_context = execution_context(&ctx)?;
                let entrypoint = entrypoint.as_deref();
                let returned =
                    call_entrypoint(&ctx, &worker, entrypoint, env, "fetch", js_request, execution_context.clone())
                        .await?;
                Ok::<_, rquickjs::Error>((read_response(&ctx, returned)?, execution_context))
            };
            match handled.await.catch(&ctx) {
                Ok((JsResponse { status, headers, body: JsBody::Full(body) }, execution_context)) => {
                    let _ = answer.send(Ok(HttpResponse { status, headers, body: ResponseBody::Full(body) }));
                    let _ = tokio::time::timeout(WAIT_UNTIL_LIMIT, drain_wait_until(&execution_context)).await;
                }
                Ok((JsResponse { status, headers, body: JsBody::Stream(source) }, execution_context)) => {
                    let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
                    let _ = answer.send(Ok(HttpResponse { status, headers, body: ResponseBody::Stream(receiver) }));
                    let wait_until = tokio::time::timeout(WAIT_UNTIL_LIMIT, drain_wait_until(&execution_context));
                    let _ = tokio::join!(pump(&ctx, source, chunks), wait_until);
                }
                // Code the watchdog stopped ends with the stop's uncatchable error.
                Err(_) if host_watchdog.interruption().is_some() => {
                    let _ = answer.send(Err(FetchError::ExceededCpu));
                }
                Err(caught) => {
                    let _ = answer.send(Err(FetchError::Threw(error_info(&ctx, caught))));
                }
            }
        });
        // Leaving drops the answer (or ends the stream) unsent when the code was stopped.
        let _ = stopped.unless_interrupted(handled).await;
    });
    answered.await.unwrap_or_else(|_| {
        Err(match watchdog.interruption() {
            Some(_) => FetchError::ExceededCpu,
            None => FetchError::Threw(unanswered(&watchdog)),
        })
    })
}

/// Calls the Worker's `scheduled` handler as a cron trigger firing at `scheduled_time` (ms)
/// would.
pub async fn handle_scheduled(
    worker: &WorkerCode,
    cron: &str,
    scheduled_time: i64,
    bindings: Arc<dyn BindingHost>,
) -> Result<(), ErrorInfo> {
    let (worker, cron) = (worker.clone(), cron.to_owned());
    let handled = threads::on_js_thread(worker.code.cpu_limit(), move |watchdog| async move {
        let handled = scheduled_in_fresh_context(&worker, &cron, scheduled_time, bindings, &watchdog);
        stopped_or(&watchdog, handled).await
    });
    handled.await.unwrap_or_else(|| Err(ErrorInfo::new("Error", "the scheduled handler failed inside stepflare")))
}

async fn scheduled_in_fresh_context(
    worker: &WorkerCode,
    cron: &str,
    scheduled_time: i64,
    bindings: Arc<dyn BindingHost>,
    watchdog: &Watchdog,
) -> Result<(), ErrorInfo> {
    let (_runtime, context) = fresh_context(worker, watchdog).await?;
    async_with!(context => |ctx| {
        let handled = async {
            let env = prepare(&ctx, worker, bindings, watchdog).await?;
            let execution_context = execution_context(&ctx)?;
            let controller = Object::new(ctx.clone())?;
            controller.set("cron", cron)?;
            controller.set("scheduledTime", scheduled_time as f64)?;
            controller.set("type", "scheduled")?;
            controller.set("noRetry", rquickjs::prelude::Func::from(|| ()))?;
            call_handler(&ctx, worker, env, "scheduled", controller.into_value(), execution_context.clone()).await?;
            drain_wait_until(&execution_context).await
        };
        handled.await.catch(&ctx).map_err(|caught| error_info(&ctx, caught))
    })
    .await
}

/// Answers a service binding's `rpc` or `get` call (`call`, JSON text; see `stepflare:rpc`) on
/// the Worker's entrypoint (see [`handle_fetch_at`]), a `WorkerEntrypoint` class constructed in a
/// fresh context, as production does for each call. The answer is `{ok}` (the result as
/// structured clone text) or `{threw}`; `ctx.waitUntil` work goes on after it, as after a
/// response. An error is the host's: no such entrypoint, or the code was stopped.
pub async fn handle_rpc(
    worker: Arc<WorkerCode>,
    entrypoint: Option<String>,
    call: String,
    bindings: Arc<dyn BindingHost>,
) -> Result<Json, ErrorInfo> {
    let (answer, answered) = oneshot::channel();
    let watchdog = Watchdog::new(worker.code.cpu_limit());
    let stopped = watchdog.clone();
    threads::spawn_on_js_thread(&watchdog, async move {
        let Some((_runtime, context, answer)) = fresh_or_answer(&worker, &stopped, answer, Err).await else {
            return;
        };
        let host_watchdog = stopped.clone();
        let handled = async_with!(context => |ctx| {
            let handled = async {
                let env = prepare(&ctx, &worker, bindings, &host_watchdog).await?;
                let execution_context = execution_context(&ctx)?;
                let export = entrypoint_export(&ctx, &worker, entrypoint.as_deref()).await?;
                let Some(class) = export.as_constructor() else {
                    let message = "The RPC receiver is not a WorkerEntrypoint class: its methods cannot be called";
                    return Err(rquickjs::Exception::throw_type(&ctx, message));
                };
                let target: Object = class.construct((execution_context.clone(), env))?;
                let rpc: Object = Module::import(&ctx, RPC)?.into_future().await?;
                let answer_call: Function = rpc.get("answerEntrypointCall")?;
                let answered: Promise = answer_call.call((target, call.as_str()))?;
                let text: String = answered.into_future().await?;
                Ok::<_, rquickjs::Error>((text, execution_context))
            };
            match handled.await.catch(&ctx) {
                Ok((text, execution_context)) => {
                    let parsed = serde_json::from_str(&text).map_err(|e| ErrorInfo::new("Error", e.to_string()));
                    let _ = answer.send(parsed);
                    let _ = tokio::time::timeout(WAIT_UNTIL_LIMIT, drain_wait_until(&execution_context)).await;
                }
                Err(_) if host_watchdog.interruption().is_some() => {
                    let _ = answer.send(Err(ErrorInfo::new("Error", EXCEEDED_CPU)));
                }
                Err(caught) => {
                    let _ = answer.send(Err(error_info(&ctx, caught)));
                }
            }
        });
        let _ = stopped.unless_interrupted(handled).await;
    });
    answered.await.unwrap_or_else(|_| Err(unanswered(&watchdog)))
}

/// A fresh context of `worker` and the `answer` to send when the handler has answered; when no
/// context can be made, `answer` gets `failed(error)` and there is nothing to run.
async fn fresh_or_answer<T>(
    worker: &WorkerCode,
    watchdog: &Watchdog,
    answer: oneshot::Sender<T>,
    failed: impl FnOnce(ErrorInfo) -> T,
) -> Option<(AsyncRuntime, AsyncContext, oneshot::Sender<T>)> {
    match fresh_context(worker, watchdog).await {
        Ok((runtime, context)) => Some((runtime, context, answer)),
        Err(error) => {
            let _ = answer.send(failed(error));
            None
        }
    }
}

/// Why a handler's work ended without an answer: its code was stopped, or it went away.
fn unanswered(watchdog: &Watchdog) -> ErrorInfo {
    match watchdog.interruption() {
        Some(_) => ErrorInfo::new("Error", EXCEEDED_CPU),
        None => ErrorInfo::new("Error", "the Worker stopped without answering"),
    }
}

pub(super) async fn fresh_context(
    worker: &WorkerCode,
    watchdog: &Watchdog,
) -> Result<(AsyncRuntime, AsyncContext), ErrorInfo> {
    runtime::fresh_context(&worker.code, watchdog).await.map_err(|e| ErrorInfo::new("Error", e.to_string()))
}

/// A handler's result, or Cloudflare's error when the watchdog stopped it.
pub(super) async fn stopped_or<T>(
    watchdog: &Watchdog,
    handled: impl std::future::Future<Output = Result<T, ErrorInfo>>,
) -> Result<T, ErrorInfo> {
    watchdog.unless_interrupted(handled).await.unwrap_or_else(|_| Err(ErrorInfo::new("Error", EXCEEDED_CPU)))
}

/// Prepares a fresh context for the Worker; returns its `env`.
pub(super) async fn prepare<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    bindings: Arc<dyn BindingHost>,
    watchdog: &Watchdog,
) -> rquickjs::Result<Value<'js>> {
    let host = Arc::new(NoSteps(Some(bindings)));
    let (_, env) = prepare_context(ctx, &worker.code, host, watchdog, &worker.vars, &worker.bindings).await?;
    Ok(env)
}

/// Calls `handler` of the default export with `argument`: `new Class(ctx, env)[handler](argument)`
/// for a `WorkerEntrypoint`, `object[handler](argument, env, ctx)` for a plain object. Returns
/// what the handler settled to.
pub(super) async fn call_handler<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    env: Value<'js>,
    handler: &str,
    argument: Value<'js>,
    execution_context: Object<'js>,
) -> rquickjs::Result<Value<'js>> {
    call_entrypoint(ctx, worker, None, env, handler, argument, execution_context).await
}

/// The class exported as `entrypoint`, or the default export (`None`).
async fn entrypoint_export<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    entrypoint: Option<&str>,
) -> rquickjs::Result<Value<'js>> {
    let main = worker.code.main().display().to_string();
    let namespace: Object = Module::import(ctx, main.clone())?.into_future().await?;
    let Some(name) = entrypoint else {
        return namespace.get("default");
    };
    let export: Value = namespace.get(name)?;
    if !export.is_constructor() {
        let message =
            format!("Worker {:?} has no entrypoint named {name:?} ({main} exports no such class)", worker.name);
        return Err(rquickjs::Exception::throw_type(ctx, &message));
    }
    Ok(export)
}

/// [`call_handler`] at an entrypoint (see [`handle_fetch_at`]).
async fn call_entrypoint<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    entrypoint: Option<&str>,
    env: Value<'js>,
    handler: &str,
    argument: Value<'js>,
    execution_context: Object<'js>,
) -> rquickjs::Result<Value<'js>> {
    let default = entrypoint_export(ctx, worker, entrypoint).await?;
    let main = worker.code.main().display().to_string();
    let export = entrypoint.map_or_else(|| "the default export".to_owned(), |name| format!("the export {name:?}"));
    let missing = || rquickjs::Exception::throw_type(ctx, &format!("{export} of {main} has no {handler} handler"));
    let returned: Value = match default.as_constructor() {
        Some(class) => {
            let entrypoint: Object = class.construct((execution_context, env))?;
            let method: Function = entrypoint.get(handler).map_err(|_| missing())?;
            method.call((This(entrypoint), argument))?
        }
        None => {
            let handlers: Object = default.into_object().ok_or_else(missing)?;
            let method: Function = handlers.get(handler).map_err(|_| missing())?;
            method.call((This(handlers), argument, env, execution_context))?
        }
    };
    match returned.as_promise() {
        Some(promise) => promise.clone().into_future().await,
        None => Ok(returned),
    }
}

fn build_request<'js>(ctx: &Ctx<'js>, request: &HttpRequest) -> rquickjs::Result<Value<'js>> {
    let class: Constructor = ctx.globals().get("Request")?;
    let init = Object::new(ctx.clone())?;
    init.set("method", request.method.as_str())?;
    let headers = rquickjs::Array::new(ctx.clone())?;
    for (index, (name, value)) in request.headers.iter().enumerate() {
        let pair = rquickjs::Array::new(ctx.clone())?;
        pair.set(0, name.as_str())?;
        pair.set(1, value.as_str())?;
        headers.set(index, pair)?;
    }
    init.set("headers", headers)?;
    if !request.body.is_empty() && !matches!(request.method.as_str(), "GET" | "HEAD") {
        init.set("body", TypedArray::<u8>::new(ctx.clone(), request.body.to_vec())?)?;
    }
    class.construct((request.url.as_str(), init))
}

/// The handler's `Response` with its body still in the context.
struct JsResponse<'js> {
    status: u16,
    headers: Vec<(String, String)>,
    body: JsBody<'js>,
}

/// A Worker's response body as the host holds it.
enum JsBody<'js> {
    Full(Bytes),
    /// A source from `web.js`: `read()` settles to the next `Uint8Array`, or `null` at the end.
    Stream(Object<'js>),
}

/// The status, headers and body of the handler's `Response`.
fn read_response<'js>(ctx: &Ctx<'js>, response: Value<'js>) -> rquickjs::Result<JsResponse<'js>> {
    let class: Constructor = ctx.globals().get("Response")?;
    let Some(object) = response.as_object().filter(|o| o.is_instance_of(&class)).cloned() else {
        return Err(rquickjs::Exception::throw_type(ctx, "the fetch handler did not return a Response"));
    };
    let status: u16 = object.get("status")?;
    let headers_object: Object = object.get("headers")?;
    let entries: Function = headers_object.get("entries")?;
    let iterator: Object = entries.call((This(headers_object.clone()),))?;
    let next: Function = iterator.get("next")?;
    let mut headers = Vec::new();
    loop {
        let step: Object = next.call((This(iterator.clone()),))?;
        if step.get::<_, bool>("done")? {
            break;
        }
        let pair: rquickjs::Array = step.get("value")?;
        headers.push((pair.get::<String>(0)?, pair.get::<String>(1)?));
    }
    let web: Object = ctx.globals().get("__stepflare_web")?;
    let response_body: Function = web.get("responseBody")?;
    let body: Value = response_body.call((object,))?;
    let body = if body.is_null() || body.is_undefined() {
        JsBody::Full(Bytes::new())
    } else if let Some(text) = body.as_string() {
        JsBody::Full(Bytes::from(text.to_string()?))
    } else if let Some(bytes) =
        TypedArray::<u8>::from_value(body.clone()).ok().and_then(|b| b.as_bytes().map(Bytes::copy_from_slice))
    {
        JsBody::Full(bytes)
    } else {
        JsBody::Stream(body.into_object().ok_or_else(|| rquickjs::Exception::throw_type(ctx, "unreadable body"))?)
    };
    Ok(JsResponse { status, headers, body })
}

/// Pulls `source` and sends its chunks to the client until it ends, fails, or the client goes
/// away (which cancels the stream, as workerd does).
async fn pump<'js>(ctx: &Ctx<'js>, source: Object<'js>, chunks: mpsc::Sender<Result<Bytes, BodyStreamError>>) {
    let pulled = async {
        let read: Function = source.get("read")?;
        loop {
            let next: Promise = read.call(())?;
            let chunk = tokio::select! {
                _ = chunks.closed() => return Ok(false),
                chunk = next.into_future::<Value>() => chunk?,
            };
            let Some(array) = chunk.as_object().and_then(|_| TypedArray::<u8>::from_value(chunk.clone()).ok()) else {
                return Ok(true);
            };
            let bytes = Bytes::copy_from_slice(array.as_bytes().unwrap_or_default());
            if chunks.send(Ok(bytes)).await.is_err() {
                return Ok(false);
            }
        }
    };
    match pulled.await.catch(ctx) {
        Ok(true) => {}
        Ok(false) => {
            if let Ok(cancel) = source.get::<_, Function>("cancel") {
                let _ = cancel.call::<_, Value>(());
            }
        }
        Err(caught) => {
            let error = error_info(ctx, caught);
            tracing::error!(target: "worker", "the response stream failed with {}: {}", error.name, error.message);
            let _ = chunks.send(Err(BodyStreamError(format!("{}: {}", error.name, error.message)))).await;
        }
    }
}
