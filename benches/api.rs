//! REST API and Worker under load from a second process: requests per second and p99 latency of
//! describe-instance and create-instance, and of the Worker's fetch handler from Cloudflare's
//! guide (create an instance through the binding, then read its status), stepflare side by side
//! with `wrangler dev` (its local explorer API and its Worker) on the same project
//! (`fixtures/bench`), measured by `wrk` on loopback. Both sides answer the same routes: those of
//! the local explorer API (wrangler dev's own, which stepflare serves too).
//!
//! `cargo bench --bench api`. Needs `wrk` (Debian package `wrk`); the reference (wrangler
//! 4.164.0 on Node 22, from npm) is installed into `target/bench-reference` on first use.

mod reference;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LOAD: [&str; 6] = ["-t", "1", "-c", "16", "-d", "5s"];

/// The create body: an instance that runs one step.
const CREATE_BODY: &str = r#"{"params":{"steps":1}}"#;

struct Server {
    /// Where instances of the `steps` workflow are created and described.
    instances_url: String,
    /// The Worker's fetch handler.
    worker_url: String,
    _process: reference::Process,
}

impl Server {
    fn new(process: reference::Process) -> Self {
        Server {
            instances_url: format!("{}/steps/instances", process.explorer_url),
            worker_url: process.worker_url.clone(),
            _process: process,
        }
    }
}

const MEASURED: [&str; 3] = ["describe instance", "create instance", "worker create+status"];

/// One wrk run: requests per second and the 99th percentile latency in milliseconds.
struct Load {
    per_second: f64,
    p99_ms: f64,
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: `apt-get install wrk`");
        std::process::exit(2);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/bench");
    let scratch = reference::scratch_dir("api");
    let ours = Server::new(reference::start_stepflare(&fixture, &scratch.join("stepflare")));
    let our_results = measure(&ours, &scratch);
    drop(ours);
    let theirs = match reference::start_wrangler(&root, &fixture, &scratch.join("wrangler")) {
        Ok(process) => {
            let server = Server::new(process);
            let results = measure(&server, &scratch);
            drop(server);
            Some(results)
        }
        Err(why) => {
            eprintln!("reference unavailable: {why}");
            None
        }
    };

    println!();
    println!("{:<26} {:>16} {:>16} {:>10}", "wrk -t1 -c16 -d5s", "stepflare", "wrangler dev", "ratio");
    for (index, name) in MEASURED.iter().enumerate() {
        let ours = &our_results[index];
        let reference = theirs.as_ref().map(|t| &t[index]);
        println!(
            "{:<26} {:>16} {:>16} {:>10}",
            format!("{name} req/s"),
            format!("{:.0}", ours.per_second),
            reference.map(|r| format!("{:.0}", r.per_second)).unwrap_or_else(|| "n/a".into()),
            reference.map(|r| format!("{:.1}x", ours.per_second / r.per_second)).unwrap_or_else(|| "n/a".into()),
        );
        println!(
            "{:<26} {:>16} {:>16} {:>10}",
            format!("{name} p99"),
            format!("{:.2} ms", ours.p99_ms),
            reference.map(|r| format!("{:.2} ms", r.p99_ms)).unwrap_or_else(|| "n/a".into()),
            reference.map(|r| format!("{:.1}x", r.p99_ms / ours.p99_ms)).unwrap_or_else(|| "n/a".into()),
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

fn measure(server: &Server, scratch: &Path) -> [Load; 3] {
    let id = create_one(server);
    wait_until_complete(server, &id);
    let describe = run_wrk(&format!("{}/{id}", server.instances_url), None, scratch);
    let script = scratch.join("create.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.body = '{}'\n",
            CREATE_BODY
        ),
    )
    .expect("write the wrk script");
    let create = run_wrk(&server.instances_url, Some(&script), scratch);
    let worker = run_wrk(&server.worker_url, None, scratch);
    [describe, create, worker]
}

fn run_wrk(url: &str, script: Option<&Path>, scratch: &Path) -> Load {
    let mut command = Command::new("wrk");
    command.args(LOAD).arg("--latency").current_dir(scratch);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{url}\n{text}");
    let per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_duration_ms(v.trim()))
        .unwrap_or_else(|| panic!("no 99% latency in wrk output:\n{text}"));
    let non_2xx = text.lines().find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"));
    assert!(non_2xx.is_none(), "{url} answered errors under load:\n{text}");
    Load { per_second, p99_ms: p99 }
}

/// wrk prints `1.23ms`, `850.00us` or `1.02s`.
fn parse_duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn curl(args: &[&str]) -> String {
    let output = Command::new("curl").arg("-sf").args(args).output().expect("run curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn create_one(server: &Server) -> String {
    let body = curl(&["-X", "POST", "-H", "content-type: application/json", "-d", CREATE_BODY, &server.instances_url]);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("create answered {body:?}"));
    value["result"]["id"].as_str().expect("an id").to_owned()
}

fn wait_until_complete(server: &Server, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let body = curl(&[&format!("{}/{id}", server.instances_url)]);
        if body.contains("\"complete\"") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("instance {id} did not complete");
}
