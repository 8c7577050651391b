//! Workers KV (`kv_namespaces`): get in every type, with metadata and in bulk, put with
//! expiration and metadata (and Cloudflare's refusals), delete, list with prefix and cursor,
//! from the Worker and from workflow steps, kept across a restart of stepflare.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn put(server: &Server, query: &str, body: &str) -> Value {
    let (status, answer) =
        server.send_typed(Method::POST, &format!("{}/put?{query}", server.base()), Some("text/plain"), body).await;
    assert_eq!(status, 200, "{answer:#}");
    answer
}

#[tokio::test]
async fn a_namespace_reads_writes_lists_and_keeps_its_keys() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("kv", persist.path(), &[]);
    assert_eq!(put(&server, "key=greeting", "hello").await, json!({ "ok": true }));
    put(&server, r#"key=config&meta={"v":2}"#, r#"{"region":"eu"}"#).await;
    put(&server, "key=bytes&binary=1", "").await;
    for n in 0..5 {
        put(&server, &format!("key=user/{n}"), &format!("user {n}")).await;
    }

    assert_eq!(server.get_ok("/get?key=greeting").await, json!({ "value": "hello" }));
    assert_eq!(server.get_ok("/get?key=config&type=json").await, json!({ "value": { "region": "eu" } }));
    assert_eq!(server.get_ok("/get?key=bytes&type=arrayBuffer").await, json!({ "bytes": [0, 1, 2, 255] }));
    assert_eq!(server.get_ok("/get?key=greeting&type=stream").await, json!({ "streamed": "hello" }));
    assert_eq!(server.get_ok("/get?key=missing").await, json!({ "value": null }));
    assert_eq!(
        server.get_ok("/meta?key=config").await,
        json!({ "value": "{\"region\":\"eu\"}", "metadata": { "v": 2 }, "cacheStatus": null })
    );
    assert_eq!(server.get_ok("/bulk?keys=greeting,missing").await, json!({ "greeting": "hello", "missing": null }));

    // Listing by prefix, two at a time, follows the cursor to the end.
    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server.get_ok(&format!("/list?prefix=user/&limit=2&cursor={cursor}")).await;
        names.extend(page["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_owned()));
        if page["list_complete"] == json!(true) {
            assert!(page.get("cursor").is_none(), "{page:#}");
            break;
        }
        cursor = page["cursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(names, ["user/0", "user/1", "user/2", "user/3", "user/4"]);
    let listed = server.get_ok("/list?prefix=config").await;
    assert_eq!(listed["keys"], json!([{ "name": "config", "metadata": { "v": 2 } }]));

    // Cloudflare's refusals.
    let refused = server
        .send_typed(Method::POST, &format!("{}/put?key=short&ttl=30", server.base()), Some("text/plain"), "x")
        .await
        .1;
    assert!(refused["error"].as_str().unwrap().contains("Expiration TTL must be at least 60"), "{refused:#}");
    let long_key = "k".repeat(513);
    let refused = server
        .send_typed(Method::POST, &format!("{}/put?key={long_key}", server.base()), Some("text/plain"), "x")
        .await
        .1;
    assert!(refused["error"].as_str().unwrap().contains("exceeds key length limit of 512"), "{refused:#}");
    put(&server, "key=expiring&ttl=60", "soon").await;
    let listed = server.get_ok("/list?prefix=expiring").await;
    assert!(listed["keys"][0]["expiration"].as_i64().is_some(), "{listed:#}");

    assert_eq!(server.get_ok("/delete?key=greeting").await, json!({ "ok": true }));
    assert_eq!(server.get_ok("/get?key=greeting").await, json!({ "value": null }));

    // A workflow step writes and reads the same namespace.
    let id = server.create("remember", json!({ "note": "from a step" })).await;
    let d = server.wait_for_status("remember", &id, &["complete"]).await;
    assert_eq!(
        d["output"],
        json!({ "value": { "note": "from a step" }, "metadata": { "by": "workflow" }, "cacheStatus": null })
    );

    // The keys outlive the process.
    drop(server);
    let server = Server::start_with("kv", persist.path(), &[]);
    assert_eq!(server.get_ok("/get?key=config&type=json").await, json!({ "value": { "region": "eu" } }));
    assert_eq!(
        server.get_ok(&format!("/get?key=saved/{id}&type=json")).await,
        json!({ "value": { "note": "from a step" } })
    );
}
