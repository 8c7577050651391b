//! User code that never yields holds only a JS thread of its own: with more runaway loops than
//! the machine has cores (in steps and in `run()` itself), the REST API keeps answering, and
//! terminating a spinning instance answers at once and frees its thread.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn runaway_loops_do_not_stop_the_api_and_terminate_stops_them() {
    let server = Server::start("runaway");
    let mut spinning = Vec::new();
    for (i, where_) in ["step", "step", "run", "run"].iter().enumerate() {
        let id = format!("spin-{i}");
        server.create_with_id("spin", &id, json!({ "where": where_ })).await;
        spinning.push(id);
    }
    // Wait until the loops run: the first two instances hold both JS threads (on two cores).
    for id in &spinning[..2] {
        server.wait_for_status("spin", id, &["running"]).await;
    }

    // The API answers throughout.
    let mut took = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let (status, body) = server.request(Method::GET, &server.instance_url("spin", &spinning[0]), None).await;
        took.push(started.elapsed());
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["result"]["status"], "running", "{body:#}");
    }
    took.sort();
    eprintln!("describe while 4 loops spin: p50 {:?}, p99 {:?}", took[took.len() / 2], took[took.len() * 99 / 100]);

    // Each terminate answers (the run is interrupted inside its loop) and frees a thread for the
    // next spinning instance, until none is left.
    for id in &spinning {
        let started = Instant::now();
        let d = server.change_status("spin", id, json!({ "status": "terminate" })).await;
        eprintln!("terminate {id}: {:?}", started.elapsed());
        assert_eq!(d["status"], "terminated", "{d:#}");
        assert!(started.elapsed() < Duration::from_secs(10), "terminate of {id} took {:?}", started.elapsed());
    }
    for id in &spinning {
        assert_eq!(status(&server.describe("spin", id).await), "terminated");
    }
    // The Worker has a free JS thread again.
    let (status, body) = server.request(Method::GET, &format!("{}/", server.base()), None).await;
    assert_eq!((status, body), (200, json!("ok")));
}

#[tokio::test]
async fn a_run_started_when_another_ends_can_be_stopped_while_the_js_threads_spin() {
    // One slot: the second instance starts when the first is terminated, from the engine's own
    // side, and its loop is then interrupted like the first one's.
    let state = tempfile::tempdir().expect("a state folder");
    let server = Server::start_with("runaway", state.path(), &["--max-concurrent", "1"]);
    server.create_with_id("spin", "first", json!({ "where": "step" })).await;
    server.create_with_id("spin", "second", json!({ "where": "run" })).await;
    server.wait_for_status("spin", "first", &["running"]).await;
    assert_eq!(status(&server.describe("spin", "second").await), "queued");
    server.change_status("spin", "first", json!({ "status": "terminate" })).await;
    server.wait_for_status("spin", "second", &["running"]).await;
    let d = server.change_status("spin", "second", json!({ "status": "terminate" })).await;
    assert_eq!(d["status"], "terminated", "{d:#}");
}

#[tokio::test]
async fn restarting_a_spinning_instance_interrupts_its_loop_and_runs_it_again() {
    let server = Server::start("runaway");
    server.create_with_id("spin", "again", json!({ "where": "step" })).await;
    server.wait_for_status("spin", "again", &["running"]).await;
    server.change_status("spin", "again", json!({ "status": "restart" })).await;
    server.wait_for_status("spin", "again", &["running"]).await;
    let d = server.change_status("spin", "again", json!({ "status": "terminate" })).await;
    assert_eq!(d["status"], "terminated", "{d:#}");
}

#[tokio::test]
async fn a_step_that_allocates_without_bound_fails_at_the_memory_limit_and_the_server_goes_on() {
    let server = Server::start("runaway");
    let id = server.create("spin", json!({ "where": "memory" })).await;
    let d = server.wait_for_status("spin", &id, &["errored"]).await;
    let hoard = step(&d, "hoard-1");
    assert_eq!(attempts(hoard).len(), 2, "the attempt is retried per its config: {d:#}");
    // Every time, not only when QuickJS happens to have room left to make its error.
    let out_of_memory = json!({ "name": "InternalError", "message": "out of memory" });
    for attempt in attempts(hoard) {
        assert_eq!(attempt["error"], out_of_memory, "{d:#}");
    }
    assert_eq!(d["error"], out_of_memory, "{d:#}");
    let (status, body) = server.request(Method::GET, &format!("{}/", server.base()), None).await;
    assert_eq!((status, body), (200, json!("ok")));
}

