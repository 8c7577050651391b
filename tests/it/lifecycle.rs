//! Instance lifecycle over the REST API: creation and id rules, the describe shape, error
//! envelopes, pause / resume / terminate / restart, and the concurrency limit.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const STATUSES: &[&str] =
    &["queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause", "waiting"];

/// True while a `step.do` has started and not ended.
fn step_in_progress(d: &Value) -> bool {
    do_steps(d).iter().any(|s| s["end"].is_null())
}

#[tokio::test]
async fn create_returns_the_instance_summary() {
    let server = Server::start("basic");
    let resp = server.try_create("event-info", &json!({ "instance_id": "summary_1", "params": { "a": 1 } })).await;
    assert_eq!(resp.0, 200, "{:#}", resp.1);
    let body = resp.1;
    assert_eq!(body["success"], json!(true), "{body:#}");
    assert!(body["errors"].as_array().is_some_and(Vec::is_empty), "{body:#}");
    assert!(body["messages"].is_array(), "{body:#}");
    let result = &body["result"];
    assert_eq!(result["id"], "summary_1", "{body:#}");
    let status = result["status"].as_str().unwrap_or_default();
    assert!(STATUSES.contains(&status), "{body:#}");
    assert!(result["version_id"].is_string(), "{body:#}");
    assert!(result["workflow_id"].is_string(), "{body:#}");
}

#[tokio::test]
async fn create_without_an_id_generates_a_valid_one() {
    let server = Server::start("basic");
    let first = server.create("event-info", json!({})).await;
    let second = server.create("event-info", json!({})).await;
    assert_ne!(first, second);
    for id in [&first, &second] {
        let valid = !id.is_empty()
            && id.len() <= 100
            && !id.starts_with('-')
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        assert!(valid, "generated id {id:?} breaks the id rules");
        let d = server.wait_for_status("event-info", id, &["complete"]).await;
        assert_eq!(d["output"]["instanceId"], json!(id), "{d:#}");
    }
}

#[tokio::test]
async fn duplicate_instance_id_is_rejected_with_409() {
    let server = Server::start("basic");
    server.create_with_id("event-info", "twice", json!({})).await;
    let resp = server.try_create("event-info", &json!({ "instance_id": "twice", "params": {} })).await;
    assert_api_error("duplicate id", resp, 409, None);
    // The original instance is untouched.
    let d = server.wait_for_status("event-info", "twice", &["complete"]).await;
    assert_eq!(d["params"], json!({}), "{d:#}");
}

#[tokio::test]
async fn invalid_instance_ids_are_rejected_with_400() {
    let server = Server::start("basic");
    let too_long = "a".repeat(101);
    // Cloudflare's own form of id is reserved.
    let reserved = format!("cf_{}", "0123456789abcdef".repeat(4));
    for bad in ["has space", "-leading-dash", "dot.ted", "slash/ed", "ünïcode", &too_long, &reserved] {
        let resp = server.try_create("event-info", &json!({ "instance_id": bad, "params": {} })).await;
        assert_api_error(&format!("instance id {bad:?}"), resp, 400, None);
    }
    // The edges of the rule are accepted.
    let longest = "b".repeat(100);
    for good in ["_underscore_first", "9-digits-and-dashes_", &longest] {
        server.create_with_id("event-info", good, json!({})).await;
    }
}

#[tokio::test]
async fn unknown_workflow_is_a_404_with_code_10200() {
    let server = Server::start("basic");
    let resp = server.try_create("no-such-workflow", &json!({ "params": {} })).await;
    assert_api_error("create on unknown workflow", resp, 404, Some(10200));
    let url = server.instance_url("no-such-workflow", "x");
    let resp = server.request(reqwest::Method::GET, &url, None).await;
    assert_api_error("describe on unknown workflow", resp, 404, Some(10200));
}

#[tokio::test]
async fn unknown_instance_is_a_404_with_code_10400() {
    let server = Server::start("basic");
    let url = server.instance_url("event-info", "never-created");
    let resp = server.request(reqwest::Method::GET, &url, None).await;
    assert_api_error("describe unknown instance", resp, 404, Some(10400));
    let resp = server.patch_status("event-info", "never-created", json!({ "status": "pause" })).await;
    assert_api_error("pause unknown instance", resp, 404, Some(10400));
}

