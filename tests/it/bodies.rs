//! Bodies and outbound fetch in the Worker (`fixtures/worker/src/bodies.ts`): binary bodies both
//! ways, responses streamed chunk by chunk, `fetch` to a server in this test process (from the
//! Worker and from a workflow step), redirects, aborts, and the Body API.

use std::convert::Infallible;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use futures_util::StreamExt;
use serde_json::json;

use crate::support::*;

fn all_byte_values() -> Vec<u8> {
    (0..=255).collect()
}

/// A server in the test process for the Worker to call; returns its `http://127.0.0.1:PORT`.
async fn upstream() -> String {
    let app = Router::new()
        .route("/reverse", post(reverse))
        .route("/echo", put(|body: String| async move { format!("echo: {body}") }))
        .route("/redirect", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/target")]) }))
        .route("/target", get(|| async { "arrived" }))
        .route("/hang", get(std::future::pending::<String>))
        .route("/slow-body", get(slow_body));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the upstream server");
    let base = format!("http://{}", listener.local_addr().expect("the upstream address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Answers 201 with the body reversed, and says in `x-upstream` who called.
async fn reverse(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let caller = ["x-from-worker", "x-from-step"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|value| value.to_str().ok())
        .unwrap_or("nobody")
        .to_owned();
    let reversed: Vec<u8> = body.iter().rev().copied().collect();
    (StatusCode::CREATED, [("x-upstream", caller)], reversed)
}

/// Sends a first chunk, then nothing more, ever.
async fn slow_body() -> Body {
    let first = futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"first chunk")) });
    Body::from_stream(first.chain(futures_util::stream::pending()))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PATIENCE)
        .build()
        .expect("build an HTTP client")
}

#[tokio::test]
async fn binary_bodies_round_trip_every_byte_value() {
    let server = Server::start("worker");
    for via in ["bytes", "arrayBuffer", "stream"] {
        let response = client()
            .post(format!("{}/binary?via={via}", server.base()))
            .body(all_byte_values())
            .send()
            .await
            .expect("post bytes to the Worker");
        assert_eq!(response.status(), 200, "via {via}");
        assert_eq!(response.headers()["content-type"], "application/octet-stream", "via {via}");
        assert_eq!(response.headers()["x-length"], "256", "via {via}");
        let echoed = response.bytes().await.expect("read the echo");
        assert_eq!(echoed.to_vec(), all_byte_values(), "via {via}");
    }
}

/// The stream sends its last chunk only once an instance named by `release` exists, and the test
/// creates it only after it has read the first chunk: a buffered body could never arrive.
async fn assert_streams_chunk_by_chunk(server: &Server, query: &str, release: &str) {
    let mut response = client()
        .get(format!("{}/stream?release={release}{query}", server.base()))
        .send()
        .await
        .expect("open the stream");
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.expect("read the first chunk").expect("a first chunk");
    assert_eq!(first, "first\n");
    server.create_with_id("workflows-starter", release, json!({})).await;
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("read the rest") {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(String::from_utf8_lossy(&rest), "last\n");
}

#[tokio::test]
async fn a_readable_stream_response_reaches_the_client_chunk_by_chunk() {
    let server = Server::start("worker");
    assert_streams_chunk_by_chunk(&server, "", "release-pull").await;
}

#[tokio::test]
async fn a_transform_stream_written_after_the_response_reaches_the_client_chunk_by_chunk() {
    let server = Server::start("worker");
    assert_streams_chunk_by_chunk(&server, "&writer=1", "release-writer").await;
}

#[tokio::test]
async fn the_worker_fetches_a_server_with_binary_bodies_both_ways() {
    let upstream = upstream().await;
    let server = Server::start("worker");
    let response = client()
        .post(format!("{}/proxy?url={upstream}/reverse", server.base()))
        .body(all_byte_values())
        .send()
        .await
        .expect("call the proxy route");
    assert_eq!(response.status(), 201, "the upstream status passes through");
    assert_eq!(response.headers()["x-upstream"], "yes", "the Worker's header reached the upstream and back");
    assert_eq!(response.headers()["x-upstream-ok"], "true");
    let body = response.bytes().await.expect("read the proxied body");
    let reversed: Vec<u8> = all_byte_values().into_iter().rev().collect();
    assert_eq!(body.to_vec(), reversed);

    let body = server.get_ok(&format!("/fetch-request?url={upstream}/echo")).await;
    assert_eq!(body, json!({ "status": 200, "text": "echo: from a stream", "bodyUsed": true }));
}

#[tokio::test]
async fn a_workflow_step_fetches_a_server_and_its_answer_is_the_step_output() {
    let upstream = upstream().await;
    let server = Server::start("worker");
    let id = server.create_with_id("fetcher", "fetch-1", json!({ "url": format!("{upstream}/reverse") })).await;
    let d = server.wait_for_status("fetcher", &id, &["complete"]).await;
    let expected = json!({ "status": 201, "upstream": "fetch-1", "bytes": [255, 254, 1, 0] });
    assert_eq!(d["output"], expected, "{d:#}");
    assert_eq!(step(&d, "call the server-1")["output"], expected, "{d:#}");
}

#[tokio::test]
async fn fetch_follows_or_returns_redirects_as_asked() {
    let upstream = upstream().await;
    let server = Server::start("worker");
    let body = server.get_ok(&format!("/redirects?url={upstream}/redirect")).await;
    assert_eq!(
        body["followed"],
        json!({ "status": 200, "redirected": true, "url": format!("{upstream}/target"), "text": "arrived" })
    );
    assert_eq!(body["manual"], json!({ "status": 302, "location": "/target", "redirected": false }));
    assert_eq!(body["error"], "TypeError");
}

#[tokio::test]
async fn an_aborted_fetch_rejects_with_abort_error_and_failures_are_type_errors() {
    let upstream = upstream().await;
    let server = Server::start("worker");
    let body = server.get_ok(&format!("/abort?base={upstream}")).await;
    assert_eq!(
        body,
        json!({
            "pending": "AbortError",
            "early": "AbortError",
            "first": "first chunk",
            "midBody": "AbortError",
            "refused": "TypeError",
            "invalid": "TypeError",
        })
    );
}

#[tokio::test]
async fn the_body_api_behaves_as_in_workers() {
    let server = Server::start("worker");
    let body = server.get_ok("/body-api").await;
    let expected = json!({
        "text": "héllo",
        "copy": "héllo",
        "bodyUsed": true,
        "reused": "TypeError",
        "textType": "text/plain;charset=UTF-8",
        "json": { "status": 201, "type": "application/json", "body": { "a": 1 } },
        "redirect": { "status": 301, "location": "https://example.com/next" },
        "streamed": [1, 2, 3],
        "tee": [1, 2, 3],
        "transformed": "SHOUT",
        "requestBody": "payload",
        "requestUsed": true,
        "blob": { "size": 2, "text": "hi" },
        "getWithBody": "TypeError",
        "badStatus": "RangeError",
        "nullBody": null,
    });
    assert_eq!(body, expected);

    let response = client().get(format!("{}/redirect-me", server.base())).send().await.expect("get a redirect");
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], format!("{}/binary", server.base()));
}
