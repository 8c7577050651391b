//! Limits: a step result that cannot be serialised, and the per-workflow `limits.steps` from a
//! `wrangler.toml` project.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_step_returning_a_function_errors_the_instance() {
    let server = Server::start("basic");
    let id = server.create("returns-function", json!({})).await;
    let d = server.wait_for_status("returns-function", &id, &["errored"]).await;
    let message = d["error"]["message"].as_str().unwrap_or_default();
    let lower = message.to_lowercase();
    assert!(message.contains("make-fn"), "the error names the step: {d:#}");
    assert!(
        lower.contains("serialis") || lower.contains("serializ"),
        "the error says the value is not serialisable: {d:#}"
    );
    assert_ne!(d["output"], json!("unreachable"), "{d:#}");
}

#[tokio::test]
async fn exceeding_the_configured_steps_limit_errors_the_instance() {
    let server = Server::start("toml");
    let id = server.create("too-many-steps", json!({})).await;
    let d = server.wait_for_status("too-many-steps", &id, &["errored"]).await;
    let message = d["error"]["message"].as_str().unwrap_or_default();
    assert!(message.to_lowercase().contains("limit"), "{d:#}");

    let succeeded: Vec<_> = do_steps(&d).into_iter().filter(|s| s["success"] == json!(true)).collect();
    assert!(succeeded.len() <= 3, "more than 3 steps succeeded: {d:#}");
    assert!(find_step(&d, "s5-1").is_none_or(|s| s["success"] != json!(true)), "{d:#}");
    let logs = server.logs();
    for late in ["s4", "s5"] {
        assert!(!logs.contains(&format!("limit-marker {id} {late}")), "step {late} ran despite the limit:\n{logs}");
    }
}

#[tokio::test]
async fn the_steps_limit_applies_only_to_its_own_workflow() {
    let server = Server::start("toml");
    let id = server.create("four-steps", json!({})).await;
    let d = server.wait_for_status("four-steps", &id, &["complete"]).await;
    assert_eq!(d["output"], json!(10), "{d:#}");
    let succeeded = do_steps(&d).into_iter().filter(|s| s["success"] == json!(true)).count();
    assert_eq!(succeeded, 4, "{d:#}");
    assert_eq!(step(&d, "rest-1")["type"], "sleep", "{d:#}");
}
