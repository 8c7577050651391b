//! Every durable fact lives here: workflows, versions, instances, steps, attempts, events,
//! timers and cron firings, in one SQLite file in WAL mode. The store knows rows, not rules: the
//! engine decides what to write, and each method that a caller depends on for durability commits
//! before it returns.
//!
//! One thread writes (`writer.rs`): every write method hands it a job and waits for the commit
//! of the group that job went into, blocking ([`Store::save_step`] and the like) or as a future
//! ([`Store::write`], [`Store::save_step_async`]). Reads run on the caller's thread, on a small
//! pool of read-only connections (`readers.rs`).

mod durable;
mod kv;
mod migrations;
mod queues;
mod r2;
mod readers;
mod rows;
mod writer;
mod writes;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub use durable::DurableAlarm;
pub use kv::{KvKey, KvValue};
pub use queues::{NewQueueMessage, QueueBacklog, QueueMessageRow, Settlement};
pub use r2::R2Record;
pub use rows::{CronFiringRow, CronOwner};
pub use writer::WriterStats;
pub use writes::Write;

use crate::ids::{InstanceId, InstanceKey, StepKey, StepKind, WorkflowName};
use crate::model::{
    Attempt, Instance, InstanceFilter, InstanceStatus, JournalEntry, Retention, SentEvent, Step, Version,
    WorkflowRecord,
};
use readers::ReadPool;
use writer::{Writer, WriterActivity};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot start the {name} thread: {source}")]
    StartThread { name: &'static str, source: std::io::Error },
    #[error("the database was written by a newer stepflare (schema {found}, this one knows {known})")]
    TooNew { found: usize, known: usize },
    #[error("an instance with this id already exists")]
    InstanceExists,
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "{path} is damaged ({detail}); stepflare does not serve a damaged state file: move it (and its -wal and -shm files) away to start afresh, or put back a copy"
    )]
    Damaged { path: String, detail: String },
    #[error("the database writer has stopped; nothing more can be written")]
    WriterGone,
    #[error("a write panicked and was rolled back")]
    WritePanicked,
    #[error("a write waited for another write from inside the writer thread, which would wait forever")]
    WriteInsideWrite,
    #[error("the transaction that held this write failed: {0}")]
    GroupFailed(String),
}

/// The connection of the writer thread to the database at `path`: checked, in WAL mode with
/// the given `synchronous` and `wal_autocheckpoint` settings, its schema up to date.
fn writer_connection(path: &Path, synchronous: &str, auto_checkpoint_pages: i64, wal_limit: u64) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    check_integrity(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "wal_autocheckpoint", auto_checkpoint_pages)?;
    conn.pragma_update(None, "journal_size_limit", wal_limit as i64)?;
    // Each job of a group runs in a savepoint, whose undo copies of pages go to a temporary file
    // past 64 KiB (a large step output); in memory they cost no file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    keep_plans(&conn)?;
    migrations::migrate(&mut conn)?;
    Ok(conn)
}

/// SQLite's quick check of the whole file (and a file that is no database at all), before
/// anything reads or writes it.
fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let damaged = |detail: String| StoreError::Damaged { path: path.display().to_string(), detail };
    let mut statement = conn.prepare("PRAGMA quick_check").map_err(|error| damaged(error.to_string()))?;
    let findings: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|error| damaged(error.to_string()))?;
    match findings.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        _ => Err(damaged(findings.into_iter().take(3).collect::<Vec<_>>().join("; "))),
    }
}

/// Makes the connection's cached statements keep their plans. Without it, SQLite (built with
/// STAT4) prepares again, at every run, a statement whose plan could depend on a bound value,
/// such as a look-up by key on a table that grows: that cost more than the write it served.
/// Every query here is a look-up by a key or an index, whose plan no value changes.
fn keep_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The conditions of an instance listing: parameters 1 to 4 are workflow, status, and the
/// creation-time bounds.
const FILTER: &str = "workflow_name = ?1 AND (?2 IS NULL OR status = ?2)
    AND (?3 IS NULL OR created_on >= ?3) AND (?4 IS NULL OR created_on <= ?4)";

/// The SQLite database: one writer thread, a pool of readers, and the checkpointer.
pub struct Store {
    /// Dropped before the writer, so that the writer's connection is the last one closed: the
    /// last connection copies the log into the database and removes it, and only one that may
    /// write can.
    readers: ReadPool,
    /// `None` once [`Store::close`] has stopped it, and in memory.
    checkpointer: Mutex<Option<Checkpointer>>,
    writer: Writer,
}

/// How long a connection waits for a lock (a checkpoint that holds the writer back, a reader
/// meeting a log being restarted) before it fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a write whose size nobody estimated counts for against a group's byte limit.
const SMALL_WRITE: usize = 256;

/// Past this size (twice it while the writer is busy) the write-ahead log is copied into the
/// database and emptied, even though that makes writers wait for the copy; `journal_size_limit`
/// is the same, so a log that SQLite restarts by itself (when no write came during a checkpoint)
/// shrinks to it as well.
const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// Copies the write-ahead log into the database from a thread of its own, with its own
/// connection. Dropping it stops the thread and waits for it.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the checkpointer does after a tick's passive checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Rest,
    /// The log holds more than [`RESTART_FRAMES`]: wait for the writer, copy the rest, and have
    /// the next write start the log from its beginning again. Passive checkpoints never restart
    /// a log that is written all the time (a writer restarts it only when it finds every frame
    /// copied), so under steady load it grew, and every frame appended past the file's end cost
    /// the kernel a new page; a restarted log overwrites pages it already has.
    Restart,
    /// The file outgrew its limit ([`WAL_LIMIT`]) all the same (a restart was held off by
    /// readers): TRUNCATE waits for the writer, copies the rest and empties the file.
    Truncate,
}

/// Frames (pages) the log may hold before the checkpointer restarts it: 4 MiB of 4 KiB pages.
const RESTART_FRAMES: i64 = 1024;

impl Round {
    /// How far past `limit` the log may grow while the writer is busy: a burst of about 15,000
    /// steps (a step writes two or three 4 KiB pages to it) is not interrupted by a copy, which
    /// beside a busy writer took 0.2 s and then held it for another 0.15 s for 64 MiB of log.
    const BUSY_FACTOR: u64 = 2;

    /// Whether a tick copies the log at all: when the writer got no job since the last tick, or
    /// when the log (of `wal_bytes`) outgrew twice `limit` all the same.
    fn due(writer_busy: bool, wal_bytes: u64, limit: u64) -> bool {
        !writer_busy || wal_bytes > limit.saturating_mul(Self::BUSY_FACTOR)
    }

    /// The round after a passive checkpoint that found `log_frames` frames in the log, given the
    /// size of the `-wal` file.
    fn plan(wal_bytes: u64, limit: u64, log_frames: i64) -> Self {
        if wal_bytes > limit {
            Round::Truncate
        } else if log_frames > RESTART_FRAMES {
            Round::Restart
        } else {
            Round::Rest
        }
    }
}

impl Checkpointer {
    /// How often the checkpointer looks at the writer and the log. A passive checkpoint that
    /// finds nothing new to copy only reads the log's index.
    const TICK: std::time::Duration = std::time::Duration::from_millis(100);

