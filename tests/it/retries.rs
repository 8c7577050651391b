//! `step.do` retries and error propagation: attempt counts, backoff delays, `NonRetryableError`,
//! caught step errors and errors thrown from `run()` itself.

use serde_json::json;

use crate::support::*;

/// Checks every gap between attempt starts against the expected delay, with 10% slack. No upper
/// bound: a loaded machine may run a retry late; the exact delays come from the journal
/// ([`retry_delays`]).
fn assert_gaps_at_least(what: &str, gaps: &[i64], expected: &[i64]) {
    assert_eq!(gaps.len(), expected.len(), "{what}: gaps {gaps:?}");
    for (i, (&gap, &want)) in gaps.iter().zip(expected).enumerate() {
        assert!(
            gap * 10 >= want * 9,
            "{what}: retry {} started {gap} ms after the previous attempt, expected ≥ {want} ms (gaps {gaps:?})",
            i + 1
        );
    }
}

/// The delay the engine chose after each failed attempt, as its journal reports it
/// (`attempt_errored.retryDelayMs`, absent after the last attempt), read from the instance's
/// event stream once it has ended: exact, whatever the machine's load.
async fn retry_delays(server: &Server, wf: &str, id: &str) -> Vec<Option<i64>> {
    let url = format!("{}/subscribe?filter=attempt_errored", server.instance_url(wf, id));
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    event_stream_data(&body).iter().map(|event| event["retryDelayMs"].as_i64()).collect()
}

