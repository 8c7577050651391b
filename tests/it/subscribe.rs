//! `instance.subscribe()` and its REST stream: history first, then live events, in `eventId`
//! order, after a cursor, through a filter, ending after the terminal event even when the
//! filter hides it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn ids(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["eventId"].as_u64().unwrap()).collect()
}

/// The Worker's `/events` answer: `(events, done)`.
async fn follow(server: &Server, query: &str) -> (Vec<Value>, bool) {
    let answer = server.get_ok(&format!("/events?{query}")).await;
    let events = answer["events"].as_array().unwrap_or_else(|| panic!("{answer:#}")).clone();
    if answer["done"] == json!(true) {
        assert_eq!(answer["after"], json!({ "done": true }), "next() after done: {answer:#}");
    }
    (events, answer["done"] == json!(true))
}

#[tokio::test]
async fn history_then_live_events_after_a_cursor_through_a_filter() {
    let server = Server::start("subscribe");
    let id = server.create_with_id("pipeline", "p1", json!({})).await;
    server.wait_for_status("pipeline", &id, &["waiting"]).await;

    // History up to the wait, from the start.
    let (history, done) = follow(&server, "id=p1&until=wait_started").await;
    assert!(!done);
    let seen = types(&history);
    assert_eq!(seen[..3], ["workflow_queued", "workflow_started", "workflow_running"][..], "history: {history:#?}");
    for expected in ["step_started", "attempt_started", "attempt_completed", "step_completed", "wait_started"] {
        assert!(seen.contains(&expected), "no {expected} in {seen:?}");
    }
    let prepared = history.iter().find(|e| e["type"] == "step_completed").unwrap();
    assert_eq!(prepared["stepName"], json!("prepare-1"));
    assert_eq!(prepared["output"], json!({ "ready": true }));
    assert_eq!(prepared["instanceId"], json!("p1"));
    assert!(prepared["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{prepared}");
    let numbers = ids(&history);
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "eventIds out of order: {numbers:?}");
    let cursor = *numbers.last().unwrap();

    // The REST stream, opened now, replays the same history and then waits: the rest of it can
    // only come live.
    let url = format!("{}/subscribe", server.instance_url("pipeline", &id));
    let mut stream = reqwest::get(&url).await.unwrap();
    assert_eq!(stream.status(), 200);
    let content_type = stream.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut received = String::new();
    while !event_stream_data(&received).iter().any(|e| e["type"] == "wait_started") {
        let chunk = stream.chunk().await.unwrap().expect("the stream ended before the wait");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }

    // From that cursor, only step_completed: it waits for the live events, and ends after the
    // terminal event although the filter hides it.
    let live = tokio::spawn({
        let url = format!("{}/events?id=p1&cursor={cursor}&filter=step_completed", server.base());
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    });
    server.deliver("pipeline", &id, "go", json!({})).await;
    while let Some(chunk) = stream.chunk().await.unwrap() {
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let streamed_live = event_stream_data(&received);
    assert_eq!(types(&streamed_live).last(), Some(&"workflow_completed"), "{received}");
    assert!(types(&streamed_live).contains(&"wait_completed"), "{received}");
    let answer = live.await.unwrap();
    let events = answer["events"].as_array().unwrap();
    assert_eq!(types(events), ["step_completed"], "{answer:#}");
    assert_eq!(events[0]["stepName"], json!("finish-1"));
    assert_eq!(events[0]["output"], json!("finished"));
    assert!(events[0]["eventId"].as_u64().unwrap() > cursor);
    assert_eq!(answer["done"], json!(true), "{answer:#}");

    // After the end, a subscription replays everything and ends with the terminal event.
    server.wait_for_status("pipeline", &id, &["complete"]).await;
    let (all, done) = follow(&server, "id=p1").await;
    assert!(done);
    assert_eq!(types(&all).last(), Some(&"workflow_completed"));
    assert_eq!(all.last().unwrap()["output"], json!("finished"));
    assert_eq!(ids(&all)[..numbers.len()], numbers[..], "history is the same every time");

    // The REST stream, live or replayed, says the same, and ends.
    assert_eq!(streamed_live, all, "the live REST stream and subscribe() disagree");
    let streamed = event_stream_data(&reqwest::get(&url).await.unwrap().text().await.unwrap());
    assert_eq!(streamed, all, "the REST stream and subscribe() disagree");
    let filtered =
        reqwest::get(format!("{url}?cursor={cursor}&filter=workflow_completed,wait_completed")).await.unwrap();
    let filtered = event_stream_data(&filtered.text().await.unwrap());
    assert_eq!(types(&filtered), ["wait_completed", "workflow_completed"]);
}

#[tokio::test]
async fn a_failed_instance_ends_the_subscription_and_bad_options_are_refused() {
    let server = Server::start("subscribe");
    let id = server.create_with_id("pipeline", "bad", json!({ "fail": true })).await;
    server.wait_for_status("pipeline", &id, &["waiting"]).await;
    server.deliver("pipeline", &id, "go", json!({})).await;
    server.wait_for_status("pipeline", &id, &["errored"]).await;
    let (events, done) = follow(&server, "id=bad&filter=workflow_errored").await;
    assert!(done);
    assert_eq!(types(&events), ["workflow_errored"]);
    assert_eq!(events[0]["error"], json!({ "name": "Error", "message": "asked to fail" }));

    for options in [
        json!(null),
        json!([]),
        json!({ "cursor": -1 }),
        json!({ "cursor": 1.5 }),
        json!({ "filter": "x" }),
        json!({ "filter": ["internal"] }),
        json!({ "filter": ["no_such_event"] }),
        json!({ "other": 1 }),
    ] {
        let answer =
            server.get_ok(&format!("/subscribe-with?id=bad&options={}", urlencode(&options.to_string()))).await;
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains("Invalid Workflow subscription options")),
            "{options}: {answer:#}"
        );
    }
    let answer = server.get_ok("/subscribe-with?id=bad&options=%7B%7D").await;
    assert_eq!(answer, json!({ "subscribed": true }));

    // REST: bad input is a 400, an unknown instance a 404, in the envelope.
    let url = |query: &str| format!("{}/subscribe{query}", server.instance_url("pipeline", &id));
    assert_api_error("bad cursor", server.request(Method::GET, &url("?cursor=x"), None).await, 400, None);
    assert_api_error("bad filter", server.request(Method::GET, &url("?filter=nope"), None).await, 400, None);
    let missing = format!("{}/subscribe", server.instance_url("pipeline", "missing"));
    assert_api_error("missing instance", server.request(Method::GET, &missing, None).await, 404, Some(10400));
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
