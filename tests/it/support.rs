//! Test harness: runs `stepflare dev` on a fixture project, waits for its ready line, drains its
//! output into a shared log buffer, and wraps the REST calls the tests need.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

/// Any account id is accepted by the emulator.
pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
/// How often the polling helpers re-read an instance.
pub const POLL: Duration = Duration::from_millis(20);
/// How long the polling helpers wait before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long a test's HTTP client keeps an idle connection: less than the server's 10 s.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(5);
/// How long a process gets to print its ready line (or to exit, for config errors).
const STARTUP: Duration = Duration::from_secs(20);
const READY_PREFIX: &str = "stepflare ready on ";
/// Statuses an instance does not leave on its own.
const TERMINAL: &[&str] = &["complete", "errored", "terminated"];

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A copy of `fixtures/<name>` that a test may edit; the fixture itself is never touched.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("create a project dir");
    copy_tree(&fixture_dir(name), copy.path());
    copy
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(from).expect("read a fixture folder") {
        let entry = entry.expect("read a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// Writes `files` (path relative to `project`, content) into `project`, making folders.
pub fn write_files(project: &Path, files: &[(&str, &str)]) {
    for (file, text) in files {
        let path = project.join(file);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create a folder");
        std::fs::write(&path, text).expect("write a project file");
    }
}

/// Replaces the first `from` by `to` in `file` of the project; `from` must be there.
pub fn edit(project: &Path, file: &str, from: &str, to: &str) {
    let path = project.join(file);
    let text = std::fs::read_to_string(&path).expect("read a project file");
    assert!(text.contains(from), "{file} has no {from:?}:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write a project file");
}

type Buffer = Arc<Mutex<String>>;

/// Copies every line of `pipe` into `buffer` (and into `lines`, while someone listens) until EOF.
fn drain(
    pipe: impl Read + Send + 'static,
    buffer: Buffer,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&raw).into_owned();
                    let mut text = line.clone();
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    buffer.lock().unwrap().push_str(&text);
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.trim_end().to_string());
                    }
                }
            }
        }
    })
}

/// `stepflare dev` on `config`. Compiled modules are cached under `target/`, shared by the
/// tests and kept out of the user's cache folder.
fn stepflare(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepflare"));
    cmd.arg("dev").arg("--config").arg(config).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env("STEPFLARE_CACHE_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache"));
    cmd
}

/// A running `stepflare dev`; dropping it kills the process.
pub struct Server {
    base: String,
    child: Child,
    logs: Buffer,
    http: reqwest::Client,
    _persist: Option<tempfile::TempDir>,
}

impl Server {
    /// Serves `fixtures/<fixture>` with a fresh persistence dir that lives as long as the server.
    pub fn start(fixture: &str) -> Server {
        let dir = tempfile::tempdir().expect("create a persistence dir");
        let mut server = Self::spawn(&fixture_dir(fixture), dir.path(), &[]);
        server._persist = Some(dir);
        server
    }

    /// Serves `fixtures/<fixture>` persisting to `persist_dir`, with extra CLI arguments.
    pub fn start_with(fixture: &str, persist_dir: &Path, extra_args: &[&str]) -> Server {
        Self::spawn(&fixture_dir(fixture), persist_dir, extra_args)
    }

    /// Serves the project in `dir` (a copy that the test may edit), persisting inside it, to
    /// `dir/.stepflare`, as `stepflare dev` does by default.
    pub fn start_in(dir: &Path) -> Server {
        Self::spawn(dir, &dir.join(".stepflare"), &[])
    }

    /// Serves the project in `dir` (a copy a test may edit) persisting to `persist_dir`, with
    /// extra CLI arguments.
    pub fn start_project(dir: &Path, persist_dir: &Path, extra_args: &[&str]) -> Server {
        Self::spawn(dir, persist_dir, extra_args)
    }

