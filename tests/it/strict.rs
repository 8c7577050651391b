//! `stepflare dev --strict`: production's account limits that are off by default (the creation
//! rate, the account's default retention), and the start-up list of what is not reproduced.

use std::time::Instant;

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn strict_mode_limits_the_creation_rate_and_lists_what_it_does_not_reproduce() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("retention", persist.path(), &["--strict"]);
    let lines: Vec<String> =
        stepflare::parity::NOT_REPRODUCED.iter().map(|line| format!("not reproduced: {line}")).collect();
    server.wait_for_log(&lines.iter().map(String::as_str).collect::<Vec<_>>()).await;

    // 250 creates at once: the first hundred of any second pass, the rest get a 429.
    let http = reqwest::Client::new();
    let url = format!("{}/instances", server.workflow_url("plain"));
    let started = Instant::now();
    let answers = futures_util::future::join_all((0..250).map(|n| {
        let request = http.post(&url).json(&json!({ "instance_id": format!("burst-{n}"), "params": {} })).send();
        async move {
            let response = request.await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry_after, response.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let created = answers.iter().filter(|(status, _, _)| *status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 429).collect();
    assert_eq!(created + refused.len(), 250, "only 200s and 429s: {answers:?}");
    assert!(created >= 100, "the first hundred always pass: {created}");
    assert!(created as f64 <= 100.0 * (elapsed.ceil() + 1.0), "{created} created in {elapsed:.2} s");
    assert!(!refused.is_empty(), "250 creates in {elapsed:.2} s were all accepted");
    for (_, retry_after, body) in &refused {
        assert_eq!(body["errors"][0]["code"], json!(971), "{body:#}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("100 a second per workflow"), "{body:#}");
        let seconds: u64 = retry_after.as_deref().expect("a Retry-After header").parse().unwrap();
        assert!((1..=1).contains(&seconds), "Retry-After {seconds}");
    }

    // An instance that sets no retention (nor does its workflow) gets the account's 7 days.
    let state = rusqlite::Connection::open(persist.path().join("state.sqlite")).unwrap();
    let (success, error): (Option<i64>, Option<i64>) = state
        .query_row("SELECT success_retention_ms, error_retention_ms FROM instances WHERE id = 'burst-0'", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((success, error), (Some(604_800_000), Some(604_800_000)));
}
