//! The context a `step.do` callback gets (`ctx.step`, `ctx.attempt`, `ctx.config`), retry
//! delays computed by a `retries.delay` function (with the step's backoff on top, evaluated once
//! per failed attempt and never again on replay, and failing the step with
//! `NonRetryableDelayError` when the function does), and the four call shapes of `step.do` with
//! their validation.

use serde_json::{Value, json};

use crate::support::*;

const SEE: &str =
    "is in a invalid format. See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/";

#[tokio::test]
async fn a_callback_gets_its_step_its_attempt_and_the_resolved_config_across_retries_and_names() {
    let server = Server::start("step-context");
    let id = server.create("ctx-probe", json!({})).await;
    let d = server.wait_for_status("ctx-probe", &id, &["complete"]).await;
    let output = &d["output"];
    let keys = json!(["step", "attempt", "config"]);

    let config = json!({ "retries": { "limit": 2, "delay": 0, "backoff": "constant" }, "timeout": "1 minute" });
    let config_json = r#"{"retries":{"limit":2,"delay":0,"backoff":"constant"},"timeout":"1 minute"}"#;
    let flaky: Vec<Value> = (1..=3)
        .map(|attempt| {
            json!({
                "keys": keys, "step": { "name": "charge", "count": 1 }, "attempt": attempt,
                "config": config, "configJson": config_json,
            })
        })
        .collect();
    assert_eq!(output["flaky"], json!(flaky), "{d:#}");

    let defaults = r#"{"retries":{"limit":5,"delay":10000,"backoff":"exponential"},"timeout":"10 minutes"}"#;
    let again = &output["again"];
    assert_eq!(again["step"], json!({ "name": "charge", "count": 2 }), "{d:#}");
    assert_eq!((&again["attempt"], &again["configJson"]), (&json!(1), &json!(defaults)), "{d:#}");
    assert_eq!(output["other"]["step"], json!({ "name": "refund", "count": 1 }), "{d:#}");
    assert_eq!(
        output["other"]["configJson"],
        r#"{"retries":{"limit":5,"delay":10000,"backoff":"exponential"},"timeout":"10 minutes","sensitive":"output"}"#,
        "{d:#}"
    );
    assert_eq!(output["third"], 3, "the third call of \"charge\": {d:#}");

    // A delay function is left out of `ctx.config`, and shows as "[dynamic]" over REST.
    assert_eq!(
        output["dynamic"]["configJson"], r#"{"retries":{"limit":1,"backoff":"exponential"},"timeout":"10 minutes"}"#,
        "{d:#}"
    );
    assert_eq!(
        step(&d, "dynamic-1")["config"],
        json!({ "retries": { "limit": 1, "delay": "[dynamic]", "backoff": "exponential" }, "timeout": "10 minutes" }),
        "{d:#}"
    );
    assert_eq!(step(&d, "charge-1")["config"], config, "{d:#}");
}

/// What the fixture's delay function logged for instance `id`, in the order it was called.
fn delay_calls(server: &Server, id: &str) -> Vec<Value> {
    let marker = format!("delay-fn {id} ");
    server
        .logs()
        .lines()
        .filter_map(|line| line.split_once(&marker))
        .map(|(_, rest)| {
            // The logged JSON, then the log line's fields.
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            values.next().and_then(Result::ok).unwrap_or_else(|| panic!("no JSON in {rest:?}"))
        })
        .collect()
}

#[tokio::test]
async fn a_delay_functions_result_gets_the_backoff_and_a_replay_does_not_call_it_again() {
    let server = Server::start("step-context");
    // The function returns 300 ms after attempt 1 and "0.6 seconds" after attempt 2.
    let cases = [("constant", [300, 600]), ("linear", [300, 1200]), ("exponential", [300, 1200])];
    let mut ids = Vec::new();
    for (backoff, _) in &cases {
        ids.push(server.create("dynamic-delay", json!({ "backoff": backoff, "base": 300 })).await);
    }
    for ((backoff, expected), id) in cases.iter().zip(&ids) {
        let d = server.wait_for_status("dynamic-delay", id, &["complete"]).await;
        assert_eq!(d["output"], json!({ "attempts": 3, "after": "done" }), "{d:#}");
        let synced = step(&d, "sync customer-1");
        assert_eq!(synced["config"]["retries"]["delay"], "[dynamic]", "{synced:#}");
        assert_eq!(synced["config"]["retries"]["backoff"], *backoff, "{synced:#}");
        let gaps = attempt_gaps(synced);
        assert_eq!(gaps.len(), 2, "{synced:#}");
        for (gap, want) in gaps.iter().zip(expected) {
            assert!(
                (*want..*want + 1_000).contains(gap),
                "{backoff}: an attempt started {gap} ms after the one before, expected {want} ms (gaps {gaps:?})"
            );
        }

        // Called once per failed attempt that was retried, with that attempt's context; the runs
        // after each retry delay and after the nap replayed the step without calling it.
        let calls = delay_calls(&server, id);
        let context = |attempt: u32| {
            json!({
                "ctx": {
                    "step": { "name": "sync customer", "count": 1 },
                    "attempt": attempt,
                    "config": { "retries": { "limit": 5, "backoff": backoff }, "timeout": "10 minutes" },
                },
                "error": format!("rate limit on attempt {attempt}"),
            })
        };
        assert_eq!(calls, [context(1), context(2)], "{backoff}:\n{}", server.logs());
    }
}