    /// Serves the project in `dir` persisting to `persist_dir`, with its compiled modules cached
    /// in `cache_dir`.
    pub fn start_with_cache(dir: &Path, persist_dir: &Path, cache_dir: &Path) -> Server {
        let mut command = stepflare(dir);
        command.env("STEPFLARE_CACHE_DIR", cache_dir);
        Self::spawn_command(command, dir, Some(persist_dir), &[])
    }

    /// Serves the project in `dir` with exactly `args` after `--port 0` (no `--persist-to`:
    /// the state goes where `args` say, by default `dir/.stepflare`) and `envs` set.
    pub fn start_bare(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut command = stepflare(dir);
        command.envs(envs.iter().copied());
        Self::spawn_command(command, dir, None, args)
    }

    fn spawn(config: &Path, persist_dir: &Path, extra_args: &[&str]) -> Server {
        Self::spawn_command(stepflare(config), config, Some(persist_dir), extra_args)
    }

    fn spawn_command(mut command: Command, config: &Path, persist_dir: Option<&Path>, extra_args: &[&str]) -> Server {
        command.args(["--port", "0"]);
        if let Some(persist_dir) = persist_dir {
            command.arg("--persist-to").arg(persist_dir);
        }
        let mut child = command.args(extra_args).spawn().expect("spawn the stepflare binary");
        let logs = Buffer::default();
        let (tx, rx) = mpsc::channel();
        // The server's readers run as long as it does; nobody waits for them.
        let _ = drain(child.stdout.take().unwrap(), logs.clone(), Some(tx));
        let _ = drain(child.stderr.take().unwrap(), logs.clone(), None);

        let deadline = Instant::now() + STARTUP;
        let base = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix(READY_PREFIX) {
                        break url.trim().trim_end_matches('/').to_string();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "stepflare printed no `{READY_PREFIX}…` line within {STARTUP:?} for {}\n--- output ---\n{}",
                        config.display(),
                        logs.lock().unwrap()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait();
                    thread::sleep(Duration::from_millis(200));
                    panic!(
                        "stepflare exited ({status:?}) before it was ready for {}\n--- output ---\n{}",
                        config.display(),
                        logs.lock().unwrap()
                    );
                }
            }
        };
        // The server closes a kept-alive connection after 10 s idle. A test that blocks its runtime
        // that long (waiting on a subprocess) would not see the close, and would send its next
        // request into it; forgetting idle connections after 5 s, as Node's fetch (4 s) and
        // Python's httpx (5 s) do, avoids that.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_idle_timeout(IDLE_CONNECTION)
            .build()
            .expect("build an HTTP client");
        Server { base, child, logs, http, _persist: None }
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL stepflare");
        self.child.wait().expect("reap stepflare");
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) to the process, as `kill -TERM` would.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(sent.as_ref().is_ok_and(|status| status.success()), "kill -{signal} failed: {sent:?}");
    }

    /// Waits for the process to exit on its own and returns its exit status; panics (with the
    /// logs) if it has not after `patience`.
    pub fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll stepflare") {
                return status;
            }
            assert!(Instant::now() < deadline, "stepflare did not exit within {patience:?}\n{}", self.logs());
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the output until it contains every one of `texts`; panics (with the logs) after
    /// [`PATIENCE`].
    pub async fn wait_for_log(&self, texts: &[&str]) {
        let deadline = Instant::now() + PATIENCE;
        while !texts.iter().all(|text| self.logs().contains(text)) {
            assert!(Instant::now() < deadline, "no {texts:?} in the logs within {PATIENCE:?}:\n{}", self.logs());
            tokio::time::sleep(POLL).await;
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT` of this server.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` as raw text (it need not be JSON), with an optional bearer token.
    pub async fn raw(&self, method: Method, url: &str, body: Option<&str>, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), url).header("content-type", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap_or_else(|err| panic!("{method} {url} failed: {err}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("read a response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends `body` with the given `Content-Type` header (none when `None`).
    pub async fn send_typed(&self, method: Method, url: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), url).body(body.to_owned());
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        let resp = req.send().await.unwrap_or_else(|err| panic!("{method} {url} failed: {err}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("read a response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// `host:port` of this server, for raw TCP clients.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends SIGINT (Ctrl-C) and waits for the process to exit, at most [`PATIENCE`].
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT");
        self.wait_exit(PATIENCE)
    }

    pub fn workflow_url(&self, wf: &str) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}/workflows/{wf}", self.base)
    }

    pub fn instance_url(&self, wf: &str, id: &str) -> String {
        format!("{}/instances/{id}", self.workflow_url(wf))
    }

    /// Sends a request and returns the HTTP status with the body (as JSON, or as a string).
    pub async fn request(&self, method: Method, url: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), url);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {url} failed: {err}\n--- server logs ---\n{}", self.logs()));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("read a response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// The `result` of a successful (HTTP 200, `success: true`) response; panics otherwise.
    fn ok_result(&self, what: &str, (status, body): (u16, Value)) -> Value {
        if status != 200 || body["success"] != json!(true) {
            panic!(
                "{what}: expected HTTP 200 with success=true, got {status}: {body:#}\n--- server logs ---\n{}",
                self.logs()
            );
        }
        body["result"].clone()
    }

    /// POST …/instances with an arbitrary body.
    /// GETs `path` of the Worker, which must answer 200; returns the body as JSON (or as a JSON
    /// string when it is not JSON).
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.request(Method::GET, &format!("{}{path}", self.base()), None).await;
        assert_eq!(status, 200, "GET {path}: {body:#}\n--- server logs ---\n{}", self.logs());
        body
    }

    pub async fn try_create(&self, wf: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/instances", self.workflow_url(wf));
        self.request(Method::POST, &url, Some(body)).await
    }

    /// Creates an instance with a generated id and returns the id.
    pub async fn create(&self, wf: &str, params: Value) -> String {
        let resp = self.try_create(wf, &json!({ "params": params })).await;
        let result = self.ok_result(&format!("create {wf}"), resp);
        result["id"].as_str().unwrap_or_else(|| panic!("create {wf}: no id in {result:#}")).to_string()
    }

    /// Creates an instance with the given id and returns the id the server reports.
    pub async fn create_with_id(&self, wf: &str, id: &str, params: Value) -> String {
        let resp = self.try_create(wf, &json!({ "instance_id": id, "params": params })).await;
        let result = self.ok_result(&format!("create {wf}/{id}"), resp);
        assert_eq!(result["id"], json!(id), "create echoes the requested id");
        id.to_string()
    }

    /// GET …/instances/{id} → the instance details (`result`).
    pub async fn describe(&self, wf: &str, id: &str) -> Value {
        let resp = self.request(Method::GET, &self.instance_url(wf, id), None).await;
        self.ok_result(&format!("describe {wf}/{id}"), resp)
    }

    /// Polls the instance until `pred` holds, failing after [`PATIENCE`].
    pub async fn wait_for(&self, wf: &str, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let d = self.describe(wf, id).await;
            if pred(&d) {
                return d;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {PATIENCE:?} waiting for {what} on {wf}/{id}; last describe:\n{d:#}\n--- server logs ---\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the status is one of `statuses`; fails at once on another terminal status.
    pub async fn wait_for_status(&self, wf: &str, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let d = self.describe(wf, id).await;
            let now = status(&d);
            if statuses.contains(&now) {
                return d;
            }
            if TERMINAL.contains(&now) || Instant::now() > deadline {
                panic!(
                    "{wf}/{id} is {now:?} while waiting for {statuses:?}; describe:\n{d:#}\n--- server logs ---\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// PATCH …/instances/{id}/status with `body`, e.g. `{"status": "pause"}`.
    pub async fn patch_status(&self, wf: &str, id: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/status", self.instance_url(wf, id));
        self.request(Method::PATCH, &url, Some(&body)).await
    }

    /// PATCH …/status, asserting success; returns the `result`.
    pub async fn change_status(&self, wf: &str, id: &str, body: Value) -> Value {
        let what = format!("PATCH {wf}/{id}/status {body}");
        let resp = self.patch_status(wf, id, body).await;
        self.ok_result(&what, resp)
    }

    /// POST …/instances/{id}/events/{event_type} with `payload` as the body.
    pub async fn send_event(&self, wf: &str, id: &str, event_type: &str, payload: Value) -> (u16, Value) {
        let url = format!("{}/events/{event_type}", self.instance_url(wf, id));
        self.request(Method::POST, &url, Some(&payload)).await
    }

    /// Sends an event, asserting HTTP 200 and the answer the official SDKs read:
    /// `{instanceId, timestamp}`.
    pub async fn deliver(&self, wf: &str, id: &str, event_type: &str, payload: Value) {
        let (code, body) = self.send_event(wf, id, event_type, payload).await;
        assert_eq!(code, 200, "send event {event_type} to {wf}/{id}: {body:#}\n--- server logs ---\n{}", self.logs());
        assert_eq!(body["result"]["instanceId"], id, "{body:#}");
        assert_iso(&body["result"]["timestamp"]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a `stepflare dev` run that was expected to fail ended.
pub struct Exit {
    pub status: ExitStatus,
    pub stderr: String,
    pub stdout: String,
}

/// Runs `stepflare dev --config <config_dir>` and waits for it to exit by itself.
pub fn run_to_exit(config_dir: &Path) -> Exit {
    let persist = tempfile::tempdir().expect("create a persistence dir");
    let mut child = stepflare(config_dir)
        .args(["--port", "0"])
        .arg("--persist-to")
        .arg(persist.path())
        .spawn()
        .expect("spawn the stepflare binary");
    let (stdout, stderr) = (Buffer::default(), Buffer::default());
    let readers = [
        drain(child.stdout.take().unwrap(), stdout.clone(), None),
        drain(child.stderr.take().unwrap(), stderr.clone(), None),
    ];
    let deadline = Instant::now() + STARTUP;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stepflare kept running for {STARTUP:?} on the broken project {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                config_dir.display(),
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            );
        }
        thread::sleep(POLL);
    };
    // The pipes close with the process: the readers end once they have read everything.
    for reader in readers {
        let _ = reader.join();
    }
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    Exit { status, stderr, stdout }
}

/// The `data` of every message of a `text/event-stream` body (an instance's events, as JSON).
pub fn event_stream_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|message| message.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("an event that is not JSON ({e}): {data}")))
        .collect()
}

/// The `status` field of an instance description.
pub fn status(d: &Value) -> &str {
    d["status"].as_str().unwrap_or_else(|| panic!("no status string in {d:#}"))
}

/// The `steps` array of an instance description.
pub fn steps(d: &Value) -> &[Value] {
    d["steps"].as_array().map(Vec::as_slice).unwrap_or_else(|| panic!("no steps array in {d:#}"))
}

/// The step entry called `name` (with its `-n` suffix), if any.
pub fn find_step<'a>(d: &'a Value, name: &str) -> Option<&'a Value> {
    steps(d).iter().find(|s| s["name"] == json!(name))
}

/// The step entry called `name` (with its `-n` suffix); panics when it is missing.
pub fn step<'a>(d: &'a Value, name: &str) -> &'a Value {
    find_step(d, name).unwrap_or_else(|| panic!("no step named {name:?} in {d:#}"))
}