#[tokio::test]
async fn a_step_past_its_timeout_inside_code_that_never_yields_fails_that_attempt_and_is_retried() {
    let server = Server::start("runaway-limits");
    server.create_with_id("timeout", "once", json!({})).await;
    let d = server.wait_for_status("timeout", "once", &["complete"]).await;
    assert_eq!(d["output"], json!({ "before": "kept", "spun": "attempt 2" }), "{d:#}");
    let spin = step(&d, "spin-1");
    let tries = attempts(spin);
    assert_eq!(tries.len(), 2, "{spin:#}");
    assert_eq!(tries[0]["success"], false, "{spin:#}");
    assert_eq!(
        tries[0]["error"],
        json!({ "name": "WorkflowTimeoutError", "message": "Execution timed out after 300ms" })
    );
    assert_eq!(tries[1]["success"], true, "{spin:#}");
    // The step before was committed once and replayed, not run again.
    assert_eq!(attempts(step(&d, "before-1")).len(), 1, "{d:#}");
}

#[tokio::test]
async fn a_step_that_always_spins_past_its_timeout_fails_the_instance_with_the_timeout() {
    let server = Server::start("runaway-limits");
    server.create_with_id("timeout", "always", json!({ "always": true })).await;
    let d = server.wait_for_status("timeout", "always", &["errored"]).await;
    assert_eq!(d["error"], json!({ "name": "WorkflowTimeoutError", "message": "Execution timed out after 300ms" }));
    assert_eq!(attempts(step(&d, "spin-1")).len(), 2, "retries.limit 1 gives two attempts: {d:#}");
}

#[tokio::test]
async fn code_over_the_cpu_limit_fails_its_step_attempt_or_the_instance_and_the_worker_answers_503() {
    let server = Server::start("runaway-limits");
    server.create_with_id("cpu", "in-step", json!({ "where": "step" })).await;
    server.create_with_id("cpu", "in-run", json!({ "where": "run" })).await;

    let d = server.wait_for_status("cpu", "in-step", &["complete"]).await;
    assert_eq!(d["output"], "attempt 2", "{d:#}");
    let tries = attempts(step(&d, "spin-1"));
    assert_eq!(tries[0]["error"], json!({ "name": "Error", "message": "Worker exceeded CPU time limit." }));

    let d = server.wait_for_status("cpu", "in-run", &["errored"]).await;
    assert_eq!(d["error"], json!({ "name": "Error", "message": "Worker exceeded CPU time limit." }));

    let (status, body) = server.request(Method::GET, &format!("{}/spin", server.base()), None).await;
    assert_eq!((status, body), (503, json!("Worker exceeded CPU time limit.\n")));
    let (status, body) = server.request(Method::GET, &format!("{}/", server.base()), None).await;
    assert_eq!((status, body), (200, json!("ok")));
}

#[tokio::test]
async fn pausing_a_spinning_step_pauses_once_its_attempt_is_stopped_and_resume_goes_on() {
    let server = Server::start("runaway-limits");
    server.create_with_id("timeout", "pause", json!({ "always": true })).await;
    server.wait_for("timeout", "pause", "the spinning step", |d| find_step(d, "spin-1").is_some()).await;
    // Between two attempts the instance may be waiting for a moment; then it pauses at once.
    let d = server.change_status("timeout", "pause", json!({ "status": "pause" })).await;
    assert!(["waitingForPause", "paused"].contains(&d["status"].as_str().unwrap_or_default()), "{d:#}");
    let d = server.wait_for_status("timeout", "pause", &["paused"]).await;
    let stopped = attempts(step(&d, "spin-1")).len();
    assert!((1..=2).contains(&stopped), "paused once an attempt was stopped: {d:#}");
    server.change_status("timeout", "pause", json!({ "status": "resume" })).await;
    let d = server.wait_for_status("timeout", "pause", &["errored"]).await;
    assert_eq!(attempts(step(&d, "spin-1")).len(), 2, "{d:#}");
}
