//! Everything outside the reserved API routes goes to the project's Worker: its `fetch` handler
//! answers, with `env` holding the vars and workflow bindings. A throw is logged and answered
//! with a 500; the server keeps serving.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body_timeout::stalled;
use super::envelope::{ApiError, codes};
use crate::js::{self, FetchError, HttpRequest, ResponseBody};

/// Bodies a Worker receives are read whole; 100 MiB is Cloudflare's request limit on paid plans.
const MAX_BODY_BYTES: usize = 100 << 20;

pub async fn fetch(State(state): State<AppState>, request: Request) -> Response {
    let Some(worker) = state.workers.served() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            codes::ROUTE_NOT_FOUND,
            "No route for that URI (the project has no Worker fetch handler)",
        )
        .into_response();
    };
    let (parts, body) = request.into_parts();
    // A body declared too large is refused before any of it is read.
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        let message =
            format!("the request body is {} bytes; a Worker takes at most {MAX_BODY_BYTES}", declared.unwrap_or(0));
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    }
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
    let url = format!("http://{host}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return body_read_error(&error),
    };
    let request = HttpRequest { method: parts.method.to_string(), url, headers, body };
    match js::handle_fetch(worker, request, Arc::new(state.engine.clone())).await {
        Ok(response) => {
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            for (name, value) in &response.headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
                {
                    builder = builder.header(name, value);
                }
            }
            builder
                .body(response_body(response.body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Err(error) => {
            let (status, what) = match error {
                FetchError::Threw(_) => (StatusCode::INTERNAL_SERVER_ERROR, "threw"),
                // Cloudflare answers 503 (its error 1102) when a Worker runs out of CPU.
                FetchError::ExceededCpu => (StatusCode::SERVICE_UNAVAILABLE, "was stopped:"),
            };
            tracing::error!(target: "worker", "the fetch handler {what} {error}");
            let page = format!("{error}\n");
            (status, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], page).into_response()
        }
    }
}

/// A body that could not be read whole: it stalled (408) or it is over the limit (413).
fn body_read_error(error: &axum::Error) -> Response {
    let status = if stalled(error).is_some() { StatusCode::REQUEST_TIMEOUT } else { StatusCode::PAYLOAD_TOO_LARGE };
    (status, format!("{error}\n")).into_response()
}

/// A streamed body ends when the Worker's stream does; a failed stream cuts the connection.
fn response_body(body: ResponseBody) -> Body {
    match body {
        ResponseBody::Full(bytes) => Body::from(bytes),
        ResponseBody::Stream(chunks) => {
            Body::from_stream(futures_util::stream::unfold(chunks, |mut chunks| async move {
                chunks.recv().await.map(|chunk| (chunk, chunks))
            }))
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ScheduledQuery {
    cron: Option<String>,
    time: Option<i64>,
}

/// `GET /cdn-cgi/handler/scheduled?cron=…&time=…`: runs the Worker's `scheduled` handler now, as
/// `wrangler dev` does for testing cron triggers. `time` may be seconds or milliseconds.
pub async fn scheduled(
    State(state): State<AppState>,
    super::extract::ApiQuery(query): super::extract::ApiQuery<ScheduledQuery>,
) -> Response {
    let Some(worker) = state.workers.served() else {
        return (StatusCode::NOT_FOUND, "the project has no Worker\n").into_response();
    };
    // Cloudflare's own examples pass seconds; anything this small cannot be milliseconds of now.
    let scheduled_time = match query.time {
        Some(time) if time < 100_000_000_000 => time * 1000,
        Some(time) => time,
        None => state.engine.now_ms(),
    };
    let cron = query.cron.unwrap_or_default();
    match js::handle_scheduled(&worker, &cron, scheduled_time, Arc::new(state.engine.clone())).await {
        Ok(()) => (StatusCode::OK, "Ran scheduled event").into_response(),
        Err(error) => {
            tracing::error!(target: "worker", "the scheduled handler threw {}: {}", error.name, error.message);
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {}\n", error.name, error.message)).into_response()
        }
    }
}
