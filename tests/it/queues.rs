//! Local queues: producer bindings in a Worker and in a workflow step, a consumer's `queue`
//! handler creating workflow instances, retries with attempts counted, the dead letter queue,
//! batching, message bodies of every content type, and a batch in flight at `kill -9` delivered
//! again. With `fixtures/queue-claims`: `max_batch_timeout`, `delaySeconds` and `retry_delay`
//! holding messages back, one batch per queue at a time, the drop without a dead letter queue,
//! the batch size and delay limits, and `v8` bodies with what JSON cannot hold.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    server.request(Method::POST, &format!("{}{path}", server.base()), Some(&body)).await
}

/// Waits until the consumer has created instance `id` of `ingest`, then until it completes.
async fn wait_for_ingested(server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _) = server.request(Method::GET, &server.instance_url("ingest", id), None).await;
        if status == 200 {
            return server.wait_for_status("ingest", id, &["complete"]).await;
        }
        assert!(Instant::now() < deadline, "instance {id} never appeared; logs:\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_queue_message_creates_a_workflow_instance() {
    let server = Server::start("queues");
    let (status, _) = post(&server, "/send", json!({ "id": "from-queue" })).await;
    assert_eq!(status, 200);
    let d = wait_for_ingested(&server, "from-queue").await;
    assert_eq!(d["output"], json!({ "body": { "id": "from-queue" }, "attempts": 1 }), "{d:#}");
}

#[tokio::test]
async fn a_workflow_step_sends_to_a_queue() {
    let server = Server::start("queues");
    let id = server.create("notify", json!({ "id": "sent-by-a-step" })).await;
    let d = server.wait_for_status("notify", &id, &["complete"]).await;
    assert_eq!(d["output"], "sent", "{d:#}");
    wait_for_ingested(&server, "sent-by-a-step").await;
}

#[tokio::test]
async fn a_retried_message_comes_back_with_its_attempts_counted() {
    let server = Server::start("queues");
    post(&server, "/send?queue=flaky", json!({ "id": "flaky" })).await;
    wait_for_ingested(&server, "flaky-after-3").await;
}

#[tokio::test]
async fn a_message_out_of_retries_moves_to_the_dead_letter_queue() {
    let server = Server::start("queues");
    post(&server, "/send?queue=doomed", json!({ "id": "doomed" })).await;
    let d = wait_for_ingested(&server, "dead-doomed").await;
    assert_eq!(d["output"], json!({ "attempts": 1 }), "a dead letter starts counting again: {d:#}");
    let logs = server.logs();
    assert!(logs.contains("cannot handle 1 message(s)"), "the handler's error is logged:\n{logs}");
    assert!(logs.contains("failed 2 times; moved to graveyard"), "max_retries 1 means two deliveries:\n{logs}");
}

/// Whether `ingest` has instance `id`.
async fn ingested(server: &Server, id: &str) -> bool {
    server.request(Method::GET, &server.instance_url("ingest", id), None).await.0 == 200
}

/// The first decision about a message wins, as in workerd. A retried message comes back in the
/// next batch with the others, and the consumer records a delivery before anything else, so
/// when the retried one's second delivery is there, a wrongly retried one's would be too.
#[tokio::test]
async fn the_first_decision_about_a_message_wins() {
    let server = Server::start("queues");
    post(&server, "/decide", json!([{ "id": "a1", "plan": "ack-then-retryAll" }, { "id": "a2" }])).await;
    wait_for_ingested(&server, "a2-attempt-2").await;
    assert!(!ingested(&server, "a1-attempt-2").await, "an ack before retryAll keeps");

    post(&server, "/decide", json!([{ "id": "b1", "plan": "retryAll-then-ack" }])).await;
    wait_for_ingested(&server, "b1-attempt-2").await;

    post(&server, "/decide", json!([{ "id": "c1", "plan": "ack-then-throw" }, { "id": "c2" }])).await;
    wait_for_ingested(&server, "c2-attempt-2").await;
    assert!(!ingested(&server, "c1-attempt-2").await, "an ack keeps when the handler throws afterwards");
}

