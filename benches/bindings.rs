//! Bindings, stepflare side by side with `wrangler dev` on the same projects: from a Worker, KV
//! put+get pairs per second (`fixtures/kv`: each pair a `put` then a `get` of the same key) and
//! Durable Object RPC calls per second (`fixtures/bench-rpc`: calls of one object's method),
//! awaited in turn inside one request of `PER_REQUEST` operations.
//!
//! `cargo bench --bench bindings`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use.

// Only some of the reference helpers serve this benchmark.
#[allow(dead_code)]
mod reference;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Operations per request, and requests per side (the first of which warms up and is not
/// counted).
const PER_REQUEST: usize = 200;
const RUNS: usize = 6;

/// What is measured: a label, the fixture, and what one operation is called.
const CASES: [(&str, &str, &str); 2] = [
    ("KV put+get from a Worker", "fixtures/kv", "pairs"),
    ("Durable Object RPC from a Worker", "fixtures/bench-rpc", "calls"),
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let results: Vec<_> = CASES.iter().map(|(_, fixture, _)| measure_both(&root, &root.join(fixture))).collect();

    let rate = |times: &[Duration]| PER_REQUEST as f64 / median(times).as_secs_f64();
    println!();
    println!(
        "{:<36} {:>18} {:>18} {:>10}",
        format!("{PER_REQUEST} per request"),
        "stepflare",
        "wrangler dev",
        "speed-up"
    );
    for ((label, _, unit), (ours, theirs)) in CASES.iter().zip(&results) {
        let ours = rate(ours);
        let theirs = theirs.as_deref().map(rate);
        println!(
            "{:<36} {:>18} {:>18} {:>10}",
            label,
            format!("{ours:.0} {unit}/s"),
            theirs.map(|t| format!("{t:.0} {unit}/s")).unwrap_or_else(|| "n/a".into()),
            theirs.map(|t| format!("{:.1}x", ours / t)).unwrap_or_else(|| "n/a".into()),
        );
    }
}

/// The request times of stepflare and of wrangler dev (if it runs here) on `fixture`.
fn measure_both(root: &Path, fixture: &Path) -> (Vec<Duration>, Option<Vec<Duration>>) {
    let name = fixture.file_name().and_then(|name| name.to_str()).unwrap_or("fixture");
    let state = reference::scratch_dir(&format!("bindings-{name}-ours"));
    let ours = reference::start_stepflare(fixture, &state);
    let our_times = measure(&ours.worker_url);
    drop(ours);
    let state = reference::scratch_dir(&format!("bindings-{name}-theirs"));
    let their_times = match reference::start_wrangler(root, fixture, &state) {
        Ok(theirs) => Some(measure(&theirs.worker_url)),
        Err(why) => {
            eprintln!("reference unavailable: {why}");
            None
        }
    };
    (our_times, their_times)
}

/// `RUNS` requests of `PER_REQUEST` operations, each timed whole; the first is left out.
fn measure(worker_url: &str) -> Vec<Duration> {
    let url = format!("{worker_url}bench?n={PER_REQUEST}");
    let mut times = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        let status = reference::answer_status(&url).expect("the Worker answers");
        assert_eq!(status, 200, "GET {url}");
        if run > 0 {
            times.push(started.elapsed());
        }
    }
    times
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}
