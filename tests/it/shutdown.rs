//! A clean stop: on SIGTERM or SIGINT stepflare starts nothing new, lets the step callbacks that
//! run finish and commit within its grace period, and exits 0; after a restart no committed step
//! runs again. A step still running when the grace period ends runs again at the next start, and
//! a second signal exits at once.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// How often the step of `id` began, in `logs`.
fn runs_of(logs: &str, id: &str) -> usize {
    logs.lines().filter(|line| line.contains(&format!("slow step ran for {id} "))).count()
}

/// Creates `count` instances whose slow step takes `ms`, and waits until each step runs.
async fn start_slow_steps(server: &Server, count: usize, ms: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(server.create_with_id("slow", &format!("slow-{i}"), json!({ "ms": ms })).await);
    }
    for id in &ids {
        server.wait_for("slow", id, "its slow step", |d| find_step(d, "slow-1").is_some()).await;
    }
    ids
}

#[tokio::test]
async fn sigterm_lets_running_steps_commit_and_none_runs_again_after_a_restart() {
    let state = tempfile::tempdir().expect("a state folder");
    let mut first = Server::start_with("graceful", state.path(), &[]);
    let ids = start_slow_steps(&first, 10, 1_500).await;
    first.signal("TERM");
    let exit = first.wait_exit(Duration::from_secs(60));
    assert_eq!(exit.code(), Some(0), "a clean stop exits 0:\n{}", first.logs());
    let before = first.logs();
    for id in &ids {
        assert_eq!(runs_of(&before, id), 1, "{id}:\n{before}");
    }

    let second = Server::start_with("graceful", state.path(), &[]);
    for id in &ids {
        let d = second.wait_for_status("slow", id, &["complete"]).await;
        assert_eq!(d["output"], json!({ "took": 1500, "after": "done" }), "{d:#}");
        assert_eq!(attempts(step(&d, "slow-1")).len(), 1, "{d:#}");
    }
    let after = second.logs();
    for id in &ids {
        assert_eq!(runs_of(&after, id), 0, "the committed step of {id} ran again:\n{before}\n---\n{after}");
    }
}

#[tokio::test]
async fn sigint_after_the_grace_period_stops_the_step_and_it_runs_again_at_the_next_start() {
    let state = tempfile::tempdir().expect("a state folder");
    let mut first = Server::start_with("graceful", state.path(), &["--shutdown-grace", "1"]);
    let ids = start_slow_steps(&first, 1, 600_000).await;
    first.signal("INT");
    let exit = first.wait_exit(Duration::from_secs(30));
    assert_eq!(exit.code(), Some(0), "{}", first.logs());
    assert!(first.logs().contains("those steps run again at the next start"), "{}", first.logs());

    let second = Server::start_with("graceful", state.path(), &[]);
    second.wait_for_log(&[&format!("slow step ran for {}", ids[0])]).await;
    assert_eq!(status(&second.describe("slow", &ids[0]).await), "running");
}

#[tokio::test]
async fn a_second_signal_stops_at_once() {
    let state = tempfile::tempdir().expect("a state folder");
    let mut server = Server::start_with("graceful", state.path(), &["--shutdown-grace", "600"]);
    start_slow_steps(&server, 1, 600_000).await;
    server.signal("TERM");
    server.wait_for_log(&["stopping; press Ctrl-C again to stop at once"]).await;
    server.signal("TERM");
    let exit = server.wait_exit(Duration::from_secs(30));
    assert_eq!(exit.code(), Some(130), "{}", server.logs());
}