#[tokio::test]
async fn a_full_batch_goes_out_at_once_in_order() {
    let server = Server::start("queues");
    // max_batch_size 3 with a 60 s timeout: only a full batch explains a quick delivery.
    post(&server, "/send-batch", json!(["a", "b", "c"])).await;
    wait_for_ingested(&server, "batch-a-b-c").await;
}

#[tokio::test]
async fn bodies_keep_their_content_types() {
    let server = Server::start("queues");
    post(&server, "/typed", json!(null)).await;
    let d = wait_for_ingested(&server, "typed").await;
    let expected = json!([
        { "type": "object", "value": {
            "id": { "type": "string", "value": "v8" },
            "at": { "type": "Date", "value": 86_400_000 },
            "tags": { "type": "Map", "value": [["a", 1]] },
            "missing": { "type": "undefined" },
        } },
        { "type": "string", "value": "plain text" },
        { "type": "ArrayBuffer", "value": [0, 1, 255] },
        { "type": "object", "value": { "id": { "type": "string", "value": "json" }, "n": { "type": "number", "value": 1 } } },
    ]);
    assert_eq!(d["output"], expected, "{d:#}");
}

#[tokio::test]
async fn bad_sends_throw_and_store_nothing() {
    let server = Server::start("queues");
    let (status, errors) = server.request(Method::GET, &format!("{}/bad", server.base()), None).await;
    assert_eq!(status, 200, "{errors:#}");
    let errors: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(errors[0].starts_with("TypeError: Content type \"text\" requires a value of type string"), "{errors:?}");
    assert!(errors[1].starts_with("TypeError: Unknown content type \"yaml\""), "{errors:?}");
    assert!(errors[2].contains("exceeds limit of 131072"), "{errors:?}");
    assert!(errors[3].contains("batch of 101 messages exceeds limit of 100"), "{errors:?}");
    assert!(errors[4].starts_with("DataCloneError:"), "{errors:?}");
    // Nothing reached the consumer: the next message is the first instance it creates.
    post(&server, "/send", json!({ "id": "after-bad-sends" })).await;
    wait_for_ingested(&server, "after-bad-sends").await;
    let (_, list) = server.request(Method::GET, &format!("{}/instances", server.workflow_url("ingest")), None).await;
    assert_eq!(list["result"].as_array().map(Vec::len), Some(1), "{list:#}");
}

/// A producer's `delivery_delay` holds a message back, and the stored message outlives a
/// `kill -9` that comes before its delivery.
#[tokio::test]
async fn a_delayed_message_waits_its_delay_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("queues", dir.path(), &[]);
    let sent = now_ms();
    // LATER delays delivery by a second.
    let (status, _) = post(&server, "/send?queue=later", json!({ "id": "survivor" })).await;
    assert_eq!(status, 200);
    server.kill9();
    let server = Server::start_with("queues", dir.path(), &[]);
    let d = wait_for_ingested(&server, "survivor").await;
    assert_eq!(d["output"]["attempts"], 1, "{d:#}");
    assert!(iso_ms(&d["queued"]) >= sent + 1000, "delivered before its delay: sent at {sent}, {d:#}");
}

