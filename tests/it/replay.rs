//! Durable execution: completed steps are cached and never run again (across sleeps and process
//! restarts), repeated names are numbered by occurrence, and sleeps take strings, milliseconds,
//! Dates and epoch milliseconds.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_completed_step_does_not_run_again_after_a_sleep() {
    let server = Server::start("basic");
    let id = server.create("replay", json!({ "sleepMs": 300 })).await;
    let d = server.wait_for_status("replay", &id, &["complete"]).await;

    let logs = server.logs();
    let a_runs = logs.matches(&format!("replay-marker a-body {id}")).count();
    assert_eq!(a_runs, 1, "step a ran {a_runs} times:\n{logs}");
    let b_runs = logs.matches(&format!("replay-marker b-body {id}")).count();
    assert_eq!(b_runs, 1, "step b ran {b_runs} times:\n{logs}");

    assert_eq!(step(&d, "a-1")["output"], d["output"]["a"], "{d:#}");
    assert_eq!(step(&d, "b-1")["output"], d["output"]["b"], "{d:#}");
    let nap = step(&d, "nap-1");
    assert_eq!(nap["type"], "sleep", "{nap:#}");
    assert_eq!(nap["finished"], json!(true), "{nap:#}");
    let slept = iso_ms(&nap["end"]) - iso_ms(&nap["start"]);
    assert!(slept >= 270, "slept {slept} ms of 300: {nap:#}");
}

#[tokio::test]
async fn completed_steps_do_not_run_again_after_a_process_restart() {
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("basic", persist.path(), &[]);
    let id = server.create("replay", json!({ "sleepMs": 2000 })).await;
    let before = server
        .wait_for("replay", &id, "the nap to start", |d| {
            find_step(d, "a-1").is_some_and(|s| s["success"] == json!(true)) && find_step(d, "nap-1").is_some()
        })
        .await;
    let a_before = step(&before, "a-1")["output"].clone();
    assert!(a_before["id"].is_string(), "{before:#}");
    server.kill9();

    let server = Server::start_with("basic", persist.path(), &[]);
    let d = server.wait_for_status("replay", &id, &["complete"]).await;
    assert_eq!(d["output"]["a"], a_before, "step a's cached output changed: {d:#}");
    assert_eq!(step(&d, "a-1")["output"], a_before, "{d:#}");
    assert!(d["output"]["b"].is_string(), "{d:#}");
    assert_eq!(step(&d, "nap-1")["finished"], json!(true), "{d:#}");
    let logs = server.logs();
    assert!(!logs.contains(&format!("replay-marker a-body {id}")), "step a ran again after the restart:\n{logs}");
    assert_eq!(logs.matches(&format!("replay-marker b-body {id}")).count(), 1, "{logs}");
}

#[tokio::test]
async fn the_same_step_name_twice_is_numbered_by_occurrence() {
    let server = Server::start("basic");
    let id = server.create("dup-names", json!({})).await;
    let d = server.wait_for_status("dup-names", &id, &["complete"]).await;
    assert_eq!(d["output"], json!(["first", "second"]), "{d:#}");

    let names: Vec<&str> = steps(&d).iter().map(|s| s["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["x-1", "s-1", "x-2", "s-2"], "{d:#}");
    assert_eq!(step(&d, "x-1")["output"], "first", "{d:#}");
    assert_eq!(step(&d, "x-2")["output"], "second", "{d:#}");
    assert_eq!(step(&d, "s-1")["type"], "sleep", "{d:#}");
    assert_eq!(step(&d, "s-2")["type"], "sleep", "{d:#}");
}

#[tokio::test]
async fn sleeps_accept_strings_milliseconds_dates_and_epoch_millis() {
    let server = Server::start("basic");
    let id = server.create("sleeps", json!({})).await;
    let d = server.wait_for_status("sleeps", &id, &["complete"]).await;

    for name in ["one-second-1", "millis-1", "until-date-1", "until-ms-1"] {
        let s = step(&d, name);
        assert_eq!(s["type"], "sleep", "{s:#}");
        assert_eq!(s["finished"], json!(true), "{s:#}");
        assert!(s["error"].is_null(), "{s:#}");
    }
    let span = |name: &str| {
        let s = step(&d, name);
        iso_ms(&s["end"]) - iso_ms(&s["start"])
    };
    assert!(span("one-second-1") >= 900, "\"1 second\" slept {} ms", span("one-second-1"));
    assert!(span("millis-1") >= 180, "200 slept {} ms", span("millis-1"));

    let t0 = d["output"]["t0"].as_i64().unwrap_or_else(|| panic!("{d:#}"));
    let t1 = d["output"]["t1"].as_i64().unwrap_or_else(|| panic!("{d:#}"));
    let until_date = iso_ms(&step(&d, "until-date-1")["end"]);
    assert!(until_date >= t0 + 1500 - 20, "sleepUntil(Date) woke {} ms early", t0 + 1500 - until_date);
    assert!(t1 >= t0 + 1800 - 20, "sleepUntil(ms) woke {} ms early", t0 + 1800 - t1);
}

#[tokio::test]
async fn a_timer_that_fell_due_while_stepflare_was_down_fires_at_start() {
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("basic", persist.path(), &[]);
    let id = server.create("replay", json!({ "sleepMs": 400 })).await;
    server.wait_for_status("replay", &id, &["waiting"]).await;
    server.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;

    let server = Server::start_with("basic", persist.path(), &[]);
    let started = now_ms();
    let d = server.wait_for_status("replay", &id, &["complete"]).await;
    let woke = iso_ms(&step(&d, "b-1")["start"]) - started;
    assert!(woke < 5_000, "the overdue sleep took {woke} ms to fire after the start: {d:#}");
    assert_eq!(step(&d, "nap-1")["finished"], json!(true), "{d:#}");
}

#[tokio::test]
async fn queued_instances_start_after_a_restart() {
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("basic", persist.path(), &["--max-concurrent", "1"]);
    let params = json!({ "steps": 3, "stepMs": 150 });
    let first = server.create("slow", params.clone()).await;
    let second = server.create("slow", params).await;
    assert_eq!(status(&server.describe("slow", &second).await), "queued");
    server.kill9();

    let server = Server::start_with("basic", persist.path(), &["--max-concurrent", "1"]);
    for id in [&first, &second] {
        let d = server.wait_for_status("slow", id, &["complete"]).await;
        assert_eq!(d["output"], json!(3), "{d:#}");
    }
}

#[tokio::test]
async fn a_paused_sleeping_instance_stays_paused_past_its_wake_time_until_resumed() {
    let server = Server::start("basic");
    let id = server.create("replay", json!({ "sleepMs": 300 })).await;
    server.wait_for_status("replay", &id, &["waiting"]).await;
    let paused = server.change_status("replay", &id, json!({ "status": "pause" })).await;
    assert_eq!(paused["status"], "paused", "{paused:#}");

    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let still = server.describe("replay", &id).await;
    assert_eq!(status(&still), "paused", "the sleep woke a paused instance: {still:#}");
    assert!(find_step(&still, "b-1").is_none(), "{still:#}");

    server.change_status("replay", &id, json!({ "status": "resume" })).await;
    let d = server.wait_for_status("replay", &id, &["complete"]).await;
    assert!(d["output"]["b"].is_string(), "{d:#}");
}
