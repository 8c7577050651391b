//! The Node.js built-ins of `nodejs_compat` (events, util, assert, stream, process, timers, url,
//! querystring, diagnostics_channel, buffer, crypto, path, module, stream/consumers), run by
//! `fixtures/node-builtins`: each route runs one built-in's checks and answers JSON, which must
//! equal what Node.js 22 answers for the same code. Node's answers are in
//! `fixtures/node-builtins/expected/`, written by `node fixtures/node-builtins/oracle.mjs
//! --write` (Node 22.23). Where a Worker has no real process, the values stepflare gives
//! (`process.version`, `pid`, ...) are stated here instead, as is the failure of a built-in
//! stepflare does not emulate.

use std::time::Instant;

use serde_json::{Value, json};

use crate::support::*;

/// Node's answer for `route`, from `fixtures/node-builtins/expected/<route>.json`.
fn node_answer(route: &str) -> Value {
    let path = fixture_dir("node-builtins").join("expected").join(format!("{route}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first place where `actual` and `expected` differ, as a path and both values.
fn first_difference(actual: &Value, expected: &Value, at: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for key in e.keys().chain(a.keys()) {
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), e.get(key).unwrap_or(&Value::Null));
                if a.contains_key(key) != e.contains_key(key) {
                    return Some(format!("{at}.{key}: stepflare {x}, Node {y}"));
                }
                if let Some(found) = first_difference(x, y, &format!("{at}.{key}")) {
                    return Some(found);
                }
            }
            None
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => {
            a.iter().zip(e).enumerate().find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}[{i}]")))
        }
        _ if actual == expected => None,
        _ => Some(format!("{at}: stepflare {actual}, Node {expected}")),
    }
}

fn assert_same(route: &str, actual: &Value, expected: &Value) {
    if let Some(difference) = first_difference(actual, expected, route) {
        panic!("/{route} differs from Node.js at {difference}\n--- stepflare ---\n{actual:#}");
    }
}

/// GET /<route> answers exactly what Node.js answered for the same checks.
async fn matches_node(route: &str) {
    let server = Server::start("node-builtins");
    let body = server.get_ok(&format!("/{route}")).await;
    assert_same(route, &body, &node_answer(route));
}

#[tokio::test]
async fn events_match_node() {
    matches_node("events").await;
}

#[tokio::test]
async fn util_matches_node() {
    matches_node("util").await;
}

#[tokio::test]
async fn assert_matches_node() {
    matches_node("assert").await;
}

#[tokio::test]
async fn stream_matches_node() {
    matches_node("stream").await;
}

#[tokio::test]
async fn path_matches_node() {
    matches_node("path").await;
}

#[tokio::test]
async fn timers_match_node() {
    matches_node("timers").await;
}

#[tokio::test]
async fn url_matches_node() {
    matches_node("url").await;
}

#[tokio::test]
async fn querystring_matches_node() {
    matches_node("querystring").await;
}

#[tokio::test]
async fn diagnostics_channel_matches_node() {
    matches_node("diagnostics_channel").await;
}

#[tokio::test]
async fn the_buffer_and_url_globals_match_node_without_an_import() {
    matches_node("globals").await;
}

#[tokio::test]
async fn buffer_matches_node() {
    matches_node("buffer").await;
}

#[tokio::test]
async fn crypto_matches_node() {
    matches_node("crypto").await;
}

#[tokio::test]
async fn module_and_stream_consumers_match_node() {
    matches_node("module").await;
}

#[tokio::test]
async fn every_built_in_imports_as_default_named_and_require() {
    matches_node("imports").await;
}

#[tokio::test]
async fn process_matches_node_and_reports_a_worker_process() {
    let server = Server::start("node-builtins");
    let body = server.get_ok("/process").await;
    assert_same("process", &json!({ "portable": body["portable"] }), &node_answer("process"));
    // What a Worker's process says about itself (workerd reports a Node 22 line).
    assert_eq!(
        body["emulated"],
        json!({
            "platform": "linux",
            "arch": "x64",
            "version": "v22.14.0",
            "versions": { "node": "22.14.0" },
            "release": { "name": "node", "lts": "Jod" },
            "argv": [],
            "execArgv": [],
            "pid": 1,
            "ppid": 0,
            "title": "node",
            "cwd": "/",
            "umask": 18,
            "memoryUsage": { "rss": 0, "heapTotal": 0, "heapUsed": 0, "external": 0, "arrayBuffers": 0 },
            "exit": [
                "process.exit(3) was called, but a Worker cannot exit: throw an error or return instead",
                3
            ],
        }),
    );
    // Warnings and process.stderr go to the log, as the console does.
    let deadline = Instant::now() + PATIENCE;
    for line in [
        "(node) Warning: something odd",
        "(node) [CODE1] CustomWarning: custom type",
        "written to stderr through node:process",
    ] {
        while !server.logs().contains(line) {
            assert!(Instant::now() < deadline, "no {line:?} in the log:\n{}", server.logs());
            tokio::time::sleep(POLL).await;
        }
    }
}

#[tokio::test]
async fn a_built_in_stepflare_does_not_emulate_fails_naming_itself() {
    let server = Server::start("node-builtins");
    let body = server.get_ok("/unemulated").await;
    for (how, name) in [("import", "node:fs"), ("require", "node:child_process")] {
        let message = body[how].as_str().unwrap_or_else(|| panic!("no {how} message: {body:#}"));
        assert!(message.contains(&format!("{name} is not emulated by stepflare")), "{how}: {message}");
    }
}

#[tokio::test]
async fn the_buffer_global_is_complete_in_a_worker_that_never_imports_node_buffer() {
    let project = tempfile::tempdir().expect("a project folder");
    std::fs::create_dir_all(project.path().join("src")).expect("src");
    std::fs::write(
        project.path().join("wrangler.jsonc"),
        r#"{ "name": "plain", "main": "src/index.js", "compatibility_date": "2026-08-01" }"#,
    )
    .expect("config");
    std::fs::write(
        project.path().join("src/index.js"),
        r#"export default {
  async fetch() {
    const wide = Buffer.alloc(8);
    wide.writeBigUInt64LE(7n);
    return Response.json({ base64url: Buffer.from("hi?>").toString("base64url"), wide: wide.readBigUInt64LE().toString() });
  },
};
"#,
    )
    .expect("module");
    let state = tempfile::tempdir().expect("a state folder");
    let server = Server::start_project(project.path(), state.path(), &[]);
    assert_eq!(server.get_ok("/").await, json!({ "base64url": "aGk_Pg", "wide": "7" }));
}
