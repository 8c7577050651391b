//! The REST API's answers to bad requests, route by route: the HTTP status, Cloudflare's error
//! envelope with a code, and everything the API shows (every workflow, version, setting and
//! instance describe) left as it was. Also the routes beyond the basic
//! lifecycle: batch create and delete, terminate-all, versions, the `/step` output, workflow
//! PUT/DELETE, settings, and `--api-token`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The ids of every instance of `wf`, sorted.
async fn instance_ids(server: &Server, wf: &str) -> Vec<String> {
    let (status, body) =
        server.request(Method::GET, &format!("{}/instances?per_page=100", server.workflow_url(wf)), None).await;
    assert_eq!(status, 200, "{body:#}");
    let list = body["result"].as_array().unwrap_or_else(|| panic!("no list: {body:#}"));
    assert!(list.len() < 100, "more instances than one page holds: {body:#}");
    let mut ids: Vec<String> = list.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

/// Everything the API shows: the workflow listing (counts by status, timestamps), the account
/// settings, and per workflow its versions (with the default retention a PUT sets) and every
/// instance's whole describe (status, steps and their attempts, output, error). What "the
/// database is left as it was" is checked against; the tests take it with every instance
/// finished, so nothing in it moves on its own.
async fn snapshot(server: &Server) -> Value {
    let account = format!("{}/client/v4/accounts/{ACCOUNT}/workflows", server.base());
    let workflows = get_json(server, &format!("{account}?per_page=100")).await;
    let list = workflows["result"].as_array().unwrap_or_else(|| panic!("no workflows: {workflows:#}"));
    assert!(list.len() < 100, "more workflows than one page holds: {workflows:#}");
    let settings = get_json(server, &format!("{account}/settings")).await;
    let mut each = serde_json::Map::new();
    for workflow in list {
        let wf = workflow["name"].as_str().unwrap();
        let versions = get_json(server, &format!("{}/versions?per_page=100", server.workflow_url(wf))).await;
        let mut instances = serde_json::Map::new();
        for id in instance_ids(server, wf).await {
            instances.insert(id.clone(), server.describe(wf, &id).await);
        }
        each.insert(wf.to_owned(), json!({ "versions": versions, "instances": instances }));
    }
    json!({ "workflows": workflows, "settings": settings, "each": each })
}

async fn get_json(server: &Server, url: &str) -> Value {
    let (status, body) = server.request(Method::GET, url, None).await;
    assert_eq!(status, 200, "GET {url}: {body:#}");
    body
}

/// A refused request: method, URL, raw body, expected HTTP status and error code.
type Refusal<'a> = (Method, String, Option<&'a str>, u16, Option<i64>);

