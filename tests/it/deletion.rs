//! Deleting instances (`instance.delete()`, `deleteBatch` and the REST batch delete): a deleted
//! instance is gone from every view with all it stored, its run stops where it is (a step after
//! the delete never runs, which a later instance's trace proves), its id can be used again, and
//! a bad batch is refused before anything is deleted.

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

/// Whether REST answers 404 with code 10400 for the instance.
async fn is_gone(server: &Server, wf: &str, id: &str) -> bool {
    let (status, body) = server.request(Method::GET, &server.instance_url(wf, id), None).await;
    match status {
        404 => {
            assert_eq!(body["errors"][0]["code"], 10400, "{body:#}");
            true
        }
        200 => false,
        other => panic!("describe {wf}/{id} answered {other}: {body:#}"),
    }
}

async fn wait_until_gone(server: &Server, wf: &str, id: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !is_gone(server, wf, id).await {
        assert!(std::time::Instant::now() < deadline, "{wf}/{id} was never deleted\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the `held` instance is inside its `hold` step, which lasts `holdMs`.
async fn wait_until_holding(server: &Server, id: &str) {
    server
        .wait_for("held", id, "the hold step to run", |d| status(d) == "running" && find_step(d, "hold-1").is_some())
        .await;
}

/// Runs a `held` instance that holds `hold_ms` to its end, and checks that it left its trace:
/// whatever a deleted instance would have done before it, it has done by now.
async fn run_a_control_instance(server: &Server, id: &str, hold_ms: u64) {
    server.create_with_id("held", id, json!({ "holdMs": hold_ms })).await;
    server.wait_for_status("held", id, &["complete"]).await;
    server.wait_for_status("marks", &format!("after-{id}"), &["complete"]).await;
}

#[tokio::test]
async fn delete_batch_stops_a_running_instance_and_answers_each_id_in_order() {
    let server = Server::start(FIXTURE);
    server.create_with_id("held", "finished", json!({ "holdMs": 0 })).await;
    server.wait_for_status("held", "finished", &["complete"]).await;
    server.create_with_id("held", "doomed", json!({ "holdMs": 1000 })).await;
    wait_until_holding(&server, "doomed").await;

    let ids = json!(["doomed", "missing", "doomed", "finished"]);
    let result = control(&server, "/delete-batch", json!({ "binding": "HELD", "ids": ids })).await;
    assert_eq!(
        result,
        json!({
            "deleted": [{ "id": "doomed" }, { "id": "doomed" }, { "id": "finished" }],
            "errors": [{ "id": "missing", "code": 10400, "message": "workflows.api.error.instance.not_found" }],
        })
    );
    assert!(is_gone(&server, "held", "doomed").await);
    assert!(is_gone(&server, "held", "finished").await);
    let (_, list) = server.request(Method::GET, &format!("{}/instances", server.workflow_url("held")), None).await;
    assert_eq!(list["result"], json!([]), "{list:#}");

    // Started later and holding as long, this one ends after the deleted one would have.
    run_a_control_instance(&server, "control", 1000).await;
    assert!(is_gone(&server, "marks", "after-doomed").await, "a step after the delete ran");

    // The id is free again, with nothing of the old instance left.
    run_a_control_instance(&server, "doomed", 0).await;
    let d = server.describe("held", "doomed").await;
    assert_eq!(steps(&d).len(), 3, "{d:#}");
    for step in do_steps(&d) {
        assert_eq!(attempts(step).len(), 1, "{d:#}");
    }
}

#[tokio::test]
async fn delete_batch_refuses_a_bad_batch_before_deleting_anything() {
    let server = Server::start(FIXTURE);
    server.create_with_id("held", "keep", json!({ "holdMs": 0 })).await;
    server.wait_for_status("held", "keep", &["complete"]).await;
    let many: Vec<String> = (0..101).map(|i| format!("keep-{i}")).collect();
    for (ids, message) in [
        (json!(["keep", "bad!id"]), "(instance.invalid_id) Instance ID is invalid"),
        (json!(["keep", 7]), "(instance.invalid_id) Instance ID is invalid"),
        (json!(["keep", "x".repeat(272)]), "(instance.invalid_id) Instance ID is invalid"),
        (json!([]), "(body) batchDeleteInstances should have at least 1 instance"),
        (json!(many), "(body) batchDeleteInstances only supports 100 instances at a time"),
        (json!("keep"), "(body) Provided argument is invalid"),
    ] {
        let answer = control(&server, "/delete-batch", json!({ "binding": "HELD", "ids": ids })).await;
        assert_eq!(answer, json!({ "threw": message }), "{ids}");
    }
    server.wait_for_status("held", "keep", &["complete"]).await;
}

#[tokio::test]
async fn instance_delete_forgets_everything_the_instance_stored() {
    let server = Server::start(FIXTURE);
    server.create_with_id("outcome", "ev", json!({ "wait": true })).await;
    server.wait_for_status("outcome", "ev", &["waiting"]).await;
    // Paused, the instance keeps the event buffered rather than taking it.
    server.change_status("outcome", "ev", json!({ "status": "pause" })).await;
    server.wait_for_status("outcome", "ev", &["paused"]).await;
    server.deliver("outcome", "ev", "go", json!({ "stale": true })).await;

    let answer = control(&server, "/delete", json!({ "binding": "OUTCOME", "id": "ev" })).await;
    assert_eq!(answer, json!({ "deleted": true, "again": "(instance.not_found) Instance not found" }));
    assert!(is_gone(&server, "outcome", "ev").await);
    let (code, body) = server.send_event("outcome", "ev", "go", json!({})).await;
    assert_eq!(code, 404, "{body:#}");

    // A new instance with the id does not find the old one's event: it waits.
    server.create_with_id("outcome", "ev", json!({ "wait": true })).await;
    let d = server.wait_for_status("outcome", "ev", &["waiting"]).await;
    assert_eq!(steps(&d).len(), 1, "{d:#}");
    assert_eq!(steps(&d)[0]["finished"], false, "{d:#}");
}

#[tokio::test]
async fn an_instance_that_deletes_itself_stops_inside_delete() {
    let server = Server::start(FIXTURE);
    server.create_with_id("self-deleting", "selfie", json!({})).await;
    wait_until_gone(&server, "self-deleting", "selfie").await;
    run_a_control_instance(&server, "control", 0).await;
    assert!(
        is_gone(&server, "marks", "after-selfie").await,
        "code after `await instance.delete()` ran\n{}",
        server.logs()
    );
    assert!(!server.logs().contains("cannot record"), "{}", server.logs());
}

#[tokio::test]
async fn a_delete_batch_that_deletes_its_caller_deletes_the_rest_too() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with(FIXTURE, persist.path(), &["--max-concurrent", "1"]);
    // The one slot is taken, so the bystander can be paused before it ever runs.
    server.create_with_id("held", "occupier", json!({ "holdMs": 300 })).await;
    wait_until_holding(&server, "occupier").await;
    server.create_with_id("self-deleting", "bystander", json!({})).await;
    server.change_status("self-deleting", "bystander", json!({ "status": "pause" })).await;
    server.wait_for_status("self-deleting", "bystander", &["paused"]).await;
    server.create_with_id("self-deleting", "deleter", json!({ "alsoDelete": ["bystander"] })).await;

    wait_until_gone(&server, "self-deleting", "deleter").await;
    wait_until_gone(&server, "self-deleting", "bystander").await;
    run_a_control_instance(&server, "control", 0).await;
    assert!(is_gone(&server, "marks", "after-deleter").await, "code after `await deleteBatch(…)` ran");
}

#[tokio::test]
async fn the_rest_batch_delete_answers_each_id_in_order_and_refuses_bad_ids() {
    let server = Server::start(FIXTURE);
    server.create_with_id("held", "r1", json!({ "holdMs": 0 })).await;
    server.wait_for_status("held", "r1", &["complete"]).await;
    server.create_with_id("held", "r2", json!({ "holdMs": 1000 })).await;
    wait_until_holding(&server, "r2").await;
    server.create_with_id("held", "r3", json!({ "holdMs": 0 })).await;

    let url = format!("{}/instances/batch/delete", server.workflow_url("held"));
    let refused = server.request(Method::POST, &url, Some(&json!({ "instances": ["r3", "bad!id"] }))).await;
    assert_api_error("an invalid id", refused, 400, Some(10002));
    server.wait_for_status("held", "r3", &["complete"]).await;

    let body = json!({ "instances": ["r1", "gone", "r1", "r2"] });
    let (status, answer) = server.request(Method::POST, &url, Some(&body)).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["result"],
        json!({
            "deleted": [{ "id": "r1" }, { "id": "r1" }, { "id": "r2" }],
            "errors": [{ "id": "gone", "code": 10400, "message": "workflows.api.error.instance.not_found" }],
        })
    );
    assert!(is_gone(&server, "held", "r2").await);
    run_a_control_instance(&server, "control", 1000).await;
    assert!(is_gone(&server, "marks", "after-r2").await, "a step after the delete ran");

    // The local explorer's route answers the same way.
    let explorer = format!("{}/cdn-cgi/local/explorer/api/workflows/held/instances/batch/delete", server.base());
    let (status, answer) =
        server.request(Method::POST, &explorer, Some(&json!({ "instances": ["r3", "r3", "gone"] }))).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["result"]["deleted"], json!([{ "id": "r3" }, { "id": "r3" }]), "{answer:#}");
    assert_eq!(answer["result"]["errors"][0]["id"], "gone", "{answer:#}");
}
