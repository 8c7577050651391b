//! The Local Explorer API (`/cdn-cgi/local/explorer/api`) that `wrangler workflows … --local`
//! calls: its shapes differ from the v4 API (page-numbered lists, `{id}` on create).

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_explorer_api_lists_creates_changes_and_deletes_instances() {
    let server = Server::start("basic");
    let api = format!("{}/cdn-cgi/local/explorer/api/workflows", server.base());

    let (status, body) = server.request(Method::GET, &api, None).await;
    assert_eq!(status, 200, "{body:#}");
    let names: Vec<&str> = body["result"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"wait-event"), "{body:#}");
    assert_eq!(body["result_info"]["count"], json!(names.len()));

    let instances = format!("{api}/wait-event/instances");
    let (status, body) =
        server.request(Method::POST, &instances, Some(&json!({ "id": "explored", "params": {} }))).await;
    assert_eq!((status, body["result"].clone()), (200, json!({ "id": "explored" })), "{body:#}");
    server.wait_for_status("wait-event", "explored", &["waiting"]).await;

    let (_, body) = server.request(Method::GET, &format!("{instances}?per_page=10"), None).await;
    assert_eq!(body["result"][0]["id"], "explored", "{body:#}");
    assert_eq!(body["result_info"]["page"], 1, "{body:#}");
    assert_eq!(body["result_info"]["total_count"], 1, "{body:#}");

    let one = format!("{instances}/explored");
    let (_, body) = server.request(Method::PATCH, &format!("{one}/status"), Some(&json!({ "status": "pause" }))).await;
    assert_eq!(body["result"]["status"], "paused", "{body:#}");
    let (_, body) = server.request(Method::PATCH, &format!("{one}/status"), Some(&json!({ "action": "resume" }))).await;
    assert_eq!(body["success"], true, "the older {{action}} body is accepted too: {body:#}");

    let (status, _) = server.request(Method::POST, &format!("{one}/events/approve"), Some(&json!({ "ok": 1 }))).await;
    assert_eq!(status, 200);
    let d = server.wait_for_status("wait-event", "explored", &["complete"]).await;
    let (_, body) = server.request(Method::GET, &one, None).await;
    assert_eq!(body["result"]["id"], "explored");
    assert_eq!(body["result"]["status"], "complete");
    assert_eq!(body["result"]["output"], d["output"]);

    let (_, body) = server.request(Method::GET, &format!("{api}/wait-event"), None).await;
    assert_eq!(body["result"]["instances"]["complete"], 1, "{body:#}");

    let (status, body) = server.request(Method::DELETE, &one, None).await;
    assert_eq!((status, body["result"].clone()), (200, json!({ "success": true })), "{body:#}");
    assert_api_error("deleted", server.raw(Method::GET, &one, None, None).await, 404, Some(10400));
}
