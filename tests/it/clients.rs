//! The official clients against stepflare, unchanged: the `cloudflare` npm SDK (driven by
//! `tests/clients/sdk.mjs`) and the `wrangler` CLI, over the REST API and the Local Explorer API.
//! Both run on the Node 22 installed into `tests/clients/node_modules` by `scripts/test.sh`.
//! Every request goes through a recording proxy, so a test also fails when a client called
//! something stepflare did not answer with success, and says which request it was.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::Response;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// How long one client process may run.
const COMMAND_PATIENCE: Duration = Duration::from_secs(90);
/// The token the clients send; stepflare accepts any bearer token.
const TOKEN: &str = "test-token";
const INSTALL_HINT: &str =
    "run ./scripts/test.sh once, or `npm ci --prefix tests/clients --no-audit --no-fund`, to install the clients";

// ---------------------------------------------------------------------------------------------
// The installed clients

/// Paths into `tests/clients`, checked to exist.
struct Clients {
    dir: PathBuf,
    node: PathBuf,
    wrangler: PathBuf,
}

/// The installed clients; fails (never skips) when `npm ci` has not run.
fn clients() -> Clients {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("clients");
    let modules = dir.join("node_modules");
    let node = modules.join(".bin").join("node");
    let wrangler = modules.join("wrangler").join("bin").join("wrangler.js");
    let sdk = modules.join("cloudflare").join("package.json");
    for needed in [&node, &wrangler, &sdk] {
        assert!(needed.exists(), "{} is missing: {INSTALL_HINT}", needed.display());
    }
    Clients { dir, node, wrangler }
}

/// How a client process ended.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `cmd` to its end (killing it after [`COMMAND_PATIENCE`]) and collects its output.
fn run(mut cmd: Command, what: &str) -> Ran {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{what}: could not start node: {err}; {INSTALL_HINT}"));
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let deadline = Instant::now() + COMMAND_PATIENCE;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("poll a client process") {
            break (status, false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().expect("reap a client process"), true);
        }
        thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    assert!(!timed_out, "{what}: still running after {COMMAND_PATIENCE:?}\n{ran}");
    ran
}

/// A `node` command with a clean environment: only what the clients need, no proxies, no
/// credentials or settings from the caller's environment.
fn node_command(clients: &Clients, home: &Path) -> Command {
    let mut cmd = Command::new(&clients.node);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_PROXY", "*")
        .env("CI", "true");
    cmd
}

// ---------------------------------------------------------------------------------------------
// The recording proxy

/// One request a client made and the answer it got.
#[derive(Clone, Debug)]
struct Exchange {
    method: String,
    uri: String,
    authorization: String,
    user_agent: String,
    content_type: String,
    body: String,
    status: u16,
    answer: String,
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} [authorization: {:?}, user-agent: {:?}, content-type: {:?}] body {:?} -> {} {}",
            self.method,
            self.uri,
            self.authorization,
            self.user_agent,
            self.content_type,
            self.body,
            self.status,
            self.answer
        )
    }
}

type Log = Arc<Mutex<Vec<Exchange>>>;

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    log: Log,
}

