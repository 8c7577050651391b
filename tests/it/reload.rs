//! Hot reload: a copy of `fixtures/reload` is served and edited while the server runs. A new
//! version is recorded, new instances run the new code, a sleeping instance wakes on it, the
//! Worker answers with it, and an edit that does not load keeps the last good version serving
//! until the file is fixed. A run in progress keeps its code until its next wait, and writes in
//! the folders the watcher leaves out reload nothing.

use std::path::Path;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The 1-based number of the first line of `file` that contains `text`.
fn line_of(project: &Path, file: &str, text: &str) -> usize {
    let source = std::fs::read_to_string(project.join(file)).expect("read a project file");
    source.lines().position(|line| line.contains(text)).unwrap_or_else(|| panic!("{file} has no {text:?}")) + 1
}

/// The versions of `workflow`, newest first.
async fn versions(server: &Server, workflow: &str) -> Vec<Value> {
    let url = format!("{}/versions", server.workflow_url(workflow));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "list versions of {workflow}: {body:#}");
    body["result"].as_array().cloned().unwrap_or_else(|| panic!("no versions array: {body:#}"))
}

async fn latest_version(server: &Server, workflow: &str) -> String {
    let list = versions(server, workflow).await;
    list[0]["id"].as_str().unwrap_or_else(|| panic!("no version id in {list:#?}")).to_owned()
}

