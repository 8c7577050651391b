//! An instance handle (`env.BINDING.get(id)`) driven from a Worker's `fetch` and from a step of
//! another workflow: `pause`, `resume`, `terminate`, `restart` and `sendEvent` each change the
//! instance as REST then shows it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const FIXTURE: &str = "claims";

/// Calls `op` on the handle of `handled/<id>` from the Worker.
async fn from_worker(server: &Server, id: &str, op: &str, payload: Value) {
    let body = json!({ "id": id, "op": op, "payload": payload });
    let (status, answer) = server.request(Method::POST, &format!("{}/handle", server.base()), Some(&body)).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({ "done": op })),
        "{op} on {id}\n--- server logs ---\n{}",
        server.logs()
    );
}

/// Calls `op` on the handle of `handled/<id>` from a step of a `controller` instance, and waits
/// for that step to have returned.
async fn from_workflow(server: &Server, id: &str, op: &str, payload: Value) {
    let controller = server.create("controller", json!({ "target": id, "op": op, "payload": payload })).await;
    let d = server.wait_for_status("controller", &controller, &["complete"]).await;
    assert_eq!(d["output"], json!(format!("{op} done")), "{d:#}");
}

/// True once the instance is parked on its `poke` wait.
fn waiting_for_poke(d: &Value) -> bool {
    status(d) == "waiting" && find_step(d, "poke-1").is_some()
}

/// Every control of the handle, in the order a test can observe each, through `call`.
async fn drive_every_control<F, Fut>(server: &Server, call: F)
where
    F: Fn(String, &'static str, Value) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // pause, then resume: the waiting instance becomes paused, then goes back to its wait.
    let id = server.create("handled", json!({})).await;
    server.wait_for("handled", &id, "the poke wait", waiting_for_poke).await;
    call(id.clone(), "pause", Value::Null).await;
    server.wait_for_status("handled", &id, &["paused"]).await;
    call(id.clone(), "resume", Value::Null).await;
    server.wait_for("handled", &id, "the poke wait after resume", waiting_for_poke).await;

    // sendEvent: the wait gets the payload and the instance completes with it.
    call(id.clone(), "sendEvent", json!({ "n": 1 })).await;
    let d = server.wait_for_status("handled", &id, &["complete"]).await;
    assert_eq!(d["output"]["poke"], json!({ "n": 1 }), "{d:#}");
    let token = d["output"]["token"].clone();

    // restart: the run starts over, so the first step runs again and returns a new token.
    call(id.clone(), "restart", Value::Null).await;
    let d = server
        .wait_for("handled", &id, "the restarted run's wait", |d| {
            waiting_for_poke(d) && find_step(d, "token-1").is_some_and(|s| s["output"] != token)
        })
        .await;
    assert!(step(&d, "token-1")["output"].is_string(), "{d:#}");

    // terminate: the waiting instance ends terminated.
    call(id.clone(), "terminate", Value::Null).await;
    server.wait_for_status("handled", &id, &["terminated"]).await;
}

#[tokio::test]
async fn a_workers_handle_pauses_resumes_sends_events_restarts_and_terminates() {
    let server = Server::start(FIXTURE);
    drive_every_control(&server, |id, op, payload| {
        let server = &server;
        async move { from_worker(server, &id, op, payload).await }
    })
    .await;
}

#[tokio::test]
async fn a_steps_handle_pauses_resumes_sends_events_restarts_and_terminates() {
    let server = Server::start(FIXTURE);
    drive_every_control(&server, |id, op, payload| {
        let server = &server;
        async move { from_workflow(server, &id, op, payload).await }
    })
    .await;
}
