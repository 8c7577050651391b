//! `stepflare workflows …`: runs the real binary as a client of a running `stepflare dev` (as
//! `wrangler workflows` is of Cloudflare) and checks what it prints, how it exits, and what it
//! changed, read back through the REST API.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// How long one CLI invocation may take before the test gives up on it.
const CLI_PATIENCE: Duration = Duration::from_secs(60);

/// What one `stepflare …` invocation printed and how it ended.
struct CliRun {
    args: Vec<String>,
    success: bool,
    stdout: String,
    stderr: String,
}

impl CliRun {
    /// Asserts a zero exit and returns `self` for further checks.
    fn ok(self) -> CliRun {
        assert!(
            self.success,
            "`stepflare {}` failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a non-zero exit and returns `self` for further checks.
    fn failed(self) -> CliRun {
        assert!(!self.success, "`stepflare {}` succeeded\n--- stdout ---\n{}", self.args.join(" "), self.stdout);
        self
    }

    /// Stdout, parsed as JSON, of a successful run.
    fn json(self) -> Value {
        let run = self.ok();
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("`stepflare {}` printed no JSON ({e}):\n{}", run.args.join(" "), run.stdout))
    }
}

/// Runs `stepflare <args…> --url <url>` with the client's environment variables cleared, so the
/// developer's own settings cannot leak in.
fn stepflare(url: &str, args: &[&str]) -> CliRun {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--url".to_owned(), url.to_owned()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .args(&all)
        .env_remove("STEPFLARE_URL")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the stepflare binary");
    let read = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + CLI_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the CLI") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`stepflare {}` ran for more than {CLI_PATIENCE:?}", all.join(" "));
        }
        thread::sleep(Duration::from_millis(10));
    };
    CliRun { args: all, success: status.success(), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The server's base URL (what `--url` takes).
fn base_url(server: &Server) -> String {
    let workflow = server.workflow_url("x");
    workflow.split("/client/v4/").next().unwrap().to_owned()
}

/// A loopback URL where nothing listens: a port that was bound, then released.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The ids of a JSON instance list, in order.
fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list:#}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_else(|| panic!("no id in {i:#}")))
        .collect()
}

