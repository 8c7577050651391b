//! The HTTP client behind `stepflare workflows`: where the server is (`--url`, `--account-id`,
//! `--api-token`), how a resource path becomes a URL under `{url}/client/v4/accounts/{account}`,
//! and how Cloudflare's v4 envelope turns into its `result` or into an error that names each of
//! its `errors`.

use std::fmt::Write as _;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// Where the `stepflare dev` server is and who we say we are. Global, so the flags may come after
/// any `workflows` subcommand, as with wrangler.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Base URL of the running `stepflare dev`.
    #[arg(
        long,
        global = true,
        env = "STEPFLARE_URL",
        default_value = "http://127.0.0.1:8787",
        help_heading = "Server"
    )]
    pub url: String,
    /// Account id used in API paths (stepflare accepts any).
    #[arg(long, global = true, env = "CLOUDFLARE_ACCOUNT_ID", default_value = "local", help_heading = "Server")]
    pub account_id: String,
    /// API token, sent as `Authorization: Bearer <token>`; needed when `stepflare dev` was
    /// started with `--api-token`.
    #[arg(long, global = true, env = "CLOUDFLARE_API_TOKEN", hide_env_values = true, help_heading = "Server")]
    pub api_token: Option<String>,
}

/// Everything that can go wrong between sending a request and holding its `result`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--url {url:?} is not a usable http(s) base URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("no stepflare server at {server}: start one with `stepflare dev`")]
    NoServer { server: String },
    #[error("{method} {url} failed")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("a malformed response to {method} {url} (HTTP {status}): {problem}")]
    Malformed { method: Method, url: String, status: u16, problem: String },
    #[error("the server refused {method} {url} (HTTP {status})\n{}", refusal_lines(.errors, .messages))]
    Refused { method: Method, url: String, status: u16, errors: Vec<ApiMessage>, messages: Vec<ApiMessage> },
}

/// One `{code, message}` item of an envelope's `errors` or `messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiMessage {
    pub code: Option<i64>,
    pub message: String,
}

impl ApiMessage {
    /// Reads an item leniently: Cloudflare's `messages` are sometimes bare strings.
    fn from_json(item: &Value) -> ApiMessage {
        match item {
            Value::String(text) => ApiMessage { code: None, message: text.clone() },
            Value::Object(fields) => ApiMessage {
                code: fields.get("code").and_then(Value::as_i64),
                message: match fields.get("message") {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => item.to_string(),
                },
            },
            other => ApiMessage { code: None, message: other.to_string() },
        }
    }

    fn list(value: Option<&Value>) -> Vec<ApiMessage> {
        value
            .and_then(Value::as_array)
            .map(|items| items.iter().map(ApiMessage::from_json).collect())
            .unwrap_or_default()
    }
}

/// `error <code>: <message>` for each error, then each message as a note.
fn refusal_lines(errors: &[ApiMessage], messages: &[ApiMessage]) -> String {
    let mut text = String::new();
    if errors.is_empty() {
        text.push_str("error: the response gave no reason");
    }
    for (i, error) in errors.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        match error.code {
            Some(code) => {
                let _ = write!(text, "error {code}: {}", error.message);
            }
            None => {
                let _ = write!(text, "error: {}", error.message);
            }
        }
    }
    for message in messages {
        let _ = write!(text, "\nnote: {}", message.message);
    }
    text
}

/// A successful envelope, unwrapped.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub result: Value,
    pub result_info: Option<Value>,
}

impl ApiResponse {
    /// `result_info.cursor` when there is a next page (wrangler's `hasCursor`).
    pub fn next_cursor(&self) -> Option<&str> {
        self.result_info.as_ref()?.get("cursor")?.as_str().filter(|cursor| !cursor.is_empty())
    }
}

/// A client of one server's v4 API, rooted at `{url}/client/v4/accounts/{account_id}`.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The `--url` as given, for messages.
    server: String,
    /// The `--url` as a base for stepflare's own routes, which live outside the account.
    server_root: Url,
    account_root: Url,
    api_token: Option<String>,
}

/// How long a connection attempt may take; loopback answers at once, so this only bounds a
/// `--url` that points somewhere unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take. Terminate and restart wait for the running step to stop,
/// which can take a while on a busy machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an event stream may stay open: as good as for ever.
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