#[tokio::test]
async fn retry_limit_counts_retries_after_the_first_attempt() {
    let server = Server::start("basic");
    // delay 0 is a valid retry delay.
    let params = json!({ "limit": 2, "delay": 0, "backoff": "constant", "message": "always fails" });
    let id = server.create("always-fails", params).await;
    let d = server.wait_for_status("always-fails", &id, &["errored"]).await;

    let flaky = step(&d, "flaky-1");
    assert_eq!(flaky["type"], "step");
    assert_eq!(flaky["success"], json!(false));
    let tries = attempts(flaky);
    assert_eq!(tries.len(), 3, "limit 2 means 1 attempt + 2 retries: {flaky:#}");
    for attempt in tries {
        assert_eq!(attempt["success"], json!(false), "{attempt:#}");
        let message = attempt["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("always fails"), "{attempt:#}");
    }
    assert_eq!(d["error"]["name"], "Error", "{d:#}");
    assert!(d["error"]["message"].as_str().unwrap_or_default().contains("always fails"), "{d:#}");
    assert_eq!(d["success"], json!(false), "{d:#}");
}

#[tokio::test]
async fn step_config_is_reported_with_the_step() {
    let server = Server::start("basic");
    let params = json!({ "limit": 1, "delay": 0, "backoff": "linear", "catch": true });
    let id = server.create("always-fails", params).await;
    let d = server.wait_for_status("always-fails", &id, &["complete"]).await;

    let config = &step(&d, "flaky-1")["config"];
    assert_eq!(config["retries"]["limit"], json!(1), "{config:#}");
    assert_eq!(config["retries"]["backoff"], "linear", "{config:#}");
    assert!(!config["retries"]["delay"].is_null(), "{config:#}");
    assert!(!config["timeout"].is_null(), "{config:#}");
    assert_eq!(attempts(step(&d, "flaky-1")).len(), 2);
}

#[tokio::test]
async fn constant_backoff_waits_the_same_delay_before_each_retry() {
    let server = Server::start("basic");
    let params = json!({ "limit": 4, "delay": 200, "backoff": "constant", "catch": true });
    let id = server.create("always-fails", params).await;
    let d = server.wait_for_status("always-fails", &id, &["complete"]).await;
    assert_eq!(d["output"]["caught"], "always fails", "{d:#}");

    let gaps = attempt_gaps(step(&d, "flaky-1"));
    assert_gaps_at_least("constant", &gaps, &[200, 200, 200, 200]);
    assert_eq!(retry_delays(&server, "always-fails", &id).await, [Some(200), Some(200), Some(200), Some(200), None]);
}

#[tokio::test]
async fn linear_backoff_grows_by_the_delay_each_retry() {
    let server = Server::start("basic");
    let params = json!({ "limit": 3, "delay": 100, "backoff": "linear", "catch": true });
    let id = server.create("always-fails", params).await;
    let d = server.wait_for_status("always-fails", &id, &["complete"]).await;
    let gaps = attempt_gaps(step(&d, "flaky-1"));
    assert_gaps_at_least("linear", &gaps, &[100, 200, 300]);
    assert_eq!(retry_delays(&server, "always-fails", &id).await, [Some(100), Some(200), Some(300), None]);
}

#[tokio::test]
async fn exponential_backoff_doubles_the_delay_each_retry() {
    let server = Server::start("basic");
    let params = json!({ "limit": 3, "delay": 100, "backoff": "exponential", "catch": true });
    let id = server.create("always-fails", params).await;
    let d = server.wait_for_status("always-fails", &id, &["complete"]).await;
    let gaps = attempt_gaps(step(&d, "flaky-1"));
    assert_gaps_at_least("exponential", &gaps, &[100, 200, 400]);
    assert_eq!(retry_delays(&server, "always-fails", &id).await, [Some(100), Some(200), Some(400), None]);
}

#[tokio::test]
async fn a_failing_step_succeeds_on_a_later_attempt() {
    let server = Server::start("basic");
    let id = server.create("recovers", json!({ "failForMs": 300, "delay": 100 })).await;
    let d = server.wait_for_status("recovers", &id, &["complete"]).await;
    assert_eq!(d["output"], "recovered", "{d:#}");

    let recover = step(&d, "recover-1");
    assert_eq!(recover["success"], json!(true), "{recover:#}");
    assert_eq!(recover["output"], "recovered", "{recover:#}");
    let tries = attempts(recover);
    assert!(tries.len() >= 2, "the first attempt cannot succeed: {recover:#}");
    let (last, failed) = tries.split_last().unwrap();
    assert_eq!(last["success"], json!(true), "{recover:#}");
    assert!(last["error"].is_null(), "{recover:#}");
    for attempt in failed {
        assert_eq!(attempt["success"], json!(false), "{recover:#}");
        assert_eq!(attempt["error"]["message"], "not yet", "{recover:#}");
    }
}

#[tokio::test]
async fn nonretryable_error_is_not_retried() {
    let server = Server::start("basic");
    let id = server.create("non-retryable", json!({ "message": "do not retry" })).await;
    let d = server.wait_for_status("non-retryable", &id, &["errored"]).await;

    assert_eq!(d["error"], json!({ "name": "NonRetryableError", "message": "do not retry" }), "{d:#}");
    let refuse = step(&d, "refuse-1");
    assert_eq!(refuse["success"], json!(false), "{refuse:#}");
    assert_eq!(attempts(refuse).len(), 1, "retries: limit 5 must be ignored: {refuse:#}");
    assert_eq!(attempts(refuse)[0]["error"]["name"], "NonRetryableError");

    // Nothing is retried later either.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = server.describe("non-retryable", &id).await;
    assert_eq!(status(&again), "errored");
    assert_eq!(attempts(step(&again, "refuse-1")).len(), 1, "{again:#}");
}

#[tokio::test]
async fn nonretryable_error_with_an_empty_message_is_not_retried() {
    let server = Server::start("basic");
    let id = server.create("non-retryable", json!({ "message": "" })).await;
    let d = server.wait_for_status("non-retryable", &id, &["errored"]).await;
    assert_eq!(d["error"]["name"], "NonRetryableError", "{d:#}");
    assert_eq!(attempts(step(&d, "refuse-1")).len(), 1, "{d:#}");
}

#[tokio::test]
async fn a_caught_step_error_lets_the_workflow_continue() {
    let server = Server::start("basic");
    let id = server.create("catch-continue", json!({})).await;
    let d = server.wait_for_status("catch-continue", &id, &["complete"]).await;

    assert_eq!(d["output"]["after"], "continued", "{d:#}");
    let caught = d["output"]["caught"].as_str().unwrap_or_default();
    assert!(caught.contains("nope"), "{d:#}");
    assert!(d["error"].is_null(), "{d:#}");

    let fails = step(&d, "fails-1");
    assert_eq!(fails["success"], json!(false), "{fails:#}");
    assert_eq!(attempts(fails).len(), 2, "limit 1 → 2 attempts: {fails:#}");
    let after = step(&d, "after-1");
    assert_eq!(after["success"], json!(true), "{after:#}");
    assert_eq!(after["output"], "continued", "{after:#}");
}

#[tokio::test]
async fn an_error_thrown_by_run_errors_the_instance() {
    let server = Server::start("basic");
    let id = server.create("boom", json!(null)).await;
    let d = server.wait_for_status("boom", &id, &["errored"]).await;

    assert_eq!(d["error"], json!({ "name": "Error", "message": "boom" }), "{d:#}");
    assert_eq!(d["success"], json!(false), "{d:#}");
    assert_iso(&d["end"]);
    let fine = step(&d, "fine-1");
    assert_eq!(fine["success"], json!(true), "{fine:#}");
    assert_eq!(fine["output"], "ok", "{fine:#}");
}

#[tokio::test]
async fn an_attempt_longer_than_its_timeout_fails_and_is_retried() {
    let server = Server::start("basic");
    let id = server.create("times-out", json!({ "timeoutMs": 150, "workMs": 2000 })).await;
    let d = server.wait_for_status("times-out", &id, &["complete"]).await;
    assert_eq!(d["output"]["name"], "WorkflowTimeoutError", "{d:#}");
    let slowpoke = step(&d, "slowpoke-1");
    let tries = attempts(slowpoke);
    assert_eq!(tries.len(), 2, "limit 1 means two attempts: {d:#}");
    for attempt in tries {
        assert_eq!(attempt["success"], json!(false), "{d:#}");
        assert_eq!(attempt["error"]["name"], "WorkflowTimeoutError", "{d:#}");
        let took = iso_ms(&attempt["end"]) - iso_ms(&attempt["start"]);
        assert!((140..1500).contains(&took), "an attempt took {took} ms with a 150 ms timeout: {d:#}");
    }
}
