//! Workflows declared in the config's `exports`: run without a binding, reached through
//! `ctx.exports.<Class>` from the Worker and from workflow code, and one with both a binding
//! and an export is one workflow.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_exported_workflow_runs_without_a_binding_and_shares_instances_with_one() {
    let server = Server::start("exports");
    assert_eq!(server.get_ok("/keys").await, json!({ "env": ["GREETER"], "exports": ["Greeter", "BillingWorkflow"] }));

    let created = server.get_ok("/").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let d = server.wait_for_status("billing-workflow", &id, &["complete"]).await;
    assert_eq!(d["output"], json!("billed World"), "{d:#}");

    // Created through the binding, read back through the export; it creates an instance of the
    // export-only workflow from its own ctx.
    let greeter = server.create_with_id("greeter", "g1", json!({ "name": "Ada" })).await;
    let d = server.wait_for_status("greeter", &greeter, &["complete"]).await;
    let bill = d["output"]["bill"].as_str().unwrap().to_owned();
    let billed = server.wait_for_status("billing-workflow", &bill, &["complete"]).await;
    assert_eq!(billed["output"], json!("billed Ada"));
    let read = server.get_ok("/greeter?id=g1").await;
    assert_eq!(read["status"]["status"], json!("complete"), "{read:#}");
    assert_eq!(read["status"]["output"]["greeting"], json!("Hello Ada"), "{read:#}");

    // Both are workflows of the REST API; the export's limits are its version's.
    let (_, versions) = server
        .request(reqwest::Method::GET, &format!("{}/versions", server.workflow_url("billing-workflow")), None)
        .await;
    assert_eq!(versions["result"][0]["limits"], json!({ "steps": 100 }), "{versions:#}");
}