impl ApiClient {
    /// Checks the base URL and builds the client; sends nothing.
    pub fn new(connection: &ConnectionArgs) -> Result<ApiClient, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl { url: connection.url.clone(), reason: reason.to_owned() };
        let mut account_root = Url::parse(&connection.url).map_err(|error| invalid(&error.to_string()))?;
        if !matches!(account_root.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        account_root.set_query(None);
        account_root.set_fragment(None);
        account_root.path_segments_mut().map_err(|()| invalid("it cannot have a path"))?.pop_if_empty();
        let server_root = account_root.clone();
        account_root.path_segments_mut().map_err(|()| invalid("it cannot have a path"))?.pop_if_empty().extend([
            "client",
            "v4",
            "accounts",
            connection.account_id.as_str(),
        ]);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("stepflare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| invalid(&error.to_string()))?;
        Ok(ApiClient {
            http,
            server: connection.url.trim_end_matches('/').to_owned(),
            server_root,
            account_root,
            api_token: connection.api_token.clone(),
        })
    }

    /// The URL of `resource` (path segments under the account, each percent-encoded; a final
    /// empty segment makes a trailing slash) with `query` appended.
    pub fn url(&self, resource: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.account_root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(resource);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        url
    }

    /// The URL of one of stepflare's own routes (path segments under the server, not the account).
    pub fn server_url(&self, path: &[&str]) -> Url {
        let mut url = self.server_root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(path);
        }
        url
    }

    /// POSTs `body` as JSON to one of stepflare's own routes; it answers in the same envelope.
    pub async fn post_to_server(&self, path: &[&str], body: &Value) -> Result<ApiResponse, ClientError> {
        self.send(Method::POST, self.server_url(path), Some(body.to_string())).await
    }

    pub async fn get(&self, resource: &[&str], query: &[(&str, String)]) -> Result<ApiResponse, ClientError> {
        self.send(Method::GET, self.url(resource, query), None).await
    }

    pub async fn delete(&self, resource: &[&str]) -> Result<ApiResponse, ClientError> {
        self.send(Method::DELETE, self.url(resource, &[]), None).await
    }

    /// Sends `body` as JSON.
    pub async fn send_json(&self, method: Method, resource: &[&str], body: &Value) -> Result<ApiResponse, ClientError> {
        self.send(method, self.url(resource, &[]), Some(body.to_string())).await
    }

    /// Sends `body` unchanged with a JSON content type; the caller has checked that it parses.
    pub async fn send_text(&self, method: Method, resource: &[&str], body: String) -> Result<ApiResponse, ClientError> {
        self.send(method, self.url(resource, &[]), Some(body)).await
    }

    /// Opens the `text/event-stream` at `resource` and hands the `data` of each message to
    /// `each` as it comes, until the server ends the stream. A refusal (a 4xx in the envelope)
    /// is the usual error; a message of type `error` ends the stream with its text.
    pub async fn stream_events(
        &self,
        resource: &[&str],
        query: &[(&str, String)],
        mut each: impl FnMut(&str),
    ) -> Result<(), ClientError> {
        let url = self.url(resource, query);
        let method = Method::GET;
        // A stream lasts as long as what it follows: no overall deadline.
        let mut request = self.http.get(url.clone()).timeout(STREAM_TIMEOUT);
        if let Some(token) = &self.api_token {
            request = request.bearer_auth(token);
        }
        let transport = |source: reqwest::Error| {
            if source.is_connect() {
                ClientError::NoServer { server: self.server.clone() }
            } else {
                ClientError::Transport { method: method.clone(), url: url.to_string(), source }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return unwrap_envelope(&method, &url, status, &bytes).map(|_| ());
        }
        let mut pending = String::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let message: String = pending.drain(..end + 2).collect();
                let (kind, data) = sse_message(&message);
                if kind == Some("error") {
                    return Err(ClientError::Malformed {
                        method: method.clone(),
                        url: url.to_string(),
                        status: status.as_u16(),
                        problem: format!("the stream ended with an error: {data}"),
                    });
                }
                if !data.is_empty() {
                    each(&data);
                }
            }
        }
        Ok(())
    }

    async fn send(&self, method: Method, url: Url, body: Option<String>) -> Result<ApiResponse, ClientError> {
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.api_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let transport = |source: reqwest::Error| {
            if source.is_connect() {
                ClientError::NoServer { server: self.server.clone() }
            } else {
                ClientError::Transport { method: method.clone(), url: url.to_string(), source }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        unwrap_envelope(&method, &url, status, &bytes)
    }
}

/// Turns a response into its `result`, as wrangler's `fetchResult` does: an empty 204/205 is a
/// success without a result; anything that is not a JSON envelope is malformed; `success: false`
/// is an error carrying the envelope's `errors` and `messages`.
fn unwrap_envelope(method: &Method, url: &Url, status: StatusCode, body: &[u8]) -> Result<ApiResponse, ClientError> {
    let malformed = |problem: String| ClientError::Malformed {
        method: method.clone(),
        url: url.to_string(),
        status: status.as_u16(),
        problem,
    };
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if empty && matches!(status, StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT) {
        return Ok(ApiResponse { result: Value::Null, result_info: None });
    }
    if empty {
        return Err(malformed("the body is empty".to_owned()));
    }
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| malformed(format!("the body is not JSON: {}", excerpt(&String::from_utf8_lossy(body)))))?;
    match envelope.get("success") {
        Some(Value::Bool(true)) => Ok(ApiResponse {
            result: envelope.get("result").cloned().unwrap_or(Value::Null),
            result_info: envelope.get("result_info").filter(|info| !info.is_null()).cloned(),
        }),
        Some(Value::Bool(false)) => Err(ClientError::Refused {
            method: method.clone(),
            url: url.to_string(),
            status: status.as_u16(),
            errors: ApiMessage::list(envelope.get("errors")),
            messages: ApiMessage::list(envelope.get("messages")),
        }),
        _ => Err(malformed(format!("not a v4 envelope (no boolean `success`): {}", excerpt(&envelope.to_string())))),
    }
}

