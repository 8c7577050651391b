//! Durable Objects (`durable_objects` bindings and `migrations`), through `fixtures/durable-objects`:
//! ids and stubs, `fetch` and RPC with structured clone, one call at a time in arrival order with
//! fields kept between calls, the storage key-value API, the SQL API, alarms retried on throw,
//! a workflow started from an object whose step calls the object back, storage and alarms
//! across a `kill -9` and a hot reload, and config errors at file:line:col.

use std::path::Path;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const FIXTURE: &str = "durable-objects";

/// GET `path` from the Worker; the answer must be 200.
async fn get(server: &Server, path: &str) -> Value {
    let (status, body) = server.request(Method::GET, &format!("{}{path}", server.base()), None).await;
    assert_eq!(status, 200, "GET {path}: {body:#}\n--- server logs ---\n{}", server.logs());
    body
}

/// Calls `method` of the counter `name` over RPC with JSON `args`; returns its result.
async fn rpc(server: &Server, name: &str, method: &str, args: Value) -> Value {
    let args = args.to_string();
    let query = format!("name={name}&method={method}&args={}", percent(&args));
    get(server, &format!("/rpc?{query}")).await["result"].clone()
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Polls the counter's alarm state until `done` holds.
async fn wait_for_alarms(server: &Server, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = rpc(server, name, "alarmState", json!([])).await;
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "alarms never got there: {state:#}\n--- logs ---\n{}", server.logs());
        tokio::time::sleep(POLL * 5).await;
    }
}

#[tokio::test]
async fn ids_stubs_fetch_and_rpc_cross_as_structured_clone() {
    let server = Server::start(FIXTURE);
    let ids = get(&server, "/ids").await;
    let a = ids["a"].as_str().unwrap();
    assert_eq!(a.len(), 64, "{ids:#}");
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{ids:#}");
    assert_eq!(ids["name"], json!("x"));
    assert_eq!(ids["same"], json!(true));
    assert_eq!(ids["parsedEquals"], json!(true));
    assert_eq!(ids["uniqueDiffers"], json!(true));
    assert_eq!(ids["uniqueLength"], json!(64));
    assert_eq!(
        ids["invalid"],
        json!("TypeError: Invalid Durable Object ID. Durable Object IDs must be 64 hex digits.")
    );
    assert_eq!(ids["stubName"], json!("main"));
    // An object reached by a unique id has no name, and its id is the one asked for.
    assert_eq!(ids["viaId"]["name"], Value::Null);
    assert_eq!(ids["viaId"]["count"], json!(1));

    // `stub.fetch` forwards the request, body included; the object sees its own id and name.
    let (status, hit) = server
        .send_typed(Method::POST, &format!("{}/hit?name=fetcher", server.base()), Some("text/plain"), "hello")
        .await;
    assert_eq!(status, 200, "{hit:#}");
    assert_eq!(hit["count"], json!(1));
    assert_eq!(hit["body"], json!("hello"));
    assert_eq!(hit["name"], json!("fetcher"));
    assert_eq!(get(&server, "/hit?name=fetcher").await["id"], hit["id"]);
    assert_ne!(get(&server, "/hit?name=other").await["id"], hit["id"]);

    // RPC arguments and results keep their types both ways.
    let cloned = get(&server, "/clone").await;
    assert_eq!(
        cloned,
        json!([
            { "type": "[object Date]", "back": 1234, "at": true },
            { "type": "[object Map]", "back": [1], "at": true },
            { "type": "[object Uint8Array]", "back": [1, 2, 3], "at": true },
            { "type": "[object BigInt]", "back": "10", "at": true },
            { "type": "[object Undefined]", "back": "undefined", "at": true },
        ])
    );
    // What a method throws is thrown at the caller, with its class and message.
    assert_eq!(get(&server, "/fail").await, json!({ "name": "RangeError", "message": "too far" }));
    let (status, missing) = server.request(Method::GET, &format!("{}/rpc?method=nothing", server.base()), None).await;
    assert_eq!(status, 500);
    assert!(missing["error"].as_str().unwrap().contains("does not implement the method \"nothing\""), "{missing:#}");
}

#[tokio::test]
async fn an_object_serves_one_call_at_a_time_and_keeps_its_fields() {
    let server = Server::start(FIXTURE);
    // The slow call started first ends before the quick one starts, though it awaits a timer.
    let gate = get(&server, "/gate?name=gate").await;
    assert_eq!(gate["a"], json!(["a:start", "a:end"]), "{gate:#}");
    assert_eq!(gate["b"], json!(["a:start", "a:end", "b:start", "b:end"]), "{gate:#}");
    // Fields set by one call are there in the next; blockConcurrencyWhile in the constructor
    // finished before the first call.
    assert_eq!(rpc(&server, "mem", "memory", json!([])).await, json!({ "calls": 1, "ready": true }));
    assert_eq!(rpc(&server, "mem", "memory", json!([])).await, json!({ "calls": 2, "ready": true }));
    assert_eq!(rpc(&server, "other", "memory", json!([])).await, json!({ "calls": 1, "ready": true }));
    // Awaiting a property of a stub reads it from the object.
    assert_eq!(get(&server, "/prop?name=mem&property=calls").await, json!({ "value": 2 }));
    assert_eq!(get(&server, "/prop?name=mem&property=nothing").await, json!({}));
}

#[tokio::test]
async fn the_cpu_limit_counts_per_call_and_going_over_resets_the_object() {
    let server = Server::start(FIXTURE);
    rpc(&server, "cpu", "memory", json!([])).await;
    // Two calls of 1.2 s each stay under the 2 s limit: it counts per call.
    assert_eq!(rpc(&server, "cpu", "spin", json!([1200])).await, json!(1));
    assert_eq!(rpc(&server, "cpu", "spin", json!([1200])).await, json!(1));
    // A call that never ends is stopped, and the object starts over on the next call.
    let url = format!("{}/rpc?name=cpu&method=spin&args={}", server.base(), percent("[null]"));
    let (status, stopped) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 500, "{stopped:#}");
    assert!(stopped["error"].as_str().unwrap().contains("Durable Object reset"), "{stopped:#}");
    assert_eq!(rpc(&server, "cpu", "memory", json!([])).await, json!({ "calls": 1, "ready": true }));
}

