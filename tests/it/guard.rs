//! The control routes (the v4 API, the Local Explorer API, `/cdn-cgi/stepflare/…` and
//! `/cdn-cgi/handler/…`) answer only loopback host names, refuse state changes from another
//! site's page, and take `--api-token` on every one of them; the Worker's own routes answer
//! whatever the host; serving a non-loopback address needs a token; and a Worker request that
//! declares a body over the limit is refused before the body comes.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// A request to `server` with the given `Host`, `Origin` and bearer token.
async fn send(
    server: &Server,
    method: Method,
    path: &str,
    host: Option<&str>,
    origin: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base()));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = path.contains("/instances").then_some(r#"{"params":{}}"#) {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.expect("send a request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// One route of each kind of control route.
fn control_routes() -> Vec<(Method, String)> {
    let account = format!("/client/v4/accounts/{ACCOUNT}/workflows");
    vec![
        (Method::GET, account.clone()),
        (Method::POST, format!("{account}/recovers/instances")),
        (Method::GET, "/cdn-cgi/local/explorer/api/workflows".to_owned()),
        (Method::POST, "/cdn-cgi/local/explorer/api/workflows/recovers/instances".to_owned()),
        (Method::POST, "/cdn-cgi/stepflare/workflows/recovers/schedules/trigger".to_owned()),
        (Method::GET, "/cdn-cgi/handler/scheduled".to_owned()),
    ]
}

async fn instance_count(server: &Server) -> usize {
    let (status, body) = send(
        server,
        Method::GET,
        &format!("/client/v4/accounts/{ACCOUNT}/workflows/recovers/instances"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    body["result"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn control_routes_refuse_a_host_that_is_not_loopback_and_the_worker_still_answers_it() {
    let server = Server::start("basic");
    for (method, path) in control_routes() {
        let (status, body) = send(&server, method.clone(), &path, Some("evil.example"), None, None).await;
        assert_eq!(status, 403, "{method} {path}: {body:#}");
        assert_eq!(body["errors"][0]["code"], 10000, "{method} {path}: {body:#}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("evil.example"), "{body:#}");
        for host in ["localhost", "127.0.0.1", "api.localhost"] {
            let (status, body) = send(&server, method.clone(), &path, Some(host), None, None).await;
            assert_ne!(status, 403, "{method} {path} with Host {host}: {body:#}");
        }
    }
    // Two create routes, each accepted under three loopback names; none under the foreign one.
    assert_eq!(instance_count(&server).await, 6);
    let (status, body) = send(&server, Method::GET, "/", Some("evil.example"), None, None).await;
    assert_eq!((status, body), (200, Value::String("ok".into())), "the Worker's own route");
}

#[tokio::test]
async fn a_page_of_another_site_cannot_change_state_but_a_loopback_page_can() {
    let server = Server::start("basic");
    let create = format!("/client/v4/accounts/{ACCOUNT}/workflows/recovers/instances");
    for origin in ["https://evil.example", "null", "http://127.0.0.1.evil.example"] {
        let (status, body) = send(&server, Method::POST, &create, None, Some(origin), None).await;
        assert_eq!(status, 403, "Origin {origin}: {body:#}");
    }
    let delete = format!("/client/v4/accounts/{ACCOUNT}/workflows/recovers");
    let (status, _) = send(&server, Method::DELETE, &delete, None, Some("https://evil.example"), None).await;
    assert_eq!(status, 403);
    assert_eq!(instance_count(&server).await, 0, "a refused request changes nothing");
    let (status, body) = send(&server, Method::POST, &create, None, Some("http://localhost:3000"), None).await;
    assert_eq!(status, 200, "{body:#}");
    let (status, _) = send(&server, Method::GET, &create, None, Some("https://evil.example"), None).await;
    assert_eq!(status, 200, "a read with a loopback host is no state change");
}

#[tokio::test]
async fn the_api_token_covers_every_control_route_and_not_the_worker() {
    let dir = tempfile::tempdir().expect("a state folder");
    let server = Server::start_with("basic", dir.path(), &["--api-token", "s3cret"]);
    for (method, path) in control_routes() {
        let (status, body) = send(&server, method.clone(), &path, None, None, None).await;
        assert_eq!(status, 401, "{method} {path} without the token: {body:#}");
        let (status, _) = send(&server, method.clone(), &path, None, None, Some("wrong")).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        let (status, body) = send(&server, method.clone(), &path, None, None, Some("s3cret")).await;
        assert!(status != 401 && status != 403, "{method} {path} with the token: {status} {body:#}");
    }
    let (status, _) = send(&server, Method::GET, "/", None, None, None).await;
    assert_eq!(status, 200, "the Worker's own route needs no token");
}

#[test]
fn serving_every_interface_without_a_token_is_refused_with_how_to_allow_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .args(["dev", "--in-memory", "--port", "0", "--ip", "0.0.0.0", "--config"])
        .arg(fixture_dir("basic"))
        .env_remove("STEPFLARE_API_TOKEN")
        .output()
        .expect("run stepflare");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--ip 0.0.0.0") && stderr.contains("--api-token"), "{stderr}");
}

#[test]
fn a_worker_request_that_declares_too_large_a_body_is_refused_before_it_is_sent() {
    use std::io::{Read, Write};
    let server = Server::start("basic");
    let host = server.base().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&host).expect("connect");
    // 200 MiB declared, none of it sent: the answer must not wait for the body.
    let head = format!("POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n", 200u64 << 20);
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).expect("an answer before the body");
    assert_eq!(&answer, b"HTTP/1.1 413");
}
