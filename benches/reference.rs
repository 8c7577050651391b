//! What the benchmarks share: starting the real `stepflare dev` on a fixture, and installing
//! and starting the reference, `wrangler dev` (wrangler 4.164.0 on Node 22, from npm, into
//! `target/bench-reference` on first use).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REFERENCE_PACKAGES: [&str; 2] = ["wrangler@4.164.0", "node@22"];

/// A server process, the base URL of its workflows API and that of its Worker; dropping it
/// kills the process. Each benchmark reads the URLs it needs of it.
#[allow(dead_code)]
pub struct Process {
    pub workflows_url: String,
    /// The workflows route of the local explorer API (wrangler dev's own API, which stepflare
    /// serves too): where a comparison with wrangler drives both sides, so that both answer the
    /// same kind of route.
    pub explorer_url: String,
    pub worker_url: String,
    child: Child,
}

impl Drop for Process {
    /// wrangler starts workerd as a child of its own: the whole process group goes.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh scratch directory for one benchmark run.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stepflare-bench-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch dir");
    dir
}

/// `stepflare dev` on `fixture`, persisting to `state`, once it printed its ready line.
pub fn start_stepflare(fixture: &Path, state: &Path) -> Process {
    start_stepflare_binary(Path::new(env!("CARGO_BIN_EXE_stepflare")), fixture, state)
}

/// [`start_stepflare`] with another build of stepflare, such as [`build_baseline`]'s.
pub fn start_stepflare_binary(binary: &Path, fixture: &Path, state: &Path) -> Process {
    let mut child = Command::new(binary)
        .process_group(0)
        .args(["dev", "--port", "0", "--config"])
        .arg(fixture)
        .arg("--persist-to")
        .arg(state)
        .env("STEPFLARE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stepflare");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("stepflare exited before it was ready").expect("read stdout");
        if let Some(url) = line.strip_prefix("stepflare ready on ") {
            break url.to_owned();
        }
    };
    Process {
        workflows_url: format!("{base}/client/v4/accounts/bench/workflows"),
        explorer_url: format!("{base}/cdn-cgi/local/explorer/api/workflows"),
        worker_url: format!("{base}/"),
        child,
    }
}

/// `wrangler dev` on `fixture`, persisting to `state`, once its local explorer API answers;
/// `workflows_url` is that API's workflows route.
pub fn start_wrangler(root: &Path, fixture: &Path, state: &Path) -> Result<Process, String> {
    let modules = install_reference(root)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| e.to_string())?;
    let child = Command::new(modules.join(".bin/node"))
        .process_group(0)
        .arg(modules.join("wrangler/bin/wrangler.js"))
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--config"])
        .arg(fixture.join("wrangler.jsonc"))
        .arg("--persist-to")
        .arg(state)
        .env("WRANGLER_SEND_METRICS", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start wrangler: {e}"))?;
    let process = Process {
        workflows_url: format!("http://127.0.0.1:{port}/cdn-cgi/local/explorer/api/workflows"),
        explorer_url: format!("http://127.0.0.1:{port}/cdn-cgi/local/explorer/api/workflows"),
        worker_url: format!("http://127.0.0.1:{port}/"),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if answers(&process.workflows_url) {
            return Ok(process);
        }
        // Often, so that the startup benchmark does not round wrangler dev's time up.
        std::thread::sleep(Duration::from_millis(5));
    }
    Err("wrangler dev did not become ready within 60 s".into())
}

fn install_reference(root: &Path) -> Result<PathBuf, String> {
    let prefix = root.join("target/bench-reference");
    let modules = prefix.join("node_modules");
    if modules.join("wrangler/bin/wrangler.js").exists() && modules.join(".bin/node").exists() {
        return Ok(modules);
    }
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
    Ok(modules)
}

/// Whether a plain GET of `url` gets a 2xx answer.
fn answers(url: &str) -> bool {
    answer_status(url).is_some_and(|status| (200..300).contains(&status))
}

/// The HTTP status of a plain GET of `url`, or `None` when nothing answers.
pub fn answer_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    let status = head.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(status).ok()?.trim().parse().ok()
}

/// A release build of stepflare at `commit` (built once, into `target/bench-baseline`), for
/// benchmarks that compare this tree with an earlier one.
// Each benchmark includes this file as its own module; only `throughput` compares builds.
#[allow(dead_code)]
pub fn build_baseline(root: &Path, commit: &str) -> Result<PathBuf, String> {
    let base = root.join("target/bench-baseline");
    let source = base.join(commit);
    let binary = base.join("target/release/stepflare");
    let stamp = base.join("built-from");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|built| built == commit) {
        return Ok(binary);
    }
    let run = |command: &mut Command| -> Result<(), String> {
        let status = command.status().map_err(|error| format!("{command:?}: {error}"))?;
        status.success().then_some(()).ok_or_else(|| format!("{command:?} failed: {status}"))
    };
    if !source.exists() {
        std::fs::create_dir_all(&base).map_err(|error| error.to_string())?;
        let archive = base.join(format!("{commit}.tar"));
        run(Command::new("git").current_dir(root).args(["archive", "--format=tar", "-o"]).arg(&archive).arg(commit))?;
        std::fs::create_dir_all(&source).map_err(|error| error.to_string())?;
        run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&source))?;
    }
    eprintln!("building the baseline {commit} (release; the first time takes minutes)");
    run(Command::new(env!("CARGO"))
        .current_dir(&source)
        .args(["build", "--release", "--locked", "--bin", "stepflare"])
        .env("CARGO_TARGET_DIR", base.join("target")))?;
    std::fs::write(&stamp, commit).map_err(|error| error.to_string())?;
    Ok(binary)
}
