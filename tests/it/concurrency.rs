//! A workflow's `concurrency.limit`: instances over the limit wait in `queued` (they are not
//! refused) and start as running ones finish; other workflows are not held back by it. And the
//! rules of the line for a slot: a sleeping instance holds none under `--max-concurrent`, a
//! woken one goes before instances queued earlier, and a cron firing's instance waits its turn.

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

/// Releases the `hold` step of the instance `id` of the `claims` fixture.
async fn release(server: &Server, id: &str) {
    assert_eq!(server.get_ok(&format!("/release?id={id}")).await, json!("released"));
}

/// True once the instance runs its `hold` step.
fn holding(d: &Value) -> bool {
    status(d) == "running" && find_step(d, "hold-1").is_some()
}

#[tokio::test]
async fn a_sleeping_instance_does_not_count_against_max_concurrent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with("claims", dir.path(), &["--max-concurrent", "1"]);
    let sleeper = server.create("varied", json!({ "mode": "nap", "sleep": "1 hour" })).await;
    server
        .wait_for("varied", &sleeper, "the sleep", |d| status(d) == "waiting" && find_step(d, "nap-1").is_some())
        .await;
    // The one slot is free while it sleeps: another instance runs to its end.
    let other = server.create("varied", json!({})).await;
    server.wait_for_status("varied", &other, &["complete"]).await;
    assert_eq!(status(&server.describe("varied", &sleeper).await), "waiting");
}

#[tokio::test]
async fn a_woken_instance_goes_before_instances_queued_earlier() {
    let server = Server::start("claims");
    // `lined` runs one instance at a time. The napper sleeps first, leaving the slot free.
    let napper = server.create("lined", json!({ "mode": "nap", "sleep": "5 seconds" })).await;
    let d = server
        .wait_for("lined", &napper, "the nap", |d| status(d) == "waiting" && find_step(d, "nap-1").is_some())
        .await;
    let wakes_at = iso_ms(&step(&d, "nap-1")["end"]);
    let holder = server.create("lined", json!({ "mode": "hold" })).await;
    server.wait_for("lined", &holder, "the hold", holding).await;
    let newcomer = server.create("lined", json!({})).await;
    let d = server.describe("lined", &newcomer).await;
    assert_eq!(status(&d), "queued", "{d:#}");
    assert!(iso_ms(&d["queued"]) < wakes_at, "the machine took 5 s to queue an instance; the nap ended first");
    // An instance of another workflow whose nap ends later: once it has run, the napper's
    // timer has fired, and the napper waits in line for the held slot.
    let witness = server.create("varied", json!({ "mode": "nap", "sleep": "5 seconds" })).await;
    server.wait_for_status("varied", &witness, &["complete"]).await;
    assert_eq!(status(&server.describe("lined", &napper).await), "waiting");
    assert_eq!(status(&server.describe("lined", &newcomer).await), "queued");

    release(&server, &holder).await;
    let held = server.wait_for_status("lined", &holder, &["complete"]).await["output"].clone();
    let woken = server.wait_for_status("lined", &napper, &["complete"]).await["output"].clone();
    let queued = server.wait_for_status("lined", &newcomer, &["complete"]).await["output"].clone();
    let (held_end, woken_start, queued_start) =
        (held["end"].as_i64().unwrap(), woken["start"].as_i64().unwrap(), queued["start"].as_i64().unwrap());
    assert!(held_end <= woken_start, "the napper ran before the holder ended: {held} {woken}");
    assert!(woken_start <= queued_start, "the queued instance went before the woken one: {woken} {queued}");
}

#[tokio::test]
async fn a_cron_created_instance_waits_for_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with("claims", dir.path(), &["--max-concurrent", "1"]);
    let holder = server.create("varied", json!({ "mode": "hold" })).await;
    server.wait_for("varied", &holder, "the hold", holding).await;

    let url = format!("{}/cdn-cgi/stepflare/workflows/cronned/schedules/trigger", server.base());
    let (code, body) = server.request(Method::POST, &url, None).await;
    assert_eq!(code, 200, "{body:#}");
    let id = body["result"][0]["id"].as_str().unwrap_or_else(|| panic!("{body:#}")).to_owned();
    for _ in 0..10 {
        let d = server.describe("cronned", &id).await;
        assert_eq!(status(&d), "queued", "a cron instance ran past the limit: {d:#}");
        tokio::time::sleep(POLL).await;
    }

    release(&server, &holder).await;
    let held = server.wait_for_status("varied", &holder, &["complete"]).await["output"].clone();
    let fired = server.wait_for_status("cronned", &id, &["complete"]).await["output"].clone();
    assert!(held["end"].as_i64() <= fired["start"].as_i64(), "{held} {fired}");
}