#[tokio::test]
async fn describe_reports_the_documented_shape() {
    let server = Server::start("basic");
    let params = json!({ "shape": true });
    let id = server.create("event-info", params.clone()).await;
    let d = server.wait_for_status("event-info", &id, &["complete"]).await;

    assert_eq!(d["params"], params, "{d:#}");
    assert_eq!(d["trigger"], json!({ "source": "api" }), "{d:#}");
    assert!(d["versionId"].is_string(), "{d:#}");
    for field in ["queued", "start", "end"] {
        assert_iso(&d[field]);
    }
    assert!(iso_ms(&d["queued"]) <= iso_ms(&d["start"]), "{d:#}");
    assert!(iso_ms(&d["start"]) <= iso_ms(&d["end"]), "{d:#}");
    assert_eq!(d["success"], json!(true), "{d:#}");
    assert!(d["error"].is_null(), "{d:#}");
    assert_eq!(d["output"]["instanceId"], json!(id), "{d:#}");
    let step_count = d["step_count"].as_u64().unwrap_or_else(|| panic!("{d:#}"));
    assert!(step_count >= 1, "{d:#}");

    let info = step(&d, "info-1");
    assert_eq!(info["type"], "step", "{info:#}");
    assert_eq!(info["success"], json!(true), "{info:#}");
    assert_eq!(info["output"], d["output"], "step output is the JSON value: {info:#}");
    assert_iso(&info["start"]);
    assert_iso(&info["end"]);
    // No config given: the defaults are 5 retries with exponential backoff.
    assert_eq!(info["config"]["retries"]["limit"], json!(5), "{info:#}");
    assert_eq!(info["config"]["retries"]["backoff"], "exponential", "{info:#}");
    assert!(!info["config"]["retries"]["delay"].is_null(), "{info:#}");
    assert!(!info["config"]["timeout"].is_null(), "{info:#}");
    let tries = attempts(info);
    assert_eq!(tries.len(), 1, "{info:#}");
    assert_eq!(tries[0]["success"], json!(true), "{info:#}");
    assert!(tries[0]["error"].is_null(), "{info:#}");
    assert_iso(&tries[0]["start"]);
    assert_iso(&tries[0]["end"]);
}

#[tokio::test]
async fn pause_waits_for_the_current_step_and_resume_completes() {
    let server = Server::start("basic");
    let wf = "slow";
    let id = server.create(wf, json!({ "steps": 6, "stepMs": 300 })).await;
    server.wait_for(wf, &id, "a step in progress", |d| status(d) == "running" && step_in_progress(d)).await;

    let result = server.change_status(wf, &id, json!({ "status": "pause" })).await;
    assert!(result["status"].is_string(), "{result:#}");
    assert_iso(&result["timestamp"]);
    let d = server.describe(wf, &id).await;
    assert!(["waitingForPause", "paused"].contains(&status(&d)), "right after pause: {d:#}");

    let paused = server.wait_for_status(wf, &id, &["paused"]).await;
    assert!(!step_in_progress(&paused), "paused only once the current step is done: {paused:#}");
    let done = do_steps(&paused).len();
    assert!(done < 6, "paused too late to test anything: {paused:#}");
    assert!(do_steps(&paused).iter().all(|s| s["success"] == json!(true)), "{paused:#}");

    // Nothing runs while paused (two step durations and more).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let still = server.describe(wf, &id).await;
    assert_eq!(status(&still), "paused", "{still:#}");
    assert_eq!(do_steps(&still).len(), done, "a step ran while paused: {still:#}");

    server.change_status(wf, &id, json!({ "status": "resume" })).await;
    let d = server.wait_for_status(wf, &id, &["complete"]).await;
    assert_eq!(d["output"], json!(6), "{d:#}");
    for i in 0..6 {
        let work = step(&d, &format!("work{i}-1"));
        assert_eq!(work["output"], json!(i), "{work:#}");
    }
    assert_eq!(do_steps(&d).len(), 6, "{d:#}");
}