#[tokio::test]
async fn the_storage_key_value_api_lists_with_options_and_runs_transactions() {
    let server = Server::start(FIXTURE);
    let kv = rpc(&server, "kv", "kv", json!([])).await;
    assert_eq!(
        kv,
        json!({
            "single": 5,
            "many": [["a", 1], ["e", [1, 2]]],
            "all": ["a", "b", "c", "d/1", "d/2", "e"],
            "prefix": ["d/1", "d/2"],
            "range": ["b", "c", "d/1"],
            "after": ["d/1", "d/2", "e"],
            "reverse": ["e", "d/2"],
            "deletedOne": true,
            "deletedMissing": false,
            "deletedMany": 2,
            "transactionError": "undo",
            "afterTransactions": ["d/1", "d/2", "e", "kept"],
            "afterDeleteAll": [],
            // From the 2026-02-24 compatibility date, deleteAll deletes the alarm too.
            "alarmAfterDeleteAll": null,
        })
    );
    // A key-value-backed class has the same API but no SQL.
    let notes = get(&server, "/notes?name=n&note=first").await;
    assert_eq!(notes["notes"], json!(["first"]));
    assert!(notes["sql"].as_str().unwrap().contains("SQL is not enabled"), "{notes:#}");
    assert_eq!(get(&server, "/notes?name=n&note=second").await["notes"], json!(["first", "second"]));
}

#[tokio::test]
async fn the_sql_api_gives_cursors_and_the_database_size() {
    let server = Server::start(FIXTURE);
    let sql = rpc(&server, "sql", "sqlDemo", json!([])).await;
    assert_eq!(sql["columns"], json!(["id", "name", "weight"]));
    assert_eq!(
        sql["rows"],
        json!([{ "id": 1, "name": "apple", "weight": 1.5 }, { "id": 2, "name": "pear", "weight": 2 }])
    );
    assert_eq!(sql["iterated"], json!(["pear", "apple"]));
    assert_eq!(sql["raw"], json!([[1, "apple"], [2, "pear"]]));
    assert_eq!(sql["blob"], json!([7, 8]));
    assert_eq!(sql["written"], json!(2));
    assert_eq!(sql["read"], json!(2));
    assert_eq!(sql["oneError"], json!("Expected exactly one result from SQL query, but got multiple results."));
    assert_eq!(sql["sqlError"], json!("no such table: nowhere: SQLITE_ERROR"));
    assert_eq!(sql["sync"], json!(3));
    // The synchronous transaction that threw left nothing behind.
    assert_eq!(sql["after"], json!(["apple", "pear", "kiwi"]));
    assert!(sql["size"].as_i64().unwrap() > 0, "{sql:#}");
    // The synchronous key-value API of SQLite-backed objects.
    assert_eq!(sql["syncKv"], json!({ "got": true, "listed": ["sync"], "deleted": true, "after": null }));
}

