//! Timer planning and the write-ahead log under load, stepflare alone on `fixtures/bench`:
//!
//! - creates per second over the REST API (5,000 one-step instances of `steps`, 16 requests at a
//!   time) with no instance asleep, then again once 10,000 instances of `naps` sleep
//!   (`step.sleep("nap", "1 day")`, all `waiting`), side by side as a ratio: the cost of a create
//!   must not grow with the instances that sleep. The instances created also run, and the time
//!   until all of them are complete is the second row;
//! - the size of the `-wal` file beside the state database after 60 s of creates at full speed,
//!   and the largest it got meanwhile, beside the size of the database itself.
//!
//! `cargo bench --bench timers` runs both; `cargo bench --bench timers -- creates` or `-- wal`
//! one of them. `STEPFLARE_BENCH_WAL_SECONDS` shortens the second (for a quick look only: the
//! log's bound is a claim about sustained load).

// This benchmark has no reference side: of the shared helpers it only starts stepflare.
#[allow(dead_code)]
mod reference;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Instances created in each measured round: at some 2,500 a second, 2,000 would last less than
/// a second, too short to average over the checkpointer's rounds.
const CREATES: usize = 5_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// Instances asleep during the second round.
const SLEEPERS: usize = 10_000;
/// How long the write-ahead log is under create load.
const WAL_LOAD: Duration = Duration::from_secs(60);
/// Instances run before anything is measured, so that the module is compiled and cached.
const WARM_UP: usize = 200;
/// The create body: an instance that runs one step.
const CREATE_BODY: &str = r#"{"params":{"steps":1}}"#;
/// How long a round may take to settle (all instances complete, or all asleep).
const PATIENCE: Duration = Duration::from_secs(600);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let parts: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with('-')).collect();
    let wants = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench");
    let scratch = reference::scratch_dir("timers");
    let client = reqwest::Client::new();

    let rates =
        if wants("creates") { Some(measure_creates(&client, &fixture, &scratch.join("creates")).await) } else { None };
    let wal = if wants("wal") {
        let seconds = std::env::var("STEPFLARE_BENCH_WAL_SECONDS").ok().and_then(|s| s.parse().ok());
        let load = seconds.map_or(WAL_LOAD, Duration::from_secs);
        Some(measure_wal(&client, &fixture, &scratch.join("wal"), load).await)
    } else {
        None
    };

    println!();
    if let Some(rates) = rates {
        println!(
            "{:<44} {:>12} {:>14} {:>8}",
            format!("{CREATES} creates, {CONCURRENCY} at a time"),
            "none asleep",
            format!("{SLEEPERS} asleep"),
            "ratio"
        );
        for (name, idle, asleep) in [
            ("creates/s over the REST API", rates.idle.created, rates.asleep.created),
            ("created and completed/s", rates.idle.completed, rates.asleep.completed),
        ] {
            println!("{name:<44} {idle:>12.0} {asleep:>14.0} {:>8.2}", asleep / idle);
        }
        println!();
    }
    if let Some(wal) = wal {
        println!("{:<44} {:>12}", format!("after {} s of creates ({} made)", wal.load.as_secs(), wal.creates), "size");
        println!("{:<44} {:>12}", "write-ahead log (state.sqlite-wal)", mib(wal.wal_at_end));
        println!("{:<44} {:>12}", "write-ahead log, largest seen", mib(wal.wal_peak));
        println!("{:<44} {:>12}", "database (state.sqlite)", mib(wal.database));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// One measured round: instances created per second (the last answer counts), and created and
/// run to completion per second (the last completion counts).
#[derive(Clone, Copy)]
struct Round {
    created: f64,
    completed: f64,
}

struct Rates {
    idle: Round,
    asleep: Round,
}

async fn measure_creates(client: &reqwest::Client, fixture: &Path, state: &Path) -> Rates {
    let process = reference::start_stepflare(fixture, state);
    let steps = format!("{}/steps/instances", process.workflows_url);
    let naps = format!("{}/naps/instances", process.workflows_url);
    create_many(client, &steps, WARM_UP).await;
    wait_for_count(client, &steps, "complete", WARM_UP).await;

    let idle = measure_round(client, &steps, WARM_UP + CREATES).await;
    eprintln!("none asleep: {:.0} creates/s", idle.created);

    let started = Instant::now();
    put_to_sleep(client, &naps, SLEEPERS).await;
    wait_for_count(client, &naps, "waiting", SLEEPERS).await;
    eprintln!("{SLEEPERS} instances asleep after {:.1} s", started.elapsed().as_secs_f64());

    let asleep = measure_round(client, &steps, WARM_UP + 2 * CREATES).await;
    eprintln!("{SLEEPERS} asleep: {:.0} creates/s", asleep.created);
    drop(process);
    Rates { idle, asleep }
}

/// Creates [`CREATES`] instances of `steps` and waits until `complete_after` of them are
/// complete.
async fn measure_round(client: &reqwest::Client, steps: &str, complete_after: usize) -> Round {
    let started = Instant::now();
    create_many(client, steps, CREATES).await;
    let created = started.elapsed();
    wait_for_count(client, steps, "complete", complete_after).await;
    let completed = started.elapsed();
    Round { created: CREATES as f64 / created.as_secs_f64(), completed: CREATES as f64 / completed.as_secs_f64() }
}

/// Creates `count` one-step instances, [`CONCURRENCY`] requests at a time.
async fn create_many(client: &reqwest::Client, url: &str, count: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    create(&client, &url).await;
                }
            })
        })
        .collect();
    for creator in creators {
        creator.await.expect("a creator task");
    }
}