/// Sends each `(method, url, body)` and checks the status, the envelope, the code when given,
/// and that nothing the API shows changed.
async fn assert_refused(server: &Server, cases: &[Refusal<'_>]) {
    let before = snapshot(server).await;
    for (method, url, body, http, code) in cases {
        let what = format!("{method} {url} {}", body.unwrap_or(""));
        let response = server.raw(method.clone(), url, *body, None).await;
        assert_api_error(&what, response, *http, *code);
        let after = snapshot(server).await;
        assert!(after == before, "{what} was refused but changed the state:\nbefore {before:#}\nafter {after:#}");
    }
}

#[tokio::test]
async fn bad_creates_are_refused_and_create_nothing() {
    let server = Server::start("basic");
    server.create_with_id("event-info", "existing", json!({})).await;
    server.wait_for_status("event-info", "existing", &["complete"]).await;
    let url = format!("{}/instances", server.workflow_url("event-info"));
    let batch = format!("{url}/batch");
    let too_many: Vec<Value> = (0..101).map(|i| json!({ "instance_id": format!("b{i}") })).collect();
    let too_many = serde_json::to_string(&too_many).unwrap();
    assert_refused(
        &server,
        &[
            (Method::POST, url.clone(), Some("{not json"), 400, Some(10002)),
            (Method::POST, url.clone(), Some(r#"{"instance_id": 5}"#), 400, Some(10002)),
            (Method::POST, url.clone(), Some(r#"{"instance_id": "has space"}"#), 400, Some(10002)),
            (Method::POST, url.clone(), Some(r#"{"instance_id": "ok", "colour": "red"}"#), 400, Some(10002)),
            (Method::POST, url.clone(), Some(r#"{"instance_id": "existing"}"#), 409, Some(10405)),
            (
                Method::POST,
                format!("{}/instances", server.workflow_url("no-such-workflow")),
                Some("{}"),
                404,
                Some(10200),
            ),
            (Method::POST, batch.clone(), Some("{}"), 400, Some(10002)),
            (Method::POST, batch.clone(), Some("[]"), 400, Some(10002)),
            (Method::POST, batch.clone(), Some(&too_many), 400, Some(10002)),
            (
                Method::POST,
                batch.clone(),
                Some(r#"[{"instance_id": "fine"}, {"instance_id": "not fine"}]"#),
                400,
                Some(10002),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn batch_create_skips_existing_ids() {
    let server = Server::start("basic");
    server.create_with_id("event-info", "first", json!({})).await;
    let url = format!("{}/instances/batch", server.workflow_url("event-info"));
    let body = json!([{ "instance_id": "first" }, { "instance_id": "second", "params": { "n": 2 } }, {}]);
    let (status, response) = server.request(Method::POST, &url, Some(&body)).await;
    assert_eq!(status, 200, "{response:#}");
    let ids: Vec<&str> = response["result"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "the existing id is skipped: {response:#}");
    assert_eq!(ids[0], "second");
    assert!(uuid::Uuid::parse_str(ids[1]).is_ok(), "an instance without an id gets a UUID: {response:#}");
    let d = server.wait_for_status("event-info", "second", &["complete"]).await;
    assert_eq!(d["output"]["payload"], json!({ "n": 2 }), "{d:#}");
}

#[tokio::test]
async fn bad_list_queries_are_refused() {
    let server = Server::start("basic");
    let id = server.create("event-info", json!({})).await;
    server.wait_for_status("event-info", &id, &["complete"]).await;
    let url = format!("{}/instances", server.workflow_url("event-info"));
    let cases: Vec<_> = [
        "per_page=0",
        "per_page=101",
        "per_page=many",
        "status=sleeping",
        "direction=sideways",
        "cursor=garbage",
        "date_start=yesterday",
        "page=0",
    ]
    .iter()
    .map(|q| (Method::GET, format!("{url}?{q}"), None, 400, Some(10002)))
    .collect();
    assert_refused(&server, &cases).await;
}

#[tokio::test]
async fn listing_pages_with_a_cursor_reaches_every_instance_once() {
    let server = Server::start("basic");
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(server.create_with_id("event-info", &format!("page-{i}"), json!({})).await);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let url = format!("{}/instances?per_page=3&cursor={cursor}", server.workflow_url("event-info"));
        let (status, body) = server.request(Method::GET, &url, None).await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["result_info"]["total_count"], json!(7), "{body:#}");
        seen.extend(body["result"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        cursor = body["result_info"]["cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each once");

    let url = format!("{}/instances?per_page=3&direction=asc&status=complete", server.workflow_url("event-info"));
    for id in &created {
        server.wait_for_status("event-info", id, &["complete"]).await;
    }
    let (_, body) = server.request(Method::GET, &url, None).await;
    let first: Vec<&str> = body["result"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(first, ["page-0", "page-1", "page-2"], "{body:#}");
}

#[tokio::test]
async fn bad_instance_requests_are_refused() {
    let server = Server::start("basic");
    let id = server.create_with_id("event-info", "target", json!({})).await;
    server.wait_for_status("event-info", &id, &["complete"]).await;
    let instance = server.instance_url("event-info", &id);
    let missing = server.instance_url("event-info", "missing");
    let status = format!("{instance}/status");
    let events = format!("{instance}/events");
    let step = format!("{instance}/step");
    let batch_delete = format!("{}/instances/batch/delete", server.workflow_url("event-info"));
    assert_refused(
        &server,
        &[
            (Method::GET, server.instance_url("event-info", "semi;colon"), None, 400, Some(10002)),
            (Method::GET, missing.clone(), None, 404, Some(10400)),
            (Method::GET, format!("{instance}?simple=maybe"), None, 400, Some(10002)),
            (Method::DELETE, missing.clone(), None, 404, Some(10400)),
            (Method::PATCH, status.clone(), Some("{"), 400, Some(10002)),
            (Method::PATCH, status.clone(), Some(r#"{"status": "explode"}"#), 400, Some(10002)),
            (Method::PATCH, status.clone(), Some(r#"{"status": "pause", "from": {"name": "info"}}"#), 400, Some(10002)),
            (Method::PATCH, status.clone(), Some(r#"{"status": "restart", "from": {"name": "nope"}}"#), 409, None),
            (
                Method::PATCH,
                status.clone(),
                Some(r#"{"status": "restart", "from": {"name": "info", "count": 0}}"#),
                400,
                Some(10002),
            ),
            (Method::PATCH, status.clone(), Some(r#"{"status": "terminate"}"#), 409, None),
            (Method::PATCH, format!("{missing}/status"), Some(r#"{"status": "pause"}"#), 404, Some(10400)),
            (Method::POST, format!("{events}/user.approved"), Some("{}"), 400, Some(10002)),
            (Method::POST, format!("{events}/approve"), Some("{bad"), 400, Some(10002)),
            (Method::POST, format!("{missing}/events/approve"), Some("{}"), 404, Some(10400)),
            (Method::GET, format!("{step}?type=step"), None, 400, Some(10002)),
            (Method::GET, format!("{step}?name=info-1&type=bogus"), None, 400, Some(10002)),
            (Method::GET, format!("{step}?name=info-9&type=step"), None, 404, Some(10401)),
            (Method::POST, batch_delete.clone(), Some("{}"), 400, Some(10002)),
            (Method::POST, batch_delete.clone(), Some(r#"{"instances": []}"#), 400, Some(10002)),
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_workflow_version_and_settings_requests_are_refused() {
    let server = Server::start("basic");
    server.create_with_id("event-info", "kept", json!({ "n": 1 })).await;
    server.wait_for_status("event-info", "kept", &["complete"]).await;
    server.create_with_id("always-fails", "failed", json!({ "limit": 0, "delay": 1 })).await;
    server.wait_for_status("always-fails", "failed", &["errored"]).await;
    let wf = server.workflow_url("event-info");
    let missing = server.workflow_url("not-configured");
    let workflows = format!("{}/client/v4/accounts/{ACCOUNT}/workflows", server.base());
    let settings = format!("{workflows}/settings");
    let (_, versions) = server.request(Method::GET, &format!("{wf}/versions"), None).await;
    let vid = versions["result"][0]["id"].as_str().unwrap_or_else(|| panic!("no version: {versions:#}")).to_owned();
    let too_many: Vec<Value> = (0..201).map(|_| json!({ "cron": "* * * * *" })).collect();
    let too_many = json!({ "schedules": too_many }).to_string();
    let long_cron = json!({ "schedules": [{ "cron": "*".repeat(257) }] }).to_string();
    assert_refused(
        &server,
        &[
            // PUT a workflow: the body is checked whole before anything is set.
            (Method::PUT, wf.clone(), Some("{not json"), 400, Some(10002)),
            (Method::PUT, wf.clone(), Some(r#"{"colour": "red"}"#), 400, Some(10002)),
            (Method::PUT, wf.clone(), Some(r#"{"class_name": 5}"#), 400, Some(10002)),
            (
                Method::PUT,
                wf.clone(),
                Some(r#"{"class_name": "Other", "default_retention": {"error_retention": "1 day"}}"#),
                400,
                Some(10002),
            ),
            (
                Method::PUT,
                wf.clone(),
                Some(r#"{"script_name": "elsewhere", "default_retention": {"error_retention": "1 day"}}"#),
                400,
                Some(10002),
            ),
            (
                Method::PUT,
                wf.clone(),
                Some(r#"{"default_retention": {"error_retention": "1 day", "success_retention": "forever"}}"#),
                400,
                Some(10002),
            ),
            (Method::PUT, wf.clone(), Some(r#"{"default_retention": {"keep": 1}}"#), 400, Some(10002)),
            (
                Method::PUT,
                wf.clone(),
                Some(r#"{"limits": {"steps": 0}, "default_retention": {"error_retention": 1000}}"#),
                400,
                Some(10002),
            ),
            (Method::PUT, wf.clone(), Some(&too_many), 400, Some(10002)),
            (Method::PUT, wf.clone(), Some(&long_cron), 400, Some(10002)),
            (Method::PUT, wf.clone(), Some(r#"{"schedules": [{"cron": ""}]}"#), 400, Some(10002)),
            (Method::PUT, missing.clone(), Some("{}"), 404, Some(10200)),
            // DELETE a workflow that is not configured deletes nothing.
            (Method::DELETE, missing.clone(), None, 404, Some(10200)),
            (Method::DELETE, server.workflow_url("Event-Info"), None, 404, Some(10200)),
            // Versions.
            (Method::GET, format!("{missing}/versions"), None, 404, Some(10200)),
            (Method::GET, format!("{wf}/versions?per_page=0"), None, 400, Some(10002)),
            (Method::GET, format!("{wf}/versions?per_page=101"), None, 400, Some(10002)),
            (Method::GET, format!("{wf}/versions?page=0"), None, 400, Some(10002)),
            (Method::GET, format!("{wf}/versions?page=two"), None, 400, Some(10002)),
            (Method::GET, format!("{wf}/versions/nope"), None, 404, Some(10300)),
            (Method::GET, format!("{wf}/versions/nope/dag"), None, 404, Some(10300)),
            (Method::GET, format!("{wf}/versions/nope/graph"), None, 404, Some(10300)),
            (Method::GET, format!("{missing}/versions/{vid}"), None, 404, Some(10200)),
            (Method::GET, format!("{}/versions/{vid}", server.workflow_url("always-fails")), None, 404, Some(10300)),
            // The workflow listing's paging.
            (Method::GET, format!("{workflows}?per_page=0"), None, 400, Some(10002)),
            (Method::GET, format!("{workflows}?page=0"), None, 400, Some(10002)),
            // Account settings.
            (Method::PATCH, settings.clone(), Some("{"), 400, Some(10002)),
            (Method::PATCH, settings.clone(), Some(r#"{"retention": "7 days"}"#), 400, Some(10002)),
            (
                Method::PATCH,
                settings.clone(),
                Some(r#"{"default_retention": {"error_retention": "7 weeks!"}}"#),
                400,
                Some(10002),
            ),
            (
                Method::PATCH,
                settings.clone(),
                Some(r#"{"default_retention": {"error_retention": -5}}"#),
                400,
                Some(10002),
            ),
            (Method::PATCH, settings.clone(), Some(r#"{"default_retention": []}"#), 400, Some(10002)),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_step_route_returns_a_step_output_in_full() {
    let server = Server::start("basic");
    let id = server.create("event-info", json!({ "deep": { "list": [1, 2, 3] } })).await;
    server.wait_for_status("event-info", &id, &["complete"]).await;
    let url = format!("{}/step?name=info-1&type=step", server.instance_url("event-info", &id));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"]["status"], "complete", "{body:#}");
    assert_eq!(body["result"]["error"], Value::Null, "{body:#}");
    assert_eq!(body["result"]["output"]["payload"], json!({ "deep": { "list": [1, 2, 3] } }), "{body:#}");
}

#[tokio::test]
async fn delete_and_batch_delete_remove_instances() {
    let server = Server::start("basic");
    for id in ["d1", "d2", "d3"] {
        server.create_with_id("event-info", id, json!({})).await;
    }
    let (status, body) = server.request(Method::DELETE, &server.instance_url("event-info", "d1"), None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"]["instanceId"], "d1", "{body:#}");
    let url = format!("{}/instances/batch/delete", server.workflow_url("event-info"));
    let (status, body) = server.request(Method::POST, &url, Some(&json!({ "instances": ["d2", "d3", "d1"] }))).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"]["deleted"], json!([{ "id": "d2" }, { "id": "d3" }]), "{body:#}");
    assert_eq!(body["result"]["errors"][0]["id"], "d1", "{body:#}");
    assert_eq!(body["result"]["errors"][0]["code"], 10400, "{body:#}");
    assert!(instance_ids(&server, "event-info").await.is_empty());
}

#[tokio::test]
async fn terminate_all_and_batch_terminate_stop_unfinished_instances() {
    let server = Server::start("basic");
    let slow = json!({ "steps": 50, "stepMs": 100 });
    let a = server.create("slow", slow.clone()).await;
    let b = server.create("slow", slow.clone()).await;
    let c = server.create("slow", slow).await;
    let url = format!("{}/instances/batch/terminate", server.workflow_url("slow"));
    let (status, body) = server.request(Method::POST, &url, Some(&json!([a]))).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"], json!({ "status": "ok", "instancesTerminated": 1 }));
    assert_eq!(status_of(&server, &a).await, "terminated");

    let url = format!("{}/instances/terminate", server.workflow_url("slow"));
    assert_api_error(
        "bad status",
        server.raw(Method::PUT, &format!("{url}?status=complete"), None, None).await,
        400,
        Some(10002),
    );
    let (status, body) = server.request(Method::PUT, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"]["status"], "ok");
    for id in [&b, &c] {
        assert_eq!(status_of(&server, id).await, "terminated");
    }
    let (_, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(body["result"]["status"], "not_running", "{body:#}");
}

async fn status_of(server: &Server, id: &str) -> String {
    status(&server.describe("slow", id).await).to_owned()
}

#[tokio::test]
async fn workflows_versions_and_settings() {
    let server = Server::start("basic");
    let (status, body) = server
        .request(
            Method::GET,
            &format!("{}/client/v4/accounts/{ACCOUNT}/workflows?per_page=2&page=2", server.base()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"].as_array().unwrap().len(), 2, "{body:#}");
    assert_eq!(body["result_info"]["page"], 2);
    assert!(body["result_info"]["total_count"].as_u64().unwrap() > 10, "{body:#}");

    let wf = server.workflow_url("event-info");
    let (_, versions) = server.request(Method::GET, &format!("{wf}/versions"), None).await;
    let version = versions["result"][0].clone();
    assert_eq!(version["class_name"], "EventInfo", "{versions:#}");
    assert_eq!(version["language"], "javascript");
    let vid = version["id"].as_str().unwrap();
    let (status, one) = server.request(Method::GET, &format!("{wf}/versions/{vid}"), None).await;
    assert_eq!((status, one["result"]["id"].clone()), (200, json!(vid)), "{one:#}");
    let (status, dag) = server.request(Method::GET, &format!("{wf}/versions/{vid}/dag"), None).await;
    assert_eq!(status, 200);
    assert_eq!(dag["result"]["dag"], Value::Null, "{dag:#}");
    assert_api_error(
        "unknown version",
        server.raw(Method::GET, &format!("{wf}/versions/nope"), None, None).await,
        404,
        Some(10300),
    );

    let id = server.create("event-info", json!({})).await;
    let d = server.describe("event-info", &id).await;
    assert_eq!(d["versionId"], json!(vid), "instances run the latest version");

    let (status, put) = server.request(Method::PUT, &wf, Some(&json!({ "class_name": "EventInfo" }))).await;
    assert_eq!(status, 200, "{put:#}");
    assert_eq!(put["result"]["version_id"], json!(vid), "{put:#}");
    assert_api_error(
        "class change",
        server.raw(Method::PUT, &wf, Some(r#"{"class_name": "Other"}"#), None).await,
        400,
        None,
    );
    assert_api_error(
        "unknown workflow",
        server.raw(Method::PUT, &server.workflow_url("not-configured"), Some("{}"), None).await,
        404,
        Some(10200),
    );

    let settings = format!("{}/client/v4/accounts/{ACCOUNT}/workflows/settings", server.base());
    let (status, body) = server
        .request(Method::PATCH, &settings, Some(&json!({ "default_retention": { "error_retention": "7 days" } })))
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"]["default_retention"]["error_retention"], json!(7 * 86_400_000u64), "{body:#}");

    let (status, body) = server.request(Method::DELETE, &wf, None).await;
    assert_eq!((status, body["result"].clone()), (200, json!({ "status": "ok", "success": true })), "{body:#}");
    assert!(instance_ids(&server, "event-info").await.is_empty(), "deleting a workflow deletes its instances");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let server = Server::start("basic");
    assert_api_error(
        "unknown route",
        server.raw(Method::GET, &format!("{}/client/v4/nothing", server.base()), None, None).await,
        404,
        Some(7003),
    );
    let wf = server.workflow_url("event-info");
    assert_api_error("wrong method", server.raw(Method::POST, &wf, Some("{}"), None).await, 405, Some(7001));
    let huge = format!("{{\"params\": \"{}\"}}", "x".repeat(3 << 20));
    let response = server.raw(Method::POST, &format!("{wf}/instances"), Some(&huge), None).await;
    assert_api_error("oversized body", response, 413, Some(10002));
}

#[tokio::test]
async fn an_api_token_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with("basic", dir.path(), &["--api-token", "s3cret"]);
    let url = format!("{}/instances", server.workflow_url("event-info"));
    assert_api_error("no token", server.raw(Method::GET, &url, None, None).await, 401, Some(10000));
    assert_api_error("wrong token", server.raw(Method::GET, &url, None, Some("guess")).await, 401, Some(10000));
    let (status, body) = server.raw(Method::GET, &url, None, Some("s3cret")).await;
    assert_eq!(status, 200, "{body:#}");
}
