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
    assert_eq!(
        d["error"],
        json!({
            "name": "WorkflowFatalError",
            "message": "The limit of 3 steps has been reached. This limit can be changed in your worker configuration.",
        }),
        "{d:#}"
    );

    // Exactly the three `step.do` calls ran; the sleeps between them did not count.
    let succeeded: Vec<_> = do_steps(&d).into_iter().filter(|s| s["success"] == json!(true)).collect();
    let names: Vec<&str> = succeeded.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["s1-1", "s2-1", "s3-1"], "{d:#}");
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

#[tokio::test]
async fn a_step_result_over_one_mebibyte_fails_the_step_without_retries() {
    let server = Server::start("basic");
    let id = server.create("big-result", json!({ "bytes": 1_100_000 })).await;
    let d = server.wait_for_status("big-result", &id, &["complete"]).await;
    let caught = d["output"]["caught"].as_str().unwrap_or_default();
    assert!(caught.contains("1 MiB"), "{d:#}");
    assert_eq!(attempts(step(&d, "too-big-1")).len(), 1, "an oversized result is not retried: {d:#}");
    assert_eq!(step(&d, "too-big-1")["success"], json!(false), "{d:#}");
}

#[tokio::test]
async fn a_step_result_just_under_the_limit_is_stored() {
    let server = Server::start("basic");
    let id = server.create("big-result", json!({ "bytes": 1_000_000 })).await;
    let d = server.wait_for_status("big-result", &id, &["complete"]).await;
    assert_eq!(d["output"], json!("stored"), "{d:#}");
}

#[tokio::test]
async fn an_invalid_step_config_fails_the_instance_naming_the_step() {
    let server = Server::start("basic");
    let id = server.create("bad-config", json!({})).await;
    let d = server.wait_for_status("bad-config", &id, &["errored"]).await;
    assert_eq!(d["error"]["name"], "WorkflowFatalError", "{d:#}");
    assert_eq!(
        d["error"]["message"],
        "Step config for \"odd\" is in a invalid format. See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/",
        "Cloudflare's message: {d:#}"
    );
}

#[tokio::test]
async fn params_over_one_mebibyte_are_refused_and_nothing_is_created() {
    let server = Server::start("basic");
    let big = "x".repeat(1 << 20);
    let body = json!({ "instance_id": "too_big", "params": { "blob": big } });
    assert_api_error("oversized params", server.try_create("event-info", &body).await, 400, None);
    let (status, _) = server.request(reqwest::Method::GET, &server.instance_url("event-info", "too_big"), None).await;
    assert_eq!(status, 404, "a refused create must not leave an instance behind");
}

#[tokio::test]
async fn event_payloads_over_one_mebibyte_are_refused() {
    let server = Server::start("basic");
    let id = server.create("wait-event", json!({})).await;
    let big = "x".repeat(1 << 20);
    assert_api_error("oversized event", server.send_event("wait-event", &id, "approval", json!(big)).await, 400, None);
    assert_api_error(
        "dotted event type",
        server.send_event("wait-event", &id, "user.approved", json!({})).await,
        400,
        None,
    );
}
