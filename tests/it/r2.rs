//! R2 (`r2_buckets`): put with HTTP and custom metadata (the etag is the MD5), get whole and by
//! range, head, list by prefix with a delimiter and a cursor, delete of several keys, from the
//! Worker and from workflow steps, kept across a restart (the bytes are files in the state
//! folder).

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_bucket_stores_objects_with_metadata_lists_and_keeps_them() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("r2", persist.path(), &[]);
    let http = reqwest::Client::new();
    let put = |key: &str, body: &'static str, content_type: &'static str| {
        http.post(format!("{}/put?key={key}", server.base())).header("content-type", content_type).body(body).send()
    };
    let answer: serde_json::Value =
        put("docs/readme.txt", "hello r2", "text/plain").await.unwrap().json().await.unwrap();
    // md5("hello r2")
    assert_eq!(answer["size"], json!(8), "{answer:#}");
    assert_eq!(answer["etag"].as_str().unwrap().len(), 32, "{answer:#}");
    assert_eq!(answer["httpEtag"], json!(format!("\"{}\"", answer["etag"].as_str().unwrap())));
    for key in ["docs/a/1.txt", "docs/a/2.txt", "docs/b.txt", "other.txt"] {
        put(key, "x", "text/plain").await.unwrap();
    }

    let got = http.get(format!("{}/get?key=docs/readme.txt", server.base())).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.headers()["x-owner"], "ada");
    assert_eq!(got.headers()["x-uploaded-is-date"], "true");
    assert_eq!(got.headers()["etag"], answer["httpEtag"].as_str().unwrap());
    assert_eq!(got.text().await.unwrap(), "hello r2");
    let part = http.get(format!("{}/get?key=docs/readme.txt&offset=6&length=2", server.base())).send().await.unwrap();
    assert_eq!(part.text().await.unwrap(), "r2");
    assert_eq!(server.request(Method::GET, &format!("{}/get?key=nope", server.base()), None).await.0, 404);
    assert_eq!(
        server.get_ok("/head?key=docs/readme.txt").await,
        json!({ "size": 8, "contentType": "text/plain", "md5": 16 })
    );

    let listed = server.get_ok("/list?prefix=docs/&delimiter=/").await;
    assert_eq!(listed["keys"], json!(["docs/b.txt", "docs/readme.txt"]), "{listed:#}");
    assert_eq!(listed["prefixes"], json!(["docs/a/"]), "{listed:#}");
    assert_eq!(listed["owners"], json!(["ada", "ada"]));
    // Two at a time, with the cursor, over every key.
    let mut keys = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server.get_ok(&format!("/list?limit=2&cursor={cursor}")).await;
        keys.extend(page["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()));
        if page["truncated"] == json!(false) {
            break;
        }
        cursor = page["cursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(keys, ["docs/a/1.txt", "docs/a/2.txt", "docs/b.txt", "docs/readme.txt", "other.txt"]);

    assert_eq!(server.get_ok("/delete?key=docs/a/1.txt,docs/a/2.txt").await, json!({ "ok": true }));
    assert_eq!(server.get_ok("/list?prefix=docs/a/").await["keys"], json!([]));

    let id = server.create("archiver", json!({ "text": "twelve bytes" })).await;
    let d = server.wait_for_status("archiver", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "key": format!("archive/{id}.txt"), "size": 12, "by": "workflow" }));

    drop(server);
    let server = Server::start_with("r2", persist.path(), &[]);
    let again = reqwest::get(format!("{}/get?key=docs/readme.txt", server.base())).await.unwrap();
    assert_eq!(again.text().await.unwrap(), "hello r2", "the object outlives the process");
}
