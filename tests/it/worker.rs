//! The project's Worker served on the same port as the API: the example from Cloudflare's
//! Workflows guide (create an instance from `fetch`, then read its status with `?instanceId=`),
//! the binding API's errors, a handler that throws, and a workflow that starts a child; a fresh
//! context per request and the 100 MiB cap on request bodies.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn get(server: &Server, path: &str) -> (u16, Value) {
    server.request(Method::GET, &format!("{}{path}", server.base()), None).await
}

#[tokio::test]
async fn the_guide_example_creates_an_instance_and_reports_its_status() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/").await;
    assert_eq!(status, 200, "{body:#}");
    let id = body["id"].as_str().unwrap_or_else(|| panic!("no id: {body:#}")).to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{body:#}");
    assert!(body["details"]["status"].is_string(), "{body:#}");

    let d = server.wait_for_status("workflows-starter", &id, &["complete"]).await;
    assert_eq!(d["trigger"]["source"], "binding", "{d:#}");
    assert_eq!(d["output"], json!({ "greeting": "hello", "count": 2 }), "env vars reach the workflow: {d:#}");

    let (status, body) = get(&server, &format!("/?instanceId={id}")).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"]["status"], "complete", "{body:#}");
    assert_eq!(body["status"]["output"], json!({ "greeting": "hello", "count": 2 }), "{body:#}");
}

#[tokio::test]
async fn binding_errors_carry_cloudflare_messages() {
    let server = Server::start("worker");
    let (_, body) = get(&server, "/duplicate").await;
    assert_eq!(body, json!({ "threw": true, "message": "(instance.already_exists) Instance already exists" }));
    let (_, body) = get(&server, "/missing").await;
    assert_eq!(body, json!({ "threw": true, "message": "(instance.not_found) Instance not found" }));
}

#[tokio::test]
async fn a_throwing_fetch_handler_gives_a_500_and_the_server_keeps_serving() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/boom").await;
    assert_eq!(status, 500, "{body:#}");
    assert!(body.as_str().unwrap_or_default().contains("the worker blew up"), "{body:#}");
    let deadline = std::time::Instant::now() + PATIENCE;
    while !server.logs().contains("the fetch handler threw Error: the worker blew up") {
        assert!(std::time::Instant::now() < deadline, "the error is not logged:\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
    let (status, body) = get(&server, "/favicon.ico").await;
    assert_eq!((status, body), (404, json!({})));
}

#[tokio::test]
async fn requests_reach_the_handler_with_method_headers_and_body() {
    let server = Server::start("worker");
    let (status, body) =
        server.request(Method::POST, &format!("{}/echo", server.base()), Some(&json!({ "a": 1 }))).await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body, json!({ "got": { "a": 1 }, "method": "POST", "type": "application/json" }));
}

#[tokio::test]
async fn a_workflow_step_starts_a_child_workflow_without_waiting_for_it() {
    let server = Server::start("worker");
    let (_, body) = get(&server, "/parent?child=kid-1").await;
    let parent = body["id"].as_str().unwrap().to_owned();
    let p = server.wait_for_status("parent", &parent, &["complete"]).await;
    assert_eq!(p["output"]["childId"], "kid-1", "{p:#}");
    let seen = p["output"]["seen"].as_str().unwrap_or_default();
    assert_ne!(seen, "complete", "the parent went on while the child still ran (it sleeps 300 ms): {p:#}");
    let c = server.wait_for_status("child", "kid-1", &["complete"]).await;
    assert_eq!(c["output"], json!(format!("child of {parent}")), "{c:#}");
    assert_eq!(c["trigger"]["source"], "binding", "{c:#}");
}

#[tokio::test]
async fn api_prefixes_stay_reserved_for_the_api() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/client/v4/anything").await;
    assert_eq!(status, 404, "{body:#}");
    assert_eq!(body["errors"][0]["code"], 7003, "{body:#}");
    let (status, body) = get(&server, "/cdn-cgi/local/explorer/api/nothing").await;
    assert_eq!((status, body["success"].clone()), (404, json!(false)), "{body:#}");
}

#[tokio::test]
async fn the_scheduled_route_runs_the_scheduled_handler_which_creates_an_instance() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*&time=1786001400").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body, json!("Ran scheduled event"));
    let d = server.wait_for_status("workflows-starter", "cron-1786001400000", &["complete"]).await;
    assert_eq!(d["params"]["metadata"], json!({ "cron": "*/5 * * * *", "type": "scheduled" }), "{d:#}");

    // A time of 10^11 or more is milliseconds, taken as it is.
    let (status, body) = get(&server, "/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*&time=1786001460123").await;
    assert_eq!((status, body), (200, json!("Ran scheduled event")));
    server.wait_for_status("workflows-starter", "cron-1786001460123", &["complete"]).await;
}

