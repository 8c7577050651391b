//! The Worker itself: the entry module's default export (an object with `fetch`, or a
//! `WorkerEntrypoint` class) answering HTTP requests with `env` holding the vars and workflow
//! bindings. Each request gets a fresh context, like each workflow run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use rquickjs::function::{Constructor, This};
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, Ctx, Function, Module, Object, Value, async_with};
use serde_json::Value as Json;

use super::bindings::{BindingHost, EnvBinding};
use super::loader::ProjectCode;
use super::runtime::{self, NoSteps, drain_wait_until, error_info, execution_context, prepare_context};
use crate::cron::CronExpression;
use crate::store::ErrorInfo;

/// The Worker of a project: its code, vars and workflow bindings.
#[derive(Debug, Clone)]
pub struct WorkerCode {
    /// The Worker's `name` from its config (`worker` when it has none).
    pub name: String,
    /// Whether this Worker answers HTTP on the server's port (the first config's does).
    pub served: bool,
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
    /// Text bodies only, for now.
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// How long `ctx.waitUntil` work may go on after the response; Cloudflare allows 30 seconds.
const WAIT_UNTIL_LIMIT: Duration = Duration::from_secs(30);

/// Calls the Worker's `fetch` handler with `request`; a throw or a non-`Response` result comes
/// back as the error. The answer comes as soon as the Response is read; `ctx.waitUntil` work
/// goes on afterwards in the same context, in a task of its own.
pub async fn handle_fetch(
    worker: Arc<WorkerCode>,
    request: HttpRequest,
    bindings: Arc<dyn BindingHost>,
) -> Result<HttpResponse, ErrorInfo> {
    let (answer, answered) = oneshot::channel();
    tokio::spawn(async move {
        let (_runtime, context) = match fresh_context(&worker).await {
            Ok(fresh) => fresh,
            Err(error) => {
                let _ = answer.send(Err(error));
                return;
            }
        };
        async_with!(context => |ctx| {
            let handled = async {
                let env = prepare(&ctx, &worker, bindings).await?;
                let js_request = build_request(&ctx, &request)?;
                let execution_context = execution_context(&ctx)?;
                let returned = call_handler(&ctx, &worker, env, "fetch", js_request, execution_context.clone()).await?;
                Ok::<_, rquickjs::Error>((read_response(&ctx, returned).await?, execution_context))
            };
            match handled.await.catch(&ctx) {
                Ok((response, execution_context)) => {
                    let _ = answer.send(Ok(response));
                    let _ = tokio::time::timeout(WAIT_UNTIL_LIMIT, drain_wait_until(&execution_context)).await;
                }
                Err(caught) => {
                    let _ = answer.send(Err(error_info(&ctx, caught)));
                }
            }
        })
        .await;
    });
    answered.await.unwrap_or_else(|_| Err(ErrorInfo::new("Error", "the Worker stopped without answering")))
}

/// Calls the Worker's `scheduled` handler as a cron trigger firing at `scheduled_time` (ms)
/// would.
pub async fn handle_scheduled(
    worker: &WorkerCode,
    cron: &str,
    scheduled_time: i64,
    bindings: Arc<dyn BindingHost>,
) -> Result<(), ErrorInfo> {
    let (_runtime, context) = fresh_context(worker).await?;
    async_with!(context => |ctx| {
        let handled = async {
            let env = prepare(&ctx, worker, bindings).await?;
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

pub(super) async fn fresh_context(worker: &WorkerCode) -> Result<(AsyncRuntime, AsyncContext), ErrorInfo> {
    runtime::fresh_context(&worker.code).await.map_err(|e| ErrorInfo::new("Error", e.to_string()))
}

/// Prepares a fresh context for the Worker; returns its `env`.
pub(super) async fn prepare<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    bindings: Arc<dyn BindingHost>,
) -> rquickjs::Result<Value<'js>> {
    let (_, env) = prepare_context(ctx, Arc::new(NoSteps(Some(bindings))), &worker.vars, &worker.bindings).await?;
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
    let main = worker.code.main().display().to_string();
    let namespace: Object = Module::import(ctx, main.clone())?.into_future().await?;
    let default: Value = namespace.get("default")?;
    let missing =
        || rquickjs::Exception::throw_type(ctx, &format!("the default export of {main} has no {handler} handler"));
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
    if !request.body.is_empty() {
        init.set("body", request.body.as_str())?;
    }
    class.construct((request.url.as_str(), init))
}

async fn read_response<'js>(ctx: &Ctx<'js>, response: Value<'js>) -> rquickjs::Result<HttpResponse> {
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
    let text: Function = object.get("text")?;
    let body: rquickjs::Promise = text.call((This(object),))?;
    let body: String = body.into_future().await?;
    Ok(HttpResponse { status, headers, body })
}
