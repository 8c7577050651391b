//! Step throughput and create-to-complete latency, stepflare side by side with `wrangler dev`
//! on the same project (`fixtures/bench`): a 10-step and a 1,000-step instance, each step
//! returning its index and, under stepflare, committed to the SQLite file before it resolves.
//!
//! `cargo bench --bench steps`. The reference (wrangler 4.164.0 on Node 22, both from npm) is
//! installed into `target/bench-reference` on first use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const REFERENCE_PACKAGES: [&str; 2] = ["wrangler@4.164.0", "node@22"];

/// A server under test: where to create instances and how to read their status.
struct Target {
    name: &'static str,
    instances_url: String,
    /// The body that creates an instance with this id and params.
    create_body: fn(&str, Value) -> Value,
    process: Child,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
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

    let state = tempdir("stepflare");
    let stepflare = start_stepflare(&fixture, &state);
    let ours: Vec<Duration> = measure_all(&client, &stepflare, &cases).await;
    drop(stepflare);

    let reference = match start_wrangler(&root, &fixture) {
        Ok(target) => {
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

fn tempdir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stepflare-bench-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn start_stepflare(fixture: &Path, state: &Path) -> Target {
    let mut process = Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .args(["dev", "--port", "0", "--config"])
        .arg(fixture)
        .arg("--persist-to")
        .arg(state)
        .env("STEPFLARE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stepflare");
    let stdout = process.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("stepflare exited before it was ready").expect("read stdout");
        if let Some(url) = line.strip_prefix("stepflare ready on ") {
            break url.to_owned();
        }
    };
    Target {
        name: "stepflare",
        instances_url: format!("{base}/client/v4/accounts/bench/workflows/steps/instances"),
        create_body: |id, params| json!({ "instance_id": id, "params": params }),
        process,
    }
}

/// Installs the reference once, then starts `wrangler dev` on the fixture and waits for its
/// local explorer API to answer.
fn start_wrangler(root: &Path, fixture: &Path) -> Result<Target, String> {
    let prefix = root.join("target/bench-reference");
    let modules = prefix.join("node_modules");
    if !modules.join("wrangler/bin/wrangler.js").exists() || !modules.join(".bin/node").exists() {
        std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args(REFERENCE_PACKAGES)
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !status.success() {
            return Err(format!("npm install {} failed", REFERENCE_PACKAGES.join(" ")));
        }
    }
    let port = free_port()?;
    let state = tempdir("wrangler");
    let process = Command::new(modules.join(".bin/node"))
        .arg(modules.join("wrangler/bin/wrangler.js"))
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--config"])
        .arg(fixture.join("wrangler.jsonc"))
        .arg("--persist-to")
        .arg(&state)
        .env("WRANGLER_SEND_METRICS", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start wrangler: {e}"))?;
    let base = format!("http://127.0.0.1:{port}/cdn-cgi/local/explorer/api/workflows");
    let target = Target {
        name: "wrangler dev",
        instances_url: format!("{base}/steps/instances"),
        create_body: |id, params| json!({ "id": id, "params": params }),
        process,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && Command::new("curl").args(["-sf", "-o", "/dev/null", &base]).status().is_ok_and(|s| s.success());
        if ready {
            return Ok(target);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("wrangler dev did not become ready within 60 s".into())
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
