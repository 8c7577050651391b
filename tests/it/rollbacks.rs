//! Rollbacks (saga compensation): when an instance fails, the rollback handlers of the steps it
//! started run newest start first, each a retried step of its own, before it ends `errored`;
//! `terminate({rollback: true})` runs them before it ends `terminated`; and a rollback cut by
//! `kill -9` goes on at the next start without running a finished handler again.

use reqwest::Method;
use serde_json::{Value, json};

use crate::crash::Recorder;
use crate::openapi::Spec;
use crate::support::*;

const WORKFLOW: &str = "order";

/// The handlers' reports, as JSON.
fn reports(recorder: &Recorder) -> Vec<Value> {
    recorder.lines().iter().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// What each report undid (or began), in order.
fn undone(recorder: &Recorder) -> Vec<String> {
    reports(recorder)
        .iter()
        .map(|r| r["undo"].as_str().or(r["started"].as_str().map(|_| "started")).unwrap().to_owned())
        .collect()
}

/// The journal, as the REST stream of a finished instance gives it.
async fn journal_types(server: &Server, id: &str) -> Vec<String> {
    let url = format!("{}/subscribe", server.instance_url(WORKFLOW, id));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body}");
    let body = body.as_str().unwrap_or_default().to_owned();
    body.split("\n\n")
        .filter_map(|message| message.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(|data| serde_json::from_str::<Value>(data).unwrap()["type"].as_str().unwrap().to_owned())
        .collect()
}

fn rollback_steps(d: &Value) -> Vec<&Value> {
    steps(d).iter().filter(|s| s["type"] == "rollback").collect()
}

#[tokio::test]
async fn a_failed_saga_undoes_its_steps_newest_first_then_errors_with_the_original_error() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let server = Server::start("rollbacks");
    let id = server.create(WORKFLOW, json!({ "url": recorder.url })).await;
    let d = server.wait_for_status(WORKFLOW, &id, &["errored"]).await;

    assert_eq!(d["error"], json!({ "name": "NonRetryableError", "message": "cannot ship pay-for-room-7" }), "{d:#}");
    assert_eq!(d["rollback"], json!({ "outcome": "complete", "error": null }), "{d:#}");
    assert_eq!(undone(&recorder), ["refund", "release"], "charge is undone before reserve");
    let reports = reports(&recorder);
    assert_eq!(reports[0]["paymentId"], "pay-for-room-7", "the handler gets its step's output");
    assert_eq!(reports[0]["error"], "cannot ship pay-for-room-7", "and the error that failed the instance");
    assert_eq!(reports[1]["id"], "room-7");
    assert_eq!(reports[1]["step"], "reserve#1", "ctx names the step");
    assert_eq!(reports[1]["attempt"], 1, "ctx.attempt is the step's");
    assert_eq!(reports[1]["error"], "NonRetryableError: cannot ship pay-for-room-7");

    let rollbacks = rollback_steps(&d);
    let names: Vec<&Value> = rollbacks.iter().map(|s| &s["name"]).collect();
    assert_eq!(names, [&json!("charge-1"), &json!("reserve-1")], "{d:#}");
    assert!(rollbacks.iter().all(|s| s["success"] == json!(true)), "{d:#}");
    assert_eq!(rollbacks[1]["config"]["retries"], json!({ "limit": 3, "delay": "1 second", "backoff": "linear" }));
    assert_eq!(rollbacks[0]["config"]["timeout"], json!("10 minutes"), "what rollbackConfig leaves out is the default");
    let violations = Spec::load().component_violations("InstanceDetails", &d);
    assert!(violations.is_empty(), "the details are as the published schema says: {violations:#?}");

    let journal = journal_types(&server, &id).await;
    let from = journal.iter().position(|t| t == "step_errored").expect("ship failed");
    assert_eq!(
        journal[from..],
        [
            "step_errored",
            "rollback_started",
            "rollback_step_started",
            "rollback_attempt_started",
            "rollback_attempt_completed",
            "rollback_step_completed",
            "rollback_step_started",
            "rollback_attempt_started",
            "rollback_attempt_completed",
            "rollback_step_completed",
            "rollback_completed",
            "workflow_errored",
        ],
        "{journal:?}"
    );

    let status = server.get_ok(&format!("/status?id={id}")).await;
    assert_eq!(status["status"], "errored");
    assert_eq!(status["rollback"], json!({ "outcome": "complete", "error": null }), "{status:#}");
}