/// An HTTP proxy on 127.0.0.1 in front of a [`Server`], on its own thread and runtime so that
/// the test may block on a client process while the proxy serves it.
struct Recorder {
    url: String,
    port: u16,
    log: Log,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Recorder {
    fn start(server: &Server) -> Recorder {
        let workflow_url = server.workflow_url("x");
        let base = workflow_url.split("/client/v4/").next().unwrap().to_string();
        let log = Log::default();
        let http = reqwest::Client::builder().pool_idle_timeout(IDLE_CONNECTION).build().expect("the proxy's client");
        let upstream = Upstream { base, http, log: log.clone() };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().fallback(forward).with_state(upstream);
                let shutdown = async {
                    let _ = stopped.await;
                };
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await.expect("serve the proxy");
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("the proxy starts");
        Recorder { url: format!("http://{addr}"), port: addr.port(), log, stop: Some(stop) }
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    fn dump(&self) -> String {
        self.exchanges().iter().map(|e| format!("  {e}\n")).collect()
    }

    /// Asserts that the clients made requests, every one under `prefix`, and that stepflare
    /// answered every one with a 2xx; the failure lists the requests that were not.
    fn assert_all_handled(&self, prefix: &str) {
        let all = self.exchanges();
        assert!(!all.is_empty(), "the clients made no request through the proxy");
        // Shown with `--nocapture`: what the clients called, to compare with the documented API.
        let mut calls: Vec<String> = all.iter().map(|e| format!("{} {} -> {}", e.method, e.uri, e.status)).collect();
        calls.dedup();
        eprintln!("requests made by the clients:\n  {}", calls.join("\n  "));
        let bad: Vec<String> = all
            .iter()
            .filter(|e| !(200..300).contains(&e.status) || !e.uri.starts_with(prefix))
            .map(|e| format!("  {e}\n"))
            .collect();
        assert!(
            bad.is_empty(),
            "requests outside {prefix} or not answered with a 2xx:\n{}--- every request ---\n{}",
            bad.concat(),
            self.dump()
        );
    }

    /// Every request carried the test's token and a user agent starting with `user_agent`.
    fn assert_sent_by(&self, user_agent: &str) {
        for e in self.exchanges() {
            assert_eq!(e.authorization, format!("Bearer {TOKEN}"), "{e}");
            assert!(e.user_agent.starts_with(user_agent), "{e}");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn header_text(headers: &axum::http::HeaderMap, name: HeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Forwards one request to the server and records it with the answer.
async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut outgoing = up.http.request(parts.method.clone(), format!("{}{uri}", up.base));
    let hop_by_hop = [header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::ACCEPT_ENCODING];
    for (name, value) in &parts.headers {
        if !hop_by_hop.contains(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let (status, content_type, answer) = match outgoing.body(body.clone()).send().await {
        Ok(resp) => {
            let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
            (resp.status(), content_type, resp.bytes().await.unwrap_or_default())
        }
        Err(err) => (StatusCode::BAD_GATEWAY, None, Bytes::from(format!("recording proxy: {err}"))),
    };
    up.log.lock().unwrap().push(Exchange {
        method: parts.method.to_string(),
        uri,
        authorization: header_text(&parts.headers, header::AUTHORIZATION),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
        answer: String::from_utf8_lossy(&answer).chars().take(400).collect(),
    });
    let mut response = Response::builder().status(status);
    if let Some(content_type) = content_type {
        response = response.header(header::CONTENT_TYPE, content_type);
    }
    response.body(Body::from(answer)).expect("build the proxied response")
}

// ---------------------------------------------------------------------------------------------
// The SDK

/// Runs `sdk.mjs <scenario>` against `recorder` and returns its JSON report.
fn sdk(recorder: &Recorder, scenario: &str) -> Value {
    let clients = clients();
    let home = tempfile::tempdir().expect("a home dir for node");
    let mut cmd = node_command(&clients, home.path());
    cmd.current_dir(&clients.dir)
        .arg(clients.dir.join("sdk.mjs"))
        .args([scenario, ACCOUNT])
        .env("CLOUDFLARE_BASE_URL", format!("{}/client/v4", recorder.url))
        .env("CLOUDFLARE_API_TOKEN", TOKEN);
    report_of(&run(cmd, &format!("sdk.mjs {scenario}")), &format!("sdk.mjs {scenario}"), recorder)
}

/// The JSON report a client script prints last; fails the test when the script failed.
fn report_of(ran: &Ran, what: &str, recorder: &Recorder) -> Value {
    let report: Value = ran
        .stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("{what} printed no JSON report\n{ran}"));
    assert!(
        ran.status.success() && report.get("failed").is_none(),
        "{what} failed\n{ran}\n--- requests ---\n{}",
        recorder.dump()
    );
    report
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap_or_else(|| panic!("expected an array, got {v}")).iter().filter_map(Value::as_str).collect()
}

#[tokio::test]
async fn sdk_drives_workflows_instances_status_changes_and_events() {
    let server = Server::start("basic");
    let recorder = Recorder::start(&server);
    let report = sdk(&recorder, "lifecycle");
    let context = format!("report: {report:#}\n--- requests ---\n{}", recorder.dump());

    // Workflows: the list holds every configured workflow; get and versions describe one.
    let url = format!("{}?per_page=100", server.workflow_url("").trim_end_matches('/'));
    let (code, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(code, 200, "GET /workflows: {body:#}");
    let mut expected: Vec<&str> =
        body["result"].as_array().unwrap().iter().filter_map(|w| w["name"].as_str()).collect();
    let mut listed = strings(&report["workflows"]);
    expected.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, expected, "{context}");
    assert!(listed.contains(&"event-info") && listed.contains(&"slow"), "{context}");
    let wf = &report["workflow"];
    assert_eq!(wf["name"], "event-info", "{context}");
    assert_eq!(wf["class_name"], "EventInfo", "{context}");
    assert_eq!(wf["script_name"], "stepflare-basic", "{context}");
    assert!(wf["id"].as_str().is_some_and(|id| !id.is_empty()), "{context}");

    // Create: the requested id round-trips, with the workflow's id and a listed version.
    let created = &report["created"];
    assert_eq!(created["id"], "sdk-info", "{context}");
    assert_eq!(created["workflow_id"], wf["id"], "{context}");
    let version = created["version_id"].as_str().unwrap_or_default();
    assert!(strings(&report["versions"]).contains(&version), "version {version:?} not listed; {context}");

    // The instance ran with the params the SDK sent.
    let params = json!({ "hello": "sdk", "n": [1, 2] });
    let info = &report["info"];
    assert_eq!(info["status"], "complete", "{context}");
    assert_eq!(info["params"], params, "{context}");
    assert_eq!(info["output"]["payload"], params, "{context}");
    assert_eq!(info["output"]["instanceId"], "sdk-info", "{context}");
    assert_eq!(info["output"]["workflowName"], "event-info", "{context}");

    // Status changes through `instances.status.edit`, each observed through `instances.get`.
    let slow = &report["slow"];
    for (change, after) in
        [("pause", "paused"), ("resume", "running"), ("terminate", "terminated"), ("restart", "running")]
    {
        assert_eq!(slow[change]["after"], after, "after {change}; {context}");
        assert!(slow[change]["reply"].is_string(), "the {change} reply has no status; {context}");
    }
    assert_eq!(slow["stop"]["after"], "terminated", "{context}");
    assert_eq!(status(&server.describe("slow", "sdk-slow").await), "terminated");

    // An event sent with `instances.events.create` completes the waiting instance.
    let waiter = &report["waiter"];
    let waiter_id = waiter["id"].as_str().expect("a generated instance id");
    assert_eq!(waiter["waiting"], "waiting", "{context}");
    assert_eq!(waiter["final"], "complete", "{context}");
    assert_eq!(waiter["output"]["payload"], json!({ "approved": true, "by": "sdk" }), "{context}");
    assert_eq!(waiter["output"]["type"], "approve", "{context}");
    assert!(
        report["waiterListed"].as_array().unwrap().contains(&json!({ "id": waiter_id, "status": "complete" })),
        "{context}"
    );
    let d = server.describe("wait-event", waiter_id).await;
    assert_eq!(d["output"]["payload"], json!({ "approved": true, "by": "sdk" }), "{d:#}");

    recorder.assert_all_handled(&format!("/client/v4/accounts/{ACCOUNT}/workflows"));
    recorder.assert_sent_by("Cloudflare/JS");
}

/// Runs `python3 sdk.py <scenario>` (the `cloudflare` package from PyPI, installed by
/// `scripts/test.sh` into `target/py-clients`) against `recorder`; returns its JSON report.
fn python_sdk(recorder: &Recorder, scenario: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let packages = root.join("target").join("py-clients");
    assert!(
        packages.join("cloudflare").exists(),
        "{} has no `cloudflare` package: run ./scripts/test.sh once, or `python3 -m pip install --target target/py-clients -r tests/clients/requirements.txt`",
        packages.display()
    );
    let home = tempfile::tempdir().expect("a home dir for python");
    let mut cmd = Command::new("python3");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("PYTHONPATH", &packages)
        .env("NO_PROXY", "*")
        .env("CLOUDFLARE_BASE_URL", format!("{}/client/v4", recorder.url))
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .current_dir(root.join("tests").join("clients"))
        .args(["sdk.py", scenario, ACCOUNT]);
    report_of(&run(cmd, &format!("sdk.py {scenario}")), &format!("sdk.py {scenario}"), recorder)
}

#[tokio::test]
async fn both_sdks_read_instances_with_structured_results_retention_and_batches() {
    let server = Server::start("step-results");
    let recorder = Recorder::start(&server);
    let expected = json!({
        "date": "2026-01-02T03:04:05.678Z",
        "map": [["a", 1], ["b", 2]],
        "bigint": "12345678901234567890",
    });

    let report = sdk(&recorder, "features");
    let context = format!("report: {report:#}\n--- requests ---\n{}", recorder.dump());
    assert_eq!(report["status"], "complete", "{context}");
    let outputs = &report["outputs"];
    for key in ["date", "map", "bigint"] {
        assert_eq!(outputs[key], expected[key], "{key}; {context}");
    }
    assert_eq!(outputs["secret"], "[REDACTED]", "{context}");
    assert_eq!(report["bulk"], json!(["sdk-bulk-1", "sdk-bulk-2"]), "{context}");
    assert!(report["versions"].as_u64().is_some_and(|n| n >= 1), "{context}");

    let report = python_sdk(&recorder, "features");
    let context = format!("report: {report:#}\n--- requests ---\n{}", recorder.dump());
    assert_eq!(report["status"], "complete", "{context}");
    for key in ["date", "map", "bigint"] {
        assert_eq!(report["outputs"][key], expected[key], "{key}; {context}");
    }
    assert!(report["steps"].as_u64().is_some_and(|n| n >= 10), "{context}");
    assert_eq!(report["bulk"], json!(["py-bulk-1", "py-bulk-2"]), "{context}");
    recorder.assert_all_handled(&format!("/client/v4/accounts/{ACCOUNT}/workflows"));
}

#[tokio::test]
async fn sdk_auto_pagination_returns_every_instance_exactly_once() {
    let server = Server::start("basic");
    let recorder = Recorder::start(&server);
    let report = sdk(&recorder, "pagination");
    let context = format!("report: {report:#}\n--- requests ---\n{}", recorder.dump());

    let created = strings(&report["created"]);
    let expected: Vec<String> = (0..7).map(|i| format!("pg-{i}")).collect();
    assert_eq!(created, expected, "{context}");
    assert_eq!(report["firstPage"].as_array().map(Vec::len), Some(3), "{context}");
    assert_eq!(report["firstHasNext"], json!(true), "{context}");

    let mut seen = strings(&report["seen"]);
    assert_eq!(seen.len(), 7, "auto-pagination returned {} items for 7 instances; {context}", seen.len());
    seen.sort_unstable();
    assert_eq!(seen, expected, "{context}");
    let pages = recorder.exchanges().iter().filter(|e| e.method == "GET" && e.uri.contains("/instances?")).count();
    assert!(pages >= 4, "expected the first page plus at least three auto-paginated pages; {context}");
    recorder.assert_all_handled(&format!("/client/v4/accounts/{ACCOUNT}/workflows/event-info/instances"));
}

// ---------------------------------------------------------------------------------------------
// wrangler

/// `node wrangler.js …` in an empty directory (no wrangler config: the account comes from the
/// environment), against the recording proxy.
struct Wrangler<'a> {
    clients: Clients,
    recorder: &'a Recorder,
    home: tempfile::TempDir,
}

impl<'a> Wrangler<'a> {
    fn new(recorder: &'a Recorder) -> Wrangler<'a> {
        let home = tempfile::tempdir().expect("a home dir for wrangler");
        std::fs::create_dir(home.path().join("project")).unwrap();
        Wrangler { clients: clients(), recorder, home }
    }

    fn run(&self, args: &[&str]) -> Ran {
        let home = self.home.path();
        let mut cmd = node_command(&self.clients, home);
        cmd.current_dir(home.join("project"))
            .arg(&self.clients.wrangler)
            .args(args)
            .env("CLOUDFLARE_API_BASE_URL", format!("{}/client/v4", self.recorder.url))
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
            .env("WRANGLER_SEND_METRICS", "false")
            // The banner asks the npm registry for a newer wrangler; nothing else here goes out.
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("WRANGLER_LOG_PATH", home.join("logs"));
        run(cmd, &format!("wrangler {}", args.join(" ")))
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args);
        assert!(
            ran.status.success(),
            "wrangler {} failed\n{ran}\n--- requests ---\n{}",
            args.join(" "),
            self.recorder.dump()
        );
        ran.stdout
    }
}

/// Asserts that `stdout` mentions every one of `needles`.
fn assert_mentions(what: &str, stdout: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stdout.contains(needle), "`{what}` does not mention {needle:?}; stdout:\n{stdout}");
    }
}

/// The first double-quoted string after `marker` in `text`.
fn quoted_after<'t>(text: &'t str, marker: &str) -> &'t str {
    let rest = text.split(marker).nth(1).unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"));
    rest.split('"').nth(1).unwrap_or_else(|| panic!("no quoted value after {marker:?} in:\n{text}"))
}

#[tokio::test]
async fn wrangler_manages_workflows_and_instances_over_the_rest_api() {
    let server = Server::start("basic");
    let recorder = Recorder::start(&server);
    let wrangler = Wrangler::new(&recorder);

    let out = wrangler.ok(&["workflows", "list", "--per-page", "50"]);
    assert_mentions("workflows list", &out, &["wait-event", "slow", "event-info", "Stamps", "stepflare-basic"]);

    // An older instance, so that `latest` has to pick the newest one.
    let older = server.create("wait-event", json!({})).await;
    let out = wrangler.ok(&["workflows", "trigger", "wait-event", r#"{"x":1}"#]);
    let id = quoted_after(&out, "Workflow instance").to_string();
    assert_ne!(id, older);
    let d = server.wait_for_status("wait-event", &id, &["waiting"]).await;
    assert_eq!(d["params"], json!({ "x": 1 }), "{d:#}");
    server.wait_for_status("wait-event", &older, &["waiting"]).await;

    let out = wrangler.ok(&["workflows", "instances", "list", "wait-event"]);
    assert_mentions("instances list", &out, &[&id, &older, "Waiting", "Showing 2 instances"]);

    let out = wrangler.ok(&["workflows", "instances", "describe", "wait-event", "latest"]);
    assert_mentions("instances describe latest", &out, &[&id, "Waiting", "before-1", "approval-1", "\"ready\""]);
    assert!(!out.contains(&older), "`latest` described the older instance:\n{out}");

    let args = ["workflows", "instances", "send-event", "wait-event", "latest", "--type", "approve"];
    let out = wrangler.ok(&[&args[..], &["--payload", r#"{"ok":true}"#]].concat());
    assert_mentions("instances send-event", &out, &[&id, "approve"]);
    let d = server.wait_for_status("wait-event", &id, &["complete"]).await;
    assert_eq!(d["output"]["payload"], json!({ "ok": true }), "{d:#}");
    assert_eq!(d["output"]["type"], "approve", "{d:#}");
    let d = server.describe("wait-event", &older).await;
    assert_ne!(status(&d), "complete", "the event went to the older instance: {d:#}");

    // Status changes on a long instance (600 steps of 100 ms), each checked over REST.
    let trigger = ["workflows", "trigger", "slow", r#"{"steps":600,"stepMs":100}"#, "--id", "wr-slow", "--json"];
    let out = wrangler.ok(&trigger);
    let created: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("trigger --json: {e}\n{out}"));
    assert_eq!(created["id"], "wr-slow", "{created:#}");
    assert!(created["version_id"].is_string() && created["workflow_id"].is_string(), "{created:#}");
    server.wait_for_status("slow", "wr-slow", &["running"]).await;
    for (command, done, after) in [
        ("pause", "paused", "paused"),
        ("resume", "resumed", "running"),
        ("terminate", "terminated", "terminated"),
        ("restart", "restarted", "running"),
    ] {
        let out = wrangler.ok(&["workflows", "instances", command, "slow", "wr-slow"]);
        assert_mentions(command, &out, &["wr-slow", &format!("was {done} successfully")]);
        server.wait_for_status("slow", "wr-slow", &[after]).await;
    }
    let d = server.describe("slow", "wr-slow").await;
    assert_eq!(d["params"], json!({ "steps": 600, "stepMs": 100 }), "{d:#}");

    recorder.assert_all_handled(&format!("/client/v4/accounts/{ACCOUNT}/workflows"));
    recorder.assert_sent_by("wrangler/");
}

#[tokio::test]
async fn wrangler_local_mode_uses_the_local_explorer_api() {
    let server = Server::start("basic");
    let recorder = Recorder::start(&server);
    let wrangler = Wrangler::new(&recorder);
    let port = recorder.port.to_string();
    let local = ["--local", "--port", port.as_str()];

    let out =
        wrangler.ok(&[&["workflows", "trigger", "event-info", r#"{"y":2}"#, "--id", "wl-1"][..], &local].concat());
    assert_mentions("trigger --local", &out, &["\"wl-1\"", "triggered successfully"]);
    let d = server.wait_for_status("event-info", "wl-1", &["complete"]).await;
    assert_eq!(d["output"]["payload"], json!({ "y": 2 }), "{d:#}");

    server.create_with_id("event-info", "wl-2", json!({})).await;
    server.wait_for_status("event-info", "wl-2", &["complete"]).await;
    let out = wrangler.ok(&[&["workflows", "instances", "list", "event-info"][..], &local].concat());
    assert_mentions("instances list --local", &out, &["wl-1", "wl-2", "Completed", "Showing 2 instances"]);

    server.create_with_id("wait-event", "wl-wait", json!({})).await;
    server.wait_for_status("wait-event", "wl-wait", &["waiting"]).await;
    let send = ["workflows", "instances", "send-event", "wait-event", "wl-wait", "--type", "approve"];
    let out = wrangler.ok(&[&send[..], &["--payload", r#"{"via":"local"}"#], &local].concat());
    assert_mentions("send-event --local", &out, &["wl-wait", "approve"]);
    let d = server.wait_for_status("wait-event", "wl-wait", &["complete"]).await;
    assert_eq!(d["output"]["payload"], json!({ "via": "local" }), "{d:#}");

    recorder.assert_all_handled("/cdn-cgi/local/explorer/api/workflows");
}
