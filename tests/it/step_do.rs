//! The JavaScript half of `step.do`: what a step returns (as structured clone makes it, the same
//! when a replay returns it; `step_results.rs` has the rest), the `ctx` its callback gets (fresh for every
//! attempt), that the callback starts only after `step.do` has returned, that a bad call rejects
//! rather than throws, and that overlapping attempt deadlines each fire on time.

use serde_json::{Value, json};

use crate::support::*;

/// `{type, json, negativeZero}` as the fixture describes a value `step.do` returned.
fn described(kind: &str, json: &str) -> Value {
    json!({ "type": kind, "json": json, "negativeZero": false })
}

#[tokio::test]
async fn step_results_read_back_as_structured_clone_makes_them_when_run_and_when_replayed() {
    let server = Server::start("basic");
    let id = server.create("step-semantics", json!({})).await;
    let d = server.wait_for_status("step-semantics", &id, &["complete"]).await;
    let expected = json!({
        "undefined": described("undefined", "undefined"),
        "null": described("object", "null"),
        "nan": described("number", "null"),
        "negativeZero": json!({ "type": "number", "json": "0", "negativeZero": true }),
        "infinity": described("number", "null"),
        "text": described("string", "\"line\u{2028}tab\\t\""),
        "flag": described("boolean", "false"),
        "object": described("object", r#"{"a":1,"date":"1970-01-01T00:00:00.000Z","nested":[1,null,null]}"#),
    });
    assert_eq!(d["output"]["live"], expected, "as the callbacks ran: {d:#}");
    assert_eq!(d["output"]["results"], expected, "as replayed after the nap: {d:#}");
    assert!(step(&d, "value-undefined-1")["output"].is_null(), "{d:#}");
}

#[tokio::test]
async fn each_attempt_gets_a_fresh_ctx_with_the_step_its_attempt_and_its_config() {
    let server = Server::start("basic");
    let id = server.create("step-semantics", json!({})).await;
    let d = server.wait_for_status("step-semantics", &id, &["complete"]).await;
    let config = json!({ "retries": { "limit": 1, "delay": 0, "backoff": "constant" }, "timeout": "10 minutes" });
    let keys = json!(["step", "attempt", "config"]);
    assert_eq!(
        d["output"]["contexts"],
        json!([
            { "keys": keys, "step": { "name": "ctx", "count": 1 }, "attempt": 1, "config": config },
            { "keys": keys, "step": { "name": "ctx", "count": 1 }, "attempt": 2, "config": config },
            { "keys": keys, "step": { "name": "ctx", "count": 2 }, "attempt": 1, "config": config },
        ]),
        "{d:#}"
    );
}

#[tokio::test]
async fn the_callback_starts_after_step_do_returns_and_a_bad_call_rejects_without_throwing() {
    let server = Server::start("basic");
    let id = server.create("step-semantics", json!({})).await;
    let d = server.wait_for_status("step-semantics", &id, &["complete"]).await;
    assert_eq!(d["output"]["turn"], "after", "{d:#}");
    assert_eq!(d["output"]["threw"], false, "{d:#}");
    assert_eq!(d["output"]["rejected"], "TypeError: step.do: the step name must be a string", "{d:#}");
}

#[tokio::test]
async fn attempts_that_never_settle_fail_at_their_own_deadlines_however_they_overlap() {
    let server = Server::start("basic");
    let id = server.create("step-semantics", json!({})).await;
    let d = server.wait_for_status("step-semantics", &id, &["complete"]).await;
    let timed_out = |ms: u64| format!("WorkflowTimeoutError: Execution timed out after {ms}ms");
    let output = &d["output"];
    let failed_at = |name: &str, ms: u64| {
        assert_eq!(output[name]["error"], timed_out(ms), "{name}: {d:#}");
        output[name]["ms"].as_i64().unwrap_or_default()
    };
    let long = failed_at("long", 1500);
    assert!(long >= 1490, "the 1500 ms attempt failed after {long} ms: {d:#}");
    // Each short attempt starts when a timer for a later deadline is already set.
    for name in ["short", "after"] {
        let ms = failed_at(name, 200);
        assert!((190..1400).contains(&ms), "the 200 ms attempt {name:?} failed after {ms} ms: {d:#}");
    }
}
