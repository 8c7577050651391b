//! Waiting claims of the README and docs/compatibility.md: `waitForEvent`'s default 24 hour
//! timeout and its 1 second to 365 day range, early events taken first-in first-out and what a
//! restart keeps of them, `sleepUntil` in the past, and the default limit of 10,000 steps.

use serde_json::{Value, json};

use crate::support::*;

const FIXTURE: &str = "claims";
const DAY_MS: i64 = 86_400_000;

/// `--clock-start` for the instant `at_ms`.
fn clock_at(at_ms: i64) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms).expect("a time");
    format!("{at:?}")
}

/// True once the `waits` instance is parked on its wait.
fn waiting(d: &Value) -> bool {
    status(d) == "waiting" && find_step(d, "wait-1").is_some()
}

#[tokio::test]
async fn wait_timeouts_outside_one_second_to_365_days_are_refused_and_the_bounds_are_taken() {
    let server = Server::start(FIXTURE);
    let refused = "TypeError: step.waitForEvent(\"wait\"): options.timeout must be between 1 second and 365 days";
    for timeout in [
        json!(999),
        json!("999 milliseconds"),
        json!(0),
        json!(-1000),
        json!(365 * DAY_MS + 1),
        json!("366 days"),
        json!("2 years"),
        json!("whenever"),
    ] {
        let id = server.create("waits", json!({ "timeout": timeout })).await;
        let d = server.wait_for_status("waits", &id, &["complete"]).await;
        assert_eq!(d["output"], json!({ "error": refused }), "timeout {timeout}: {d:#}");
    }

    // One second is allowed: the wait times out after it.
    let id = server.create("waits", json!({ "timeout": 1000 })).await;
    let d = server.wait_for_status("waits", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "error": "WorkflowTimeoutError: Execution timed out after 1000ms" }), "{d:#}");

    // 365 days, in milliseconds or words, is allowed: the instance waits and takes its event.
    for timeout in [json!(365 * DAY_MS), json!("365 days"), json!("1 year")] {
        let id = server.create("waits", json!({ "timeout": timeout })).await;
        server.wait_for("waits", &id, "the wait", waiting).await;
        server.deliver("waits", &id, "go", json!({ "timeout": timeout })).await;
        let d = server.wait_for_status("waits", &id, &["complete"]).await;
        assert_eq!(d["output"], json!({ "event": { "timeout": timeout } }), "timeout {timeout}: {d:#}");
    }
}

#[tokio::test]
async fn a_wait_without_a_timeout_times_out_after_24_hours() {
    let persist = tempfile::tempdir().expect("a persistence dir");
    let server = Server::start_with(FIXTURE, persist.path(), &[]);
    let default = server.create_with_id("waits", "default", json!({})).await;
    // A wait ten minutes shorter: its timeout shows that the clock reached it.
    let probe = server.create_with_id("waits", "probe", json!({ "timeout": DAY_MS - 600_000 })).await;
    let d = server.wait_for("waits", &default, "the default wait", waiting).await;
    server.wait_for("waits", &probe, "the probe's wait", waiting).await;
    let started = iso_ms(&step(&d, "wait-1")["start"]);
    let mut server = server;
    assert!(server.interrupt().success());

    // Five minutes short of 24 hours: the probe's wait has timed out, the default one has not.
    let server = Server::start_with(FIXTURE, persist.path(), &["--clock-start", &clock_at(started + DAY_MS - 300_000)]);
    let d = server.wait_for_status("waits", &probe, &["complete"]).await;
    assert_eq!(d["output"], json!({ "error": "WorkflowTimeoutError: Execution timed out after 85800000ms" }), "{d:#}");
    let d = server.describe("waits", &default).await;
    assert!(waiting(&d), "the default wait ended before 24 hours: {d:#}");
    assert_eq!(step(&d, "wait-1")["finished"], json!(false), "{d:#}");
    let mut server = server;
    assert!(server.interrupt().success());

    // A minute past 24 hours: it has timed out, with the documented error.
    let server = Server::start_with(FIXTURE, persist.path(), &["--clock-start", &clock_at(started + DAY_MS + 60_000)]);
    let d = server.wait_for_status("waits", &default, &["complete"]).await;
    assert_eq!(d["output"], json!({ "error": "WorkflowTimeoutError: Execution timed out after 86400000ms" }), "{d:#}");
}

