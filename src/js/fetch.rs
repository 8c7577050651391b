//! Outbound HTTP for workflow code: the native half of `fetch`. The JS half (in the prelude)
//! builds `Headers` and `Response`; this side sends one request with reqwest and returns the
//! status, headers and body text. Text bodies only, for now: the full web platform (streams,
//! binary bodies, `Request` objects) belongs with running the Worker itself.

use std::sync::OnceLock;

use rquickjs::prelude::{Async, Func};
use rquickjs::{Ctx, Exception};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct OutboundRequest {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

#[derive(Serialize)]
struct InboundResponse {
    status: u16,
    #[serde(rename = "statusText")]
    status_text: String,
    headers: Vec<(String, String)>,
    body: String,
    url: String,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// Installs `__stepflare_fetch(requestJson) -> Promise<responseJson>`.
pub fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    ctx.globals().set(
        "__stepflare_fetch",
        Func::from(Async(move |ctx: Ctx<'js>, request: String| async move {
            let request: OutboundRequest =
                serde_json::from_str(&request).map_err(|e| Exception::throw_type(&ctx, &format!("fetch: {e}")))?;
            match send(request).await {
                Ok(response) => Ok(serde_json::to_string(&response).unwrap_or_default()),
                Err(message) => Err(Exception::throw_type(&ctx, &format!("fetch failed: {message}"))),
            }
        })),
    )
}

async fn send(request: OutboundRequest) -> Result<InboundResponse, String> {
    let method =
        reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = client().request(method, &request.url);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let response = builder.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let url = response.url().to_string();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(InboundResponse {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or_default().to_owned(),
        headers,
        body,
        url,
    })
}