/// A batch in flight when the process dies is delivered again at the next start, with the
/// attempt counted: the consumer records each delivery, then holds the first one unacked, and
/// the process is killed only once that delivery is seen.
#[tokio::test]
async fn a_batch_in_flight_at_kill_9_is_delivered_again_with_its_attempt_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("queues", dir.path(), &[]);
    let (status, _) = post(&server, "/send?queue=held", json!({ "id": "survivor", "hold": true })).await;
    assert_eq!(status, 200);
    let first = wait_for_ingested(&server, "survivor-attempt-1").await;
    assert_eq!(first["output"], json!({ "body": { "id": "survivor", "hold": true }, "attempts": 1 }), "{first:#}");
    // The handler now waits with the batch unacked; only a second delivery could make this.
    assert!(!ingested(&server, "survivor-attempt-2").await, "delivered twice before the kill");
    server.kill9();

    let server = Server::start_with("queues", dir.path(), &[]);
    let again = wait_for_ingested(&server, "survivor-attempt-2").await;
    assert_eq!(again["output"], json!({ "body": { "id": "survivor", "hold": true }, "attempts": 2 }), "{again:#}");
    server.wait_for_log(&["1 message(s) were being delivered when stepflare stopped"]).await;
    assert!(!server.logs().contains("the queue handler threw"), "a delivery failed:\n{}", server.logs());
    // The second delivery returned, which acks: a message sent after it is delivered (the queue
    // delivers one batch at a time, and a retried one would come back first) and it is not.
    post(&server, "/send?queue=held", json!({ "id": "next" })).await;
    wait_for_ingested(&server, "next-attempt-1").await;
    assert!(!ingested(&server, "survivor-attempt-3").await, "the second delivery was not acked");
}

