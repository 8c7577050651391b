//! Step results as structured clone: values JSON cannot hold come back from the store as what the
//! step returned, REST and the journal show them as readable JSON, values that cannot be cloned
//! end the instance, and results stored as plain JSON by earlier versions still replay.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn dates_maps_sets_bigints_binary_data_and_cycles_survive_replay() {
    let server = Server::start("step-results");
    let id = server.create("cloned-results", json!({})).await;
    let d = server.wait_for_status("cloned-results", &id, &["complete"]).await;

    let checks = d["output"]["checks"].as_object().unwrap_or_else(|| panic!("no checks: {d:#}"));
    assert_eq!(checks.len(), 22, "{d:#}");
    let failed: Vec<&String> =
        checks.iter().filter(|(_, passed)| **passed != json!(true)).map(|(name, _)| name).collect();
    assert!(failed.is_empty(), "wrong after replay: {failed:?}\n{d:#}");
    // The sleep parted two runs: the checks ran on values read back from the store.
    assert_eq!(step(&d, "let it replay-1")["finished"], json!(true), "{d:#}");
}

#[tokio::test]
async fn rest_shows_cloned_values_as_readable_json() {
    let server = Server::start("step-results");
    let id = server.create("cloned-results", json!({})).await;
    let d = server.wait_for_status("cloned-results", &id, &["complete"]).await;

    let outputs = [
        ("date-1", json!("2026-01-02T03:04:05.678Z")),
        ("map-1", json!([["a", 1], ["b", 2]])),
        ("set-1", json!(["x", "y"])),
        ("bigint-1", json!("12345678901234567890")),
        ("typed array-1", json!([1, 2, 65535])),
        ("regexp-1", json!("/ab+c/gi")),
        ("undefined-1", Value::Null),
        ("nan-1", Value::Null),
        ("negative zero-1", json!(0)),
        ("error-1", json!({ "name": "RangeError", "message": "out of range" })),
        ("secret-1", json!("[REDACTED]")),
        (
            "nested-1",
            json!({
                "when": "1970-01-01T00:00:00.000Z",
                "tags": [[1, ["2"]]],
                "buffer": [7, 8, 9],
                "view": [1, 2],
                "list": [null, null, null],
                "first": { "name": "shared" },
                "second": { "name": "shared" },
                "protoKey": { "__proto__": 1 },
                "boxed": "boxed",
                "caused": { "name": "Error", "message": "outer", "cause": { "name": "TypeError", "message": "inner" } },
                "self": "[Circular]",
            }),
        ),
    ];
    for (name, expected) in &outputs {
        assert_eq!(&step(&d, name)["output"], expected, "steps[] output of {name}: {d:#}");
    }
    assert_eq!(
        d["output"]["sample"],
        json!({
            "when": "2026-01-02T03:04:05.678Z",
            "tags": [["a", 1], ["b", 2]],
            "big": "12345678901234567890",
        }),
        "{d:#}"
    );

    // The step endpoint shows the whole value the same way, and redacts a sensitive one.
    for (name, expected) in [("map-1", json!([["a", 1], ["b", 2]])), ("secret-1", json!("[REDACTED]"))] {
        let url = format!("{}/step?name={name}&type=step", server.instance_url("cloned-results", &id));
        let (status, body) = server.request(Method::GET, &url, None).await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["result"]["output"], expected, "{name}: {body:#}");
    }

    // The journal, read through the REST subscribe stream, redacts it too.
    let url = format!("{}/subscribe", server.instance_url("cloned-results", &id));
    let journal = event_stream_data(&reqwest::get(&url).await.unwrap().text().await.unwrap());
    let completed = |name: &str| {
        journal
            .iter()
            .find(|e| e["type"] == "step_completed" && e["stepName"] == name)
            .unwrap_or_else(|| panic!("no step_completed of {name} in {journal:#?}"))["output"]
            .clone()
    };
    assert_eq!(completed("secret-1"), json!("[REDACTED]"));
    assert_eq!(completed("map-1"), json!([["a", 1], ["b", 2]]));
}

#[tokio::test]
async fn the_binding_status_gives_the_output_run_returned() {
    let server = Server::start("step-results");
    let id = server.create("cloned-results", json!({})).await;
    server.wait_for_status("cloned-results", &id, &["complete"]).await;

    let status = server.get_ok(&format!("/?id={id}")).await;
    assert_eq!(
        status,
        json!({ "status": "complete", "whenIsDate": true, "tagsIsMap": true, "bigIsBigInt": true }),
        "{status:#}"
    );
}

