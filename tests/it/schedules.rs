//! Cron schedules (`fixtures/schedules`): a binding's `schedules` and a Worker's `triggers.crons`
//! fire on a clock started just before a minute (`--clock-start`), so no test waits for the wall
//! clock. A firing makes one instance `"<cron>-<ms>"` with `event.schedule`; a restart neither
//! repeats a firing nor fires missed ones more than once; a schedule taken out of the config
//! stops; `schedules trigger` fires by hand; bad expressions are config errors with a position.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// 2030-01-01T00:00:00Z, a Tuesday: the minute the fixture's clocks count from.
const T0: i64 = 1_893_456_000_000;
const MINUTE: i64 = 60_000;
const EVERY_MINUTE: &str = "* * * * *";
const EVERY_TWO: &str = "*/2 * * * *";

/// `--clock-start` at `T0 + offset_ms`.
fn clock_at(offset_ms: i64) -> [String; 2] {
    let seconds = offset_ms as f64 / 1000.0;
    let minutes = (seconds / 60.0).floor();
    let time = format!("2030-01-01T00:{:02}:{:06.3}Z", minutes as i64, seconds - minutes * 60.0);
    ["--clock-start".to_owned(), time]
}

fn start_at(fixture: &Path, persist: &Path, offset_ms: i64) -> Server {
    let args = clock_at(offset_ms);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_project(fixture, persist, &args)
}

/// The id of the instance `cron` makes when it fires at `T0 + offset_ms`.
fn fired(cron: &str, offset_ms: i64) -> String {
    format!("{cron}-{}", T0 + offset_ms)
}

/// A cron id as one URL path segment.
fn segment(id: &str) -> String {
    id.replace('%', "%25").replace(' ', "%20").replace('/', "%2F").replace('*', "%2A").replace('#', "%23")
}

/// Waits until the firing has made instance `id` and it has completed.
async fn wait_complete(server: &Server, workflow: &str, id: &str) -> Value {
    let url = server.instance_url(workflow, &segment(id));
    let deadline = std::time::Instant::now() + PATIENCE;
    while server.request(Method::GET, &url, None).await.0 == 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "no instance {id:?} of {workflow} after {PATIENCE:?}\n--- server logs ---\n{}",
            server.logs()
        );
        tokio::time::sleep(POLL).await;
    }
    server.wait_for_status(workflow, &segment(id), &["complete"]).await
}