#[tokio::test]
async fn an_alarm_fires_and_is_retried_while_its_handler_throws() {
    let server = Server::start(FIXTURE);
    let set = rpc(&server, "alarm", "scheduleAlarm", json!([50, 1])).await;
    assert!(set.as_i64().unwrap() > now_ms() - 60_000, "getAlarm after setAlarm: {set}");
    // The first run throws; the retry (2 s later) succeeds, and then the alarm is gone.
    let state =
        wait_for_alarms(&server, "alarm", |s| s["pending"].is_null() && s["fired"].as_array().unwrap().len() == 2)
            .await;
    assert_eq!(
        state["fired"],
        json!([
            { "retry_count": 0, "is_retry": 0, "pending": null },
            { "retry_count": 1, "is_retry": 1, "pending": null },
        ])
    );
}

#[tokio::test]
async fn storage_alarms_and_the_workflow_interplay_survive_kill_9() {
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(FIXTURE, persist.path(), &[]);
    assert_eq!(get(&server, "/hit?name=durable").await["count"], json!(1));
    assert_eq!(get(&server, "/hit?name=durable").await["count"], json!(2));
    rpc(&server, "durable", "scheduleAlarm", json!([4_000, 0])).await;
    assert_eq!(rpc(&server, "durable", "alarmState", json!([])).await["fired"], json!([]));
    // A workflow the object started sleeps before its step calls the object back.
    let id = get(&server, "/tally?name=durable&pause=2000").await["id"].as_str().unwrap().to_owned();
    server.wait_for_status("tally", &id, &["waiting"]).await;
    server.kill9();

    let server = Server::start_with(FIXTURE, persist.path(), &[]);
    // The alarm set before the crash fires after the restart, from the store's table.
    let state = wait_for_alarms(&server, "durable", |s| !s["fired"].as_array().unwrap().is_empty()).await;
    assert_eq!(state["fired"], json!([{ "retry_count": 0, "is_retry": 0, "pending": null }]), "{state:#}");
    // The workflow wakes after the restart and its step reaches the object's stored count.
    let done = server.wait_for_status("tally", &id, &["complete"]).await;
    assert_eq!(done["output"], json!({ "count": 3 }), "{done:#}");
    assert_eq!(get(&server, "/hit?name=durable").await["count"], json!(4));
}

#[tokio::test]
async fn an_object_starts_a_workflow_whose_step_calls_it_back() {
    let server = Server::start(FIXTURE);
    assert_eq!(rpc(&server, "tally", "increment", json!([2])).await, json!(2));
    let id = get(&server, "/tally?name=tally").await["id"].as_str().unwrap().to_owned();
    let done = server.wait_for_status("tally", &id, &["complete"]).await;
    assert_eq!(done["output"], json!({ "count": 3 }), "{done:#}");
    assert_eq!(rpc(&server, "tally", "count", json!([])).await, json!(3));
}

#[tokio::test]
async fn a_hot_reload_runs_new_code_on_the_same_storage() {
    let project = copy_fixture(FIXTURE);
    let server = Server::start_in(project.path());
    assert_eq!(get(&server, "/hit?name=r").await["count"], json!(1));
    assert_eq!(rpc(&server, "r", "memory", json!([])).await["calls"], json!(1));
    edit(project.path(), "src/index.js", "this.calls += 1;", "this.calls += 100;");
    // The object is constructed again with the new code: its fields start over.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let calls = rpc(&server, "r", "memory", json!([])).await["calls"].clone();
        if calls == json!(100) {
            break;
        }
        assert!(Instant::now() < deadline, "the new code never ran (calls {calls})\n{}", server.logs());
        tokio::time::sleep(POLL * 5).await;
    }
    // Its storage is the same, and the workflow it starts calls the new code.
    assert_eq!(get(&server, "/hit?name=r").await["count"], json!(2));
    let id = get(&server, "/tally?name=r").await["id"].as_str().unwrap().to_owned();
    let done = server.wait_for_status("tally", &id, &["complete"]).await;
    assert_eq!(done["output"], json!({ "count": 3 }), "{done:#}");
}

