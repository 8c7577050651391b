//! Retention: an ended instance is deleted, from every view, once its retention runs out on the
//! engine's clock; the retention comes from the instance (REST `instance_retention`, the
//! binding's `retention`), else its workflow (the config's `default_retention`, else one set
//! by `PUT`); an instance with none is kept. The clock is started a few years ahead, so that an
//! expiry measured on the wall clock would never come.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const CLOCK_START: &str = "2031-06-01T00:00:00Z";

/// The HTTP status of describing `wf/id`.
async fn describe_status(server: &Server, wf: &str, id: &str) -> u16 {
    server.request(Method::GET, &server.instance_url(wf, id), None).await.0
}

/// Waits until `wf/id` is gone: describe is a 404 (code 10400) and the listing leaves it out.
async fn wait_gone(server: &Server, wf: &str, id: &str) {
    let deadline = Instant::now() + PATIENCE;
    while describe_status(server, wf, id).await != 404 {
        assert!(Instant::now() < deadline, "{wf}/{id} was never deleted\n{}", server.logs());
        tokio::time::sleep(POLL).await;
    }
    let described = server.request(Method::GET, &server.instance_url(wf, id), None).await;
    assert_api_error(&format!("describe {wf}/{id} after it expired"), described, 404, Some(10400));
    let url = format!("{}/instances?per_page=100", server.workflow_url(wf));
    let (_, listing) = server.request(Method::GET, &url, None).await;
    let ids: Vec<&Value> = listing["result"].as_array().unwrap().iter().map(|i| &i["id"]).collect();
    assert!(!ids.contains(&&json!(id)), "{wf}/{id} is still listed: {listing:#}");
}

/// Waits for `wf/id` to end in `status`, stamped on the shifted clock.
async fn wait_ended(server: &Server, wf: &str, id: &str, status: &str) {
    let d = server.wait_for_status(wf, id, &[status]).await;
    assert!(
        d["end"].as_str().is_some_and(|end| end.starts_with("2031-")),
        "{wf}/{id} ended off the engine's clock: {d:#}"
    );
}

async fn create(server: &Server, wf: &str, body: Value) {
    let (status, response) = server.try_create(wf, &body).await;
    assert_eq!(status, 200, "create {wf} {body}: {response:#}");
}

#[tokio::test]
async fn instances_go_when_their_retention_runs_out_and_not_before() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("retention", persist.path(), &["--clock-start", CLOCK_START]);

    // From the config's default_retention: 1 second after completing, 2 after failing.
    create(&server, "brief", json!({ "instance_id": "ok", "params": {} })).await;
    create(&server, "brief", json!({ "instance_id": "failed", "params": { "fail": true } })).await;
    // From the instance: REST's instance_retention and the binding's retention.
    create(
        &server,
        "plain",
        json!({ "instance_id": "rest", "params": {}, "instance_retention": { "success_retention": 1000 } }),
    )
    .await;
    create(
        &server,
        "plain",
        json!({ "instance_id": "hour", "params": {}, "instance_retention": { "success_retention": "1 hour" } }),
    )
    .await;
    create(&server, "plain", json!({ "instance_id": "kept", "params": {} })).await;
    assert_eq!(server.get_ok("/create?id=bound&success=1%20second").await, json!({ "id": "bound" }));
    let refused = server.get_ok("/create?id=bad&success=3%20fortnights").await;
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("retention")), "{refused:#}");
    assert_eq!(describe_status(&server, "plain", "bad").await, 404, "a bad retention creates nothing");

    wait_ended(&server, "brief", "ok", "complete").await;
    wait_ended(&server, "brief", "failed", "errored").await;
    for id in ["rest", "hour", "kept", "bound"] {
        wait_ended(&server, "plain", id, "complete").await;
    }
    for (wf, id) in [("brief", "ok"), ("brief", "failed"), ("plain", "rest"), ("plain", "bound")] {
        wait_gone(&server, wf, id).await;
    }
    // Those with a longer retention, or none, stay.
    for id in ["hour", "kept"] {
        assert_eq!(describe_status(&server, "plain", id).await, 200, "plain/{id} went too");
    }
    // An expired instance's id can be used again.
    create(&server, "plain", json!({ "instance_id": "rest", "params": {} })).await;
    wait_ended(&server, "plain", "rest", "complete").await;

    // A default set over REST applies to instances created after it; the config's goes first.
    let put = json!({ "default_retention": { "success_retention": 1000 } });
    let (status, body) = server.request(Method::PUT, &server.workflow_url("plain"), Some(&put)).await;
    assert_eq!(status, 200, "{body:#}");
    let versions = |wf: &str| format!("{}/versions", server.workflow_url(wf));
    let (_, listed) = server.request(Method::GET, &versions("plain"), None).await;
    assert_eq!(listed["result"][0]["default_retention"], json!({ "success_retention": 1000 }), "{listed:#}");
    let (_, listed) = server.request(Method::GET, &versions("brief"), None).await;
    assert_eq!(
        listed["result"][0]["default_retention"],
        json!({ "success_retention": 1000, "error_retention": 2000 }),
        "{listed:#}"
    );
    create(&server, "plain", json!({ "instance_id": "after-put", "params": {} })).await;
    wait_ended(&server, "plain", "after-put", "complete").await;
    wait_gone(&server, "plain", "after-put").await;
    for id in ["hour", "kept", "rest"] {
        assert_eq!(describe_status(&server, "plain", id).await, 200, "plain/{id} went with the new default");
    }
}