#[tokio::test]
async fn a_handler_that_fails_is_retried_and_one_that_gives_up_stops_the_rollback() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let server = Server::start("rollbacks");

    let flaky = server.create(WORKFLOW, json!({ "url": recorder.url, "flakyRefund": true })).await;
    let d = server.wait_for_status(WORKFLOW, &flaky, &["errored"]).await;
    assert_eq!(d["rollback"], json!({ "outcome": "complete", "error": null }), "{d:#}");
    let refund = rollback_steps(&d)[0].clone();
    let attempts = attempts(&refund);
    assert_eq!(attempts.len(), 2, "{refund:#}");
    assert_eq!(attempts[0]["error"], json!({ "name": "Error", "message": "try again" }));
    assert!(iso_ms(&attempts[1]["start"]) - iso_ms(&attempts[0]["end"]) >= 900, "its own retry delay: {refund:#}");
    assert_eq!(undone(&recorder), ["refund", "refund", "release"]);

    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let broken = server.create(WORKFLOW, json!({ "url": recorder.url, "brokenRefund": true })).await;
    let d = server.wait_for_status(WORKFLOW, &broken, &["errored"]).await;
    assert_eq!(d["error"]["message"], "cannot ship pay-for-room-7", "the instance keeps its own error: {d:#}");
    assert_eq!(
        d["rollback"],
        json!({ "outcome": "failed", "error": { "name": "NonRetryableError", "message": "the bank is closed" } }),
        "{d:#}"
    );
    assert_eq!(undone(&recorder), ["refund"], "reserve is not undone after the refund gave up");
    assert_eq!(rollback_steps(&d).len(), 1, "{d:#}");
    let journal = journal_types(&server, &broken).await;
    assert!(journal.ends_with(&["rollback_step_errored".into(), "rollback_errored".into(), "workflow_errored".into()]));
}

#[tokio::test]
async fn terminate_with_rollback_undoes_the_steps_and_plain_terminate_does_not() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let server = Server::start("rollbacks");

    let plain = server.create(WORKFLOW, json!({ "url": recorder.url, "hold": true })).await;
    server.wait_for_status(WORKFLOW, &plain, &["waiting"]).await;
    server.change_status(WORKFLOW, &plain, json!({ "status": "terminate" })).await;
    let d = server.wait_for_status(WORKFLOW, &plain, &["terminated"]).await;
    assert_eq!(d["rollback"], Value::Null);

    let rest = server.create(WORKFLOW, json!({ "url": recorder.url, "hold": true })).await;
    server.wait_for_status(WORKFLOW, &rest, &["waiting"]).await;
    let (code, body) = server.patch_status(WORKFLOW, &rest, json!({ "status": "pause", "rollback": true })).await;
    assert_eq!(code, 400, "rollback only goes with terminate: {body:#}");
    server.change_status(WORKFLOW, &rest, json!({ "status": "terminate", "rollback": true })).await;
    let d = server.wait_for_status(WORKFLOW, &rest, &["terminated"]).await;
    assert_eq!(d["rollback"], json!({ "outcome": "complete", "error": null }), "{d:#}");
    assert_eq!(d["error"], Value::Null);
    assert_eq!(undone(&recorder), ["refund", "release"], "only the terminate with rollback undid anything");
    assert_eq!(reports(&recorder)[1]["error"], "Terminated: Instance terminated during rollback");
    let journal = journal_types(&server, &rest).await;
    assert!(journal.ends_with(&["rollback_completed".into(), "workflow_terminated".into()]), "{journal:?}");

    // A step whose first attempt the terminate cut had started: its handler runs, with no output.
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let cut = server.create(WORKFLOW, json!({ "url": recorder.url, "slowCharge": true })).await;
    server.wait_for(WORKFLOW, &cut, "the charge to start", |_| !recorder.lines().is_empty()).await;
    server.change_status(WORKFLOW, &cut, json!({ "status": "terminate", "rollback": true })).await;
    let d = server.wait_for_status(WORKFLOW, &cut, &["terminated"]).await;
    assert_eq!(d["rollback"]["outcome"], "complete", "{d:#}");
    assert_eq!(undone(&recorder), ["started", "refund", "release"]);
    assert_eq!(reports(&recorder)[1]["paymentId"], Value::Null, "charge never returned");
    let journal = journal_types(&server, &cut).await;
    let count = |what: &str| journal.iter().filter(|t| *t == what).count();
    assert_eq!((count("step_started"), count("rollback_step_started")), (2, 2), "{journal:?}");

    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let binding = server.create(WORKFLOW, json!({ "url": recorder.url, "hold": true })).await;
    server.wait_for_status(WORKFLOW, &binding, &["waiting"]).await;
    server.get_ok(&format!("/terminate?id={binding}&rollback=true")).await;
    let d = server.wait_for_status(WORKFLOW, &binding, &["terminated"]).await;
    assert_eq!(d["rollback"]["outcome"], "complete", "{d:#}");
    assert_eq!(undone(&recorder), ["refund", "release"]);
}

