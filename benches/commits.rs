//! Group commit in the store, without a server: step saves per second (a `step.do` result's
//! row, its attempt row, no timer change: what a step's promise waits for) on a state file with
//! the settings `stepflare dev` uses (WAL, `synchronous=NORMAL`).
//!
//! - **grouped**: 100 writers on a tokio runtime, each awaiting `Store::save_step_async` in a
//!   loop, so that the writer thread finds many saves queued each time it wakes;
//! - **one commit each**: the same saves made one at a time from one thread with the blocking
//!   `Store::save_step`, so that each is a transaction of its own (the store before group
//!   commit made one commit per save, on the caller's thread);
//! - **blocking on the runtime**: the 100 writers calling the blocking `save_step` from the
//!   runtime's threads, as the engine does until it moves to the async path: no more saves are
//!   in flight than the runtime has threads;
//! - **own connection**: the store before the writer thread, for reference: one thread saving
//!   on a connection of its own, one transaction per save, with nothing between the caller and
//!   SQLite (the same statements as `save_step`, copied here), beside an open store whose
//!   checkpointer runs as it did.
//!
//! Each side runs [`ROUNDS`] times on a fresh state file, alternating; the median round is
//! shown, with its commits, saves per commit, the CPU time the whole process spent per save (all
//! threads: a figure that other load on the machine moves less than the rate), and the ratio of
//! each side's rate to that of the side that commits each save. `cargo bench --bench commits`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use stepflare::ids::{InstanceId, InstanceKey, StepKey, StepKind, WorkflowName};
use stepflare::model::{Attempt, Instance, Step, StepState};
use stepflare::store::{Store, TimerChange};

/// Concurrent writers, each on an instance of its own.
const WRITERS: usize = 100;
/// Saves per writer in a round: 20,000 in all.
const SAVES_PER_WRITER: u32 = 200;
const ROUNDS: usize = 3;
/// The resolved config of a `do` step, as the engine stores it.
const STEP_CONFIG: &str = r#"{"retries":{"limit":5,"delay":1000,"backoff":"exponential"},"timeout":600000}"#;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut results: [Vec<Round>; 4] = Default::default();
    for round in 0..ROUNDS {
        let state = |side: &str| scratch.path().join(format!("{side}-{round}"));
        results[0].push(grouped(&runtime, &state("grouped")));
        results[1].push(one_commit_each(&state("each")));
        results[2].push(blocking_on_the_runtime(&runtime, &state("blocking")));
        results[3].push(own_connection(&state("own")));
    }
    let [grouped, each, blocking, own] = results.map(median);

    println!();
    println!(
        "{:<48} {:>8} {:>8} {:>13} {:>13} {:>6}",
        format!("{} step saves, {WRITERS} writers", WRITERS as u32 * SAVES_PER_WRITER),
        "saves/s",
        "commits",
        "saves/commit",
        "CPU µs/save",
        "ratio"
    );
    for (name, side) in [
        ("grouped: save_step_async, 100 tasks", grouped),
        ("one commit each: save_step, one thread", each),
        ("blocking on the runtime: save_step, 100 tasks", blocking),
        ("own connection: the store before, one thread", own),
    ] {
        println!(
            "{name:<48} {:>8.0} {:>8} {:>13.1} {:>13.0} {:>6.2}",
            side.saves_per_second(),
            side.commits,
            side.saves as f64 / side.commits.max(1) as f64,
            side.cpu_micros_per_save(),
            side.saves_per_second() / each.saves_per_second()
        );
    }
    println!();
}

/// One side's round.
#[derive(Debug, Clone, Copy, Default)]
struct Round {
    saves: u64,
    commits: u64,
    seconds: f64,
    cpu_seconds: f64,
}

impl Round {
    fn saves_per_second(&self) -> f64 {
        self.saves as f64 / self.seconds
    }

    fn cpu_micros_per_save(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.saves as f64
    }
}

/// CPU time of this process so far, every thread's, user and system, from `/proc/self/stat` (in
/// clock ticks of 10 ms: a round lasts seconds).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces; utime and
    // stime are the 14th and 15th fields of the line, the 12th and 13th after it.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn median(mut rounds: Vec<Round>) -> Round {
    rounds.sort_by(|a, b| a.saves_per_second().total_cmp(&b.saves_per_second()));
    rounds[rounds.len() / 2]
}

/// A fresh state file with one running instance per writer.
fn open(state: &Path) -> Arc<Store> {
    let store = Store::open_in_dir(state).expect("open the store");
    for writer in 0..WRITERS {
        let row = Instance::queued("bench".into(), instance_id(writer), "v1".into(), "{}".into(), 1);
        store.insert_instance(&row, &[]).expect("insert an instance");
    }
    Arc::new(store)
}

fn instance_id(writer: usize) -> String {
    format!("writer-{writer}")
}

fn instance_key(writer: usize) -> InstanceKey {
    let workflow = WorkflowName::parse("bench").expect("a workflow name");
    InstanceKey::new(workflow, InstanceId::parse(&instance_id(writer)).expect("an instance id"))
}