#[tokio::test]
async fn a_value_structured_clone_refuses_ends_the_instance_as_not_serialisable() {
    let server = Server::start("step-results");
    for kind in ["class", "function", "symbol", "null prototype"] {
        let id = server.create("unclonable", json!({ "kind": kind })).await;
        let d = server.wait_for_status("unclonable", &id, &["errored"]).await;
        assert_eq!(
            d["error"]["message"],
            "The execution of the Workflow instance was terminated, as the step \"unclonable\" returned a value which is not serialisable",
            "{kind}: {d:#}"
        );
    }
}

#[tokio::test]
async fn a_result_stored_as_plain_json_by_an_earlier_version_still_replays() {
    let persist = tempfile::tempdir().unwrap();
    let mut server = Server::start_with("step-results", persist.path(), &[]);
    let id = server.create("remembered", json!({})).await;
    server.wait_for("remembered", &id, "the wait for the event", |d| find_step(d, "go-1").is_some()).await;
    server.interrupt();

    // What an earlier stepflare stored: the result's JSON, with no mark.
    let db = rusqlite::Connection::open(persist.path().join("state.sqlite")).unwrap();
    let stored: String = db
        .query_row("SELECT output FROM steps WHERE instance_id = ?1 AND name = 'remember'", [&id], |row| row.get(0))
        .unwrap();
    assert!(stored.starts_with("v8:"), "a Date inside is stored as structured clone: {stored}");
    let legacy = r#"{"fresh":false,"at":"1970-01-01T00:00:00.000Z","list":[1,"two",null]}"#;
    db.execute("UPDATE steps SET output = ?1 WHERE instance_id = ?2 AND name = 'remember'", [legacy, &id]).unwrap();
    drop(db);

    let server = Server::start_with("step-results", persist.path(), &[]);
    server.deliver("remembered", &id, "go", json!({})).await;
    let d = server.wait_for_status("remembered", &id, &["complete"]).await;
    let expected: Value = serde_json::from_str(legacy).unwrap();
    assert_eq!(d["output"], expected, "{d:#}");
    assert_eq!(step(&d, "remember-1")["output"], expected, "{d:#}");
}

const STREAMED: usize = 2 << 20;

#[tokio::test]
async fn a_stream_of_two_mib_is_stored_replayed_and_served_as_bytes() {
    let server = Server::start("step-results");
    let id = server.create("streamed", json!({ "size": STREAMED, "kind": "bytes" })).await;
    let d = server.wait_for_status("streamed", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "firstRun": true, "replayed": true, "total": STREAMED, "same": true }), "{d:#}");
    assert_eq!(
        step(&d, "download-1")["output"],
        json!(format!("[ReadableStream (binary): {STREAMED} bytes]")),
        "{d:#}"
    );

    let url = format!("{}/step?name=download-1&type=step", server.instance_url("streamed", &id));
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), STREAMED);
    let byte_at = |position: usize| 200 + (position / (64 * 1024) % 50) as u8;
    assert!(bytes.iter().enumerate().all(|(position, byte)| *byte == byte_at(position)), "the bytes the step streamed");
}

#[tokio::test]
async fn a_sensitive_stream_is_redacted_and_its_bytes_are_not_served() {
    let server = Server::start("step-results");
    let id = server.create("streamed", json!({ "size": 1000, "kind": "bytes", "sensitive": true })).await;
    let d = server.wait_for_status("streamed", &id, &["complete"]).await;
    assert_eq!(d["output"]["total"], 1000, "the code gets the bytes: {d:#}");
    assert_eq!(step(&d, "download-1")["output"], "[REDACTED]", "{d:#}");
    let url = format!("{}/step?name=download-1&type=step", server.instance_url("streamed", &id));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!((status, &body["result"]["output"]), (200, &json!("[REDACTED]")), "{body:#}");
}

#[tokio::test]
async fn a_stream_that_is_locked_or_not_of_bytes_ends_the_instance() {
    let server = Server::start("step-results");
    let cases = [
        (
            "locked",
            "Step returned a ReadableStream that is already locked or otherwise unreadable. Return a fresh, unlocked ReadableStream from step.do()",
        ),
        (
            "text chunks",
            "Step returned a ReadableStream with unsupported chunk type. Only ArrayBuffer and TypedArray chunks are supported.",
        ),
    ];
    for (kind, detail) in cases {
        let id = server.create("streamed", json!({ "size": 10, "kind": kind })).await;
        let d = server.wait_for_status("streamed", &id, &["errored"]).await;
        let expected = format!(
            "The execution of the Workflow instance was terminated, as the step \"download\" returned an invalid ReadableStream output. {detail}"
        );
        assert_eq!(d["error"]["message"], json!(expected), "{kind}: {d:#}");
    }
}
