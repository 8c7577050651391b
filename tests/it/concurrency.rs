//! A workflow's `concurrency.limit`: instances over the limit wait in `queued` (they are not
//! refused) and start as running ones finish; other workflows are not held back by it.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// How many instances of `wf` are in each status, from one listing.
async fn statuses(server: &Server, wf: &str) -> Vec<String> {
    let url = format!("{}/instances?per_page=100", server.workflow_url(wf));
    let (code, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(code, 200, "{body:#}");
    body["result"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap().to_string()).collect()
}

fn count(statuses: &[String], wanted: &str) -> usize {
    statuses.iter().filter(|s| *s == wanted).count()
}

/// The most runs of `held` (given as `{start, end}` outputs) that overlapped at any moment.
fn most_at_once(outputs: &[Value]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for output in outputs {
        // An end at the same millisecond as another's start is not an overlap.
        edges.push((output["start"].as_i64().unwrap(), 1));
        edges.push((output["end"].as_i64().unwrap(), -1));
    }
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test]
async fn a_limit_of_two_queues_the_other_three_until_slots_free_up() {
    let server = Server::start("concurrency");
    let gate = server.create_with_id("gate", "gate", json!({})).await;
    let params = json!({ "gateUrl": server.instance_url("gate", &gate) });
    let mut limited = Vec::new();
    for _ in 0..5 {
        limited.push(server.create("limited", params.clone()).await);
    }
    let mut unlimited = Vec::new();
    for _ in 0..3 {
        unlimited.push(server.create("unlimited", params.clone()).await);
    }

    // With the gate shut, two of `limited` run and three wait; all of `unlimited` run.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (held, free) = (statuses(&server, "limited").await, statuses(&server, "unlimited").await);
        assert!(count(&held, "running") <= 2, "more than two running: {held:?}");
        if count(&held, "running") == 2 && count(&held, "queued") == 3 && count(&free, "running") == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "limited {held:?}, unlimited {free:?}\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
    // It stays so while the gate is shut.
    for _ in 0..5 {
        let held = statuses(&server, "limited").await;
        assert_eq!((count(&held, "running"), count(&held, "queued")), (2, 3), "{held:?}");
        tokio::time::sleep(POLL).await;
    }

    server.deliver("gate", &gate, "open", json!({})).await;
    let mut outputs = Vec::new();
    for id in &limited {
        outputs.push(server.wait_for_status("limited", id, &["complete"]).await["output"].clone());
    }
    for id in &unlimited {
        server.wait_for_status("unlimited", id, &["complete"]).await;
    }
    // Their steps' own clocks agree: never more than two ran at once.
    assert!(most_at_once(&outputs) <= 2, "runs of the limited workflow: {outputs:#?}");
    assert!(outputs.iter().all(|o| o["end"].as_i64() >= o["start"].as_i64()), "{outputs:#?}");
}