/// The `n`-th step of a writer, succeeded on its first attempt, and that attempt.
fn save(n: u32) -> (Step, Attempt) {
    let key = StepKey { kind: StepKind::Do, name: format!("fetch page {n}"), count: 1 };
    let step = Step {
        state: StepState::Succeeded,
        ended_on: Some(1_700_000_000_100),
        output: Some(format!(r#"{{"page":{n},"items":["alpha","beta","gamma"],"next":"cursor-{n}"}}"#)),
        config: Some(STEP_CONFIG.to_owned()),
        attempts_made: 1,
        ..Step::started(key.clone(), n, 1_700_000_000_000)
    };
    let attempt = Attempt {
        key,
        attempt: 1,
        started_on: 1_700_000_000_000,
        ended_on: Some(1_700_000_000_100),
        success: Some(true),
        error: None,
    };
    (step, attempt)
}

/// Runs `saves` and counts what it took, from the moment every instance exists.
fn measure(store: &Store, saves: impl FnOnce()) -> Round {
    let before = store.writer_stats();
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds());
    saves();
    let (seconds, cpu_seconds) = (started.elapsed().as_secs_f64(), process_cpu_seconds() - cpu_before);
    let after = store.writer_stats();
    Round { saves: after.run - before.run, commits: after.commits - before.commits, seconds, cpu_seconds }
}

fn grouped(runtime: &tokio::runtime::Runtime, state: &Path) -> Round {
    let store = open(state);
    measure(&store, || {
        on_writer_tasks(runtime, &store, |store, key| async move {
            for n in 0..SAVES_PER_WRITER {
                let (step, attempt) = save(n);
                store.save_step_async(&key, &step, Some(&attempt), TimerChange::Keep).await.expect("save a step");
            }
        })
    })
}

/// Runs `writer` for each of the [`WRITERS`] instances, as a task of its own on `runtime`, and
/// waits for them all.
fn on_writer_tasks<F, Task>(runtime: &tokio::runtime::Runtime, store: &Arc<Store>, writer: F)
where
    F: Fn(Arc<Store>, InstanceKey) -> Task,
    Task: std::future::Future<Output = ()> + Send + 'static,
{
    runtime.block_on(async {
        let tasks: Vec<_> = (0..WRITERS).map(|n| tokio::spawn(writer(store.clone(), instance_key(n)))).collect();
        for task in tasks {
            task.await.expect("a writer task");
        }
    })
}

fn one_commit_each(state: &Path) -> Round {
    let store = open(state);
    measure(&store, || {
        // Writer by writer, step by step, as the grouped side's tasks would if run one at a time.
        for n in 0..SAVES_PER_WRITER {
            for writer in 0..WRITERS {
                let (step, attempt) = save(n);
                store.save_step(&instance_key(writer), &step, Some(&attempt), TimerChange::Keep).expect("save a step");
            }
        }
    })
}

fn blocking_on_the_runtime(runtime: &tokio::runtime::Runtime, state: &Path) -> Round {
    let store = open(state);
    measure(&store, || {
        on_writer_tasks(runtime, &store, |store, key| async move {
            for n in 0..SAVES_PER_WRITER {
                let (step, attempt) = save(n);
                store.save_step(&key, &step, Some(&attempt), TimerChange::Keep).expect("save a step");
                // Lets the runtime's thread take another task, as a run does between steps.
                tokio::task::yield_now().await;
            }
        })
    })
}

/// What `save_step` writes for a `do` step with its attempt and no timer change.
const SAVE_STEP: &str = "INSERT OR REPLACE INTO steps (workflow_name, instance_id, kind, name, count, seq, state,
         started_on, ended_on, output, error_name, error_message, config, attempts_made, wake_at, event_type)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
const SAVE_ATTEMPT: &str = "INSERT OR REPLACE INTO attempts (workflow_name, instance_id, kind, name, count, attempt,
         started_on, ended_on, success, error_name, error_message)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

fn own_connection(state: &Path) -> Round {
    // The store stays open for its checkpointer; its writer thread has nothing to do.
    let store = open(state);
    let mut conn = rusqlite::Connection::open(state.join("state.sqlite")).expect("open a connection");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
    conn.pragma_update(None, "wal_autocheckpoint", 0).expect("wal_autocheckpoint");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("busy_timeout");
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds());
    for n in 0..SAVES_PER_WRITER {
        for writer in 0..WRITERS {
            let (step, attempt) = save(n);
            let id = instance_id(writer);
            let tx = conn.transaction().expect("begin");
            tx.prepare_cached(SAVE_STEP)
                .and_then(|mut insert| {
                    insert.execute(rusqlite::params![
                        "bench",
                        id,
                        step.key.kind.as_str(),
                        step.key.name,
                        step.key.count,
                        step.seq,
                        step.state.as_str(),
                        step.started_on,
                        step.ended_on,
                        step.output,
                        None::<String>,
                        None::<String>,
                        step.config,
                        step.attempts_made,
                        step.wake_at,
                        step.event_type
                    ])
                })
                .expect("save the step");
            tx.prepare_cached(SAVE_ATTEMPT)
                .and_then(|mut insert| {
                    insert.execute(rusqlite::params![
                        "bench",
                        id,
                        attempt.key.kind.as_str(),
                        attempt.key.name,
                        attempt.key.count,
                        attempt.attempt,
                        attempt.started_on,
                        attempt.ended_on,
                        attempt.success,
                        None::<String>,
                        None::<String>
                    ])
                })
                .expect("save the attempt");
            tx.commit().expect("commit");
        }
    }
    let (seconds, cpu_seconds) = (started.elapsed().as_secs_f64(), process_cpu_seconds() - cpu_before);
    drop(conn);
    drop(store);
    let saves = u64::from(SAVES_PER_WRITER) * WRITERS as u64;
    Round { saves, commits: saves, seconds, cpu_seconds }
}
