//! Outbound HTTP: the native half of `fetch`. `web.js` builds the `Request` and reads its body
//! whole; this side sends it with reqwest and hands back the status and headers, then the
//! response body chunk by chunk as it arrives. One cancellation token per exchange is what
//! `AbortSignal` and a cancelled body pull on.

use std::sync::{Arc, OnceLock};

use rquickjs::function::Constructor;
use rquickjs::prelude::{Async, Func, Opt};
use rquickjs::{Ctx, Exception, Object, TypedArray, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct OutboundRequest {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    /// `follow`, `manual` or `error`, as `Request.redirect`.
    redirect: String,
}

#[derive(Serialize)]
struct ResponseHead {
    status: u16,
    #[serde(rename = "statusText")]
    status_text: String,
    headers: Vec<(String, String)>,
    url: String,
    redirected: bool,
}

/// The response whose body is still being read, shared by `read` and `abort`.
type PendingBody = Arc<Mutex<Option<reqwest::Response>>>;

/// One client per redirect policy, shared by every run, so connections are reused.
fn client(follow_redirects: bool) -> &'static reqwest::Client {
    static FOLLOWING: OnceLock<reqwest::Client> = OnceLock::new();
    static STOPPING: OnceLock<reqwest::Client> = OnceLock::new();
    if follow_redirects {
        FOLLOWING.get_or_init(reqwest::Client::new)
    } else {
        STOPPING.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }
}

/// Installs `__stepflare_fetch(headJson, body) -> { response, read, abort }`: `response` settles
/// to the response head as JSON (or rejects with a `TypeError`), `read()` to the next body chunk
/// as a `Uint8Array` or `null` at the end, and `abort()` stops the exchange wherever it is.
pub fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    ctx.globals().set("__stepflare_fetch", Func::from(start))
}

fn start<'js>(ctx: Ctx<'js>, head: String, body: Opt<Value<'js>>) -> rquickjs::Result<Object<'js>> {
    let request: OutboundRequest =
        serde_json::from_str(&head).map_err(|e| Exception::throw_type(&ctx, &format!("fetch: {e}")))?;
    let body = match body.0 {
        Some(value) => request_body(&ctx, value)?,
        None => None,
    };
    let token = CancellationToken::new();
    let pending = PendingBody::default();
    let (response, resolve, reject) = ctx.promise()?;
    let exchange = Object::new(ctx.clone())?;
    exchange.set("response", response)?;
    {
        let (ctx, token, pending) = (ctx.clone(), token.clone(), pending.clone());
        ctx.clone().spawn(async move {
            let sent = tokio::select! {
                _ = token.cancelled() => return,
                sent = send(request, body) => sent,
            };
            let settled = match sent {
                Ok((head, response)) => {
                    *pending.lock().await = Some(response);
                    resolve.call::<_, ()>((serde_json::to_string(&head).unwrap_or_default(),))
                }
                Err(message) => type_error(&ctx, &message).and_then(|error| reject.call::<_, ()>((error,))),
            };
            if let Err(error) = settled {
                tracing::debug!("settling a fetch failed: {error}");
            }
        });
    }
    let (read_token, read_pending) = (token.clone(), pending.clone());
    exchange.set(
        "read",
        Func::from(Async(move |ctx: Ctx<'js>| {
            let (token, pending) = (read_token.clone(), read_pending.clone());
            async move { read_chunk(ctx, token, pending).await }
        })),
    )?;
    exchange.set(
        "abort",
        Func::from(move || {
            token.cancel();
            if let Ok(mut pending) = pending.try_lock() {
                pending.take();
            }
        }),
    )?;
    Ok(exchange)
}

/// A body from `web.js`: a string or a `Uint8Array`.
fn request_body<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> rquickjs::Result<Option<Vec<u8>>> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    if let Some(text) = value.as_string() {
        return Ok(Some(text.to_string()?.into_bytes()));
    }
    match TypedArray::<u8>::from_value(value).ok().and_then(|bytes| bytes.as_bytes().map(<[u8]>::to_vec)) {
        Some(bytes) => Ok(Some(bytes)),
        None => Err(Exception::throw_type(ctx, "fetch: the body must be a string or a Uint8Array")),
    }
}

async fn read_chunk<'js>(
    ctx: Ctx<'js>,
    token: CancellationToken,
    pending: PendingBody,
) -> rquickjs::Result<Value<'js>> {
    let mut pending = pending.lock().await;
    let Some(response) = pending.as_mut() else {
        return Ok(Value::new_null(ctx));
    };
    let chunk = tokio::select! {
        _ = token.cancelled() => {
            pending.take();
            return Ok(Value::new_null(ctx));
        }
        chunk = response.chunk() => chunk,
    };
    match chunk {
        Ok(Some(bytes)) => Ok(TypedArray::<u8>::new(ctx, bytes.to_vec())?.into_value()),
        Ok(None) => {
            pending.take();
            Ok(Value::new_null(ctx))
        }
        Err(error) => {
            pending.take();
            Err(Exception::throw_type(&ctx, &format!("fetch failed while reading the body: {error}")))
        }
    }
}

fn type_error<'js>(ctx: &Ctx<'js>, message: &str) -> rquickjs::Result<Value<'js>> {
    let class: Constructor = ctx.globals().get("TypeError")?;
    class.construct((message,))
}

async fn send(request: OutboundRequest, body: Option<Vec<u8>>) -> Result<(ResponseHead, reqwest::Response), String> {
    let url = reqwest::Url::parse(&request.url).map_err(|e| format!("Invalid URL {:?}: {e}", request.url))?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("Invalid HTTP method {:?}", request.method))?;
    let mut builder = client(request.redirect == "follow").request(method, url.clone());
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    let response = builder.send().await.map_err(|e| format!("fetch failed: {e}"))?;
    let status = response.status();
    if request.redirect == "error" && status.is_redirection() {
        return Err(format!("fetch failed: {} redirected, and the redirect mode is \"error\"", request.url));
    }
    let head = ResponseHead {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or_default().to_owned(),
        headers: response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        url: response.url().to_string(),
        redirected: response.url() != &url,
    };
    Ok((head, response))
}
