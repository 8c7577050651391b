//! Reload latency, stepflare side by side with `wrangler dev` on the same project
//! (`fixtures/reload`, copied to a scratch folder): the time from writing an edit of the Worker's
//! fetch handler to the first HTTP answer that comes from the edited code, over 20 edits, each
//! saved whole (written beside the module and renamed over it).
//!
//! `cargo bench --bench reload`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use.

mod reference;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EDITS: usize = 20;
/// How long an edit may take to be served before the run is declared failed.
const PATIENCE: Duration = Duration::from_secs(30);
/// The fetch handler's answer in the fixture; each edit replaces it with a numbered one.
const ANSWER: &str = "`worker: ${MESSAGE}`";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/reload");
    let scratch = reference::scratch_dir("reload");
    let client = reqwest::Client::new();

    let project = copy_project(&fixture, &scratch.join("stepflare-project"));
    let process = reference::start_stepflare(&project, &scratch.join("stepflare-state"));
    eprintln!("stepflare: Worker at {}", process.worker_url);
    let ours = measure("stepflare", &client, &project, &process.worker_url).await;
    drop(process);

    let project = copy_project(&fixture, &scratch.join("wrangler-project"));
    let theirs = match reference::start_wrangler(&root, &project, &scratch.join("wrangler-state")) {
        Ok(process) => {
            eprintln!("wrangler dev: Worker at {}", process.worker_url);
            let times = measure("wrangler dev", &client, &project, &process.worker_url).await;
            drop(process);
            Some(times)
        }
        Err(why) => {
            eprintln!("reference unavailable: {why}");
            None
        }
    };
    let _ = std::fs::remove_dir_all(&scratch);

    println!();
    println!(
        "{:<34} {:>12} {:>14} {:>10}",
        format!("write → new answer ({EDITS} edits)"),
        "stepflare",
        "wrangler dev",
        "speed-up"
    );
    for (label, quantile) in [("median", 0.5), ("p90", 0.9)] {
        let our = at(&ours, quantile);
        let their = theirs.as_ref().map(|times| at(times, quantile));
        println!(
            "{:<34} {:>12} {:>14} {:>10}",
            label,
            format!("{:.1} ms", ms(our)),
            their.map(|t| format!("{:.1} ms", ms(t))).unwrap_or_else(|| "n/a".into()),
            their.map(|t| format!("{:.1}x", ms(t) / ms(our))).unwrap_or_else(|| "n/a".into()),
        );
    }
}

/// A fresh copy of the project, so that neither the fixture nor the other server's copy is
/// touched.
fn copy_project(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to.join("src")).expect("create the project copy");
    for file in ["wrangler.jsonc", "src/index.js", "src/message.js"] {
        std::fs::copy(from.join(file), to.join(file)).expect("copy a project file");
    }
    to.to_path_buf()
}

/// `EDITS` edits of the fetch handler, each timed from the write to the first answer of the
/// edited code; sorted.
async fn measure(name: &str, client: &reqwest::Client, project: &Path, worker_url: &str) -> Vec<Duration> {
    let entry = project.join("src/index.js");
    let original = std::fs::read_to_string(&entry).expect("read the entry module");
    assert!(original.contains(ANSWER), "the fixture's fetch handler answers {ANSWER}");
    // One unmeasured edit, so that neither side pays first-reload costs inside a measurement.
    let mut times = Vec::new();
    for edit in 0..=EDITS {
        let expected = format!("worker {edit}: ");
        let source = original.replace(ANSWER, &format!("`worker {edit}: ${{MESSAGE}}`"));
        let written = Instant::now();
        write_whole(&entry, &source);
        let took = loop {
            if answer(client, worker_url).await.starts_with(&expected) {
                break written.elapsed();
            }
            assert!(written.elapsed() < PATIENCE, "{name}: edit {edit} was not served within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if edit > 0 {
            times.push(took);
        }
        // Let the watcher settle, so that edits do not fall into one debounce window.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("{name}: {:?}", times.iter().map(|t| format!("{:.1}", ms(*t))).collect::<Vec<_>>());
    times.sort();
    times
}

/// Writes `path` as editors that save safely do: a scratch file beside it, renamed over it.
/// `wrangler dev` can read a file written in place while it is still empty and stop for good
/// (workerd refuses a bundle without the workflow classes), so both sides get whole files.
fn write_whole(path: &Path, text: &str) {
    let scratch = path.with_extension("js.tmp");
    std::fs::write(&scratch, text).expect("write the scratch file");
    std::fs::rename(&scratch, path).expect("rename the scratch file over the module");
}

/// The Worker's answer at `/`, or an empty string while it cannot answer (a reload in progress).
async fn answer(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).timeout(Duration::from_secs(5)).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The `quantile` (0 to 1) of sorted `times`.
fn at(times: &[Duration], quantile: f64) -> Duration {
    let index = ((times.len() as f64 - 1.0) * quantile).round() as usize;
    times[index.min(times.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
