//! D1 (`d1_databases`): the schema applied by `stepflare d1 migrations apply`, prepared
//! statements (`run`, `all`, `first`, `raw`), `batch` all or nothing, `exec`, from the Worker and
//! from workflow steps, kept across a restart.

use std::process::Command;

use serde_json::json;

use crate::support::*;

fn apply(project: &std::path::Path, persist: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .args(["d1", "migrations", "apply", "DB", "--config"])
        .arg(project)
        .arg("--persist-to")
        .arg(persist)
        .output()
        .expect("run stepflare d1");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn a_database_is_migrated_queried_in_batches_and_kept() {
    let project = copy_fixture("d1");
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_project(project.path(), persist.path(), &[]);
    let before = server.get_ok("/count").await;
    assert!(before["error"].as_str().is_some_and(|e| e.contains("D1_ERROR: no such table: notes")), "{before:#}");

    // The migrations, applied while stepflare runs, once each.
    let applied = apply(project.path(), persist.path());
    assert!(applied.contains("Applied 0001_notes.sql") && applied.contains("Applied 0002_tags.sql"), "{applied}");
    assert!(apply(project.path(), persist.path()).contains("No migrations to apply"));

    assert_eq!(server.get_ok("/add?body=first").await, json!({ "success": true, "changes": 1, "id": 1 }));
    assert_eq!(server.get_ok("/add?body=second").await["id"], json!(2));
    assert_eq!(
        server.get_ok("/all").await,
        json!([
            { "id": 1, "body": "first", "data": [1, 2, 3], "tag": "none" },
            { "id": 2, "body": "second", "data": [1, 2, 3], "tag": "none" },
        ])
    );
    assert_eq!(server.get_ok("/first?id=2").await, json!({ "row": { "body": "second" }, "body": "second" }));
    assert_eq!(server.get_ok("/first?id=9").await, json!({ "row": null, "body": null }));
    assert_eq!(server.get_ok("/raw").await, json!([["id", "body"], [1, "first"], [2, "second"]]));
    assert_eq!(server.get_ok("/batch").await, json!([1, 1]));
    let failed = server.get_ok("/bad-batch").await;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("no such table: nowhere")), "{failed:#}");
    assert_eq!(server.get_ok("/count").await, json!(4), "the failed batch left nothing");
    assert_eq!(server.get_ok("/exec").await["count"], json!(2));

    let id = server.create("note-taker", json!({ "body": "from a step" })).await;
    let d = server.wait_for_status("note-taker", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "id": 5, "count": 5 }));

    drop(server);
    let server = Server::start_project(project.path(), persist.path(), &[]);
    assert_eq!(server.get_ok("/count").await, json!(5), "the database outlives the process");
}
