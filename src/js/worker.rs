//! The Worker itself: the entry module's default export (an object with `fetch`, or a
//! `WorkerEntrypoint` class) answering HTTP requests with `env` holding the vars and workflow
//! bindings. Each request gets a fresh context, like each workflow run.

use std::sync::Arc;

use rquickjs::function::{Constructor, This};
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, Ctx, Function, Module, Object, Value, async_with};
use serde_json::Value as Json;

use super::bindings::{BindingHost, WorkflowBinding};
use super::loader::{ProjectCode, ProjectLoader, ProjectResolver};
use super::runtime::{NoSteps, error_info, execution_context, prepare_context};
use crate::store::ErrorInfo;

/// The Worker of a project: its code, vars and workflow bindings.
#[derive(Debug, Clone)]
pub struct WorkerCode {
    pub code: Arc<ProjectCode>,
    pub vars: Json,
    pub bindings: Vec<WorkflowBinding>,
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

/// Calls the Worker's `fetch` handler with `request`; a throw or a non-`Response` result comes
/// back as the error.
pub async fn handle_fetch(
    worker: &WorkerCode,
    request: HttpRequest,
    bindings: Arc<dyn BindingHost>,
) -> Result<HttpResponse, ErrorInfo> {
    let setup = async {
        let runtime = AsyncRuntime::new()?;
        runtime.set_loader(ProjectResolver, ProjectLoader { code: worker.code.clone() }).await;
        let context = AsyncContext::full(&runtime).await?;
        Ok::<_, rquickjs::Error>((runtime, context))
    };
    let (_runtime, context) = setup.await.map_err(|e| ErrorInfo::new("Error", e.to_string()))?;
    async_with!(context => |ctx| {
        call_fetch(&ctx, worker, &request, bindings).await.catch(&ctx).map_err(|caught| error_info(&ctx, caught))
    })
    .await
}

async fn call_fetch<'js>(
    ctx: &Ctx<'js>,
    worker: &WorkerCode,
    request: &HttpRequest,
    bindings: Arc<dyn BindingHost>,
) -> rquickjs::Result<HttpResponse> {
    let (_, env) = prepare_context(ctx, Arc::new(NoSteps(Some(bindings))), &worker.vars, &worker.bindings).await?;
    let main = worker.code.main().display().to_string();
    let namespace: Object = Module::import(ctx, main.clone())?.into_future().await?;
    let default: Value = namespace.get("default")?;
    let js_request = build_request(ctx, request)?;
    let returned: Value = match default.as_constructor() {
        // A `WorkerEntrypoint` class: constructed per request with (ctx, env).
        Some(class) => {
            let entrypoint: Object = class.construct((execution_context(ctx)?, env))?;
            let fetch: Function = entrypoint.get("fetch")?;
            fetch.call((This(entrypoint), js_request))?
        }
        None => {
            let handlers: Object = default
                .into_object()
                .ok_or_else(|| rquickjs::Exception::throw_type(ctx, &format!("{main} has no default export")))?;
            let fetch: Function = handlers.get("fetch").map_err(|_| {
                rquickjs::Exception::throw_type(ctx, &format!("the default export of {main} has no fetch handler"))
            })?;
            fetch.call((This(handlers), js_request, env, execution_context(ctx)?))?
        }
    };
    let response: Value = match returned.as_promise() {
        Some(promise) => promise.clone().into_future().await?,
        None => returned,
    };
    read_response(ctx, response).await
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
