//! The state file: a damaged one is refused at start, naming the file, instead of being served
//! with errors later (a file that is no database, and a database with a damaged page); a clean
//! stop leaves the whole state in it, with an empty write-ahead log beside it.

use serde_json::json;

use crate::support::*;

/// Runs `stepflare dev` on the `basic` fixture with its state in `state`, expecting it to stop
/// by itself; returns what it printed to stderr.
fn refused_start(state: &std::path::Path) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stepflare"))
        .args(["dev", "--port", "0", "--config"])
        .arg(fixture_dir("basic"))
        .arg("--persist-to")
        .arg(state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run stepflare");
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll stepflare") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("stepflare served a damaged state file for {PATIENCE:?}");
        }
        std::thread::sleep(POLL);
    };
    assert!(!status.success(), "stepflare served a damaged state file");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    stderr
}

#[test]
fn a_state_file_that_is_not_a_database_is_refused() {
    let state = tempfile::tempdir().expect("a state folder");
    let file = state.path().join("state.sqlite");
    std::fs::write(&file, "this is not a database, just some text that happens to be here".repeat(200)).unwrap();
    let stderr = refused_start(state.path());
    assert!(stderr.contains(&file.display().to_string()) && stderr.contains("is damaged"), "{stderr}");
}

#[tokio::test]
async fn a_database_with_a_damaged_page_is_refused_and_left_as_it_was() {
    let state = tempfile::tempdir().expect("a state folder");
    let server = Server::start_with("basic", state.path(), &[]);
    let id = server.create("recovers", json!({})).await;
    server.wait_for_status("recovers", &id, &["complete"]).await;
    // The checkpointer copies the log into the file twice a second: wait for the tables to be in it.
    let file = state.path().join("state.sqlite");
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::fs::metadata(&file).map_or(0, |meta| meta.len()) <= 8192 {
        assert!(std::time::Instant::now() < deadline, "the log was never copied into {}", file.display());
        tokio::time::sleep(POLL).await;
    }
    drop(server);

    // Every page but the first (the header and the schema) gets garbage.
    let mut bytes = std::fs::read(&file).expect("read the state file");
    assert!(bytes.len() > 8192, "a state file of {} bytes", bytes.len());
    for (index, byte) in bytes.iter_mut().enumerate().skip(4096) {
        *byte = (index * 7 % 251) as u8;
    }
    std::fs::write(&file, &bytes).expect("damage the state file");
    for side in ["state.sqlite-wal", "state.sqlite-shm"] {
        let _ = std::fs::remove_file(state.path().join(side));
    }

    let stderr = refused_start(state.path());
    assert!(stderr.contains(&file.display().to_string()) && stderr.contains("is damaged"), "{stderr}");
    assert_eq!(std::fs::read(&file).expect("read the state file again"), bytes, "the damaged file was changed");
}

#[tokio::test]
async fn a_clean_stop_empties_the_write_ahead_log_and_keeps_every_instance() {
    let state = tempfile::tempdir().expect("a state folder");
    let mut server = Server::start_with("basic", state.path(), &[]);
    let done = server.create("recovers", json!({ "failForMs": 0, "delay": 10 })).await;
    server.wait_for_status("recovers", &done, &["complete"]).await;
    let asleep = server.create("wait-event", json!({ "sleepMs": 3_600_000 })).await;
    server
        .wait_for("wait-event", &asleep, "asleep", |d| status(d) == "waiting" && find_step(d, "delay-1").is_some())
        .await;
    let wal = state.path().join("state.sqlite-wal");
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
    assert!(size(&wal) > 0, "the instances were not written through the log");

    let exit = server.interrupt();
    assert!(exit.success(), "stepflare stopped with {exit:?}\n{}", server.logs());
    assert_eq!(size(&wal), 0, "the write-ahead log after a clean stop\n{}", server.logs());

    let server = Server::start_with("basic", state.path(), &[]);
    let d = server.describe("recovers", &done).await;
    assert_eq!((status(&d), &d["output"]), ("complete", &json!("recovered")), "{d:#}");
    let d = server.describe("wait-event", &asleep).await;
    assert_eq!(status(&d), "waiting", "{d:#}");
}
