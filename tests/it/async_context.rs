//! `AsyncLocalStorage` (here under the `nodejs_als` flag): a store follows `await`, `then`,
//! timers and async generators, concurrent runs keep their own stores, step callbacks and the
//! replay after a sleep see the store of `run`; and the async generators stepflare rewrites for it
//! behave exactly as V8's own (the expected log is Node's output for the same code).

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_store_follows_await_timers_then_and_generators_and_concurrent_runs_keep_their_own() {
    let server = Server::start("async-context");
    let body = server.get_ok("/").await;
    let run = |id: &str| json!({ "id": id, "deep": id, "viaThen": id, "seen": [id, id] });
    assert_eq!(
        body,
        json!({
            "concurrent": [run("a"), run("b"), run("c")],
            "viaTimer": "timer",
            "bound": "bound",
            "snapshot": "snapshot",
            "exited": null,
            "outside": null,
        })
    );
}

#[tokio::test]
async fn step_callbacks_and_the_replay_after_a_sleep_see_the_store_of_run() {
    let server = Server::start("async-context");
    let id = server.create("traced", json!({ "id": "order-7" })).await;
    let d = server.wait_for_status("traced", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "inStep": "order-7", "afterSleep": "order-7" }), "{d:#}");
}

#[tokio::test]
async fn rewritten_async_generators_behave_as_v8s_own() {
    let server = Server::start("async-context");
    let node_says = json!([
        "a", "b", "inner-finally", ["delegated", "inner-done"], 1, 2, "c", "inner-finally",
        { "value": "a", "done": false }, { "value": "b", "done": false }, { "value": "early", "done": true }, { "done": true },
        { "value": "a", "done": false }, { "value": "b", "done": false }, "inner-finally", ["delegated", "inner-done"],
        { "value": "a", "done": false }, { "value": "b", "done": false }, { "value": 1, "done": false },
        { "value": 2, "done": false }, { "value": "c", "done": false }, ["caught", "boom"],
        { "value": "after-throw", "done": false }, { "value": "outer-done", "done": true },
        7, 8, 1, "gen failed", 1, "early-finally"
    ]);
    assert_eq!(server.get_ok("/generators").await, node_says);
}