/// The `step.do` entries (`"type": "step"`).
pub fn do_steps(d: &Value) -> Vec<&Value> {
    steps(d).iter().filter(|s| s["type"] == "step").collect()
}

/// The `attempts` array of a `step.do` entry.
pub fn attempts(step: &Value) -> &[Value] {
    step["attempts"].as_array().map(Vec::as_slice).unwrap_or_else(|| panic!("no attempts array in {step:#}"))
}

/// Milliseconds between the starts of consecutive attempts of a `step.do` entry.
pub fn attempt_gaps(step: &Value) -> Vec<i64> {
    let starts: Vec<i64> = attempts(step).iter().map(|a| iso_ms(&a["start"])).collect();
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Asserts that `v` is an ISO-8601 UTC timestamp with milliseconds, e.g.
/// `2026-08-01T12:00:00.123Z`.
pub fn assert_iso(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("expected a timestamp string, got {v}"));
    let frac = s.get(19..).unwrap_or("");
    let ms_digits = frac.strip_prefix('.').map(|f| f.chars().take_while(char::is_ascii_digit).count());
    assert_eq!(ms_digits, Some(3), "{s:?} has no millisecond part");
    let zone = &frac[4..];
    assert!(zone == "Z" || zone == "+00:00", "{s:?} is not in UTC");
    iso_ms(v);
}