#[tokio::test]
async fn trigger_then_describe_latest_shows_the_instance_and_its_output() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let run = stepflare(&url, &["workflows", "trigger", "event-info", r#"{"hello": "cli"}"#, "--id", "cli-one"]).ok();
    assert!(run.stdout.contains("cli-one"), "trigger prints the new id:\n{}", run.stdout);
    server.wait_for_status("event-info", "cli-one", &["complete"]).await;

    let d = stepflare(&url, &["workflows", "instances", "describe", "event-info", "latest", "--json"]).json();
    assert_eq!(d["status"], "complete", "{d:#}");
    assert_eq!(d["params"], json!({ "hello": "cli" }), "{d:#}");
    assert_eq!(d["output"]["payload"], json!({ "hello": "cli" }), "{d:#}");
    assert_eq!(d["output"]["instanceId"], "cli-one", "{d:#}");

    // The human form, with the id defaulting to `latest`.
    let human = stepflare(&url, &["workflows", "instances", "describe", "event-info"]).ok().stdout;
    for expected in ["cli-one", "complete", "info-1", "succeeded", r#""instanceId":"cli-one""#] {
        assert!(human.contains(expected), "describe lacks {expected:?}:\n{human}");
    }
    let short = stepflare(
        &url,
        &["workflows", "instances", "describe", "event-info", "cli-one", "--truncate-output-limit", "8"],
    )
    .ok()
    .stdout;
    assert!(short.contains("[...output truncated]"), "{short}");
    let quiet =
        stepflare(&url, &["workflows", "instances", "describe", "event-info", "cli-one", "--step-output", "false"])
            .ok()
            .stdout;
    let step_line = quiet.lines().find(|l| l.contains("info-1")).unwrap_or_else(|| panic!("no step row:\n{quiet}"));
    assert!(!step_line.contains("instanceId"), "--step-output false still shows the output: {step_line}");

    // Without params or id, and as JSON: the server picks the id.
    let created = stepflare(&url, &["workflows", "trigger", "event-info", "--json"]).json();
    let id = created["id"].as_str().unwrap_or_else(|| panic!("no id in {created:#}"));
    let d = server.wait_for_status("event-info", id, &["complete"]).await;
    assert!(d["params"].is_null() || d["params"] == json!({}), "no params were sent: {d:#}");
}

#[tokio::test]
async fn instances_list_shows_instances_newest_first_and_follows_the_cursor() {
    let server = Server::start("basic");
    let url = base_url(&server);
    stepflare(&url, &["workflows", "trigger", "event-info", "--id", "first"]).ok();
    // Distinct creation times make the order unambiguous.
    tokio::time::sleep(Duration::from_millis(20)).await;
    stepflare(&url, &["workflows", "trigger", "event-info", "--id", "second"]).ok();
    server.wait_for_status("event-info", "first", &["complete"]).await;
    server.wait_for_status("event-info", "second", &["complete"]).await;

    let list = |extra: &[&str]| {
        let mut args = vec!["workflows", "instances", "list", "event-info", "--json"];
        args.extend(extra);
        stepflare(&url, &args).json()
    };
    assert_eq!(ids(&list(&[])), ["second", "first"]);
    assert_eq!(ids(&list(&["--reverse"])), ["first", "second"]);
    assert_eq!(ids(&list(&["--per-page", "1"])), ["second"]);
    assert_eq!(ids(&list(&["--per-page", "1", "--page", "2"])), ["first"]);
    assert_eq!(ids(&list(&["--per-page", "1", "--page", "3"])), Vec::<&str>::new());
    assert_eq!(ids(&list(&["--status", "complete"])), ["second", "first"]);
    assert_eq!(ids(&list(&["--status", "errored"])), Vec::<&str>::new());

    let human = stepflare(&url, &["workflows", "instances", "list", "event-info"]).ok().stdout;
    assert!(human.contains("Showing 2 instances"), "{human}");
    let second_at = human.find("second").expect("second is listed");
    let first_at = human.find("first").expect("first is listed");
    assert!(second_at < first_at, "newest first:\n{human}");

    let bad = stepflare(&url, &["workflows", "instances", "list", "event-info", "--status", "sideways"]).failed();
    assert!(bad.stderr.contains("sideways"), "{}", bad.stderr);
}

#[tokio::test]
async fn workflows_list_shows_the_configured_workflows() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let list = stepflare(&url, &["workflows", "list", "--per-page", "100", "--json"]).json();
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|w| w["name"].as_str()).collect();
    for name in ["event-info", "wait-event", "slow"] {
        assert!(names.contains(&name), "{name} missing from {list:#}");
    }
    let human = stepflare(&url, &["workflows", "list", "--per-page", "100"]).ok().stdout;
    assert!(human.contains("event-info") && human.contains("EventInfo"), "{human}");
}

#[tokio::test]
async fn workflows_describe_shows_the_workflow_and_its_latest_version() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let d = stepflare(&url, &["workflows", "describe", "event-info", "--json"]).json();
    assert_eq!(d["workflow"]["name"], "event-info", "{d:#}");
    assert_eq!(d["workflow"]["class_name"], "EventInfo", "{d:#}");
    assert!(d["latest_version"]["id"].is_string(), "{d:#}");

    let human = stepflare(&url, &["workflows", "describe", "event-info"]).ok().stdout;
    assert!(human.contains("EventInfo"), "{human}");
    assert!(human.contains(d["latest_version"]["id"].as_str().unwrap()), "{human}");
}

#[tokio::test]
async fn send_event_completes_a_waiting_instance() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let created = stepflare(&url, &["workflows", "trigger", "wait-event", "--json"]).json();
    let id = created["id"].as_str().unwrap().to_owned();
    server
        .wait_for("wait-event", &id, "the approval wait", |d| {
            find_step(d, "before-1").is_some_and(|s| s["success"] == json!(true))
        })
        .await;

    let run = stepflare(
        &url,
        &[
            "workflows",
            "instances",
            "send-event",
            "wait-event",
            "latest",
            "--type",
            "approve",
            "--payload",
            r#"{"ok": true}"#,
        ],
    )
    .ok();
    assert!(run.stdout.contains(&id), "send-event names the instance:\n{}", run.stdout);
    let d = server.wait_for_status("wait-event", &id, &["complete"]).await;
    assert_eq!(d["output"]["payload"], json!({ "ok": true }), "{d:#}");
    assert_eq!(d["output"]["type"], "approve", "{d:#}");
}