/// One server-sent event's `event` field and its `data` lines joined; comments and `id` are
/// left out.
fn sse_message(message: &str) -> (Option<&str>, String) {
    let mut kind = None;
    let mut data = Vec::new();
    for line in message.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => kind = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    (kind, data.join("\n"))
}

/// The start of a body, enough to recognise it in an error message.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_sent_events_are_read_by_field() {
        assert_eq!(sse_message("id: 3\ndata: {\"a\":1}\n"), (None, "{\"a\":1}".to_owned()));
        assert_eq!(sse_message(":\n"), (None, String::new()));
        assert_eq!(sse_message("event: error\ndata: gone\n"), (Some("error"), "gone".to_owned()));
        assert_eq!(sse_message("data:x\ndata: y\n"), (None, "x\ny".to_owned()));
    }

    fn client(url: &str) -> Result<ApiClient, ClientError> {
        ApiClient::new(&ConnectionArgs { url: url.to_owned(), account_id: "acct".to_owned(), api_token: None })
    }

    #[test]
    fn urls_are_rooted_at_the_account_and_percent_encode_segments() {
        let api = client("http://127.0.0.1:8787").unwrap();
        assert_eq!(
            api.url(&["workflows", "a b", "instances", ""], &[]).as_str(),
            "http://127.0.0.1:8787/client/v4/accounts/acct/workflows/a%20b/instances/"
        );
        let api = client("http://localhost:1/prefix/").unwrap();
        assert_eq!(
            api.url(&["workflows"], &[("page", "2".to_owned()), ("per_page", "5".to_owned())]).as_str(),
            "http://localhost:1/prefix/client/v4/accounts/acct/workflows?page=2&per_page=5"
        );
        assert_eq!(
            api.server_url(&["cdn-cgi", "stepflare", "workflows", "w", "schedules", "trigger"]).as_str(),
            "http://localhost:1/prefix/cdn-cgi/stepflare/workflows/w/schedules/trigger"
        );
    }

    #[test]
    fn a_base_url_must_be_http() {
        assert!(matches!(client("ftp://example.com"), Err(ClientError::InvalidUrl { .. })));
        assert!(matches!(client("not a url"), Err(ClientError::InvalidUrl { .. })));
    }

    fn unwrap(status: u16, body: &str) -> Result<ApiResponse, ClientError> {
        let url = Url::parse("http://127.0.0.1/x").unwrap();
        unwrap_envelope(&Method::GET, &url, StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn envelopes_unwrap_into_results_or_errors() {
        let ok = unwrap(200, r#"{"success":true,"errors":[],"messages":[],"result":[1],"result_info":{"cursor":"c"}}"#)
            .unwrap();
        assert_eq!(ok.result, json!([1]));
        assert_eq!(ok.next_cursor(), Some("c"));
        assert!(unwrap(204, "").unwrap().result.is_null());

        let refused =
            unwrap(404, r#"{"success":false,"errors":[{"code":10200,"message":"nope"}],"messages":["hint"]}"#)
                .unwrap_err()
                .to_string();
        assert!(refused.ends_with("\nerror 10200: nope\nnote: hint"), "{refused}");

        assert!(matches!(unwrap(200, "<html>"), Err(ClientError::Malformed { .. })));
        assert!(matches!(unwrap(200, r#"{"result":1}"#), Err(ClientError::Malformed { .. })));
        assert!(matches!(unwrap(500, ""), Err(ClientError::Malformed { .. })));
    }

    #[test]
    fn an_empty_cursor_means_no_next_page() {
        let page = ApiResponse { result: json!([]), result_info: Some(json!({ "cursor": "" })) };
        assert_eq!(page.next_cursor(), None);
    }
}