#[tokio::test]
async fn terminate_stops_the_instance_for_good() {
    let server = Server::start("basic");
    let wf = "slow";
    let id = server.create(wf, json!({ "steps": 8, "stepMs": 300 })).await;
    server.wait_for(wf, &id, "a step in progress", step_in_progress).await;
    // The step's body logs when it begins, a moment after the step shows as in progress: wait
    // for that line, so that the count below cannot miss it.
    let marker = format!("slow-marker {id} ");
    server.wait_for_log(&[&marker]).await;

    server.change_status(wf, &id, json!({ "status": "terminate" })).await;
    let d = server.wait_for_status(wf, &id, &["terminated"]).await;
    let started = do_steps(&d).len();
    assert!(started < 8, "terminated too late to test anything: {d:#}");
    assert!(
        steps(&d).iter().any(|s| s["type"] == "termination" && s["trigger"] == json!({ "source": "api" })),
        "no termination entry: {d:#}"
    );

    let bodies_run = server.logs().matches(&marker).count();

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = server.describe(wf, &id).await;
    assert_eq!(status(&later), "terminated", "{later:#}");
    assert_eq!(do_steps(&later).len(), started, "a step ran after terminate: {later:#}");
    assert_eq!(
        server.logs().matches(&marker).count(),
        bodies_run,
        "a step body ran after terminate:\n{}",
        server.logs()
    );

    // A terminated instance cannot be brought back by resume.
    let _ = server.patch_status(wf, &id, json!({ "status": "resume" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_resume = server.describe(wf, &id).await;
    assert_eq!(status(&after_resume), "terminated", "{after_resume:#}");
    assert_eq!(do_steps(&after_resume).len(), started, "{after_resume:#}");
}

#[tokio::test]
async fn terminating_a_complete_instance_is_rejected() {
    let server = Server::start("basic");
    let id = server.create("event-info", json!({})).await;
    server.wait_for_status("event-info", &id, &["complete"]).await;
    let resp = server.patch_status("event-info", &id, json!({ "status": "terminate" })).await;
    assert_client_error("terminate a complete instance", resp);
    let d = server.describe("event-info", &id).await;
    assert_eq!(status(&d), "complete", "{d:#}");
}

/// Restarts a complete `stamps` instance and waits for the new run to complete.
async fn restart_stamps(server: &Server, id: &str, body: Value) -> (Value, Value) {
    let old = server.wait_for_status("stamps", id, &["complete"]).await;
    server.change_status("stamps", id, body).await;
    let new = server
        .wait_for("stamps", id, "the restarted run to complete", |d| {
            status(d) == "complete" && d["output"] != old["output"]
        })
        .await;
    (old["output"].clone(), new)
}

#[tokio::test]
async fn restart_runs_every_step_again() {
    let server = Server::start("basic");
    let id = server.create("stamps", json!({})).await;
    let (old, d) = restart_stamps(&server, &id, json!({ "status": "restart" })).await;
    let new = &d["output"];
    for key in ["a", "b", "c"] {
        assert!(new[key].is_string(), "{d:#}");
        assert_ne!(new[key], old[key], "step {key} kept its old output: {d:#}");
        assert_eq!(step(&d, &format!("{key}-1"))["output"], new[key], "{d:#}");
    }
}

#[tokio::test]
async fn restart_from_a_named_step_keeps_the_outputs_before_it() {
    let server = Server::start("basic");
    let id = server.create("stamps", json!({})).await;
    let body = json!({ "status": "restart", "from": { "name": "b" } });
    let (old, d) = restart_stamps(&server, &id, body).await;
    let new = &d["output"];
    assert_eq!(new["a"], old["a"], "step a is before the restart point: {d:#}");
    assert_ne!(new["b"], old["b"], "step b is the restart point: {d:#}");
    assert_ne!(new["c"], old["c"], "step c is after the restart point: {d:#}");
    assert_eq!(step(&d, "a-1")["output"], old["a"], "{d:#}");
}

#[tokio::test]
async fn restart_from_accepts_count_and_type() {
    let server = Server::start("basic");
    let id = server.create("stamps", json!({})).await;
    let body = json!({ "status": "restart", "from": { "name": "c", "count": 1, "type": "do" } });
    let (old, d) = restart_stamps(&server, &id, body).await;
    let new = &d["output"];
    assert_eq!(new["a"], old["a"], "{d:#}");
    assert_eq!(new["b"], old["b"], "{d:#}");
    assert_ne!(new["c"], old["c"], "{d:#}");
}

#[tokio::test]
async fn max_concurrent_one_queues_the_second_instance() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("basic", persist.path(), &["--max-concurrent", "1"]);
    let params = json!({ "steps": 3, "stepMs": 300 });
    let first = server.create("slow", params.clone()).await;
    server.wait_for_status("slow", &first, &["running"]).await;
    let second = server.create("slow", params).await;

    // While the first one runs, the second one stays queued.
    // (Read the second one first: if the first is still unfinished afterwards, it was unfinished
    // when the second was read.)
    let mut samples = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let b = server.describe("slow", &second).await;
        let a = server.describe("slow", &first).await;
        if status(&a) == "complete" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first instance never completed: {a:#}");
        assert_eq!(status(&b), "queued", "second instance while the first is {}: {b:#}", status(&a));
        samples += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(samples >= 3, "the first instance finished too fast to observe the queue");

    let a = server.wait_for_status("slow", &first, &["complete"]).await;
    let b = server.wait_for_status("slow", &second, &["complete"]).await;
    assert_eq!(b["output"], json!(3), "{b:#}");
    assert!(
        iso_ms(&b["start"]) + 50 >= iso_ms(&a["end"]),
        "the second instance started before the first ended: {a:#}\n{b:#}"
    );
}
