//! Step throughput and create-to-complete latency, stepflare side by side with `wrangler dev`
//! on the same project (`fixtures/bench`): a 10-step and a 1,000-step instance, each step
//! returning its index and, under stepflare, committed to the SQLite file before it resolves.
//!
//! Both sides are driven through the same routes, those of the local explorer API (wrangler
//! dev's own, which stepflare serves too), and see completion the same way: the instance listing
//! read until the instance shows `complete`.
//!
//! `cargo bench --bench steps`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use.

mod reference;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A server under test: where to create instances and how to read their status.
struct Target {
    name: &'static str,
    instances_url: String,
    /// The body that creates an instance with this id and params.
    create_body: fn(&str, Value) -> Value,
    _process: reference::Process,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/bench");
    let client = reqwest::Client::new();
    let cases = [(10u32, 20usize), (1000, 5)];

    let scratch = reference::scratch_dir("steps");
    let process = reference::start_stepflare(&fixture, &scratch.join("stepflare"));
    eprintln!("stepflare: API at {}, Worker at {}", process.workflows_url, process.worker_url);
    let stepflare = Target {
        name: "stepflare",
        instances_url: format!("{}/steps/instances", process.explorer_url),
        create_body: |id, params| json!({ "id": id, "params": params }),
        _process: process,
    };
    let ours: Vec<Duration> = measure_all(&client, &stepflare, &cases).await;
    drop(stepflare);

    let reference = match reference::start_wrangler(&root, &fixture, &scratch.join("wrangler")) {
        Ok(process) => {
            let target = Target {
                name: "wrangler dev",
                instances_url: format!("{}/steps/instances", process.explorer_url),
                create_body: |id, params| json!({ "id": id, "params": params }),
                _process: process,
            };
            let times = measure_all(&client, &target, &cases).await;
            drop(target);
            Some(times)
        }
        Err(why) => {
            eprintln!("reference unavailable: {why}");
            None
        }
    };

    println!();
    println!("{:<28} {:>14} {:>16} {:>10}", "create → complete (median)", "stepflare", "wrangler dev", "speed-up");
    for (index, (steps, runs)) in cases.iter().enumerate() {
        let label = format!("{steps} steps ({runs} runs)");
        let theirs = reference.as_ref().map(|r| r[index]);
        println!(
            "{:<28} {:>14} {:>16} {:>10}",
            label,
            format!("{:.1} ms", ms(ours[index])),
            theirs.map(|t| format!("{:.1} ms", ms(t))).unwrap_or_else(|| "n/a".into()),
            theirs.map(|t| format!("{:.1}x", ms(t) / ms(ours[index]))).unwrap_or_else(|| "n/a".into()),
        );
    }
    let per_second = |d: Duration| 1000.0 / d.as_secs_f64();
    let big = cases.iter().position(|(steps, _)| *steps == 1000).expect("a 1000-step case");
    println!(
        "{:<28} {:>14} {:>16} {:>10}",
        "steps/second (1000 steps)",
        format!("{:.0}", per_second(ours[big])),
        reference.as_ref().map(|r| format!("{:.0}", per_second(r[big]))).unwrap_or_else(|| "n/a".into()),
        reference
            .as_ref()
            .map(|r| format!("{:.1}x", per_second(ours[big]) / per_second(r[big])))
            .unwrap_or_else(|| "n/a".into()),
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn measure_all(client: &reqwest::Client, target: &Target, cases: &[(u32, usize)]) -> Vec<Duration> {
    // One warm-up instance so that neither side pays its first-run costs inside a measurement.
    create_to_complete(client, target, 10).await;
    let mut medians = Vec::new();
    for (steps, runs) in cases {
        let mut times = Vec::new();
        for _ in 0..*runs {
            times.push(create_to_complete(client, target, *steps).await);
        }
        times.sort();
        let median = times[times.len() / 2];
        eprintln!(
            "{}: {steps} steps: {:?}",
            target.name,
            times.iter().map(|t| format!("{:.1}", ms(*t))).collect::<Vec<_>>()
        );
        medians.push(median);
    }
    medians
}

/// From sending the create request to the first status read that says `complete`.
async fn create_to_complete(client: &reqwest::Client, target: &Target, steps: u32) -> Duration {
    let id = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let response = client
        .post(&target.instances_url)
        .json(&(target.create_body)(&id, json!({ "steps": steps })))
        .send()
        .await
        .expect("create request");
    assert!(
        response.status().is_success(),
        "{}: create failed: {}",
        target.name,
        response.text().await.unwrap_or_default()
    );
    loop {
        let list: Value =
            client.get(&target.instances_url).send().await.expect("list request").json().await.expect("list body");
        let status = list["result"]
            .as_array()
            .and_then(|items| items.iter().find(|item| item["id"] == id.as_str()))
            .and_then(|item| item["status"].as_str())
            .unwrap_or("")
            .to_owned();
        match status.as_str() {
            "complete" => return started.elapsed(),
            "errored" | "terminated" => panic!("{}: instance {id} ended {status}", target.name),
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{}: instance {id} did not complete", target.name);
    }
}
