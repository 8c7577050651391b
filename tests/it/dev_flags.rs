//! `stepflare dev`'s flags that change where it keeps state, whether it watches, and where it
//! listens: `--in-memory` writes nothing to the project or the temporary folder and forgets
//! everything when it stops, `--no-watch` leaves an edit unloaded, `--ip` serves on that
//! address alone.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// Every path under `root`, relative to it.
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read a folder").flatten() {
            let path = entry.path();
            into.insert(path.strip_prefix(root).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                walk(root, &path, into);
            }
        }
    }
    let mut paths = BTreeSet::new();
    walk(root, root, &mut paths);
    paths
}

#[tokio::test]
async fn in_memory_writes_nothing_to_the_project_or_the_temporary_folder_and_forgets_at_exit() {
    let project = copy_fixture("claims");
    let before = tree(project.path());
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = tmp.path().to_str().unwrap();
    let mut server = Server::start_bare(project.path(), &["--in-memory"], &[("TMPDIR", tmp_path)]);
    // An instance, its steps, a KV write: everything that lives in the state.
    let id = server.create("varied", json!({ "mode": "hold" })).await;
    server.wait_for("varied", &id, "the hold", |d| find_step(d, "hold-1").is_some()).await;
    assert_eq!(server.get_ok(&format!("/release?id={id}")).await, json!("released"));
    server.wait_for_status("varied", &id, &["complete"]).await;
    assert_eq!(tree(project.path()), before, "the project changed");
    assert_eq!(tree(tmp.path()), BTreeSet::new(), "a file is left in the temporary folder");
    assert!(server.interrupt().success());
    assert_eq!(tree(project.path()), before, "the project changed at exit");

    let server = Server::start_bare(project.path(), &["--in-memory"], &[("TMPDIR", tmp_path)]);
    let (code, _) = server.request(reqwest::Method::GET, &server.instance_url("varied", &id), None).await;
    assert_eq!(code, 404, "an instance outlived an in-memory server");
}

#[tokio::test]
async fn no_watch_leaves_an_edit_unloaded() {
    let project = copy_fixture("claims");
    let server =
        Server::start_bare(project.path(), &["--no-watch"], &[("STEPFLARE_LOG", "info,stepflare::reload=debug")]);
    assert_eq!(server.get_ok("/version").await, json!("old"));
    edit(project.path(), "src/version.js", "\"old\"", "\"new\"");
    write_files(project.path(), &[("src/unused.js", "export const y = 2;\n")]);
    // Watching, a reload would have come within 120 ms of the writes; give it much longer.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(server.get_ok("/version").await, json!("old"), "the edit was loaded");
    assert!(!server.logs().contains("reloaded"), "{}", server.logs());
}

#[tokio::test]
async fn ip_serves_on_the_address_given_and_not_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with("claims", dir.path(), &["--ip", "127.0.0.2"]);
    assert!(server.base().starts_with("http://127.0.0.2:"), "{}", server.base());
    assert_eq!(server.get_ok("/requests").await, json!({ "requests": 1 }));
    let port = server.address().rsplit(':').next().unwrap().to_owned();
    let other = std::net::TcpStream::connect(format!("127.0.0.1:{port}"));
    assert!(other.is_err(), "127.0.0.1:{port} accepted a connection");
}