#[tokio::test]
async fn the_web_platform_is_there_for_worker_code() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/platform").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["encoded"], 6, "{body:#}");
    assert_eq!(body["decoded"], "héllo");
    assert_eq!(body["base64"], "c3RlcGZsYXJl");
    assert_eq!(body["unbase64"], "stepflare");
    assert_eq!(body["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(body["randomLength"], 8);
    assert_eq!(body["uuid"], 36);
    assert_eq!(body["aborted"], true);
    assert_eq!(body["cloned"], json!({ "nested": [1, { "two": 2 }] }));
    assert_eq!(body["search"], "2");
}

#[tokio::test]
async fn wait_until_work_goes_on_after_the_response() {
    let server = Server::start("worker");
    let (status, body) = get(&server, "/later").await;
    assert_eq!((status, body), (200, json!("answered first")));
    let (early, _) =
        server.request(Method::GET, &server.instance_url("workflows-starter", "from-wait-until"), None).await;
    assert_eq!(early, 404, "the response came before the waitUntil work (which waits 300 ms)");
    let url = server.instance_url("workflows-starter", "from-wait-until");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = server.request(Method::GET, &url, None).await;
        if status == 200 {
            assert_eq!(body["result"]["trigger"]["source"], "binding", "{body:#}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the waitUntil work never created its instance");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn bindings_with_script_name_reach_a_workflow_and_a_durable_object_of_another_loaded_worker() {
    let dir = tempfile::tempdir().unwrap();
    let billing = fixture_dir("multi/billing");
    let server = Server::start_with("multi/frontend", dir.path(), &["--config", billing.to_str().unwrap()]);
    let (status, body) = get(&server, "/?amount=3").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["audit"], "undefined", "a binding to a Worker that is not loaded is left out: {body:#}");
    let id = body["id"].as_str().unwrap().to_owned();
    let d = server.wait_for_status("billing", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "charged": 300 }), "{d:#}");
    assert!(server.logs().contains("not-loaded"), "the left-out binding is reported:\n{}", server.logs());
    // A Durable Object binding with script_name reaches the class of the other Worker.
    assert_eq!(get(&server, "/ledger?amount=5").await.1, json!({ "total": 5 }));
    assert_eq!(get(&server, "/ledger?amount=7").await.1, json!({ "total": 12 }));
}

#[tokio::test]
async fn each_request_runs_in_a_fresh_context() {
    let server = Server::start("claims");
    for _ in 0..3 {
        assert_eq!(server.get_ok("/requests").await, json!({ "requests": 1 }), "module state carried over");
    }
}

#[tokio::test]
async fn a_body_of_100_mib_reaches_the_worker_and_one_byte_more_is_refused() {
    use std::io::{Read, Write};
    let server = Server::start("claims");
    let url = format!("{}/requests", server.base());
    let (status, body) = server.send_typed(Method::POST, &url, None, &"x".repeat(100 << 20)).await;
    assert_eq!((status, body), (200, json!({ "requests": 1 })));

    let mut stream = std::net::TcpStream::connect(server.address()).expect("connect");
    let head = format!(
        "POST /requests HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        server.address(),
        (100u64 << 20) + 1
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).expect("an answer before the body");
    assert_eq!(&answer, b"HTTP/1.1 413");
}

#[tokio::test]
async fn wait_until_work_is_cut_off_after_30_seconds() {
    let server = Server::start("claims");
    assert_eq!(get(&server, "/ticks").await.1, json!("ticking"));
    let ticks = || async { get(&server, "/ticks-read").await.1.as_u64().unwrap_or(0) };
    // The work ticks once a second for a minute unless it is cut off: wait until it has ticked
    // a while, then until it stops ticking, and see where it stopped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while ticks().await < 20 {
        assert!(std::time::Instant::now() < deadline, "the waitUntil work never ticked 20 times");
        tokio::time::sleep(POLL).await;
    }
    let (mut last, mut since) = (ticks().await, std::time::Instant::now());
    while since.elapsed() < std::time::Duration::from_secs(4) {
        let now = ticks().await;
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        }
        assert!(std::time::Instant::now() < deadline, "the waitUntil work was never cut off (at {now} ticks)");
        tokio::time::sleep(POLL).await;
    }
    assert!((20..=31).contains(&last), "cut off after {last} ticks of a second, not about 30");
}
