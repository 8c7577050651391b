//! The Workflow binding's 2026 instance controls, called from a Worker as Cloudflare's docs
//! write them: `createBatch({instances})` and `createBatch({count})` with their per-entry
//! errors (and the deprecated array form beside them), `restart({from})` keeping the results
//! before the named step and the instance's concurrency slot, an instance that terminates
//! itself, and the keys `status()` answers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const FIXTURE: &str = "instance-control";

/// POSTs `body` to the Worker's `route` (which calls the binding) and returns its JSON answer.
async fn control(server: &Server, route: &str, body: Value) -> Value {
    let (status, answer) = server.request(Method::POST, &format!("{}{route}", server.base()), Some(&body)).await;
    assert_eq!(status, 200, "{route}: {answer:#}\n--- server logs ---\n{}", server.logs());
    answer
}

async fn create_batch(server: &Server, options: Value) -> Value {
    control(server, "/create-batch", json!({ "binding": "OUTCOME", "options": options })).await
}

async fn output_of(server: &Server, id: &str) -> Value {
    server.wait_for_status("outcome", id, &["complete"]).await["output"].clone()
}

async fn outcome_instances(server: &Server) -> Value {
    let url = format!("{}/instances", server.workflow_url("outcome"));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    body["result"].clone()
}

#[tokio::test]
async fn create_batch_with_instances_reports_clashes_and_keeps_input_order() {
    let server = Server::start(FIXTURE);
    server.create_with_id("outcome", "exists", json!({ "returns": "old" })).await;
    let answer = create_batch(
        &server,
        json!({ "instances": [
            { "id": "o-1", "params": { "returns": 1 } },
            { "id": "o-1", "params": { "returns": 2 } },
            { "id": "exists", "params": { "returns": 3 } },
            { "params": { "returns": 4 } },
            { "id": "o-2", "params": { "returns": 5 }, "retention": { "successRetention": "1 day", "errorRetention": 60000 } },
        ] }),
    )
    .await;
    let created = answer["created"].as_array().unwrap_or_else(|| panic!("{answer:#}"));
    assert_eq!(created.len(), 3, "{answer:#}");
    assert_eq!((&created[0], &created[2]), (&json!("o-1"), &json!("o-2")), "{answer:#}");
    let generated = created[1].as_str().unwrap_or_else(|| panic!("{answer:#}"));
    assert_eq!(
        answer["errors"],
        json!([
            { "index": 1, "id": "o-1", "code": 10415, "message": "workflows.api.error.instance.duplicate_in_batch" },
            { "index": 2, "id": "exists", "code": 10405, "message": "workflows.api.error.instance.already_exists" },
        ])
    );
    assert_eq!(output_of(&server, "o-1").await, json!(1), "the first entry with an id is the one created");
    assert_eq!(output_of(&server, generated).await, json!(4));
    assert_eq!(output_of(&server, "o-2").await, json!(5));
    assert_eq!(output_of(&server, "exists").await, json!("old"));
    assert_eq!(outcome_instances(&server).await.as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn create_batch_with_count_creates_that_many_with_the_shared_params() {
    let server = Server::start(FIXTURE);
    let answer = create_batch(&server, json!({ "count": 3, "params": { "returns": "shared" } })).await;
    assert_eq!(answer["errors"], json!([]), "{answer:#}");
    let created: Vec<String> = answer["created"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer:#}"))
        .iter()
        .map(|id| id.as_str().unwrap_or_else(|| panic!("{answer:#}")).to_owned())
        .collect();
    assert_eq!(created.len(), 3, "{answer:#}");
    assert_eq!(created.iter().collect::<std::collections::HashSet<_>>().len(), 3, "{answer:#}");
    for id in &created {
        assert_eq!(output_of(&server, id).await, json!("shared"));
    }
}

#[tokio::test]
async fn create_batch_refuses_bad_options_before_creating_anything() {
    let server = Server::start(FIXTURE);
    let reserved = format!("cf_{}", "0123456789abcdef".repeat(4));
    let too_many: Vec<Value> = (0..101).map(|i| json!({ "id": format!("v-{i}") })).collect();
    let invalid_id = "(instance.invalid_id) Instance ID is invalid";
    for (options, message) in [
        (json!({ "instances": [{ "id": "v-1" }, { "id": "bad id" }] }), invalid_id),
        (json!({ "instances": [{ "id": "v-1" }, { "id": reserved }] }), invalid_id),
        (json!({ "instances": [{ "id": "v-1" }, { "id": 12 }] }), invalid_id),
        (
            json!({ "instances": [{ "id": "v-1" }, { "id": "v-2", "retention": { "successRetention": "soon" } }] }),
            "(body) Duration must be a number or a string in format '{{number}} {{unit}}' where unit is second(s), minute(s), etc.",
        ),
        (json!({ "instances": [{ "id": "v-1", "retention": { "errorRetention": -5 } }] }), "(body) Duration must be"),
        (json!({ "instances": [{ "id": "v-1", "locationHint": "mars" }] }), "(body) Invalid enum value"),
        (json!({ "instances": [{ "id": "v-1" }, "v-2"] }), "(body) each entry of instances must be an object"),
        (json!({ "instances": [] }), "(body) batchCreate should have at least 1 instance"),
        (json!({ "instances": too_many }), "(body) Batch size exceeds maximum allowed"),
        (json!({ "count": 0 }), "(body) count must be a positive integer"),
        (json!({ "count": 1.5 }), "(body) count must be a positive integer"),
        (json!({ "count": 101 }), "(body) batchCreate only supports 100 instances at a time"),
        (json!({ "count": 1, "instances": [{ "id": "v-1" }] }), "(body) Provided argument is invalid"),
        (json!({ "instances": "v-1" }), "(body) Provided argument is invalid"),
        (json!("v-1"), "(body) Provided argument is invalid"),
    ] {
        let answer = create_batch(&server, options.clone()).await;
        let thrown = answer["threw"].as_str().unwrap_or_else(|| panic!("{options} did not throw: {answer:#}"));
        assert!(thrown.starts_with(message), "{options}: {thrown}");
    }
    assert_eq!(outcome_instances(&server).await, json!([]), "a refused batch created something");
}

#[tokio::test]
async fn the_deprecated_array_form_skips_clashes_silently() {
    let server = Server::start(FIXTURE);
    server.create_with_id("outcome", "exists", json!({ "returns": "old" })).await;
    let answer = create_batch(
        &server,
        json!([
            { "id": "a-1", "params": { "returns": 1 } },
            { "id": "a-1", "params": { "returns": 2 } },
            { "id": "exists" },
            { "params": { "returns": 3 } },
        ]),
    )
    .await;
    let instances = answer["instances"].as_array().unwrap_or_else(|| panic!("{answer:#}"));
    assert_eq!(instances.len(), 2, "{answer:#}");
    assert_eq!(instances[0], "a-1", "{answer:#}");
    assert_eq!(output_of(&server, "a-1").await, json!(1));
    assert_eq!(output_of(&server, instances[1].as_str().unwrap()).await, json!(3));
    assert_eq!(output_of(&server, "exists").await, json!("old"));
    let answer = create_batch(&server, json!([])).await;
    assert_eq!(answer, json!({ "threw": "WorkflowError: batchCreate should have at least 1 instance" }));
}

/// Restarts the `counter` instance `id` through the binding; returns what the route answered.
async fn restart(server: &Server, id: &str, options: Value) -> Value {
    control(server, "/restart", json!({ "binding": "COUNTER", "id": id, "restart": options })).await
}

/// Restarts a complete `counter` instance and waits for the new run's output.
async fn restart_and_wait(server: &Server, id: &str, options: Value) -> (Value, Value) {
    let old = server.wait_for_status("counter", id, &["complete"]).await["output"].clone();
    assert_eq!(restart(server, id, options.clone()).await, json!({ "restarted": true }), "{options}");
    let d = server
        .wait_for("counter", id, "the restarted run to complete", |d| {
            status(d) == "complete" && d["output"]["last"] != old["last"]
        })
        .await;
    (old, d["output"].clone())
}

#[tokio::test]
async fn restart_from_a_step_keeps_the_results_before_it() {
    let server = Server::start(FIXTURE);
    server.create_with_id("counter", "c", json!({})).await;

    let (old, new) = restart_and_wait(&server, "c", json!({ "from": { "name": "item", "count": 2 } })).await;
    assert_eq!(new["first"], old["first"], "a step before the restart point ran again");
    assert_eq!(new["items"][0], old["items"][0], "the first `item` is before the restart point");
    assert_ne!(new["items"][1], old["items"][1], "the second `item` is the restart point");

    let (old, new) = restart_and_wait(&server, "c", json!({ "from": { "name": "rest", "type": "sleep" } })).await;
    assert_eq!((&new["first"], &new["items"]), (&old["first"], &old["items"]));

    let (old, new) = restart_and_wait(&server, "c", json!({ "from": { "name": "first", "type": "do" } })).await;
    assert_ne!(new["first"], old["first"]);
    assert_ne!(new["items"], old["items"]);

    // A step that is not in the history is refused, and nothing changes.
    let before = server.wait_for_status("counter", "c", &["complete"]).await;
    for (from, message) in [
        (json!({ "name": "nope" }), "(instance.cannot_restart) Step \"nope\" not found in execution history"),
        (
            json!({ "name": "item", "count": 3 }),
            "(instance.cannot_restart) Step \"item\" not found in execution history",
        ),
        (
            json!({ "name": "first", "type": "waitForEvent" }),
            "(instance.cannot_restart) Step \"first\" not found in execution history",
        ),
        (json!({ "name": "first", "count": 0 }), "TypeError: from.count must be a positive integer"),
        (json!({ "name": "first", "type": "step" }), "TypeError: from.type must be do, sleep or waitForEvent"),
    ] {
        let answer = restart(&server, "c", json!({ "from": from })).await;
        assert_eq!(answer, json!({ "threw": message }), "{from}");
    }
    let after = server.describe("counter", "c").await;
    assert_eq!((status(&after), &after["output"]), ("complete", &before["output"]), "{after:#}");
    assert_eq!(after["steps"], before["steps"], "a refused restart changed the history");
}

#[tokio::test]
async fn restart_from_the_step_in_flight_keeps_the_steps_before_it() {
    let server = Server::start(FIXTURE);
    server.create_with_id("held", "h", json!({ "holdMs": 1000 })).await;
    let d = server
        .wait_for("held", "h", "the hold step to run", |d| status(d) == "running" && find_step(d, "hold-1").is_some())
        .await;
    let begun = step(&d, "begin-1")["start"].clone();
    server.change_status("held", "h", json!({ "status": "restart", "from": { "name": "hold" } })).await;
    let d = server.wait_for_status("held", "h", &["complete"]).await;
    assert_eq!(step(&d, "begin-1")["start"], begun, "the step before the restart point ran again: {d:#}");
    assert_eq!(attempts(step(&d, "hold-1")).len(), 1, "{d:#}");
}

async fn status_of(server: &Server, id: &str) -> Value {
    control(server, "/status", json!({ "binding": "OUTCOME", "id": id })).await
}

#[tokio::test]
async fn status_answers_the_keys_of_wrangler_dev() {
    let server = Server::start(FIXTURE);
    let keys = json!(["status", "error", "output", "rollback"]);

    server.create_with_id("outcome", "waits", json!({ "wait": true })).await;
    server.wait_for_status("outcome", "waits", &["waiting"]).await;
    let answer = status_of(&server, "waits").await;
    assert_eq!(answer["keys"], keys, "{answer:#}");
    assert_eq!((&answer["hasError"], &answer["errorIsUndefined"]), (&json!(true), &json!(true)), "{answer:#}");
    assert_eq!(answer["status"], json!({ "status": "waiting", "output": null, "rollback": null }));

    server.create_with_id("outcome", "returns", json!({ "returns": { "n": 1 } })).await;
    server.wait_for_status("outcome", "returns", &["complete"]).await;
    let answer = status_of(&server, "returns").await;
    assert_eq!(answer["keys"], keys, "{answer:#}");
    assert_eq!(answer["status"], json!({ "status": "complete", "output": { "n": 1 }, "rollback": null }));

    server.create_with_id("outcome", "returns-nothing", json!({})).await;
    server.wait_for_status("outcome", "returns-nothing", &["complete"]).await;
    let answer = status_of(&server, "returns-nothing").await;
    assert_eq!(answer["status"], json!({ "status": "complete", "output": null, "rollback": null }));

    server.create_with_id("outcome", "fails", json!({ "fail": true })).await;
    server.wait_for_status("outcome", "fails", &["errored"]).await;
    let answer = status_of(&server, "fails").await;
    assert_eq!(answer["keys"], keys, "{answer:#}");
    assert_eq!(answer["errorIsUndefined"], false, "{answer:#}");
    assert_eq!(
        answer["status"],
        json!({
            "status": "errored",
            "error": { "name": "Error", "message": "it failed" },
            "output": null,
            "rollback": null,
        })
    );
}

#[tokio::test]
async fn a_restarted_instance_keeps_its_concurrency_slot() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with(FIXTURE, persist.path(), &["--max-concurrent", "1"]);
    server.create_with_id("held", "a", json!({ "holdMs": 600 })).await;
    server
        .wait_for("held", "a", "the hold step to run", |d| status(d) == "running" && find_step(d, "hold-1").is_some())
        .await;
    server.create_with_id("held", "b", json!({ "holdMs": 0 })).await;
    server.change_status("held", "a", json!({ "status": "restart" })).await;
    // Until the restarted run ends, the instance that waited for a slot still waits.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let b = server.describe("held", "b").await;
        let a = server.describe("held", "a").await;
        if status(&a) == "complete" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the restarted instance never completed: {a:#}");
        assert_eq!(status(&b), "queued", "while the restarted instance is {}: {b:#}", status(&a));
        tokio::time::sleep(POLL).await;
    }
    server.wait_for_status("held", "b", &["complete"]).await;
}

#[tokio::test]
async fn an_instance_that_terminates_itself_stops_inside_terminate() {
    let server = Server::start(FIXTURE);
    server.create_with_id("self-terminating", "quitter", json!({})).await;
    let d = server.wait_for_status("self-terminating", "quitter", &["terminated"]).await;
    assert_eq!(d["steps"].as_array().map(Vec::len), Some(2), "begin and the termination: {d:#}");
    server.create_with_id("marks", "control", json!({})).await;
    server.wait_for_status("marks", "control", &["complete"]).await;
    let (code, body) = server.request(Method::GET, &server.instance_url("marks", "after-quitter"), None).await;
    assert_eq!(code, 404, "code after `await instance.terminate()` ran: {body:#}");
}
