//! `step.waitForEvent` and the REST events endpoint: delivery while waiting, buffering of early
//! events, timeouts, and what `run()` sees of the `event` object.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// True once the instance is parked on its `approval` wait.
fn waiting_for_approval(d: &Value) -> bool {
    let before_done = find_step(d, "before-1").is_some_and(|s| s["success"] == json!(true));
    before_done && (status(d) == "waiting" || find_step(d, "approval-1").is_some())
}

#[tokio::test]
async fn wait_for_event_receives_an_event_sent_while_waiting() {
    let server = Server::start("basic");
    let id = server.create("wait-event", json!({})).await;
    server.wait_for("wait-event", &id, "the approval wait", waiting_for_approval).await;

    // An event of another type does not wake the wait.
    server.deliver("wait-event", &id, "other", json!({ "wrong": true })).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = server.describe("wait-event", &id).await;
    assert!(!["complete", "errored"].contains(&status(&d)), "an event of another type ended the wait: {d:#}");

    let payload = json!({ "approved": true, "by": "tester", "n": [1, 2, 3] });
    server.deliver("wait-event", &id, "approve", payload.clone()).await;
    let d = server.wait_for_status("wait-event", &id, &["complete"]).await;

    let out = &d["output"];
    assert_eq!(out["payload"], payload, "{d:#}");
    assert_eq!(out["type"], "approve", "{d:#}");
    assert_eq!(out["before"], "ready", "{d:#}");
    assert_iso(&out["timestamp"]);

    let wait = step(&d, "approval-1");
    assert_eq!(wait["type"], "waitForEvent", "{wait:#}");
    assert_eq!(wait["event_type"], "approve", "{wait:#}");
    assert_eq!(wait["finished"], json!(true), "{wait:#}");
    assert_eq!(wait["output"], payload, "{wait:#}");
    assert!(wait["error"].is_null(), "{wait:#}");
}

#[tokio::test]
async fn an_event_sent_before_the_wait_is_buffered_and_delivered() {
    let server = Server::start("basic");
    let id = server.create("wait-event", json!({ "sleepMs": 1500 })).await;
    // Sent right away, long before the instance reaches waitForEvent (it sleeps 1.5 s first).
    let payload = json!({ "early": "bird" });
    server.deliver("wait-event", &id, "approve", payload.clone()).await;
    let d = server.describe("wait-event", &id).await;
    assert!(find_step(&d, "approval-1").is_none(), "the wait was reached too soon for this test: {d:#}");

    let d = server.wait_for_status("wait-event", &id, &["complete"]).await;
    assert_eq!(d["output"]["payload"], payload, "{d:#}");
    assert_eq!(d["output"]["type"], "approve", "{d:#}");
    assert_eq!(step(&d, "delay-1")["finished"], json!(true), "{d:#}");
}

#[tokio::test]
async fn a_wait_timeout_is_catchable_and_a_later_wait_still_gets_its_event() {
    let server = Server::start("basic");
    let id = server.create("wait-timeout", json!({})).await;
    let d = server
        .wait_for("wait-timeout", &id, "the step after the timeout", |d| {
            find_step(d, "after-timeout-1").is_some_and(|s| s["success"] == json!(true))
        })
        .await;

    let first = step(&d, "first-1");
    assert_eq!(first["type"], "waitForEvent", "{first:#}");
    assert!(first["output"].is_null(), "a timed-out wait has no output: {first:#}");
    assert!(
        first["finished"] == json!(false) || !first["error"].is_null(),
        "a timed-out wait is unfinished or carries an error: {first:#}"
    );
    let waited = iso_ms(&step(&d, "after-timeout-1")["start"]) - iso_ms(&first["start"]);
    assert!(waited >= 900, "the 1 second timeout fired after {waited} ms: {d:#}");

    let payload = json!({ "second": true });
    server.deliver("wait-timeout", &id, "later", payload.clone()).await;
    let d = server.wait_for_status("wait-timeout", &id, &["complete"]).await;
    assert_eq!(d["output"]["first"]["timedOut"], json!(true), "{d:#}");
    assert_eq!(
        d["output"]["first"]["error"],
        json!("WorkflowTimeoutError: Execution timed out after 1000ms"),
        "the documented timeout error: {d:#}"
    );
    assert_eq!(d["output"]["mark"], "marked", "{d:#}");
    assert_eq!(d["output"]["second"], payload, "{d:#}");
    assert_eq!(step(&d, "second-1")["finished"], json!(true), "{d:#}");
}

#[tokio::test]
async fn run_sees_the_event_payload_id_name_and_timestamp() {
    let server = Server::start("basic");
    let params = json!({ "hello": "world", "list": [1, 2, { "deep": null }], "n": 1.5 });
    let before = now_ms();
    let id = server.create_with_id("event-info", "info_check-1", params.clone()).await;
    let after = now_ms();
    let d = server.wait_for_status("event-info", &id, &["complete"]).await;

    let out = &d["output"];
    assert_eq!(out["payload"], params, "{d:#}");
    assert_eq!(out["instanceId"], "info_check-1", "{d:#}");
    assert_eq!(out["workflowName"], "event-info", "{d:#}");
    assert_eq!(out["timestampIsDate"], json!(true), "event.timestamp is a Date: {d:#}");
    let ts = out["timestampMs"].as_i64().unwrap_or_else(|| panic!("no timestamp in {d:#}"));
    assert!(
        ts >= before - 2000 && ts <= after + 2000,
        "event.timestamp {ts} is not the creation time ({before}..{after})"
    );
    let queued = iso_ms(&d["queued"]);
    assert!((ts - queued).abs() <= 1000, "event.timestamp {ts} vs queued {queued}");
    assert_eq!(d["params"], params, "{d:#}");
}

#[tokio::test]
async fn events_for_an_unknown_instance_are_a_404() {
    let server = Server::start("basic");
    let resp = server.send_event("wait-event", "no-such-instance", "approve", json!({})).await;
    assert_api_error("event to unknown instance", resp, 404, Some(10400));
}
