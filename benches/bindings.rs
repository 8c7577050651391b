//! Bindings, stepflare side by side with `wrangler dev` on the same project (`fixtures/kv`): KV
//! put+get pairs per second from a Worker, each pair a `put` then a `get` of the same key,
//! awaited in turn inside one request of `PAIRS` pairs.
//!
//! `cargo bench --bench bindings`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use.

// Only some of the reference helpers serve this benchmark.
#[allow(dead_code)]
mod reference;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Pairs per request, and requests per side (the first of which warms up and is not counted).
const PAIRS: usize = 200;
const RUNS: usize = 6;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/kv");
    let state = reference::scratch_dir("bindings-ours");
    let ours = reference::start_stepflare(&fixture, &state);
    let our_times = measure(&ours.worker_url);
    drop(ours);
    let state = reference::scratch_dir("bindings-theirs");
    let their_times = match reference::start_wrangler(&root, &fixture, &state) {
        Ok(theirs) => Some(measure(&theirs.worker_url)),
        Err(why) => {
            eprintln!("reference unavailable: {why}");
            None
        }
    };

    let rate = |times: &[Duration]| PAIRS as f64 / median(times).as_secs_f64();
    println!();
    println!("{:<32} {:>16} {:>16} {:>10}", "KV put+get from a Worker", "stepflare", "wrangler dev", "speed-up");
    let ours = rate(&our_times);
    let theirs = their_times.as_deref().map(rate);
    println!(
        "{:<32} {:>16} {:>16} {:>10}",
        format!("{PAIRS} pairs per request"),
        format!("{ours:.0} pairs/s"),
        theirs.map(|t| format!("{t:.0} pairs/s")).unwrap_or_else(|| "n/a".into()),
        theirs.map(|t| format!("{:.1}x", ours / t)).unwrap_or_else(|| "n/a".into()),
    );
}

/// `RUNS` requests of `PAIRS` pairs, each timed whole; the first is left out.
fn measure(worker_url: &str) -> Vec<Duration> {
    let url = format!("{worker_url}bench?n={PAIRS}");
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