#[tokio::test]
async fn a_delay_function_that_throws_fails_the_step_and_the_instance_with_non_retryable_delay_error() {
    let server = Server::start("step-context");
    let id = server.create("delay-fails", json!({ "mode": "throws" })).await;
    let d = server.wait_for_status("delay-fails", &id, &["errored"]).await;
    assert_eq!(
        d["error"],
        json!({
            "name": "NonRetryableDelayError",
            "message": "The delay function for step \"flaky-1\" threw an error: no delay for you",
        }),
        "{d:#}"
    );
    let flaky = step(&d, "flaky-1");
    let tries = attempts(flaky);
    assert_eq!(tries.len(), 1, "not retried: {flaky:#}");
    assert_eq!(tries[0]["error"]["message"], "boom", "the attempt keeps its own error: {flaky:#}");
}

#[tokio::test]
async fn a_delay_function_that_returns_no_duration_or_takes_too_long_fails_the_step_with_a_catchable_error() {
    let server = Server::start("step-context");
    let invalid = server.create("delay-fails", json!({ "mode": "invalid", "catch": true })).await;
    let slow = server.create("delay-fails", json!({ "mode": "slow", "catch": true })).await;
    let caught = |what: &str| {
        json!({ "caught": {
            "name": "NonRetryableDelayError",
            "message": format!("The delay function for step \"flaky-1\" {what}"),
            "isDelayError": true,
        } })
    };
    let d = server.wait_for_status("delay-fails", &invalid, &["complete"]).await;
    let what = "returned an invalid delay value (expected a number of ms or a duration string like \"30 seconds\")";
    assert_eq!(d["output"], caught(what), "{d:#}");

    let d = server.wait_for_status("delay-fails", &slow, &["complete"]).await;
    assert_eq!(d["output"], caught("did not return within 5 seconds"), "{d:#}");
    let flaky = step(&d, "flaky-1");
    let tried = &attempts(flaky)[0];
    let waited = iso_ms(&flaky["end"]) - iso_ms(&tried["start"]);
    assert!((5_000..8_000).contains(&waited), "the step failed {waited} ms after its attempt began: {flaky:#}");
}

#[tokio::test]
async fn step_do_takes_its_four_call_shapes_and_refuses_bad_rollback_options_and_configs() {
    let server = Server::start("step-context");
    let id = server.create("call-shapes", json!({ "mode": "valid" })).await;
    let d = server.wait_for_status("call-shapes", &id, &["complete"]).await;
    assert_eq!(
        d["output"],
        json!({
            "plain": "plain",
            "withRollback": "with rollback",
            "withConfig": { "retries": { "limit": 0, "delay": 0, "backoff": "exponential" }, "timeout": "10 minutes" },
            "withBoth": "30 seconds",
        }),
        "{d:#}"
    );

    let refusals = [
        ("rollback-not-function", "Rollback for \"pay\" must be a function".to_owned()),
        ("rollback-not-object", "Rollback options for \"pay\" must be an object".to_owned()),
        ("rollback-config", format!("Rollback config for \"pay\" {SEE}")),
        ("no-callback", "Step \"pay\" requires a callback function".to_owned()),
        ("config", format!("Step config for \"pay\" {SEE}")),
        ("function-timeout", format!("Step config for \"pay\" {SEE}")),
    ];
    let mut ids = Vec::new();
    for (mode, _) in &refusals {
        ids.push(server.create("call-shapes", json!({ "mode": mode })).await);
    }
    for ((mode, message), id) in refusals.iter().zip(&ids) {
        let d = server.wait_for_status("call-shapes", id, &["errored"]).await;
        assert_eq!(d["error"], json!({ "name": "WorkflowFatalError", "message": message }), "{mode}: {d:#}");
        assert!(do_steps(&d).is_empty(), "{mode}: no step ran: {d:#}");
    }
}
