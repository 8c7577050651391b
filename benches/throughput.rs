//! The engine's step throughput, this tree side by side with a baseline build of an earlier
//! commit, in one run on the same machine: aggregate steps per second for 100 concurrent
//! instances of 100 steps, and create-to-complete for one instance of 1,000 steps. Every step
//! is committed to the SQLite file before it resolves, on both sides.
//!
//! `cargo bench --bench throughput`. The baseline is `STEPFLARE_BASELINE` (a commit; by default
//! the one before the engine's decider), built once into `target/bench-baseline`. Both sides
//! are driven the same way: creates over REST, completion read from the listing's
//! `total_count` of `complete` instances (one cheap query, whatever the number of instances),
//! each process warmed by ten small instances first.

// This benchmark's reference is an earlier build of stepflare, not wrangler.
#[allow(dead_code)]
mod reference;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The last commit before the decider: what "previous release" means for this benchmark.
const DEFAULT_BASELINE: &str = "fa1f98b";
/// Runs per case and side; sides alternate so that a machine's slow spell hits both.
const ROUNDS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/bench");
    let commit = std::env::var("STEPFLARE_BASELINE").unwrap_or_else(|_| DEFAULT_BASELINE.to_owned());
    let baseline = reference::build_baseline(&root, &commit).expect("build the baseline");
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_stepflare"));
    let client = reqwest::Client::new();
    let scratch = reference::scratch_dir("throughput");

    // (instances, steps per instance)
    let cases = [(100usize, 100u32), (1, 1000)];
    let mut times: Vec<[Vec<Duration>; 2]> = cases.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for round in 0..ROUNDS {
        for (side, binary) in [&ours, &baseline].into_iter().enumerate() {
            let state = scratch.join(format!("{side}-{round}"));
            let process = reference::start_stepflare_binary(binary, &fixture, &state);
            let url = format!("{}/steps/instances", process.workflows_url);
            // Untimed: the first instance of a fresh process also compiles the module and grows
            // the database file, which is start-up cost, not step throughput.
            measure(&client, &url, &format!("r{round}warm"), 10, 10).await;
            for (index, (instances, steps)) in cases.iter().enumerate() {
                let tag = format!("r{round}c{index}");
                times[index][side].push(measure(&client, &url, &tag, *instances, *steps).await);
            }
            drop(process);
            let _ = std::fs::remove_dir_all(&state);
        }
    }

    println!();
    println!("baseline: {commit}; median of {ROUNDS} runs per side");
    println!("{:<34} {:>14} {:>14} {:>8}", "case", "this tree", "baseline", "ratio");
    for (index, (instances, steps)) in cases.iter().enumerate() {
        let [new, old] = [median(&times[index][0]), median(&times[index][1])];
        let total = (*instances as f64) * f64::from(*steps);
        if *instances == 1 {
            println!(
                "{:<34} {:>11.1} ms {:>11.1} ms {:>7.2}x",
                format!("1 x {steps} steps, create→complete"),
                ms(new),
                ms(old),
                ms(old) / ms(new)
            );
        } else {
            let rate = |d: Duration| total / d.as_secs_f64();
            println!(
                "{:<34} {:>9.0} st/s {:>9.0} st/s {:>7.2}x",
                format!("{instances} x {steps} steps, aggregate"),
                rate(new),
                rate(old),
                rate(new) / rate(old)
            );
        }
    }
}

/// Creates `instances` instances of `steps` steps at once and waits until all are complete.
async fn measure(client: &reqwest::Client, url: &str, tag: &str, instances: usize, steps: u32) -> Duration {
    let before = completed(client, url).await;
    let started = Instant::now();
    let creates = (0..instances).map(|n| {
        let body = json!({ "instance_id": format!("{tag}-{n}"), "params": { "steps": steps } });
        let request = client.post(url).json(&body).send();
        async move {
            let response = request.await.expect("create");
            assert!(response.status().is_success(), "create: {}", response.status());
        }
    });
    futures_util::future::join_all(creates).await;
    let pause = Duration::from_millis(if instances == 1 { 2 } else { 10 });
    while completed(client, url).await < before + instances as u64 {
        tokio::time::sleep(pause).await;
    }
    started.elapsed()
}

/// How many instances are complete: one listing query for a single row, read for its total.
async fn completed(client: &reqwest::Client, url: &str) -> u64 {
    let listing: Value = client
        .get(format!("{url}?status=complete&per_page=1"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("a JSON listing");
    listing["result_info"]["total_count"].as_u64().expect("total_count")
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