#[tokio::test]
async fn a_class_renamed_by_a_migration_keeps_its_objects_ids_and_storage() {
    let project = copy_fixture(FIXTURE);
    let server = Server::start_in(project.path());
    assert_eq!(get(&server, "/notes?name=n&note=first").await["notes"], json!(["first"]));
    // The config first: until the code exports Journal, no reload loads.
    edit(project.path(), "wrangler.jsonc", "\"class_name\": \"Notes\"", "\"class_name\": \"Journal\"");
    edit(
        project.path(),
        "wrangler.jsonc",
        "{ \"from\": \"Notebook\", \"to\": \"Notes\" }] },",
        "{ \"from\": \"Notebook\", \"to\": \"Notes\" }] },\n    { \"tag\": \"v4\", \"renamed_classes\": [{ \"from\": \"Notes\", \"to\": \"Journal\" }] },",
    );
    edit(project.path(), "src/index.js", "export class Notes extends", "export class Journal extends");
    edit(project.path(), "src/index.js", "return \"notes\";", "return \"journal\";");
    let deadline = Instant::now() + PATIENCE;
    let renamed = loop {
        let answer = get(&server, "/notes?name=n").await;
        if answer["kind"] == json!("journal") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the renamed class never served: {answer:#}\n{}", server.logs());
        tokio::time::sleep(POLL * 5).await;
    };
    assert_eq!(renamed["notes"], json!(["first"]), "{renamed:#}\n{}", server.logs());
    // Storage belongs to the namespace, named after the class a migration created (Notebook).
    assert!(project.path().join(".stepflare/do/durable-objects/Notebook").is_dir());
    assert!(!project.path().join(".stepflare/do/durable-objects/Journal").exists());
}

fn refused(dir: &Path, config: &str) -> String {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("wrangler.jsonc"), config).unwrap();
    std::fs::write(
        dir.join("src/index.js"),
        "import { DurableObject } from \"cloudflare:workers\";\nexport class Counter extends DurableObject {}\nexport default { fetch() { return new Response(\"ok\"); } };\n",
    )
    .unwrap();
    let exit = run_to_exit(dir);
    assert!(!exit.status.success(), "started with a broken config:\n{}", exit.stdout);
    exit.stderr
}

#[test]
fn durable_object_config_errors_name_file_line_and_column() {
    let cases = [
        (
            r#"{
  "name": "w", "main": "src/index.js",
  "durable_objects": { "bindings": [{ "name": "A", "class_name": "Missing" }] },
}"#,
            r#"{ "name": "A""#,
            "exports no class of that name",
        ),
        (
            r#"{
  "name": "w", "main": "src/index.js",
  "durable_objects": { "bindings": [{ "name": "A", "class_name": "Counter" }, { "name": "A", "class_name": "Counter" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }],
}"#,
            "\"A\", \"class_name\": \"Counter\" }]",
            "is already used",
        ),
        (
            r#"{
  "name": "w", "main": "src/index.js",
  "durable_objects": { "bindings": [{ "name": "A", "class_name": "Old" }] },
  "migrations": [{ "tag": "v1", "new_classes": ["Old"] }, { "tag": "v2", "deleted_classes": ["Old"] }],
}"#,
            "\"Old\" }",
            "a migration deleted",
        ),
        (
            r#"{
  "name": "w", "main": "src/index.js",
  "migrations": [{ "tag": "v1", "renamed_classes": [{ "from": "Ghost", "to": "Counter" }] }],
}"#,
            "\"Ghost\"",
            "cannot be renamed",
        ),
        (
            r#"{
  "name": "w", "main": "src/index.js",
  "migrations": [{ "tag": "v1", "new_classes": ["Counter"] }, { "tag": "v1", "new_classes": ["Other"] }],
}"#,
            "\"v1\", \"new_classes\": [\"Other\"]",
            "used by an earlier migration",
        ),
    ];
    for (config, needle, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let stderr = refused(dir.path(), config);
        let location = format!("wrangler.jsonc:{}", position_of(config, needle));
        assert!(stderr.contains(&location), "stderr does not point at {location}:\n{stderr}");
        assert!(stderr.contains(message), "stderr does not say {message:?}:\n{stderr}");
    }
}