/// True once the `early` instance waits at `wait` (a step name with its count).
fn parked_at(wait: &'static str) -> impl Fn(&Value) -> bool {
    move |d| status(d) == "waiting" && find_step(d, wait).is_some_and(|s| s["finished"] == json!(false))
}

#[tokio::test]
async fn early_events_are_taken_first_in_first_out_and_a_restart_keeps_only_unconsumed_ones() {
    let server = Server::start(FIXTURE);
    let id = server.create("early", json!({})).await;
    server.wait_for("early", &id, "the start wait", parked_at("start-1")).await;
    // Three items arrive before any wait for them.
    for n in 1..=3 {
        server.deliver("early", &id, "item", json!({ "n": n })).await;
    }
    server.deliver("early", &id, "start", json!({})).await;
    let d = server.wait_for("early", &id, "the finish wait", parked_at("finish-1")).await;
    assert_eq!(step(&d, "item-1")["output"], json!({ "n": 1 }), "{d:#}");
    assert_eq!(step(&d, "item-2")["output"], json!({ "n": 2 }), "{d:#}");
    server.deliver("early", &id, "finish", json!({})).await;
    let d = server.wait_for_status("early", &id, &["complete"]).await;
    assert_eq!(d["output"], json!([{ "n": 1 }, { "n": 2 }]), "{d:#}");

    // A restart erases the events the run consumed (start, items 1 and 2, finish); item 3 stays.
    server.change_status("early", &id, json!({ "status": "restart" })).await;
    let d = server.wait_for("early", &id, "the restarted start wait", parked_at("start-1")).await;
    assert!(find_step(&d, "item-1").is_none(), "a consumed start event survived the restart: {d:#}");
    server.deliver("early", &id, "start", json!({})).await;
    let d = server.wait_for("early", &id, "the second item wait", parked_at("item-2")).await;
    assert_eq!(step(&d, "item-1")["output"], json!({ "n": 3 }), "the unconsumed item: {d:#}");
    server.deliver("early", &id, "item", json!({ "n": 4 })).await;
    server.deliver("early", &id, "finish", json!({})).await;
    let d = server.wait_for_status("early", &id, &["complete"]).await;
    assert_eq!(d["output"], json!([{ "n": 3 }, { "n": 4 }]), "{d:#}");
}

#[tokio::test]
async fn sleep_until_a_time_in_the_past_returns_at_once() {
    let server = Server::start(FIXTURE);
    let id = server.create("past-sleep", json!({})).await;
    let d = server.wait_for_status("past-sleep", &id, &["complete"]).await;
    assert_eq!(d["output"], json!("after"), "{d:#}");
    for name in ["an hour ago-1", "a day ago-1"] {
        let sleep = step(&d, name);
        assert_eq!((&sleep["type"], &sleep["finished"]), (&json!("sleep"), &json!(true)), "{d:#}");
        let slept = iso_ms(&sleep["end"]) - iso_ms(&sleep["start"]);
        assert!((0..10_000).contains(&slept), "{name} took {slept} ms: {d:#}");
    }
}

#[tokio::test]
async fn without_limits_steps_the_10001st_step_fails_the_instance() {
    let server = Server::start(FIXTURE);
    let id = server.create("many-steps", json!({ "steps": 10_001 })).await;
    // Polled through the list, which is cheap however many steps the instance has.
    let url = format!("{}/instances?status=errored", server.workflow_url("many-steps"));
    let deadline = std::time::Instant::now() + PATIENCE * 2;
    loop {
        let (code, body) = server.request(reqwest::Method::GET, &url, None).await;
        assert_eq!(code, 200, "{body:#}");
        if body["result"].as_array().is_some_and(|list| list.iter().any(|i| i["id"] == id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not errored: {:#}",
            server.describe("many-steps", &id).await["status"]
        );
        tokio::time::sleep(POLL * 5).await;
    }
    let d = server.describe("many-steps", &id).await;
    assert_eq!(
        d["error"],
        json!({
            "name": "WorkflowFatalError",
            "message": "The limit of 10000 steps has been reached. This limit can be changed in your worker configuration.",
        }),
        "{}",
        d["error"]
    );
    let succeeded = do_steps(&d).into_iter().filter(|s| s["success"] == json!(true)).count();
    assert_eq!(succeeded, 10_000);
    assert!(find_step(&d, "s-10001").is_none_or(|s| s["success"] != json!(true)));
}