#[tokio::test]
async fn tail_prints_the_events_as_they_happen_until_the_instance_ends() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let id = server.create_with_id("wait-event", "tailed", json!({})).await;
    server.wait_for_status("wait-event", &id, &["waiting"]).await;

    // Started while the instance waits: it prints the history, then waits for the rest.
    let tail = tokio::task::spawn_blocking({
        let url = url.clone();
        move || stepflare(&url, &["workflows", "instances", "tail", "wait-event", "tailed"])
    });
    server.deliver("wait-event", &id, "approve", json!({})).await;
    let run = tail.await.unwrap().ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("#1 ") && lines[0].contains(" workflow_queued"), "{}", run.stdout);
    assert!(lines.iter().any(|l| l.contains(" wait_completed \"approval-1\"")), "{}", run.stdout);
    assert!(lines.last().unwrap().contains(" workflow_completed output="), "{}", run.stdout);

    let run = stepflare(
        &url,
        &["workflows", "instances", "tail", "wait-event", "tailed", "--filter", "step_completed", "--json"],
    )
    .ok();
    let events: Vec<Value> = run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(!events.is_empty() && events.iter().all(|e| e["type"] == "step_completed"), "{}", run.stdout);
    stepflare(&url, &["workflows", "instances", "tail", "wait-event", "tailed", "--filter", "nope"]).failed();
}