/// Parses an ISO-8601 UTC timestamp (`YYYY-MM-DDTHH:MM:SS[.fff]` then `Z` or `+00:00`) into
/// milliseconds since the Unix epoch.
pub fn iso_ms(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("expected a timestamp string, got {v}"));
    let bad = || -> ! { panic!("not an ISO-8601 UTC timestamp: {s:?}") };
    let num = |from: usize, to: usize| -> i64 {
        match s.get(from..to).map(str::parse::<i64>) {
            Some(Ok(n)) => n,
            _ => bad(),
        }
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if s.len() < 20 || seps.iter().any(|&(i, c)| s.as_bytes()[i] != c) {
        bad();
    }
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            bad();
        }
        let padded = format!("{digits:0<3}");
        millis = padded[..3].parse::<i64>().unwrap();
        rest = &frac[digits.len()..];
    }
    if rest != "Z" && rest != "+00:00" {
        bad();
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
}

/// Milliseconds since the Unix epoch, by the test process's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Asserts a Cloudflare error envelope: HTTP `http`, `success: false`, and (when given) the
/// numeric code of `errors[0]`.
pub fn assert_api_error(what: &str, (status, body): (u16, Value), http: u16, code: Option<i64>) {
    assert_eq!(status, http, "{what}: HTTP status; body: {body:#}");
    assert_eq!(body["success"], json!(false), "{what}: success flag in {body:#}");
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{what}: no errors array in {body:#}"));
    assert!(!errors.is_empty(), "{what}: empty errors array in {body:#}");
    assert!(errors[0]["message"].is_string(), "{what}: error without message: {body:#}");
    if let Some(code) = code {
        assert_eq!(errors[0]["code"], json!(code), "{what}: error code in {body:#}");
    }
}

/// Asserts a 4xx response with `success: false` (for transitions the exact code is not fixed).
pub fn assert_client_error(what: &str, (status, body): (u16, Value)) {
    assert!((400..500).contains(&status), "{what}: expected a 4xx, got {status}: {body:#}");
    assert_eq!(body["success"], json!(false), "{what}: success flag in {body:#}");
}

#[test]
fn iso_timestamps_parse_to_epoch_millis() {
    assert_eq!(iso_ms(&json!("1970-01-01T00:00:00.000Z")), 0);
    assert_eq!(iso_ms(&json!("2000-03-01T00:00:00Z")), 951_868_800_000);
    assert_eq!(iso_ms(&json!("2026-08-01T12:34:56.789+00:00")), 1_785_587_696_789);
    assert_iso(&json!("2026-08-01T12:34:56.789Z"));
}

/// `LINE:COL` (1-based) of the first `needle` in `text`.
pub fn position_of(text: &str, needle: &str) -> String {
    let offset = text.find(needle).expect("needle in the config");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}