/// Polls the versions endpoint until its newest version is not `known`; returns the new one.
async fn wait_for_new_version(server: &Server, workflow: &str, known: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let latest = latest_version(server, workflow).await;
        if latest != known {
            return latest;
        }
        if Instant::now() > deadline {
            panic!(
                "no version of {workflow} after {known} within {PATIENCE:?}\n--- server logs ---\n{}",
                server.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs one `greet` instance to the end; returns its description.
async fn greet(server: &Server) -> Value {
    let id = server.create("greet", json!({})).await;
    server.wait_for_status("greet", &id, &["complete"]).await
}

/// The text the Worker answers at `/`.
async fn worker_answer(server: &Server) -> String {
    let (status, body) = server.request(Method::GET, &format!("{}/", server.base()), None).await;
    assert_eq!(status, 200, "GET / from the Worker: {body:#}");
    body.as_str().unwrap_or_else(|| panic!("the Worker answered {body:#}, not text")).to_owned()
}

#[tokio::test]
async fn editing_the_source_changes_the_output_of_the_next_instance() {
    let project = copy_fixture("reload");
    let server = Server::start_in(project.path());
    let first = latest_version(&server, "greet").await;
    assert_eq!(greet(&server).await["output"], json!("first version"));

    edit(project.path(), "src/message.js", "first version", "second version");
    let second = wait_for_new_version(&server, "greet", &first).await;

    let d = greet(&server).await;
    assert_eq!(d["output"], json!("second version"), "{d:#}");
    assert_eq!(d["versionId"], json!(second), "the instance records the version it ran on: {d:#}");
    assert!(server.logs().contains(&format!("reloaded: greet version {second}")), "{}", server.logs());
    let listed: Vec<Value> = versions(&server, "greet").await.iter().map(|v| v["id"].clone()).collect();
    assert_eq!(listed, vec![json!(second), json!(first)], "both versions are listed, newest first");
}

#[tokio::test]
async fn a_sleeping_instance_replays_on_the_new_code_when_it_wakes() {
    let project = copy_fixture("reload");
    let server = Server::start_in(project.path());
    let first = latest_version(&server, "nap").await;
    let id = server.create("nap", json!({ "sleep": "3 seconds" })).await;
    server.wait_for_status("nap", &id, &["waiting"]).await;

    edit(project.path(), "src/message.js", "first version", "second version");
    let second = wait_for_new_version(&server, "nap", &first).await;
    let d = server.describe("nap", &id).await;
    assert_eq!(status(&d), "waiting", "the reload came after the instance woke, so this test shows nothing: {d:#}");

    let d = server.wait_for_status("nap", &id, &["complete"]).await;
    assert_eq!(
        d["output"],
        json!({ "before": "first version", "after": "second version" }),
        "the step before the sleep is replayed from its stored result, the one after runs the new code: {d:#}"
    );
    assert_eq!(d["versionId"], json!(second), "{d:#}");
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_version_serving_until_it_is_fixed() {
    let project = copy_fixture("reload");
    let server = Server::start_in(project.path());
    let first = latest_version(&server, "greet").await;

    // A JavaScript syntax error in an imported module.
    edit(project.path(), "src/message.js", "\"first version\";", "\"first version\" +;");
    let line = line_of(project.path(), "src/message.js", "+;");
    server.wait_for_log(&[&format!("message.js:{line}:"), "SyntaxError"]).await;
    assert_eq!(greet(&server).await["output"], json!("first version"), "the last good version serves");
    assert_eq!(latest_version(&server, "greet").await, first, "a broken edit records no version");

    edit(project.path(), "src/message.js", "\"first version\" +;", "\"fixed version\";");
    let fixed = wait_for_new_version(&server, "greet", &first).await;
    assert_eq!(greet(&server).await["output"], json!("fixed version"));

    // A config value of the wrong type.
    edit(project.path(), "wrangler.jsonc", "\"class_name\": \"Nap\"", "\"class_name\": 7");
    let line = line_of(project.path(), "wrangler.jsonc", "\"class_name\": 7");
    server.wait_for_log(&[&format!("wrangler.jsonc:{line}:"), "class_name must be a string"]).await;
    assert_eq!(greet(&server).await["output"], json!("fixed version"), "the last good version serves");
    let nap = server.create("nap", json!({ "sleep": "1 millisecond" })).await;
    server.wait_for_status("nap", &nap, &["complete"]).await;

    let broken_config_nap = latest_version(&server, "nap").await;
    edit(
        project.path(),
        "wrangler.jsonc",
        "\"class_name\": 7",
        "\"class_name\": \"Nap\", \"limits\": { \"steps\": 50 }",
    );
    let refixed = wait_for_new_version(&server, "nap", &broken_config_nap).await;
    let nap_versions = versions(&server, "nap").await;
    assert_eq!(nap_versions[0]["id"], json!(refixed));
    assert_eq!(nap_versions[0]["limits"]["steps"], json!(50), "the fixed config is the one loaded: {nap_versions:#?}");
    assert_ne!(latest_version(&server, "greet").await, fixed, "a config change is a new version of every workflow");
    assert_eq!(greet(&server).await["output"], json!("fixed version"));
}

#[tokio::test]
async fn editing_the_workers_fetch_handler_changes_its_answer() {
    let project = copy_fixture("reload");
    let server = Server::start_in(project.path());
    assert_eq!(worker_answer(&server).await, "worker: first version");

    edit(project.path(), "src/index.js", "`worker: ${MESSAGE}`", "`edited worker: ${MESSAGE}`");
    let deadline = Instant::now() + PATIENCE;
    let mut answer = worker_answer(&server).await;
    while answer == "worker: first version" && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        answer = worker_answer(&server).await;
    }
    assert_eq!(answer, "edited worker: first version", "\n--- server logs ---\n{}", server.logs());
}

#[tokio::test]
async fn a_workflow_removed_from_the_config_is_gone_until_it_comes_back() {
    let project = copy_fixture("reload");
    let server = Server::start_in(project.path());
    let nap_line = "{ \"name\": \"nap\", \"binding\": \"NAP\", \"class_name\": \"Nap\" },";

    edit(project.path(), "wrangler.jsonc", nap_line, "");
    server.wait_for_log(&["reloaded: nap removed from the config"]).await;
    let (status, body) = server.request(Method::GET, &server.workflow_url("nap"), None).await;
    assert_eq!(status, 404, "{body:#}");
    assert_eq!(greet(&server).await["output"], json!("first version"), "the others still run");

    edit(
        project.path(),
        "wrangler.jsonc",
        "\"class_name\": \"Greet\" },",
        &format!("\"class_name\": \"Greet\" }},\n{nap_line}"),
    );
    server.wait_for_log(&["(added to the config)"]).await;
    let id = server.create("nap", json!({ "sleep": "1 millisecond" })).await;
    let d = server.wait_for_status("nap", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "before": "first version", "after": "first version" }), "{d:#}");
}

#[tokio::test]
async fn an_install_into_node_modules_reloads_once_when_the_package_manager_is_done() {
    let project = copy_fixture("reload");
    write_files(
        project.path(),
        &[
            ("node_modules/wording/package.json", r#"{ "name": "wording", "main": "index.js" }"#),
            ("node_modules/wording/index.js", r#"exports.suffix = " (wording 1)";"#),
        ],
    );
    edit(
        project.path(),
        "src/message.js",
        "export const MESSAGE = \"first version\";",
        "import { suffix } from \"wording\";\nexport const MESSAGE = \"first version\" + suffix;",
    );
    let server = Server::start_in(project.path());
    assert_eq!(greet(&server).await["output"], json!("first version (wording 1)"));
    let first = latest_version(&server, "greet").await;

    // An install writes many files into node_modules, and its state file last.
    write_files(
        project.path(),
        &[
            ("node_modules/wording/index.js", r#"exports.suffix = " (wording 2)";"#),
            ("node_modules/wording/README.md", "# wording"),
            ("node_modules/other/package.json", r#"{ "name": "other" }"#),
            ("node_modules/other/index.js", "module.exports = 1;"),
        ],
    );
    // Not a wait for anything: had the package files reloaded the project, a new version would
    // show here; nothing can make this check fail when the code is right.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(latest_version(&server, "greet").await, first, "package files alone reloaded the project");

    write_files(project.path(), &[("node_modules/.package-lock.json", r#"{ "lockfileVersion": 3 }"#)]);
    wait_for_new_version(&server, "greet", &first).await;
    assert_eq!(greet(&server).await["output"], json!("first version (wording 2)"));
    let reloads = server.logs().matches("reloaded: greet version").count();
    assert_eq!(reloads, 1, "one install, one reload\n--- server logs ---\n{}", server.logs());
}

#[tokio::test]
async fn a_reload_that_drops_a_workflow_stops_its_spinning_run_which_goes_on_when_it_is_back() {
    let project = tempfile::tempdir().expect("a project folder");
    let spin_entry = r#"{ "name": "spin", "binding": "SPIN", "class_name": "Spin" },"#;
    write_files(
        project.path(),
        &[
            (
                "wrangler.jsonc",
                &format!(
                    r#"{{ "name": "w", "main": "index.js", "compatibility_date": "2026-08-01",
                      "workflows": [{spin_entry} {{ "name": "idle", "binding": "IDLE", "class_name": "Idle" }}] }}"#
                ),
            ),
            (
                "index.js",
                r#"import { WorkflowEntrypoint } from "cloudflare:workers";
                export class Spin extends WorkflowEntrypoint {
                  async run(event, step) {
                    console.log(`run began for ${event.instanceId}`);
                    await step.do("spin", async () => { while (true) {} });
                  }
                }
                export class Idle extends WorkflowEntrypoint { async run() {} }"#,
            ),
        ],
    );
    let server = Server::start_in(project.path());
    server.create_with_id("spin", "looping", json!({})).await;
    server.wait_for_log(&["run began for looping"]).await;

    edit(project.path(), "wrangler.jsonc", spin_entry, "");
    server.wait_for_log(&["its run was stopped; it goes on when the workflow is back"]).await;

    edit(project.path(), "wrangler.jsonc", "\"workflows\": [", &format!("\"workflows\": [{spin_entry}"));
    let deadline = Instant::now() + PATIENCE;
    while server.logs().matches("run began for looping").count() < 2 {
        assert!(Instant::now() < deadline, "the run did not begin again:\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
    let d = server.change_status("spin", "looping", json!({ "status": "terminate" })).await;
    assert_eq!(d["status"], "terminated", "{d:#}");
}

#[tokio::test]
async fn a_run_in_progress_keeps_its_code_until_its_next_event_wait() {
    let project = copy_fixture("claims");
    let server = Server::start_in(project.path());
    let first = latest_version(&server, "versioned").await;
    let id = server.create("versioned", json!({})).await;
    // The run is inside its first step's callback, held there until released.
    server
        .wait_for("versioned", &id, "the held step", |d| status(d) == "running" && find_step(d, "before-1").is_some())
        .await;

    edit(project.path(), "src/version.js", "\"old\"", "\"new\"");
    wait_for_new_version(&server, "versioned", &first).await;
    assert_eq!(server.get_ok("/version").await, json!("new"), "the Worker serves the new code");

    assert_eq!(server.get_ok(&format!("/release?id={id}")).await, json!("released"));
    let d = server
        .wait_for("versioned", &id, "the event wait", |d| status(d) == "waiting" && find_step(d, "go on-1").is_some())
        .await;
    assert_eq!(step(&d, "before-1")["output"], json!("old"), "the run in progress took the new code: {d:#}");
    assert_eq!(d["versionId"], json!(first), "{d:#}");

    server.deliver("versioned", &id, "go", json!({})).await;
    let d = server.wait_for_status("versioned", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "before": "old", "after": "new" }), "the run after the wait: {d:#}");
}

#[tokio::test]
async fn writes_in_ignored_folders_do_not_reload() {
    let project = copy_fixture("claims");
    let ignored = [".stepflare", ".wrangler/tmp", "node_modules/some-package", ".git/hooks", "target/debug"];
    for folder in ignored {
        std::fs::create_dir_all(project.path().join(folder)).unwrap();
    }
    // Every reload logs a line at debug level, also one that changes no workflow.
    let server = Server::start_bare(project.path(), &[], &[("STEPFLARE_LOG", "info,stepflare::reload=debug")]);
    let reloads = |server: &Server| server.logs().matches("reloaded: ").count();
    for folder in ignored.iter().chain(&[".wrangler", "node_modules", ".git", "target"]) {
        write_files(project.path(), &[(&format!("{folder}/extra.js"), "export const x = 1;\n")]);
    }
    // Longer than the watcher's longest wait (120 ms), so that a reload the writes above caused
    // would be one of its own, not one with the write below.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(reloads(&server), 0, "a write in an ignored folder reloaded:\n{}", server.logs());

    // A JavaScript file outside them reloads (and, loaded by nothing, changes no workflow).
    write_files(project.path(), &[("src/unused.js", "export const y = 2;\n")]);
    server.wait_for_log(&["reloaded: no workflow changed"]).await;
    assert_eq!(reloads(&server), 1, "{}", server.logs());
}

#[tokio::test]
async fn a_run_waiting_for_an_event_beside_a_running_callback_keeps_its_code_until_it_suspends_there() {
    let project = copy_fixture("claims");
    let server = Server::start_in(project.path());
    let wf = "versioned-wait";
    let first = latest_version(&server, wf).await;
    let id = server.create(wf, json!({})).await;
    // The run waits for an event while its `held` step's callback runs.
    server
        .wait_for(wf, &id, "the wait beside the held step", |d| {
            status(d) == "running" && find_step(d, "held-1").is_some() && find_step(d, "early-1").is_some()
        })
        .await;

    edit(project.path(), "src/version.js", "\"old\"", "\"new\"");
    wait_for_new_version(&server, wf, &first).await;
    // The event comes while the callback runs; the run takes it once it has suspended at the
    // wait, which it does when the callback is done.
    server.deliver(wf, &id, "early", json!({})).await;
    assert_eq!(server.get_ok(&format!("/release?id={id}")).await, json!("released"));
    let d = server
        .wait_for(wf, &id, "the second wait", |d| status(d) == "waiting" && find_step(d, "go on-1").is_some())
        .await;
    assert_eq!(step(&d, "held-1")["output"], json!("old"), "the callback in progress took the new code: {d:#}");
    assert_eq!(step(&d, "next-1")["output"], json!("new"), "the run past its event wait kept the old code: {d:#}");

    server.deliver(wf, &id, "go", json!({})).await;
    let d = server.wait_for_status(wf, &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "held": "old", "next": "new", "after": "new" }), "{d:#}");
}