#[tokio::test]
async fn pause_resume_terminate_and_restart_change_the_status() {
    let server = Server::start("basic");
    let url = base_url(&server);
    let wf = "slow";
    stepflare(&url, &["workflows", "trigger", wf, r#"{"steps": 40, "stepMs": 100}"#, "--id", "busy"]).ok();
    server.wait_for_status(wf, "busy", &["running"]).await;

    stepflare(&url, &["workflows", "instances", "pause", wf, "busy"]).ok();
    server.wait_for_status(wf, "busy", &["paused"]).await;

    stepflare(&url, &["workflows", "instances", "resume", wf, "latest"]).ok();
    server.wait_for(wf, "busy", "the resumed run", |d| status(d) != "paused").await;

    let result = stepflare(&url, &["workflows", "instances", "terminate", wf, "busy", "--json"]).json();
    assert!(result["status"].is_string(), "{result:#}");
    server.wait_for_status(wf, "busy", &["terminated"]).await;

    let run = stepflare(&url, &["workflows", "instances", "restart", wf, "busy"]).ok();
    assert!(run.stdout.contains("busy"), "{}", run.stdout);
    server.wait_for(wf, "busy", "the restarted run", |d| status(d) != "terminated").await;
}

#[tokio::test]
async fn restart_from_a_step_keeps_the_steps_before_it() {
    let server = Server::start("basic");
    let url = base_url(&server);
    stepflare(&url, &["workflows", "trigger", "stamps", "--id", "stamped"]).ok();
    let old = server.wait_for_status("stamps", "stamped", &["complete"]).await["output"].clone();

    stepflare(
        &url,
        &["workflows", "instances", "restart", "stamps", "stamped", "--from-step-name", "b", "--from-step-type", "do"],
    )
    .ok();
    let d = server
        .wait_for("stamps", "stamped", "the restarted run to complete", |d| {
            status(d) == "complete" && d["output"] != old
        })
        .await;
    assert_eq!(d["output"]["a"], old["a"], "step a is before the restart point: {d:#}");
    assert_ne!(d["output"]["b"], old["b"], "step b is the restart point: {d:#}");
}

#[tokio::test]
async fn delete_removes_instances_given_as_arguments_and_in_a_file() {
    let server = Server::start("basic");
    let url = base_url(&server);
    for id in ["one", "two", "three"] {
        stepflare(&url, &["workflows", "trigger", "event-info", "--id", id]).ok();
        server.wait_for_status("event-info", id, &["complete"]).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.json");
    std::fs::File::create(&file).unwrap().write_all(br#"["two"]"#).unwrap();

    // `latest` is "three", the newest.
    let run = stepflare(
        &url,
        &["workflows", "instances", "delete", "event-info", "one", "latest", "--filename", file.to_str().unwrap()],
    )
    .ok();
    assert!(run.stdout.contains("Deleted 3"), "{}", run.stdout);
    for id in ["one", "two", "three"] {
        let gone = server.request(Method::GET, &server.instance_url("event-info", id), None).await;
        assert_api_error(&format!("describe deleted {id}"), gone, 404, Some(10400));
    }

    let missing = stepflare(&url, &["workflows", "instances", "delete", "event-info", "never-was"]).failed();
    assert!(missing.stderr.contains("never-was"), "{}", missing.stderr);
}

#[tokio::test]
async fn deleting_a_workflow_removes_its_instances() {
    let server = Server::start("basic");
    let url = base_url(&server);
    stepflare(&url, &["workflows", "trigger", "event-info", "--id", "doomed"]).ok();
    server.wait_for_status("event-info", "doomed", &["complete"]).await;

    let run = stepflare(&url, &["workflows", "delete", "event-info"]).ok();
    assert!(run.stdout.contains("event-info"), "{}", run.stdout);
    let gone = server.request(Method::GET, &server.instance_url("event-info", "doomed"), None).await;
    assert_eq!(gone.1["success"], json!(false), "the instance outlived its workflow: {:#}", gone.1);
}

#[tokio::test]
async fn an_unknown_workflow_prints_the_api_error() {
    let server = Server::start("basic");
    let url = base_url(&server);
    for args in [&["workflows", "trigger", "no-such-flow"][..], &["workflows", "describe", "no-such-flow"][..]] {
        let run = stepflare(&url, args).failed();
        assert!(run.stderr.contains("error 10200:"), "`{}`:\n{}", args.join(" "), run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

#[tokio::test]
async fn the_api_token_is_sent_as_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with("basic", dir.path(), &["--api-token", "s3cret"]);
    let url = base_url(&server);
    let refused = stepflare(&url, &["workflows", "list"]).failed();
    assert!(refused.stderr.contains("the server refused GET"), "{}", refused.stderr);
    let run = stepflare(&url, &["workflows", "list", "--per-page", "100", "--api-token", "s3cret"]).ok();
    assert!(run.stdout.contains("event-info"), "{}", run.stdout);
}

#[test]
fn bad_local_input_fails_before_any_request() {
    // Nothing listens here: a request would fail with "no stepflare server" instead.
    let url = dead_url();
    let cases: [(&[&str], &str); 4] = [
        (&["workflows", "trigger", "event-info", "{not json"], "params are not valid JSON"),
        (
            &["workflows", "instances", "send-event", "wait-event", "x", "--type", "t", "--payload", "[1,"],
            "--payload is not valid JSON",
        ),
        (
            &["workflows", "instances", "delete", "event-info", "--filename", "/no/such/file.json"],
            "cannot read --filename",
        ),
        (&["workflows", "instances", "delete", "event-info"], "no instances to delete"),
    ];
    for (args, expected) in cases {
        let run = stepflare(&url, args).failed();
        assert!(run.stderr.contains(expected), "`{}`: expected {expected:?} in:\n{}", args.join(" "), run.stderr);
        assert!(!run.stderr.contains("no stepflare server"), "`{}` sent a request:\n{}", args.join(" "), run.stderr);
    }

    let run = stepflare("ftp://example.com", &["workflows", "list"]).failed();
    assert!(run.stderr.contains("not a usable http(s) base URL"), "{}", run.stderr);

    let many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    let mut args = vec!["workflows", "instances", "delete", "event-info"];
    args.extend(many.iter().map(String::as_str));
    let run = stepflare(&url, &args).failed();
    assert!(run.stderr.contains("at most 100"), "{}", run.stderr);
}

#[test]
fn no_server_at_the_url_says_so() {
    let url = dead_url();
    let run = stepflare(&url, &["workflows", "list"]).failed();
    let expected = format!("no stepflare server at {url}: start one with `stepflare dev`");
    assert!(run.stderr.contains(&expected), "expected {expected:?} in:\n{}", run.stderr);
}

#[test]
fn a_non_json_body_is_a_malformed_response() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<html>not the API</html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let run = stepflare(&url, &["workflows", "list"]).failed();
    assert!(run.stderr.contains("a malformed response"), "{}", run.stderr);
    assert!(run.stderr.contains("not JSON"), "{}", run.stderr);
}
