//! A TypeScript project: type annotations, enums, interfaces and a relative import of a `.ts`
//! helper are compiled and run like the JavaScript fixtures.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_typescript_workflow_with_types_enums_and_a_relative_import_completes() {
    let server = Server::start("typescript");
    let params = json!({ "name": "Ada", "tone": "loud", "times": 2 });
    let id = server.create("ts-greeter", params.clone()).await;
    let d = server.wait_for_status("ts-greeter", &id, &["complete"]).await;

    assert_eq!(
        d["output"],
        json!({
            "greeting": "HELLO, ADA!",
            "length": 11,
            "echoes": ["HELLO, ADA!", "HELLO, ADA!"],
            "tone": "loud",
            "level": "High",
        }),
        "{d:#}"
    );
    assert_eq!(d["params"], params, "{d:#}");
}

#[tokio::test]
async fn typescript_steps_and_sleep_are_recorded_in_order() {
    let server = Server::start("typescript");
    let params = json!({ "name": "Bo", "tone": "plain", "times": 1 });
    let id = server.create("ts-greeter", params).await;
    let d = server.wait_for_status("ts-greeter", &id, &["complete"]).await;

    let names: Vec<&str> = steps(&d).iter().map(|s| s["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["greet-1", "breathe-1", "echo-1"], "{d:#}");
    assert_eq!(step(&d, "greet-1")["output"], json!({ "text": "Hello, Bo.", "length": 10 }), "{d:#}");
    let breathe = step(&d, "breathe-1");
    assert_eq!(breathe["type"], "sleep", "{breathe:#}");
    let slept = iso_ms(&breathe["end"]) - iso_ms(&breathe["start"]);
    assert!(slept >= 225, "slept {slept} ms of 250: {breathe:#}");
    assert_eq!(d["output"]["echoes"], json!(["Hello, Bo."]), "{d:#}");
    assert_eq!(d["output"]["level"], "High", "{d:#}");
}