async fn create(client: &reqwest::Client, url: &str) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(CREATE_BODY)
        .send()
        .await
        .expect("send a create");
    let status = response.status();
    assert!(status.is_success(), "create answered {status}: {}", response.text().await.unwrap_or_default());
}

/// Creates `count` instances of `naps` through the batch route, 100 per request.
async fn put_to_sleep(client: &reqwest::Client, naps: &str, count: usize) {
    let batch_url = format!("{naps}/batch");
    let mut made = 0;
    while made < count {
        let size = (count - made).min(100);
        let body = Value::Array(vec![serde_json::json!({}); size]).to_string();
        let response = client
            .post(&batch_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send a batch create");
        assert!(response.status().is_success(), "batch create answered {}", response.status());
        made += size;
    }
}

/// Waits until at least `count` instances behind `url` have `status`.
async fn wait_for_count(client: &reqwest::Client, url: &str, status: &str, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = count_in(client, url, status).await;
        if found >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{found} of {count} instances of {url} are {status} after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count_in(client: &reqwest::Client, url: &str, status: &str) -> usize {
    let body: Value = client
        .get(format!("{url}?status={status}&per_page=1"))
        .send()
        .await
        .expect("list instances")
        .json()
        .await
        .expect("a JSON listing");
    body["result_info"]["total_count"].as_u64().unwrap_or_else(|| panic!("no total_count in {body}")) as usize
}

struct WalSizes {
    load: Duration,
    creates: usize,
    wal_at_end: u64,
    wal_peak: u64,
    database: u64,
}

/// Creates instances as fast as the server takes them for `load`, watching the log's size.
async fn measure_wal(client: &reqwest::Client, fixture: &Path, state: &Path, load: Duration) -> WalSizes {
    let process = reference::start_stepflare(fixture, state);
    let steps = format!("{}/steps/instances", process.workflows_url);
    let (database, wal) = (state.join("state.sqlite"), state.join("state.sqlite-wal"));
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, stop, made) = (client.clone(), steps.clone(), stop.clone(), made.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    create(&client, &url).await;
                    made.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut wal_peak = 0;
    while started.elapsed() < load {
        tokio::time::sleep(Duration::from_millis(100)).await;
        wal_peak = wal_peak.max(file_size(&wal));
    }
    let wal_at_end = file_size(&wal);
    let database = file_size(&database);
    stop.store(true, Ordering::Relaxed);
    for creator in creators {
        creator.await.expect("a creator task");
    }
    drop(process);
    WalSizes { load, creates: made.load(Ordering::Relaxed), wal_at_end, wal_peak: wal_peak.max(wal_at_end), database }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
