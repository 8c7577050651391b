//! Service bindings (`services`): a Worker reaching another loaded Worker (`-c front -c
//! accounts`) by `fetch` and by RPC, at its default entrypoint and at a named `WorkerEntrypoint`,
//! from its `fetch` handler and from a workflow step; what the callee throws; a binding to a
//! Worker that is not loaded; and a reload of the callee.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn get(server: &Server, path: &str) -> (u16, Value) {
    server.request(Method::GET, &format!("{}{path}", server.base()), None).await
}

/// `stepflare dev -c <project>/front -c <project>/accounts`.
fn start(project: &Path, persist: &Path) -> Server {
    let accounts = project.join("accounts");
    Server::start_project(&project.join("front"), persist, &["--config", accounts.to_str().unwrap()])
}

#[tokio::test]
async fn fetch_and_rpc_reach_the_entrypoints_of_another_worker() {
    let persist = tempfile::tempdir().unwrap();
    let server = start(&fixture_dir("services"), persist.path());

    let (status, body) = get(&server, "/proxy").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body,
        json!({ "status": 201, "header": "accounts", "body": "POST /echo?x=1 hello from front" }),
        "the request's method, URL, headers and body arrive, the response's status, headers and body return"
    );

    let (status, body) = get(&server, "/rpc").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["opened"],
        json!({ "id": "acct-ada", "user": "ada", "by": "accounts" }),
        "the callee's env: {body:#}"
    );
    assert_eq!(body["sum"], 5, "{body:#}");
    assert_eq!(
        body["kinds"],
        json!({ "map": 1, "date": 0, "bytes": [1, 2] }),
        "arguments are structured clones: {body:#}"
    );
    assert_eq!(body["nothing"], true, "undefined comes back as undefined: {body:#}");

    let (status, body) = get(&server, "/admin").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body,
        json!({ "audit": "audited acct-1", "who": "accounts", "label": "admin" }),
        "the named entrypoint answers its methods, and awaiting a property reads it"
    );

    let (status, body) = get(&server, "/self").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["self"], "hello from front", "a Worker may bind itself");
}

#[tokio::test]
async fn what_the_callee_throws_is_thrown_to_the_caller() {
    let persist = tempfile::tempdir().unwrap();
    let server = start(&fixture_dir("services"), persist.path());
    let (status, body) = get(&server, "/errors").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["thrown"],
        json!({ "name": "Error", "message": "no funds", "isTypeError": false, "isRangeError": false }),
        "{body:#}"
    );
    assert_eq!(
        body["range"],
        json!({ "name": "RangeError", "message": "out of range", "isTypeError": false, "isRangeError": true }),
        "a built-in error comes back as its own class: {body:#}"
    );
    assert_eq!(
        body["missing"],
        json!({
            "name": "TypeError",
            "message": "The RPC receiver does not implement the method \"noSuchMethod\".",
            "isTypeError": true,
            "isRangeError": false
        }),
        "production's error for a method the entrypoint lacks: {body:#}"
    );
    let not_loaded = body["notLoaded"]["message"].as_str().unwrap_or_default();
    assert!(not_loaded.contains("\"not-loaded\" is not running"), "{body:#}");
    assert!(body["noFetch"]["message"].as_str().unwrap_or_default().contains("has no fetch handler"), "{body:#}");
    assert!(
        server.logs().contains("service binding NOWHERE names the Worker \"not-loaded\", which is not loaded"),
        "the binding to a Worker that is not loaded is reported at start:\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn a_workflow_step_calls_another_worker_over_rpc() {
    let persist = tempfile::tempdir().unwrap();
    let server = start(&fixture_dir("services"), persist.path());
    let (status, body) = get(&server, "/signup?id=signup-1").await;
    assert_eq!(status, 200, "{body:#}");
    let d = server.wait_for_status("signup", "signup-1", &["complete", "errored"]).await;
    assert_eq!(
        d["output"],
        json!({ "account": { "id": "acct-grace", "user": "grace", "by": "accounts" }, "audit": "audited acct-grace" }),
        "{d:#}"
    );
}

#[tokio::test]
async fn an_edit_of_the_callee_reaches_its_callers_after_the_reload() {
    let project = copy_fixture("services");
    let persist = tempfile::tempdir().unwrap();
    let server = start(project.path(), persist.path());
    let (_, body) = get(&server, "/admin").await;
    assert_eq!(body["audit"], "audited acct-1", "{body:#}");
    edit(project.path(), "accounts/src/index.js", "`audited ${id}`", "`checked ${id}`");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = get(&server, "/admin").await;
        if body["audit"] == "checked acct-1" {
            break;
        }
        assert!(Instant::now() < deadline, "the edit never reached the caller: {body:#}\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