#[tokio::test]
async fn a_consumer_added_by_a_reload_receives_what_waited() {
    let project = copy_fixture("queues");
    edit(project.path(), "wrangler.jsonc", r#"{ "queue": "jobs", "max_batch_timeout": 0 },"#, "");
    let server = Server::start_in(project.path());
    post(&server, "/send", json!({ "id": "waited-for-a-consumer" })).await;
    let (status, _) = server.request(Method::GET, &server.instance_url("ingest", "waited-for-a-consumer"), None).await;
    assert_eq!(status, 404, "nothing consumes jobs yet");
    edit(
        project.path(),
        "wrangler.jsonc",
        r#""consumers": ["#,
        r#""consumers": [{ "queue": "jobs", "max_batch_timeout": 0 },"#,
    );
    wait_for_ingested(&server, "waited-for-a-consumer").await;
}

/// When the consumer of `fixtures/queue-claims` recorded the delivery `id` (its clock, in ms).
async fn delivered_at(server: &Server, id: &str) -> i64 {
    let d = wait_for_ingested(server, id).await;
    d["output"]["at"].as_i64().unwrap_or_else(|| panic!("no time in {d:#}"))
}

/// Sends `body` (with send `options`) to `queue` of `fixtures/queue-claims`; returns when.
async fn send_at(server: &Server, queue: &str, body: Value, options: Value) -> i64 {
    let (status, answer) =
        post(server, &format!("/send?queue={queue}"), json!({ "body": body, "options": options })).await;
    assert_eq!(status, 200, "{answer:#}\n{}", server.logs());
    answer["at"].as_i64().unwrap_or_else(|| panic!("{answer:#}"))
}

#[tokio::test]
async fn a_partial_batch_waits_max_batch_timeout() {
    let server = Server::start("queue-claims");
    // max_batch_size 10, max_batch_timeout 1: one message goes out after a second.
    let sent = send_at(&server, "timed", json!({ "id": "alone" }), json!({})).await;
    let at = delivered_at(&server, "timed-alone-1").await;
    assert!(at - sent >= 1000, "delivered {} ms after the send", at - sent);
}

#[tokio::test]
async fn delay_seconds_holds_a_message_and_a_batch_back() {
    let server = Server::start("queue-claims");
    let sent = send_at(&server, "fast", json!({ "id": "delayed" }), json!({ "delaySeconds": 1 })).await;
    let (status, answer) = post(
        &server,
        "/send-batch?queue=fast",
        json!({ "bodies": [{ "id": "batch-delayed" }], "options": { "delaySeconds": 1 } }),
    )
    .await;
    assert_eq!(status, 200, "{answer:#}");
    let batch_sent = answer["at"].as_i64().unwrap();
    let at = delivered_at(&server, "fast-delayed-1").await;
    assert!(at - sent >= 1000, "delivered {} ms after the send", at - sent);
    let at = delivered_at(&server, "fast-batch-delayed-1").await;
    assert!(at - batch_sent >= 1000, "delivered {} ms after the sendBatch", at - batch_sent);
}

#[tokio::test]
async fn a_retry_without_a_delay_waits_the_consumers_retry_delay() {
    let server = Server::start("queue-claims");
    send_at(&server, "flaky", json!({ "id": "m" }), json!({})).await;
    let first = delivered_at(&server, "flaky-m-1").await;
    let second = delivered_at(&server, "flaky-m-2").await;
    assert!(second - first >= 1000, "retried {} ms after the first delivery; retry_delay is 1 s", second - first);
}

#[tokio::test]
async fn a_message_out_of_retries_without_a_dead_letter_queue_is_dropped() {
    let server = Server::start("queue-claims");
    send_at(&server, "dropped", json!({ "id": "doomed", "fail": true }), json!({})).await;
    // max_retries 1: two deliveries, then the message is dropped with a warning.
    wait_for_ingested(&server, "dropped-doomed-2").await;
    server.wait_for_log(&["failed 2 times and the queue has no dead_letter_queue; it is dropped"]).await;
    // The queue goes on: a later message is delivered, and the dropped one never again.
    send_at(&server, "dropped", json!({ "id": "next" }), json!({})).await;
    wait_for_ingested(&server, "dropped-next-1").await;
    assert!(!ingested(&server, "dropped-doomed-3").await, "a dropped message came back");
}

#[tokio::test]
async fn a_queue_has_one_batch_at_its_consumer_at_a_time() {
    let server = Server::start("queue-claims");
    // Batches of one: the first is held at the consumer until released.
    send_at(&server, "serial", json!({ "id": "first", "hold": true }), json!({})).await;
    wait_for_ingested(&server, "serial-first-1-start").await;
    send_at(&server, "serial", json!({ "id": "second" }), json!({})).await;
    for _ in 0..25 {
        assert!(!ingested(&server, "serial-second-1-start").await, "a second batch went out beside the first");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(server.get_ok("/release?id=first").await, json!("released"));
    let first_end = delivered_at(&server, "serial-first-1-end").await;
    let second_start = delivered_at(&server, "serial-second-1-start").await;
    assert!(
        first_end <= second_start,
        "the second batch began at {second_start}, before the first ended at {first_end}"
    );
}

#[tokio::test]
async fn sends_over_the_batch_size_and_delay_limits_throw() {
    let server = Server::start("queue-claims");
    let errors = server.get_ok("/limits").await;
    let errors: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    // Three bodies of 100 KiB, each with the few bytes of its encoding.
    let too_big = errors[0];
    assert!(too_big.starts_with("Error: Queue sendBatch failed: batch of 3072"), "{errors:?}");
    assert!(too_big.ends_with("bytes exceeds limit of 262144"), "{errors:?}");
    let delay = "TypeError: delaySeconds must be a whole number from 0 to 43200";
    assert_eq!(errors[1..5], [delay, delay, delay, delay], "{errors:?}");
    assert_eq!(errors[5..], ["no error", "no error"], "twelve hours and 200 KiB are allowed: {errors:?}");
}

#[tokio::test]
async fn v8_bodies_keep_regexps_sets_bigints_nan_negative_zero_and_errors() {
    let server = Server::start("queue-claims");
    assert_eq!(server.get_ok("/bodies").await, json!("sent"));
    let d = wait_for_ingested(&server, "bodies").await;
    assert_eq!(
        d["output"],
        json!({ "regexp": true, "set": true, "bigint": true, "nan": true, "negativeZero": true, "error": true }),
        "{d:#}"
    );
}
