//! Startup, stepflare side by side with `wrangler dev` on the same projects: the time from
//! starting the command to the first HTTP answer of the project's Worker, for the workflow
//! fixture of the guide (`fixtures/basic`) and for a real npm project (`fixtures/hono-zod`: Hono
//! and zod from `node_modules`). Each side starts `RUNS` times; the first start is not counted,
//! so both read their files from a warm cache.
//!
//! `cargo bench --bench startup`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use; the fixtures' packages are installed
//! from their lockfiles when missing.

mod reference;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 6;
/// How long a start may take before the run is declared failed.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let projects = [("guide's workflows (basic)", "basic"), ("Hono + zod from npm", "hono-zod")];
    let mut rows = Vec::new();
    for (label, fixture) in projects {
        let fixture = root.join("fixtures").join(fixture);
        install_packages(&fixture);
        let ours = measure("stepflare", &fixture, |state| Some(reference::start_stepflare(&fixture, state)))
            .expect("stepflare starts");
        let theirs =
            measure("wrangler dev", &fixture, |state| match reference::start_wrangler(&root, &fixture, state) {
                Ok(process) => Some(process),
                Err(why) => {
                    eprintln!("reference unavailable: {why}");
                    None
                }
            });
        rows.push((label, ours, theirs));
    }

    println!();
    println!("{:<30} {:>14} {:>14} {:>10}", "start → first Worker answer", "stepflare", "wrangler dev", "speed-up");
    for (label, ours, theirs) in rows {
        let our = median(&ours);
        let their = theirs.as_deref().map(median);
        println!(
            "{:<30} {:>14} {:>14} {:>10}",
            label,
            format!("{:.1} ms", ms(our)),
            their.map(|t| format!("{:.1} ms", ms(t))).unwrap_or_else(|| "n/a".into()),
            their.map(|t| format!("{:.1}x", ms(t) / ms(our))).unwrap_or_else(|| "n/a".into()),
        );
    }
}

/// `npm ci` in a fixture with a lockfile and no `node_modules` yet.
fn install_packages(fixture: &Path) {
    if fixture.join("package-lock.json").exists() && !fixture.join("node_modules").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(fixture)
            .status()
            .expect("run npm");
        assert!(status.success(), "npm ci in {} failed", fixture.display());
    }
}

/// `RUNS` starts by `start`, each timed to the Worker's first answer; the first is left out.
/// `None` when `start` cannot start the server.
fn measure(name: &str, fixture: &Path, start: impl Fn(&Path) -> Option<reference::Process>) -> Option<Vec<Duration>> {
    let mut times = Vec::new();
    for run in 0..RUNS {
        let state = reference::scratch_dir(&format!("startup-{run}"));
        let started = Instant::now();
        let process = start(&state)?;
        let url = format!("{}startup-probe", process.worker_url);
        while !answers(&url) {
            assert!(started.elapsed() < PATIENCE, "{name} on {} did not answer within {PATIENCE:?}", fixture.display());
            std::thread::sleep(Duration::from_millis(1));
        }
        let took = started.elapsed();
        drop(process);
        let _ = std::fs::remove_dir_all(&state);
        if run > 0 {
            times.push(took);
        }
    }
    eprintln!(
        "{name} on {}: {:?}",
        fixture.display(),
        times.iter().map(|t| format!("{:.1}", ms(*t))).collect::<Vec<_>>()
    );
    Some(times)
}

/// Whether the Worker answers a GET of `url` (the probe route may be a 404 of the app's router:
/// what counts is that the Worker ran; workerd answers 503 while wrangler dev is still starting
/// it).
fn answers(url: &str) -> bool {
    reference::answer_status(url).is_some_and(|status| status != 503)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