/// The ids of every instance of `workflow`.
async fn instance_ids(server: &Server, workflow: &str) -> BTreeSet<String> {
    let url = format!("{}/instances?per_page=100", server.workflow_url(workflow));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    let list = body["result"].as_array().unwrap_or_else(|| panic!("no list: {body:#}"));
    list.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[tokio::test]
async fn an_every_minute_schedule_fires_with_its_event_schedule() {
    let persist = tempfile::tempdir().unwrap();
    let server = start_at(&fixture_dir("schedules"), persist.path(), 59_500);
    let id = fired(EVERY_MINUTE, MINUTE);
    let d = wait_complete(&server, "ticker", &id).await;
    let schedule = json!({ "cron": EVERY_MINUTE, "scheduledTime": T0 + MINUTE });
    assert_eq!(d["trigger"]["source"], "cron", "{d:#}");
    assert_eq!(d["schedule"], schedule, "{d:#}");
    assert_eq!(d["params"], Value::Null, "{d:#}");
    assert_eq!(d["output"], json!({ "schedule": schedule, "payload": null, "instanceId": id }), "{d:#}");
    assert!((T0 + MINUTE..T0 + 2 * MINUTE).contains(&iso_ms(&d["queued"])), "made on the shifted clock: {d:#}");
    assert_eq!(instance_ids(&server, "ticker").await, set(&[&id]), "*/2 is not due at 00:01");

    // The Worker's cron trigger called its scheduled handler for the same minute.
    let d = wait_complete(&server, "from-worker", &format!("cron-{}", T0 + MINUTE)).await;
    assert_eq!(d["output"], json!({ "cron": EVERY_MINUTE, "scheduledTime": T0 + MINUTE }), "{d:#}");
    assert_eq!(d["trigger"]["source"], "binding", "{d:#}");
}

#[tokio::test]
async fn a_restart_neither_repeats_a_firing_nor_fires_missed_ones_twice() {
    let persist = tempfile::tempdir().unwrap();
    let fixture = fixture_dir("schedules");
    let mut first = start_at(&fixture, persist.path(), 59_500);
    wait_complete(&first, "ticker", &fired(EVERY_MINUTE, MINUTE)).await;
    wait_complete(&first, "from-worker", &format!("cron-{}", T0 + MINUTE)).await;
    first.kill9();

    // Back half a second before 00:02: 00:01 is done and must not fire again.
    let mut second = start_at(&fixture, persist.path(), 2 * MINUTE - 500);
    wait_complete(&second, "ticker", &fired(EVERY_MINUTE, 2 * MINUTE)).await;
    wait_complete(&second, "ticker", &fired(EVERY_TWO, 2 * MINUTE)).await;
    wait_complete(&second, "from-worker", &format!("cron-{}", T0 + 2 * MINUTE)).await;
    let expected = [fired(EVERY_MINUTE, MINUTE), fired(EVERY_MINUTE, 2 * MINUTE), fired(EVERY_TWO, 2 * MINUTE)];
    assert_eq!(instance_ids(&second, "ticker").await, set(&expected.each_ref().map(String::as_str)));
    assert!(!second.logs().contains("threw"), "the Worker's 00:01 firing ran again:\n{}", second.logs());
    second.kill9();

    // Down from 00:02 to 00:05: 00:03, 00:04 and 00:05 are missed; each schedule fires once, for
    // its latest missed time.
    let third = start_at(&fixture, persist.path(), 5 * MINUTE + 300);
    wait_complete(&third, "ticker", &fired(EVERY_MINUTE, 5 * MINUTE)).await;
    wait_complete(&third, "ticker", &fired(EVERY_TWO, 4 * MINUTE)).await;
    wait_complete(&third, "from-worker", &format!("cron-{}", T0 + 5 * MINUTE)).await;
    let mut expected = set(&expected.each_ref().map(String::as_str));
    expected.extend([fired(EVERY_MINUTE, 5 * MINUTE), fired(EVERY_TWO, 4 * MINUTE)]);
    assert_eq!(instance_ids(&third, "ticker").await, expected);
    let worker_ids = instance_ids(&third, "from-worker").await;
    let minutes = [1, 2, 5].map(|m| format!("cron-{}", T0 + m * MINUTE));
    assert_eq!(worker_ids, set(&minutes.each_ref().map(String::as_str)));
    assert!(third.logs().contains("were missed"), "the missed firings are not logged:\n{}", third.logs());
}

#[tokio::test]
async fn a_schedule_taken_out_of_the_config_stops() {
    let persist = tempfile::tempdir().unwrap();
    let project = copy_fixture("schedules");
    let mut first = start_at(project.path(), persist.path(), 59_500);
    wait_complete(&first, "ticker", &fired(EVERY_MINUTE, MINUTE)).await;
    first.kill9();

    let config = project.path().join("wrangler.jsonc");
    let text = std::fs::read_to_string(&config).unwrap();
    let without = text.replace(r#""schedules": ["* * * * *", "*/2 * * * *"]"#, r#""schedules": ["*/2 * * * *"]"#);
    assert_ne!(text, without, "the fixture's schedules changed; update this test");
    std::fs::write(&config, without).unwrap();

    let second = start_at(project.path(), persist.path(), 2 * MINUTE - 500);
    let result = second.request(Method::GET, &second.workflow_url("ticker"), None).await.1;
    let crons: Vec<&Value> = result["result"]["schedules"].as_array().unwrap().iter().map(|s| &s["cron"]).collect();
    assert_eq!(crons, [EVERY_TWO], "{result:#}");
    // Both would fire at 00:02 in the same pass, the removed one first.
    wait_complete(&second, "ticker", &fired(EVERY_TWO, 2 * MINUTE)).await;
    let ids = instance_ids(&second, "ticker").await;
    assert_eq!(ids, set(&[&fired(EVERY_MINUTE, MINUTE), &fired(EVERY_TWO, 2 * MINUTE)]));
}

/// The crons of `workflow` as `GET workflow` lists them.
async fn listed_crons(server: &Server, workflow: &str) -> Vec<Value> {
    let (status, body) = server.request(Method::GET, &server.workflow_url(workflow), None).await;
    assert_eq!(status, 200, "{body:#}");
    body["result"]["schedules"].as_array().unwrap_or_else(|| panic!("no schedules: {body:#}")).clone()
}

/// Polls until `GET workflow` lists `expected` (after a reload).
async fn wait_for_crons(server: &Server, workflow: &str, expected: Value) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let listed = Value::Array(listed_crons(server, workflow).await);
        if listed == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{workflow} lists {listed:#}, not {expected:#}
{}",
            server.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn schedules_added_and_removed_by_an_edit_take_effect_without_a_restart() {
    let persist = tempfile::tempdir().unwrap();
    let project = copy_fixture("schedules");
    let schedules = r#""schedules": ["* * * * *", "*/2 * * * *"],"#;
    edit(project.path(), "wrangler.jsonc", schedules, "");
    // Five seconds before 00:01, so that on an idle machine the reload is done before the minute
    // turns; on a loaded one it may not be, and the test then waits for the minute after.
    let server = start_at(project.path(), persist.path(), MINUTE - 5_000);
    assert_eq!(listed_crons(&server, "ticker").await, Vec::<Value>::new());

    edit(
        project.path(),
        "wrangler.jsonc",
        r#""class_name": "Ticker","#,
        r#""class_name": "Ticker", "schedules": "* * * * *","#,
    );
    let listed = wait_for_listed_cron(&server, "ticker", EVERY_MINUTE).await;
    // The added expression counts from the moment the cron task saw it. `listed` was read after
    // that moment, so its next firing was not yet due then: the first firing is that one, or
    // (when the task planned after the listing's minute had turned) the one a minute later.
    let next = iso_ms(&listed["next_instance"]);
    assert!([1, 2, 3].map(|m| T0 + m * MINUTE).contains(&next), "next firing on the shifted clock: {listed:#}");
    let first = wait_first_instance(&server, "ticker").await;
    let candidates = [fired(EVERY_MINUTE, next - T0), fired(EVERY_MINUTE, next + MINUTE - T0)];
    assert!(candidates.contains(&first), "first firing {first:?}, listed next {listed:#}");
    let d = wait_complete(&server, "ticker", &first).await;
    assert_eq!(d["trigger"]["source"], "cron", "{d:#}");
    assert_eq!(d["schedule"]["cron"], EVERY_MINUTE, "{d:#}");
    // No earlier minute fired: the expression did not exist before the edit.
    let ids = instance_ids(&server, "ticker").await;
    assert!(ids.iter().all(|id| id.as_str() >= first.as_str()), "{ids:?} has a firing before {first:?}");

    edit(project.path(), "wrangler.jsonc", r#" "schedules": "* * * * *","#, "");
    wait_for_crons(&server, "ticker", json!([])).await;
}

/// Polls until `GET workflow` lists exactly `cron` (after a reload), and returns its entry.
async fn wait_for_listed_cron(server: &Server, workflow: &str, cron: &str) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let listed = listed_crons(server, workflow).await;
        if let [only] = listed.as_slice()
            && only["cron"] == cron
        {
            return only.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{workflow} lists {listed:?}, not just {cron:?}\n{}",
            server.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls until `workflow` has an instance and returns the id of the only one. A firing can be two
/// minutes away on the clock, so the deadline is that beyond [`PATIENCE`].
async fn wait_first_instance(server: &Server, workflow: &str) -> String {
    let deadline = std::time::Instant::now() + PATIENCE + std::time::Duration::from_millis(2 * MINUTE as u64);
    loop {
        let ids = instance_ids(server, workflow).await;
        if let Some(first) = ids.first() {
            assert_eq!(ids.len(), 1, "more than one firing at once: {ids:?}");
            return first.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no instance of {workflow} after two minutes and {PATIENCE:?}\n{}",
            server.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn get_workflow_lists_each_schedule_with_its_next_instance() {
    let persist = tempfile::tempdir().unwrap();
    let server = start_at(&fixture_dir("schedules"), persist.path(), 10_000);
    let (status, body) = server.request(Method::GET, &server.workflow_url("ticker"), None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["result"]["schedules"],
        json!([
            { "cron": EVERY_MINUTE, "next_instance": "2030-01-01T00:01:00.000Z" },
            { "cron": EVERY_TWO, "next_instance": "2030-01-01T00:02:00.000Z" },
        ])
    );
    let (_, body) = server.request(Method::GET, &server.workflow_url("from-worker"), None).await;
    assert_eq!(body["result"]["schedules"], json!([]));
}

/// Runs `stepflare workflows <args…> --url <server>` and returns its stdout as JSON.
fn cli_json(server: &Server, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .arg("workflows")
        .args(args)
        .args(["--json", "--url", server.base()])
        .env_remove("STEPFLARE_URL")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run the stepflare CLI");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "`stepflare workflows {}` failed:\n{stdout}\n{stderr}", args.join(" "));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn schedules_trigger_fires_now_and_cron_ids_work_in_every_route() {
    let persist = tempfile::tempdir().unwrap();
    let server = start_at(&fixture_dir("schedules"), persist.path(), 10_000);

    let created = cli_json(&server, &["schedules", "trigger", "ticker", EVERY_TWO]);
    let [instance] = created.as_array().unwrap().as_slice() else { panic!("one instance: {created:#}") };
    let id = instance["id"].as_str().unwrap().to_owned();
    let scheduled = instance["schedule"]["scheduledTime"].as_i64().unwrap();
    assert_eq!(id, format!("{EVERY_TWO}-{scheduled}"), "{created:#}");
    assert!((T0 + 10_000..T0 + MINUTE).contains(&scheduled), "fired at the shifted now: {created:#}");
    let d = wait_complete(&server, "ticker", &id).await;
    assert_eq!(d["output"]["schedule"], json!({ "cron": EVERY_TWO, "scheduledTime": scheduled }), "{d:#}");

    // The CLI and every per-instance route take the id, `/` and `*` and spaces included.
    let described = cli_json(&server, &["instances", "describe", "ticker", &id]);
    assert_eq!(described["trigger"]["source"], "cron", "{described:#}");
    let listed = cli_json(&server, &["schedules", "list", "ticker"]);
    assert_eq!(listed[1], json!({ "cron": EVERY_TWO, "next_instance": "2030-01-01T00:02:00.000Z" }));
    let url = server.instance_url("ticker", &segment(&id));
    let (status, body) = server.request(Method::POST, &format!("{url}/events/late"), Some(&json!({}))).await;
    assert_eq!(status, 200, "{body:#}");
    let refused = server.patch_status("ticker", &segment(&id), json!({ "status": "terminate" })).await;
    assert_api_error("terminate a complete cron instance", refused, 409, Some(10403));
    let (status, body) = server.request(Method::DELETE, &url, None).await;
    assert_eq!(status, 200, "{body:#}");

    // Without a cron, every schedule fires; a cron the workflow lacks is refused.
    let both = cli_json(&server, &["schedules", "trigger", "ticker"]);
    let crons: Vec<&Value> = both.as_array().unwrap().iter().map(|i| &i["schedule"]["cron"]).collect();
    assert_eq!(crons, [EVERY_MINUTE, EVERY_TWO], "{both:#}");
    let trigger =
        |workflow: &str| format!("{}/cdn-cgi/stepflare/workflows/{workflow}/schedules/trigger", server.base());
    let refused = server.request(Method::POST, &trigger("ticker"), Some(&json!({ "cron": "0 0 * * *" }))).await;
    assert_api_error("an unknown cron", refused, 400, Some(10002));
    let refused = server.request(Method::POST, &trigger("from-worker"), None).await;
    assert_api_error("a workflow without schedules", refused, 400, Some(10002));
    let refused = server.request(Method::POST, &trigger("nope"), None).await;
    assert_api_error("an unknown workflow", refused, 404, Some(10200));
}

#[test]
fn an_invalid_cron_is_a_config_error_at_its_position() {
    let cases = [
        (r#""schedules": ["* * * * *", "0 9 * * 0"]"#, "\"0 9 * * 0\"", "workflows[0].schedules[1] \"0 9 * * 0\""),
        (r#""schedules": "@hourly""#, "\"@hourly\"", "workflows[0].schedules \"@hourly\""),
    ];
    for (field, needle, message) in cases {
        let config = format!(
            "{{\n  \"name\": \"w\",\n  \"main\": \"src/index.js\",\n  \"workflows\": [\n    {{ \"name\": \"ticker\", \"binding\": \"T\", \"class_name\": \"Ticker\", {field} }},\n  ],\n}}\n"
        );
        assert_config_error(&config, needle, message);
    }
    let config = "{\n  \"main\": \"src/index.js\",\n  \"triggers\": { \"crons\": [\"0 0 L-2 * *\"] },\n}\n";
    assert_config_error(config, "\"0 0 L-2", "triggers.crons[0] \"0 0 L-2 * *\" is not a valid cron expression");
}

/// `config` in a project with the fixture's module stops `stepflare dev`, naming the
/// `wrangler.jsonc:LINE:COL` of `needle` and `message`.
fn assert_config_error(config: &str, needle: &str, message: &str) {
    let project = copy_fixture("schedules");
    std::fs::write(project.path().join("wrangler.jsonc"), config).unwrap();
    let exit = run_to_exit(project.path());
    let offset = config.find(needle).expect("needle in the config");
    let line = config[..offset].matches('\n').count() + 1;
    let column = offset - config[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    let location = format!("wrangler.jsonc:{line}:{column}: {message}");
    assert!(!exit.status.success(), "exit status {:?}", exit.status);
    assert!(exit.stderr.contains(&location), "stderr does not say {location:?}:\n{}", exit.stderr);
}