    /// Starts checkpointing the database at `path`, keeping its log under about `wal_limit`.
    /// The log is copied in a tick in which the writer got no job (`activity`), or once it
    /// outgrew twice `wal_limit`: a checkpoint that runs beside a busy writer, even a passive
    /// one, made its commits wait (it reads the log the writer appends to, writes the database
    /// and syncs both), which cost 10-30% of the steps per second under load, more than a log
    /// that grows for the length of a burst costs.
    fn start(path: &Path, wal_limit: u64, activity: WriterActivity) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_size_limit", wal_limit as i64)?;
        let wal = wal_path(path);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut jobs_seen = activity.jobs();
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::TICK) {
                    let jobs = activity.jobs();
                    let busy = jobs != jobs_seen;
                    jobs_seen = jobs;
                    let wal_bytes = std::fs::metadata(&wal).map_or(0, |meta| meta.len());
                    if !Round::due(busy, wal_bytes, wal_limit) {
                        continue;
                    }
                    // PASSIVE never blocks the writer; a failed round is tried again later.
                    let log_frames = match checkpoint(&conn, "PASSIVE") {
                        Ok(outcome) => outcome.log_frames,
                        Err(error) => {
                            tracing::debug!("checkpoint: {error}");
                            continue;
                        }
                    };
                    let mode = match Round::plan(wal_bytes, wal_limit, log_frames) {
                        Round::Rest => continue,
                        Round::Restart => "RESTART",
                        Round::Truncate => "TRUNCATE",
                    };
                    match checkpoint(&conn, mode) {
                        Ok(outcome) if outcome.finished => {}
                        Ok(_) => tracing::debug!("the log of {wal_bytes} bytes stays: readers or a writer held on"),
                        Err(error) => tracing::debug!("checkpoint: {error}"),
                    }
                }
            })
            .map_err(|source| StoreError::StartThread { name: "sqlite-checkpoint", source })?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread was already reported by the panic hook.
            let _ = thread.join();
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`; says whether it finished (SQLite reports a checkpoint
/// that readers or a writer kept from finishing as busy, not as an error).
fn checkpoint(conn: &Connection, mode: &str) -> Result<Checkpoint> {
    let (busy, log_frames): (i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Checkpoint { finished: busy == 0, log_frames })
}

/// What a checkpoint reported.
struct Checkpoint {
    finished: bool,
    /// The frames in the log when it ran.
    log_frames: i64,
}

/// SQLite's name for the write-ahead log of the database at `path`.
fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// How many threads need call the store at once: reads beyond the pool's connections wait for
/// one, and writes wait for the one writer, so more callers only cost threads and memory. The
/// size of the blocking pools of the runtimes that call [`Store::on_blocking_thread`].
pub const BLOCKING_CALLERS: usize = 2 * readers::MAX_READERS;

impl Store {
    /// Opens (creating if needed) `dir/state.sqlite`.
    pub fn open_in_dir(dir: &Path) -> Result<Self> {
        Self::open_with_wal_limit(dir, WAL_LIMIT)
    }

    fn open_with_wal_limit(dir: &Path, wal_limit: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
        let path = dir.join("state.sqlite");
        // NORMAL in WAL mode survives a killed process (not a power cut) at a tenth of FULL's cost.
        // Checkpoints fsync; the background checkpointer does them so that a step commit never
        // waits for one.
        let conn = writer_connection(&path, "NORMAL", 0, wal_limit)?;
        let writer = Writer::start(conn)?;
        let checkpointer = Checkpointer::start(&path, wal_limit, writer.activity())?;
        Ok(Store { readers: ReadPool::new(path), checkpointer: Mutex::new(Some(checkpointer)), writer })
    }

    /// A store that forgets everything when it is dropped. A private `:memory:` database belongs
    /// to one connection, and a shared-cache one makes the readers and the writer lock each other
    /// out with `SQLITE_LOCKED`, which no busy timeout waits out; so it is a file like any other,
    /// in a temporary folder, never synced to disk. Every connection it will ever have (the
    /// writer's and all the readers') opens the file, its log and its shared memory first, and
    /// then the folder is removed: the open files live on until the last of them closes, and
    /// nothing is left behind, even by a killed process or a store that is never dropped.
    pub fn open_in_memory() -> Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("stepflare-")
            .tempdir()
            .map_err(|source| StoreError::CreateDir { path: std::env::temp_dir().display().to_string(), source })?;
        let path = scratch.path().join("state.sqlite");
        // Nothing syncs, so checkpoints are cheap: the writer makes them itself, SQLite's
        // automatic ones every 1000 pages, and no checkpointer thread (whose connection would
        // have to be open before the folder goes) is needed.
        let conn = writer_connection(&path, "OFF", 1000, WAL_LIMIT)?;
        let readers = ReadPool::new(path);
        readers.open_all()?;
        if let Err(error) = scratch.close() {
            tracing::warn!("the temporary folder of the in-memory database stays: {error}");
        }
        Ok(Store { readers, checkpointer: Mutex::new(None), writer: Writer::start(conn)? })
    }

    /// Stops the background checkpointer and copies the whole write-ahead log into the database,
    /// leaving the `-wal` file empty: after a clean stop the state is one file. Writes queued
    /// before the call commit first. Call it once nothing runs any more; the store stays usable,
    /// but what is written after it waits in the log again. Dropping the store does the same,
    /// then lets the writer thread finish its queue and stops it.
    pub fn close(&self) -> Result<()> {
        // The checkpointer's thread is stopped first: two checkpoints at once make one of them
        // fail at once, busy, without waiting.
        drop(self.checkpointer.lock().unwrap_or_else(|p| p.into_inner()).take());
        if !self.writer.empty_log()? {
            return Err(StoreError::Busy("the write-ahead log could not be emptied".into()));
        }
        Ok(())
    }

    /// Runs `job` inside the writer thread's next transaction and blocks the calling thread
    /// until that transaction has committed; returns what `job` returned. A job that fails (or
    /// panics) is rolled back alone, and its error comes back here. `job` must not end the
    /// transaction, nor wait for another write of this store.
    pub fn write_blocking<T, F>(&self, job: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write_blocking(SMALL_WRITE, job)
    }

    /// [`Store::write_blocking`] for a caller that must not block its thread: the job is queued
    /// now, and the future (which borrows nothing and runs on any executor) is ready once its
    /// transaction has committed. Writes of many futures waiting at once share one commit.
    /// Dropping the future stops the waiting, not the write.
    pub fn write<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(SMALL_WRITE, job)
    }

    /// How many writes and commits the writer thread has made: for tests and benchmarks.
    /// Told after every commit. A reader that waits for new rows enables a `notified()` future
    /// before it reads, then awaits it, so that no commit between the two goes unnoticed.
    pub fn committed(&self) -> &tokio::sync::Notify {
        self.writer.committed()
    }

    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// [`Store::write`] for a write of about `bytes`.
    fn write_sized<T, F>(&self, bytes: usize, job: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(bytes, job)
    }

    /// A write whose caller waits for its commit, about `bytes` big.
    fn commit<T, F>(&self, bytes: usize, job: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write_blocking(bytes, job)
    }

    /// Runs `work` with the store on a blocking thread of the current tokio runtime, for async
    /// code: no store call runs on an async worker thread (a read there would hold up every task
    /// of that thread, and a blocking write would too, until its commit).
    pub async fn on_blocking_thread<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(error) => Err(StoreError::Busy(format!("a store task failed: {error}"))),
        }
    }

    /// Runs `query` on a read-only connection of the pool.
    fn read<T>(&self, query: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.readers.read(query)
    }

    // ---- workflows and versions ----

    pub fn upsert_workflow(&self, row: &WorkflowRecord) -> Result<WorkflowRecord> {
        let row = row.clone();
        self.commit(SMALL_WRITE, move |tx| {
            tx.execute(
                "INSERT INTO workflows (name, id, class_name, script_name, created_on, modified_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (name) DO UPDATE SET class_name = ?3, script_name = ?4,
                     modified_on = CASE WHEN class_name = ?3 AND script_name = ?4 THEN modified_on ELSE ?5 END",
                params![row.name, row.id, row.class_name, row.script_name, row.created_on],
            )?;
            tx.query_row(WORKFLOW_ROW, [&row.name], WorkflowRecord::from_row).map_err(Into::into)
        })
    }

    /// Sets the default retention of the workflow's instances to come (REST `PUT`).
    pub fn set_workflow_retention(&self, name: &WorkflowName, retention: Retention) -> Result<()> {
        let name = name.clone();
        self.commit(SMALL_WRITE, move |tx| {
            tx.execute(
                "UPDATE workflows SET success_retention_ms = ?2, error_retention_ms = ?3 WHERE name = ?1",
                params![name.as_str(), retention.success_ms, retention.error_ms],
            )?;
            Ok(())
        })
    }

    pub fn workflow(&self, name: &WorkflowName) -> Result<Option<WorkflowRecord>> {
        self.read(|conn| {
            conn.query_row(WORKFLOW_ROW, [name.as_str()], WorkflowRecord::from_row).optional().map_err(Into::into)
        })
    }

    pub fn workflows(&self) -> Result<Vec<WorkflowRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, id, class_name, script_name, created_on, modified_on FROM workflows ORDER BY name",
            )?;
            let rows = stmt.query_map([], WorkflowRecord::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    pub fn latest_version(&self, workflow: &WorkflowName) -> Result<Option<Version>> {
        self.read(|conn| {
            conn.query_row(
                "SELECT id, workflow_name, source_hash, class_name, created_on FROM versions
                 WHERE workflow_name = ?1 ORDER BY created_on DESC, rowid DESC LIMIT 1",
                [workflow.as_str()],
                Version::from_row,
            )
            .optional()
            .map_err(Into::into)
        })
    }

    pub fn insert_version(&self, row: &Version) -> Result<()> {
        let row = row.clone();
        self.commit(SMALL_WRITE, move |tx| {
            tx.execute(
                "INSERT INTO versions (id, workflow_name, source_hash, class_name, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.id, row.workflow_name, row.source_hash, row.class_name, row.created_on],
            )?;
            Ok(())
        })
    }

    pub fn versions(&self, workflow: &WorkflowName) -> Result<Vec<Version>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, workflow_name, source_hash, class_name, created_on FROM versions
                 WHERE workflow_name = ?1 ORDER BY created_on DESC, rowid DESC",
            )?;
            let rows = stmt.query_map([workflow.as_str()], Version::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    // ---- instances ----

    /// Inserts a new instance with the journal entries of its creation; refuses an id that
    /// exists in the same workflow.
    pub fn insert_instance(&self, row: &Instance, journal: &[JournalEntry]) -> Result<()> {
        let (row, journal) = (row.clone(), journal.to_vec());
        self.commit(instance_bytes(&row), move |tx| {
            if !insert_new_instance(tx, &row)? {
                return Err(StoreError::InstanceExists);
            }
            writes::append_journal(tx, &row.workflow_name, &row.id, &journal)
        })
    }

    /// Inserts the instance a cron firing creates and records the firing as done, in one commit,
    /// so that a crash can neither lose the firing nor repeat it. An instance with the same id
    /// means the firing was made already: nothing is inserted and `false` comes back.
    pub fn insert_fired_instance(
        &self,
        row: &Instance,
        journal: &[JournalEntry],
        owner: &CronOwner,
        cron: &str,
        at: i64,
    ) -> Result<bool> {
        let (row, journal, owner, cron) = (row.clone(), journal.to_vec(), owner.clone(), cron.to_owned());
        self.commit(instance_bytes(&row), move |tx| {
            let inserted = insert_new_instance(tx, &row)?;
            if inserted {
                writes::append_journal(tx, &row.workflow_name, &row.id, &journal)?;
            }
            mark_done_through(tx, &owner, &cron, at)?;
            Ok(inserted)
        })
    }

    pub fn instance(&self, key: &InstanceKey) -> Result<Option<Instance>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {} FROM instances WHERE workflow_name = ?1 AND id = ?2",
                Instance::COLUMNS
            ))?;
            stmt.query_row([key.workflow.as_str(), key.id.as_str()], Instance::from_row).optional().map_err(Into::into)
        })
    }

    /// Instances of a workflow, newest first unless `ascending`, after the `(created_on, id)`
    /// cursor if one is given.
    pub fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        let order = if filter.ascending { "ASC" } else { "DESC" };
        let cmp = if filter.ascending { ">" } else { "<" };
        let sql = format!(
            "SELECT {cols} FROM instances WHERE {FILTER}
               AND (?5 IS NULL OR (created_on, id) {cmp} (?5, ?6))
             ORDER BY created_on {order}, id {order} LIMIT ?7 OFFSET ?8",
            cols = Instance::COLUMNS
        );
        let (after_created, after_id) = match &filter.after {
            Some((created, id)) => (Some(*created), Some(id.as_str())),
            None => (None, None),
        };
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    filter.workflow,
                    filter.status.map(InstanceStatus::as_str),
                    filter.created_from,
                    filter.created_to,
                    after_created,
                    after_id,
                    filter.limit,
                    filter.offset
                ],
                Instance::from_row,
            )?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    /// How many instances match `filter`, ignoring its cursor and page.
    pub fn count_instances(&self, filter: &InstanceFilter) -> Result<u64> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT COUNT(*) FROM instances WHERE {FILTER}"))?;
            let count: i64 = stmt.query_row(
                params![
                    filter.workflow,
                    filter.status.map(InstanceStatus::as_str),
                    filter.created_from,
                    filter.created_to
                ],
                |row| row.get(0),
            )?;
            Ok(count.max(0) as u64)
        })
    }

    /// `(workflow, id)` of every instance in one of `statuses`, oldest first.
    pub fn instances_in(&self, statuses: &[InstanceStatus]) -> Result<Vec<InstanceKey>> {
        self.instances_with_status(None, statuses)
    }

    fn instances_with_status(
        &self,
        workflow: Option<&WorkflowName>,
        statuses: &[InstanceStatus],
    ) -> Result<Vec<InstanceKey>> {
        let statuses: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT workflow_name, id FROM instances
                 WHERE (?1 IS NULL OR workflow_name = ?1) AND status IN (SELECT value FROM json_each(?2))
                 ORDER BY created_on, rowid",
            )?;
            let rows = stmt.query_map(params![workflow.map(WorkflowName::as_str), json_list(&statuses)], |row| {
                Ok(InstanceKey::stored(row.get(0)?, row.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    pub fn count_by_status(&self, workflow: &WorkflowName) -> Result<Vec<(InstanceStatus, u64)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT status, COUNT(*) FROM instances WHERE workflow_name = ?1 GROUP BY status")?;
            let rows =
                stmt.query_map([workflow.as_str()], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
            let mut counts = Vec::new();
            for row in rows {
                let (status, count) = row?;
                if let Some(status) = InstanceStatus::parse(&status) {
                    counts.push((status, count.max(0) as u64));
                }
            }
            Ok(counts)
        })
    }

    pub fn set_status(&self, key: &InstanceKey, status: InstanceStatus, now: i64) -> Result<()> {
        self.apply(key, vec![Write::SetStatus(status)], now)
    }

    /// Deletes an instance and everything stored about it, in one commit. Returns whether it
    /// existed.
    pub fn delete_instance(&self, key: &InstanceKey) -> Result<bool> {
        let key = key.clone();
        self.commit(SMALL_WRITE, move |tx| erase_instance(tx, &key))
    }

    /// Deletes every instance whose retention ran out by `now`, with all its rows, in one commit;
    /// returns their keys.
    pub fn delete_expired(&self, now: i64) -> Result<Vec<InstanceKey>> {
        self.commit(SMALL_WRITE, move |tx| {
            let expired = tx
                .prepare_cached("SELECT workflow_name, id FROM instances WHERE expires_on <= ?1")?
                .query_map([now], |row| Ok(InstanceKey::stored(row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for key in &expired {
                erase_instance(tx, key)?;
            }
            Ok(expired)
        })
    }

    /// When the next instance's retention runs out: one seek in `instances_by_expiry`.
    pub fn next_expiry(&self) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT MIN(expires_on) FROM instances WHERE expires_on IS NOT NULL")?
                .query_row([], |row| row.get(0))?)
        })
    }

    /// Ids of a workflow's instances in one of `statuses`, oldest first.
    pub fn instance_ids_in(&self, workflow: &WorkflowName, statuses: &[InstanceStatus]) -> Result<Vec<InstanceId>> {
        Ok(self.instances_with_status(Some(workflow), statuses)?.into_iter().map(|key| key.id).collect())
    }

    // ---- steps and attempts ----

    pub fn steps(&self, key: &InstanceKey) -> Result<Vec<Step>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {} FROM steps WHERE workflow_name = ?1 AND instance_id = ?2 ORDER BY seq",
                Step::COLUMNS
            ))?;
            let rows = stmt.query_map([key.workflow.as_str(), key.id.as_str()], Step::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    pub fn attempts(&self, key: &InstanceKey) -> Result<Vec<Attempt>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, name, count, attempt, started_on, ended_on, success, error_name, error_message
                 FROM attempts WHERE workflow_name = ?1 AND instance_id = ?2 ORDER BY kind, name, count, attempt",
            )?;
            let rows = stmt.query_map([key.workflow.as_str(), key.id.as_str()], Attempt::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    /// Writes a step row and, when given, the attempt that produced it and the timer the step
    /// now waits on, in one commit. This is the commit a `step.do` promise waits for. It blocks
    /// the calling thread until then; [`Store::save_step_async`] does not.
    pub fn save_step(
        &self,
        key: &InstanceKey,
        step: &Step,
        attempt: Option<&Attempt>,
        timer: TimerChange,
    ) -> Result<()> {
        let save = Write::SaveStep { step: step.clone(), attempt: attempt.cloned(), timer };
        // A step row carries its own times: the commit's time is not used.
        self.apply(key, vec![save], 0)
    }

    /// [`Store::save_step`] as a future, for a caller that must not block its thread: the write
    /// is queued at once, and the future is ready once its transaction has committed, which it
    /// shares with every other write queued meanwhile. The future borrows nothing and runs on
    /// any executor; dropping it stops the waiting, not the write.
    pub fn save_step_async(
        &self,
        key: &InstanceKey,
        step: &Step,
        attempt: Option<&Attempt>,
        timer: TimerChange,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let save = Write::SaveStep { step: step.clone(), attempt: attempt.cloned(), timer };
        self.apply_async(key, vec![save], 0)
    }

    // ---- events ----

    /// Buffers an event for the instance; returns it as stored.
    pub fn insert_event(&self, key: &InstanceKey, event_type: &str, payload: &str, now: i64) -> Result<SentEvent> {
        let (key, event_type, payload) = (key.clone(), event_type.to_owned(), payload.to_owned());
        self.commit(SMALL_WRITE + payload.len(), move |tx| {
            tx.execute(
                "INSERT INTO events (workflow_name, instance_id, event_type, payload, received_on)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.workflow.as_str(), key.id.as_str(), event_type, payload, now],
            )?;
            Ok(SentEvent { seq: tx.last_insert_rowid(), event_type, payload, received_on: now })
        })
    }

    /// Whether an event is buffered for one of the waits this instance is suspended on.
    pub fn has_deliverable_event(&self, key: &InstanceKey) -> Result<bool> {
        self.read(|conn| {
            let found = conn
                .prepare_cached(
                    "SELECT 1 FROM steps s JOIN events e
                       ON e.workflow_name = s.workflow_name AND e.instance_id = s.instance_id
                      AND e.event_type = s.event_type AND e.consumed_by IS NULL
                     WHERE s.workflow_name = ?1 AND s.instance_id = ?2 AND s.kind = 'waitForEvent'
                       AND s.state = 'waiting'
                     LIMIT 1",
                )?
                .query_row([key.workflow.as_str(), key.id.as_str()], |_| Ok(()))
                .optional()?;
            Ok(found.is_some())
        })
    }

    // ---- timers ----

    /// The earliest timer of a suspended (`waiting`) instance of one of `workflows`: one seek in
    /// `timers_armed` per workflow, however many instances sleep.
    pub fn next_timer(&self, workflows: &[WorkflowName]) -> Result<Option<i64>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(NEXT_TIMER)?;
            stmt.query_row([json_list(workflows)], |row| row.get(0)).map_err(Into::into)
        })
    }

    /// Suspended instances of `workflows` with a timer due at or before `now`; only due rows of
    /// `timers_armed` are read.
    pub fn due_instances(&self, now: i64, workflows: &[WorkflowName]) -> Result<Vec<InstanceKey>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(DUE_INSTANCES)?;
            let rows = stmt.query_map(params![now, json_list(workflows)], |row| {
                Ok(InstanceKey::stored(row.get(0)?, row.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    /// Whether any timer of this instance is due.
    pub fn has_due_timer(&self, key: &InstanceKey, now: i64) -> Result<bool> {
        self.read(|conn| {
            let found = conn
                .prepare_cached("SELECT 1 FROM timers WHERE workflow_name = ?1 AND instance_id = ?2 AND due_at <= ?3")?
                .query_row(params![key.workflow.as_str(), key.id.as_str(), now], |_| Ok(()))
                .optional()?;
            Ok(found.is_some())
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::warn!("closing the state database: {error}");
        }
    }
}

// ---- cron firings ----

impl Store {
    pub fn cron_firings(&self) -> Result<Vec<CronFiringRow>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {} FROM cron_firings ORDER BY owner_kind, owner, cron",
                CronFiringRow::COLUMNS
            ))?;
            let rows = stmt.query_map([], CronFiringRow::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }

    /// Starts keeping track of an expression first seen at `now`: firings before it are not due.
    pub fn track_cron(&self, owner: &CronOwner, cron: &str, now: i64) -> Result<()> {
        let (owner, cron) = (owner.clone(), cron.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            tx.prepare_cached(
                "INSERT INTO cron_firings (owner_kind, owner, cron, done_through) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![owner.kind(), owner.name(), cron, now])?;
            Ok(())
        })
    }

    /// Forgets an expression that left the config, so that adding it back later starts afresh.
    pub fn forget_cron(&self, owner: &CronOwner, cron: &str) -> Result<()> {
        let (owner, cron) = (owner.clone(), cron.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            tx.prepare_cached("DELETE FROM cron_firings WHERE owner_kind = ?1 AND owner = ?2 AND cron = ?3")?
                .execute(params![owner.kind(), owner.name(), cron])?;
            Ok(())
        })
    }

    /// Records a Worker firing as done and its handler as running, before the handler runs: a
    /// crash while it runs leaves `running` set, and the firing is not made again.
    pub fn start_worker_firing(&self, owner: &CronOwner, cron: &str, at: i64) -> Result<()> {
        let (owner, cron) = (owner.clone(), cron.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            mark_done_through(tx, &owner, &cron, at)?;
            tx.prepare_cached(
                "UPDATE cron_firings SET running = ?4 WHERE owner_kind = ?1 AND owner = ?2 AND cron = ?3",
            )?
            .execute(params![owner.kind(), owner.name(), cron, at])?;
            Ok(())
        })
    }

    /// Records that the handler of the firing at `at` has ended (or will never run again).
    pub fn end_worker_firing(&self, owner: &CronOwner, cron: &str, at: i64) -> Result<()> {
        let (owner, cron) = (owner.clone(), cron.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            tx.prepare_cached(
                "UPDATE cron_firings SET running = NULL
                 WHERE owner_kind = ?1 AND owner = ?2 AND cron = ?3 AND running = ?4",
            )?
            .execute(params![owner.kind(), owner.name(), cron, at])?;
            Ok(())
        })
    }
}

/// About how many bytes inserting `row` writes.
fn instance_bytes(row: &Instance) -> usize {
    SMALL_WRITE + row.params.len()
}

/// Deletes an instance and every row of it (steps, attempts, events, timers, journal); says
/// whether it existed.
fn erase_instance(tx: &rusqlite::Transaction<'_>, key: &InstanceKey) -> Result<bool> {
    let (workflow, id) = (key.workflow.as_str(), key.id.as_str());
    for table in ["steps", "attempts", "events", "timers", "journal"] {
        tx.prepare_cached(&format!("DELETE FROM {table} WHERE workflow_name = ?1 AND instance_id = ?2"))?
            .execute([workflow, id])?;
    }
    let deleted =
        tx.prepare_cached("DELETE FROM instances WHERE workflow_name = ?1 AND id = ?2")?.execute([workflow, id])?;
    Ok(deleted > 0)
}

/// A workflow's row, as [`WorkflowRecord::from_row`] reads it.
const WORKFLOW_ROW: &str = "SELECT name, id, class_name, script_name, created_on, modified_on, success_retention_ms,
     error_retention_ms FROM workflows WHERE name = ?1";

/// Inserts `row` unless its workflow has an instance with that id; says whether it did. Each
/// retention the row leaves unset comes from its workflow's REST default, if any.
fn insert_new_instance(conn: &Connection, row: &Instance) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO instances (workflow_name, id, version_id, status, params, trigger_source, schedule,
                 created_on, modified_on, success_retention_ms, error_retention_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8,
                 COALESCE(?9, (SELECT success_retention_ms FROM workflows WHERE name = ?1)),
                 COALESCE(?10, (SELECT error_retention_ms FROM workflows WHERE name = ?1)))
             ON CONFLICT (workflow_name, id) DO NOTHING",
        )?
        .execute(params![
            row.workflow_name,
            row.id,
            row.version_id,
            row.status.as_str(),
            row.params,
            row.trigger_source,
            row.schedule,
            row.created_on,
            row.retention.success_ms,
            row.retention.error_ms
        ])?;
    Ok(inserted > 0)
}

/// Moves an expression's `done_through` forward to `at` (never back), creating its row if needed.
fn mark_done_through(tx: &rusqlite::Transaction<'_>, owner: &CronOwner, cron: &str, at: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO cron_firings (owner_kind, owner, cron, done_through) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET done_through = MAX(done_through, excluded.done_through)",
    )?
    .execute(params![owner.kind(), owner.name(), cron, at])?;
    Ok(())
}

/// The query of [`Store::next_timer`]. `armed` is 1 exactly while the timer's instance is
/// `waiting` (triggers keep it so, see `migrations.rs`), so the waiting rule costs no join.
const NEXT_TIMER: &str = "SELECT MIN((SELECT MIN(due_at) FROM timers
                    WHERE workflow_name = runnable.value AND armed = 1))
     FROM json_each(?1) AS runnable";

/// The query of [`Store::due_instances`]. `CROSS JOIN` keeps SQLite from choosing to scan the
/// timers and probe the list of workflows.
const DUE_INSTANCES: &str = "SELECT DISTINCT t.workflow_name, t.instance_id
     FROM json_each(?2) AS runnable CROSS JOIN timers AS t
     WHERE t.workflow_name = runnable.value AND t.armed = 1 AND t.due_at <= ?1";

/// A list of names as a JSON array, for `IN (SELECT value FROM json_each(?))`, which keeps a
/// statement with a variable number of names cacheable.
fn json_list(names: &[impl AsRef<str>]) -> String {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

/// What saving a step does to its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerChange {
    Keep,
    Set(i64),
    Clear,
}

/// How a step is named in `timers.step` and `events.consumed_by`.
fn step_token(key: &StepKey) -> String {
    format!("{}:{}:{}", key.kind.as_str(), key.count, key.name)
}

pub(crate) fn parse_kind(text: &str) -> rusqlite::Result<StepKind> {
    StepKind::from_stored(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("step kind {text}").into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepState;

    fn instance(id: &str, created_on: i64) -> Instance {
        Instance::queued("wf".into(), id.into(), "v1".into(), "{}".into(), created_on)
    }

    /// The key of the instance `id` of the workflow `wf`, where [`instance`] puts its rows.
    fn instance_key(id: &str) -> InstanceKey {
        InstanceKey::stored("wf".into(), id.into())
    }

    fn workflow_name(name: &str) -> WorkflowName {
        WorkflowName::parse(name).unwrap()
    }

    /// Ends the instance `id` with `status` at `now`.
    fn finish(store: &Store, id: &str, status: InstanceStatus, now: i64) {
        let end = Write::Finish { status, output: None, error: None, terminated_by: None };
        store.apply(&instance_key(id), vec![end], now).unwrap();
    }

    #[test]
    fn an_instance_expires_by_the_retention_of_how_it_ended() {
        let store = Store::open_in_memory().unwrap();
        let name = workflow_name("wf");
        store
            .upsert_workflow(&WorkflowRecord {
                name: "wf".into(),
                id: "w1".into(),
                class_name: "C".into(),
                script_name: "s".into(),
                created_on: 0,
                modified_on: 0,
                default_retention: Retention::default(),
            })
            .unwrap();
        // The workflow's REST default fills in what an instance leaves unset.
        store.set_workflow_retention(&name, Retention { success_ms: Some(500), error_ms: Some(700) }).unwrap();
        let own = Retention { success_ms: Some(100), error_ms: None };
        store.insert_instance(&Instance { retention: own, ..instance("own", 0) }, &[]).unwrap();
        store.insert_instance(&instance("defaults", 0), &[]).unwrap();
        store.insert_instance(&instance("failed", 0), &[]).unwrap();
        store.insert_instance(&instance("running", 0), &[]).unwrap();
        let read = |id: &str| store.instance(&instance_key(id)).unwrap().unwrap();
        assert_eq!(read("own").retention, Retention { success_ms: Some(100), error_ms: Some(700) });
        assert_eq!(read("running").expires_on, None, "nothing expires before it ends");

        finish(&store, "own", InstanceStatus::Complete, 1_000);
        finish(&store, "defaults", InstanceStatus::Terminated, 1_000);
        finish(&store, "failed", InstanceStatus::Errored, 1_000);
        assert_eq!(
            [read("own"), read("defaults"), read("failed")].map(|i| i.expires_on),
            [Some(1_100), Some(1_500), Some(1_700)]
        );
        assert_eq!(store.next_expiry().unwrap(), Some(1_100));

        assert_eq!(store.delete_expired(1_099).unwrap(), []);
        assert_eq!(store.delete_expired(1_500).unwrap().len(), 2);
        assert!(store.instance(&instance_key("own")).unwrap().is_none());
        assert_eq!(store.next_expiry().unwrap(), Some(1_700));
        // A restart makes it unfinished again: it no longer expires.
        store.apply(&instance_key("failed"), vec![Write::ResetForRestart { from_seq: None }], 1_600).unwrap();
        assert_eq!(store.next_expiry().unwrap(), None);
        assert_eq!(store.delete_expired(10_000).unwrap(), []);
        assert!(store.instance(&instance_key("running")).unwrap().is_some());
    }

    #[test]
    fn reopening_a_database_keeps_its_rows_and_schema() {
        let dir = std::env::temp_dir().join(format!("stepflare-store-{}", std::process::id()));
        {
            let store = Store::open_in_dir(&dir).unwrap();
            store.insert_instance(&instance("a", 1), &[]).unwrap();
        }
        let store = Store::open_in_dir(&dir).unwrap();
        assert_eq!(store.instance(&instance_key("a")).unwrap().unwrap().status, InstanceStatus::Queued);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn duplicate_instance_ids_are_refused() {
        let store = Store::open_in_memory().unwrap();
        store.insert_instance(&instance("a", 1), &[]).unwrap();
        assert!(matches!(store.insert_instance(&instance("a", 2), &[]), Err(StoreError::InstanceExists)));
    }

    #[test]
    fn listing_pages_by_cursor_newest_first() {
        let store = Store::open_in_memory().unwrap();
        for (id, created) in [("a", 1), ("b", 2), ("c", 3)] {
            store.insert_instance(&instance(id, created), &[]).unwrap();
        }
        let mut filter = InstanceFilter { workflow: "wf".into(), limit: 2, ..Default::default() };
        let first: Vec<_> = store.list_instances(&filter).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(first, ["c", "b"]);
        filter.after = Some((2, "b".into()));
        let second: Vec<_> = store.list_instances(&filter).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(second, ["a"]);
    }

    #[test]
    fn timers_count_only_for_the_workflows_asked_about() {
        let store = Store::open_in_memory().unwrap();
        store.insert_instance(&instance("a", 1), &[]).unwrap();
        store.set_status(&instance_key("a"), InstanceStatus::Waiting, 2).unwrap();
        let key = StepKey { kind: StepKind::Sleep, name: "nap".into(), count: 1 };
        let step = Step { wake_at: Some(50), ..Step::started(key, 0, 1) };
        store.save_step(&instance_key("a"), &step, None, TimerChange::Set(50)).unwrap();
        let runnable = [workflow_name("wf")];
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(50));
        assert_eq!(store.due_instances(60, &runnable).unwrap(), [InstanceKey::stored("wf".into(), "a".into())]);
        assert_eq!(store.next_timer(&[workflow_name("other")]).unwrap(), None);
        assert!(store.due_instances(60, &[]).unwrap().is_empty());
    }

    fn sleep_step(name: &str, wake_at: i64) -> Step {
        let key = StepKey { kind: StepKind::Sleep, name: name.into(), count: 1 };
        Step { wake_at: Some(wake_at), ..Step::started(key, 0, 1) }
    }

    #[test]
    fn a_timer_counts_only_while_its_instance_waits() {
        let store = Store::open_in_memory().unwrap();
        let runnable = [workflow_name("wf")];
        store.insert_instance(&instance("a", 1), &[]).unwrap();
        store.apply(&instance_key("a"), vec![Write::MarkRunning { version_id: "v1".into() }], 2).unwrap();
        store.save_step(&instance_key("a"), &sleep_step("nap", 50), None, TimerChange::Set(50)).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), None, "set while running");
        store.set_status(&instance_key("a"), InstanceStatus::Waiting, 3).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(50), "armed by the suspension");
        store.set_status(&instance_key("a"), InstanceStatus::Paused, 4).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), None, "a paused instance does not wake");
        store.set_status(&instance_key("a"), InstanceStatus::Waiting, 5).unwrap();
        store.save_step(&instance_key("a"), &sleep_step("later", 70), None, TimerChange::Set(70)).unwrap();
        assert_eq!(
            store.due_instances(80, &runnable).unwrap(),
            [InstanceKey::stored("wf".into(), "a".into())],
            "once each"
        );
        store.apply(&instance_key("a"), vec![Write::MarkRunning { version_id: "v1".into() }], 6).unwrap();
        assert!(store.due_instances(80, &runnable).unwrap().is_empty(), "a running instance is not woken");
        assert!(store.has_due_timer(&instance_key("a"), 80).unwrap(), "the run still sees its own timers");
        store.save_step(&instance_key("a"), &sleep_step("nap", 50), None, TimerChange::Clear).unwrap();
        store.set_status(&instance_key("a"), InstanceStatus::Waiting, 7).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(70));
        let end = Write::Finish { status: InstanceStatus::Complete, output: None, error: None, terminated_by: None };
        store.apply(&instance_key("a"), vec![end], 8).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), None);
    }

    #[test]
    fn the_next_timer_is_the_earliest_of_the_runnable_workflows() {
        let store = Store::open_in_memory().unwrap();
        for (workflow, id, due) in [("wf", "a", 300), ("wf", "b", 200), ("other", "c", 100), ("gone", "d", 50)] {
            let row = Instance::queued(workflow.into(), id.into(), "v1".into(), "{}".into(), 1);
            store.insert_instance(&row, &[]).unwrap();
            let key = InstanceKey::stored(workflow.into(), id.into());
            store.set_status(&key, InstanceStatus::Waiting, 2).unwrap();
            store.save_step(&key, &sleep_step("nap", due), None, TimerChange::Set(due)).unwrap();
        }
        let runnable = [workflow_name("wf"), workflow_name("other")];
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(100));
        let mut due = store.due_instances(250, &runnable).unwrap();
        due.sort();
        assert_eq!(
            due,
            [InstanceKey::stored("other".into(), "c".into()), InstanceKey::stored("wf".into(), "b".into())]
        );
        assert_eq!(store.next_timer(&[]).unwrap(), None);
    }

    /// The plan SQLite makes for `sql`, one line per step.
    fn query_plan(store: &Store, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        store
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt.query_map(params, |row| row.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap()
    }

    #[test]
    fn timer_planning_seeks_the_armed_index_and_scans_no_table() {
        let store = Store::open_in_memory().unwrap();
        for n in 0..200 {
            let id = format!("i{n}");
            store.insert_instance(&instance(&id, n), &[]).unwrap();
            store.set_status(&instance_key(&id), InstanceStatus::Waiting, n).unwrap();
            store
                .save_step(&instance_key(&id), &sleep_step("nap", 1_000 + n), None, TimerChange::Set(1_000 + n))
                .unwrap();
        }
        store.write_blocking(|tx| Ok(tx.execute_batch("ANALYZE")?)).unwrap();
        let runnable = json_list(&[workflow_name("wf"), workflow_name("other")]);
        let plans = [
            (NEXT_TIMER, query_plan(&store, NEXT_TIMER, params![runnable])),
            (DUE_INSTANCES, query_plan(&store, DUE_INSTANCES, params![1_100, runnable])),
        ];
        for (sql, plan) in plans {
            assert!(
                plan.iter().any(|line| line.starts_with("SEARCH") && line.contains("INDEX timers_armed")),
                "{sql}\n{plan:#?}"
            );
            // The only thing read in full is the list of runnable workflows.
            assert!(
                plan.iter().all(|line| !line.starts_with("SCAN") || line.starts_with("SCAN runnable")),
                "{sql}\n{plan:#?}"
            );
        }
    }

    /// A store opened on a state file that an older stepflare left: `migrations` applied, then
    /// `rows` written.
    fn upgraded_from(migrations: usize, rows: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = Connection::open(dir.path().join("state.sqlite")).unwrap();
            migrations::migrate_to(&mut conn, migrations).unwrap();
            conn.execute_batch(rows).unwrap();
        }
        let store = Store::open_in_dir(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn steps_keyed_by_name_are_kept_in_their_order_when_keyed_by_seq() {
        // Two rows with one `seq`, which the old key allowed.
        let (_dir, store) = upgraded_from(
            11,
            "INSERT INTO steps (workflow_name, instance_id, kind, name, count, seq, state, started_on, config)
             VALUES ('wf', 'i', 'do', 'step 10', 1, 2, 'succeeded', 1, '{\"a\":1}'),
                    ('wf', 'i', 'do', 'step 2', 1, 1, 'succeeded', 1, '{\"a\":1}'),
                    ('wf', 'i', 'do', 'b', 1, 2, 'succeeded', 1, '{\"b\":2}'),
                    ('wf', 'other', 'sleep', 'nap', 1, 7, 'waiting', 1, NULL);",
        );
        let seen = |id: &str| -> Vec<(String, u32, Option<String>)> {
            let steps = store.steps(&instance_key(id)).unwrap();
            steps.into_iter().map(|step| (step.key.name, step.seq, step.config)).collect()
        };
        let config = |text: &str| Some(text.to_owned());
        assert_eq!(
            seen("i"),
            [
                ("step 2".to_owned(), 0, config(r#"{"a":1}"#)),
                ("b".to_owned(), 1, config(r#"{"b":2}"#)),
                ("step 10".to_owned(), 2, config(r#"{"a":1}"#))
            ]
        );
        assert_eq!(seen("other"), [("nap".to_owned(), 0, None)]);
    }

    #[test]
    fn a_state_file_of_the_previous_schema_is_upgraded_with_its_timers_armed() {
        let (_dir, store) = upgraded_from(
            3,
            "INSERT INTO instances (workflow_name, id, version_id, status, params, trigger_source, created_on,
                 modified_on)
             VALUES ('wf', 'asleep', 'v1', 'waiting', '{}', 'api', 1, 1),
                    ('wf', 'busy', 'v1', 'running', '{}', 'api', 1, 1);
             INSERT INTO timers (workflow_name, instance_id, step, due_at)
             VALUES ('wf', 'asleep', 'sleep:1:nap', 500), ('wf', 'busy', 'sleep:1:nap', 100);",
        );
        let version: i64 = store.read(|conn| Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)).unwrap();
        assert_eq!(version, 12, "upgraded to the latest schema");
        let runnable = [workflow_name("wf")];
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(500), "only the waiting instance's timer counts");
        assert_eq!(store.due_instances(1_000, &runnable).unwrap(), [InstanceKey::stored("wf".into(), "asleep".into())]);
        store.set_status(&instance_key("busy"), InstanceStatus::Waiting, 2).unwrap();
        assert_eq!(store.next_timer(&runnable).unwrap(), Some(100), "the triggers work on an upgraded file");
    }

    #[test]
    fn closing_empties_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).unwrap();
        for n in 0..50 {
            store.insert_instance(&instance(&format!("i{n}"), n), &[]).unwrap();
        }
        let wal = wal_path(&dir.path().join("state.sqlite"));
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        store.close().unwrap();
        assert_eq!(std::fs::metadata(&wal).map_or(0, |meta| meta.len()), 0);
        assert_eq!(store.instance(&instance_key("i49")).unwrap().unwrap().id, "i49", "the store stays usable");
    }

    #[test]
    fn the_log_is_restarted_past_its_frames_and_emptied_past_its_limit() {
        assert!(Round::due(false, 0, WAL_LIMIT));
        assert!(!Round::due(true, 2 * WAL_LIMIT, WAL_LIMIT));
        assert!(Round::due(true, 2 * WAL_LIMIT + 1, WAL_LIMIT));
        assert_eq!(Round::plan(0, WAL_LIMIT, 0), Round::Rest);
        assert_eq!(Round::plan(WAL_LIMIT, WAL_LIMIT, RESTART_FRAMES), Round::Rest);
        assert_eq!(Round::plan(WAL_LIMIT, WAL_LIMIT, RESTART_FRAMES + 1), Round::Restart);
        assert_eq!(Round::plan(WAL_LIMIT + 1, WAL_LIMIT, 0), Round::Truncate);
        assert_eq!(Round::plan(WAL_LIMIT + 1, WAL_LIMIT, RESTART_FRAMES + 1), Round::Truncate);
    }

    #[test]
    fn the_log_is_copied_and_started_over_once_the_writer_rests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).unwrap();
        let database = dir.path().join("state.sqlite");
        let wal = wal_path(&database);
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
        let params = format!("\"{}\"", "x".repeat(8 * 1024));
        let mut n = 0;
        let mut burst = |bytes: u64| {
            let mut written = 0;
            while written < bytes {
                let row = Instance::queued("wf".into(), format!("i{n}"), "v1".into(), params.clone(), n);
                store.insert_instance(&row, &[]).unwrap();
                n += 1;
                written += params.len() as u64;
            }
        };
        burst(8 * 1024 * 1024);
        assert!(size(&wal) >= 8 * 1024 * 1024, "the log after the first burst: {} bytes", size(&wal));
        // Once the writer rests for a tick, the checkpointer copies the log into the database and
        // restarts it: the write after that goes to the log's beginning, and the file stops
        // growing. (Each write here is followed by a rest longer than two ticks.)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            std::thread::sleep(Checkpointer::TICK * 3);
            let before = size(&wal);
            burst(1);
            if size(&wal) == before {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the log still grows: {} bytes", size(&wal));
        }
        assert!(size(&database) > 1024 * 1024, "nothing was copied into the database");
        let first = size(&wal);
        // ...and the next writes start the log over rather than grow it.
        burst(4 * 1024 * 1024);
        assert!(size(&wal) <= first, "the log grew from {first} to {} bytes", size(&wal));
    }

    #[test]
    fn the_log_is_emptied_under_writes_that_never_stop() {
        const LIMIT: u64 = 1024 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal_limit(dir.path(), LIMIT).unwrap();
        let wal = wal_path(&dir.path().join("state.sqlite"));
        let params = format!("\"{}\"", "x".repeat(8 * 1024));
        let (mut outgrown, mut n) = (false, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let row = Instance::queued("wf".into(), format!("i{n}"), "v1".into(), params.clone(), n);
            store.insert_instance(&row, &[]).unwrap();
            n += 1;
            let size = std::fs::metadata(&wal).map_or(0, |meta| meta.len());
            outgrown |= size > LIMIT;
            // `journal_size_limit` alone would leave the file at the limit, never under it.
            if outgrown && size < LIMIT / 2 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "a log of {size} bytes after {n} writes");
        }
    }

    #[test]
    fn a_fired_instance_and_its_firing_commit_together_and_only_once() {
        let store = Store::open_in_memory().unwrap();
        let owner = CronOwner::Workflow("wf".into());
        store.track_cron(&owner, "* * * * *", 10).unwrap();
        store.track_cron(&owner, "* * * * *", 20).unwrap();
        assert_eq!(store.cron_firings().unwrap()[0].done_through, 10, "tracking again keeps the first time");
        let row = instance("* * * * *-60000", 60_000);
        assert!(store.insert_fired_instance(&row, &[], &owner, "* * * * *", 60_000).unwrap());
        assert!(!store.insert_fired_instance(&row, &[], &owner, "* * * * *", 60_000).unwrap());
        let firings = store.cron_firings().unwrap();
        assert_eq!(firings.len(), 1);
        assert_eq!(firings[0].done_through, 60_000);
        store.insert_fired_instance(&instance("older", 5), &[], &owner, "* * * * *", 5).unwrap();
        assert_eq!(store.cron_firings().unwrap()[0].done_through, 60_000, "done_through never goes back");
        store.forget_cron(&owner, "* * * * *").unwrap();
        assert!(store.cron_firings().unwrap().is_empty());
    }

    #[test]
    fn a_worker_firing_stays_running_until_it_ends() {
        let store = Store::open_in_memory().unwrap();
        let worker = CronOwner::Worker("wf".into());
        store.track_cron(&CronOwner::Workflow("wf".into()), "0 * * * *", 1).unwrap();
        store.start_worker_firing(&worker, "0 * * * *", 3_600_000).unwrap();
        let running: Vec<_> = store.cron_firings().unwrap().into_iter().filter(|f| f.running.is_some()).collect();
        assert_eq!(running.len(), 1, "the workflow of the same name is another owner");
        assert_eq!((running[0].owner.clone(), running[0].done_through), (worker.clone(), 3_600_000));
        store.end_worker_firing(&worker, "0 * * * *", 3_600_000).unwrap();
        assert!(store.cron_firings().unwrap().iter().all(|f| f.running.is_none()));
    }

    #[test]
    fn a_consumed_event_is_no_longer_buffered_or_deliverable() {
        let store = Store::open_in_memory().unwrap();
        store.insert_instance(&instance("a", 1), &[]).unwrap();
        let first = store.insert_event(&instance_key("a"), "go", "{\"n\":1}", 5).unwrap();
        let second = store.insert_event(&instance_key("a"), "go", "{\"n\":2}", 6).unwrap();
        assert!(first.seq < second.seq);
        let key = StepKey { kind: StepKind::WaitForEvent, name: "w".into(), count: 1 };
        let step = Step { wake_at: Some(100), event_type: Some("go".into()), ..Step::started(key.clone(), 0, 1) };
        store.save_step(&instance_key("a"), &step, None, TimerChange::Set(100)).unwrap();
        assert!(store.has_deliverable_event(&instance_key("a")).unwrap());
        store.apply(&instance_key("a"), vec![Write::ConsumeEvent { seq: first.seq, by: key }], 10).unwrap();
        assert_eq!(store.buffered_events(&instance_key("a")).unwrap(), [second], "first in, first out");
    }

    #[test]
    fn a_journal_of_schema_5_is_kept_by_the_upgrade() {
        let (_dir, store) = upgraded_from(
            5,
            r#"INSERT INTO journal (workflow_name, instance_id, first_id, last_id, events) VALUES
                 ('wf', 'a', 1, 1, '[{"timestamp":1,"type":"workflow_queued"}]'),
                 ('wf', 'a', 2, 3, '[{"timestamp":2,"type":"workflow_running"},{"timestamp":3,"type":"workflow_waiting"}]'),
                 ('wf', 'b', 1, 1, '[{"timestamp":1,"type":"workflow_queued"}]');"#,
        );
        let ids: Vec<u64> = store.journal(&instance_key("a"), 1).unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [2, 3]);
        store.apply(&instance_key("a"), vec![Write::SetStatus(InstanceStatus::Running)], 4).unwrap();
        let running = crate::model::JournalEntry { timestamp: 4, event: crate::model::InstanceEvent::WorkflowRunning };
        store.apply(&instance_key("a"), vec![Write::Journal(vec![running])], 4).unwrap();
        let ids: Vec<u64> = store.journal(&instance_key("a"), 0).unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [1, 2, 3, 4], "numbering goes on from the upgraded rows");
    }

    #[test]
    fn a_cached_query_is_not_prepared_again_as_its_table_grows() {
        use crate::model::{InstanceEvent, JournalEntry};
        let store = Store::open_in_memory().unwrap();
        let reprepared = store
            .write_blocking(|tx| {
                for n in 0..20 {
                    tx.prepare_cached(writes::LAST_JOURNAL_ID)?.query(params!["wf", "a"])?.next()?;
                    let entry = JournalEntry { timestamp: n, event: InstanceEvent::WorkflowRunning };
                    writes::append_journal(tx, "wf", "a", &[entry])?;
                }
                Ok(tx.prepare_cached(writes::LAST_JOURNAL_ID)?.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .unwrap();
        // Without `keep_plans`, SQLite prepared this statement again after nearly every append,
        // which cost more than the append.
        assert_eq!(reprepared, 0);
    }

    #[test]
    fn journal_look_ups_seek_the_instance_index() {
        let store = Store::open_in_memory().unwrap();
        let last = query_plan(&store, writes::LAST_JOURNAL_ID, params!["wf", "a"]);
        assert!(
            last.iter().any(|line| line.contains("COVERING INDEX journal_by_instance")),
            "the last id is read from the index alone: {last:#?}"
        );
        let after = query_plan(&store, writes::JOURNAL_AFTER, params!["wf", "a", 0]);
        assert!(
            after.iter().all(|line| line.starts_with("SEARCH") && line.contains("journal_by_instance")),
            "{after:#?}"
        );
    }

    #[test]
    fn the_journal_numbers_events_per_instance_across_commits() {
        use crate::model::{InstanceEvent, JournalEntry};
        let store = Store::open_in_memory().unwrap();
        let queued = [JournalEntry { timestamp: 1, event: InstanceEvent::WorkflowQueued }];
        store.insert_instance(&instance("a", 1), &queued).unwrap();
        store.insert_instance(&instance("b", 1), &queued).unwrap();
        let running = JournalEntry { timestamp: 2, event: InstanceEvent::WorkflowRunning };
        let waiting = JournalEntry { timestamp: 3, event: InstanceEvent::WorkflowWaiting };
        store.apply(&instance_key("a"), vec![Write::Journal(vec![running, waiting])], 3).unwrap();
        let ids: Vec<u64> = store.journal(&instance_key("a"), 0).unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [1, 2, 3]);
        let after: Vec<u64> = store.journal(&instance_key("a"), 2).unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(after, [3], "from the middle of a commit's row");
        assert_eq!(store.journal(&instance_key("b"), 0).unwrap().len(), 1, "each instance counts from 1");
        assert!(store.delete_instance(&instance_key("a")).unwrap());
        assert!(store.journal(&instance_key("a"), 0).unwrap().is_empty(), "deleted with its instance");
    }

    #[test]
    fn a_write_is_seen_by_a_read_on_another_thread_as_soon_as_it_returns() {
        let store = std::sync::Arc::new(Store::open_in_memory().unwrap());
        let (written, returned) = std::sync::mpsc::channel();
        let writer = std::thread::spawn({
            let store = store.clone();
            move || {
                for n in 0..300 {
                    store.insert_instance(&instance(&format!("i{n}"), n), &[]).unwrap();
                    written.send(n).unwrap();
                }
            }
        });
        // Other readers keep the pool's connections in use and in turn, so that the reads below
        // land on connections that have read before.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy: Vec<_> = (0..3)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        store.count_by_status(&workflow_name("wf")).unwrap();
                    }
                })
            })
            .collect();
        for n in returned {
            assert!(
                store.instance(&instance_key(&format!("i{n}"))).unwrap().is_some(),
                "i{n} was written but not seen"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        busy.into_iter().for_each(|reader| reader.join().unwrap());
    }

    #[test]
    fn the_async_path_works_on_a_runtime_other_than_the_store_s() {
        let made_on = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let store = std::sync::Arc::new(made_on.block_on(async { Store::open_in_memory() }).unwrap());
        store.insert_instance(&instance("a", 1), &[]).unwrap();
        drop(made_on);
        let other = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let stored = other
            .block_on({
                let store = store.clone();
                async move {
                    let attempt = Attempt {
                        key: StepKey { kind: StepKind::Do, name: "s".into(), count: 1 },
                        attempt: 1,
                        started_on: 1,
                        ended_on: Some(2),
                        success: Some(true),
                        error: None,
                    };
                    let saves: Vec<_> = (0..100)
                        .map(|n| {
                            let key = StepKey { kind: StepKind::Do, name: format!("s{n}"), count: 1 };
                            let step = Step { state: StepState::Succeeded, ..Step::started(key, n, 1) };
                            // Spawned: the future is Send and borrows nothing.
                            tokio::spawn(store.save_step_async(
                                &instance_key("a"),
                                &step,
                                Some(&attempt),
                                TimerChange::Keep,
                            ))
                        })
                        .collect();
                    for save in saves {
                        save.await.unwrap()?;
                    }
                    store
                        .write(|tx| Ok(tx.query_row("SELECT count(*) FROM steps", [], |row| row.get::<_, i64>(0))?))
                        .await
                }
            })
            .unwrap();
        assert_eq!(stored, 100);
        assert_eq!(store.steps(&instance_key("a")).unwrap().len(), 100);
        assert_eq!(store.attempts(&instance_key("a")).unwrap().len(), 1);
    }

    #[test]
    fn an_in_memory_store_reads_what_it_wrote_and_leaves_nothing_behind() {
        let store = Store::open_in_memory().unwrap();
        let folder = store.readers.path().parent().unwrap().to_owned();
        assert!(!folder.exists(), "{} is left once every connection is open", folder.display());
        // Some 8 MiB: the log is checkpointed and restarted many times over, in files unlinked.
        let params = format!("\"{}\"", "x".repeat(8 * 1024));
        for n in 0..1_000 {
            let row = Instance::queued("wf".into(), format!("i{n}"), "v1".into(), params.clone(), n);
            store.insert_instance(&row, &[]).unwrap();
        }
        store.set_status(&instance_key("i999"), InstanceStatus::Running, 2).unwrap();
        // More readers at once than the pool has connections: none can be opened any more, so
        // they take turns on the ones opened before the folder went.
        std::thread::scope(|scope| {
            for _ in 0..readers::MAX_READERS * 2 {
                scope.spawn(|| {
                    let filter = InstanceFilter { workflow: "wf".into(), ..Default::default() };
                    assert_eq!(store.count_instances(&filter).unwrap(), 1_000);
                    assert_eq!(store.instance(&instance_key("i999")).unwrap().unwrap().status, InstanceStatus::Running);
                });
            }
        });
        store.close().unwrap();
        assert_eq!(store.instance(&instance_key("i0")).unwrap().unwrap().params, params, "the store stays usable");
    }
}