#[tokio::test]
async fn a_rollback_cut_by_sigkill_goes_on_without_running_a_finished_handler_again() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("rollbacks", persist.path(), &[]);
    let id = server.create(WORKFLOW, json!({ "url": recorder.url, "gated": true })).await;

    let d = server.wait_for(WORKFLOW, &id, "the release handler to start", |_| undone(&recorder).len() == 2).await;
    assert_eq!(undone(&recorder), ["refund", "started"]);
    assert_eq!(d["status"], "rollingBack", "REST shows the rollback: {d:#}");
    let status = server.get_ok(&format!("/status?id={id}")).await;
    assert_eq!((&status["status"], &status["rollback"]), (&json!("running"), &Value::Null), "{status:#}");
    server.kill9();

    recorder.open_gate();
    let server = Server::start_with("rollbacks", persist.path(), &[]);
    let d = server.wait_for_status(WORKFLOW, &id, &["errored"]).await;
    assert_eq!(d["rollback"], json!({ "outcome": "complete", "error": null }), "{d:#}");
    assert_eq!(
        undone(&recorder),
        ["refund", "started", "started", "release"],
        "the refund, finished before the kill, did not run again; the release did"
    );
    let journal = journal_types(&server, &id).await;
    let count = |what: &str| journal.iter().filter(|t| *t == what).count();
    assert_eq!((count("rollback_started"), count("rollback_step_completed")), (1, 2), "{journal:?}");
}

#[tokio::test]
async fn a_rollback_paused_between_attempts_of_a_handler_goes_on_when_resumed() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let server = Server::start("rollbacks");
    let id = server.create(WORKFLOW, json!({ "url": recorder.url, "flakyRefund": true })).await;
    server.wait_for(WORKFLOW, &id, "the first refund attempt", |_| undone(&recorder).len() == 1).await;
    server.change_status(WORKFLOW, &id, json!({ "status": "pause" })).await;
    let d = server.wait_for_status(WORKFLOW, &id, &["paused"]).await;
    assert_eq!(d["rollback"], Value::Null, "{d:#}");
    server.change_status(WORKFLOW, &id, json!({ "status": "resume" })).await;
    let d = server.wait_for_status(WORKFLOW, &id, &["errored"]).await;
    assert_eq!(d["rollback"], json!({ "outcome": "complete", "error": null }), "{d:#}");
    assert_eq!(undone(&recorder), ["refund", "refund", "release"]);
}
