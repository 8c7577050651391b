//! The one connection that writes, owned by a thread of its own (`sqlite-writer`), with group
//! commit in front of it.
//!
//! A write is a job: a closure over the open transaction. Callers queue jobs; the thread takes
//! every job queued when it wakes (up to [`GROUP_JOBS`] jobs or about [`GROUP_BYTES`] bytes),
//! runs them in one transaction, each inside a savepoint of its own so that a job that fails is
//! undone alone and only its caller sees the error (a job alone in its group needs none: its
//! transaction is rolled back instead), commits once, and only then answers every
//! caller. While one group runs and commits the next one queues, so the more callers write at
//! once the more writes share a commit (its locks, its log header, and the pages that several
//! writes touch, written to the log once). A job's caller learns its result only after the
//! commit that holds it, or the commit's error if that failed.
//!
//! A caller waits in one of two ways: blocked on a std channel (a thread that may block), or on
//! a tokio oneshot whose future any executor can poll, so that many runs on a few threads can
//! all have a write in the same group. A thread that died answers every waiting caller and every
//! new one with [`StoreError::WriterGone`]: its queue's ends are dropped with it.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{Result, StoreError, checkpoint};

/// The most jobs one transaction holds: enough that a burst of concurrent writers shares a
/// commit, few enough that the first caller of a group does not wait long for the last.
pub(super) const GROUP_JOBS: usize = 256;
/// About the most bytes one transaction writes before it commits; a group goes past it by at
/// most one job. Large step outputs thus do not make one transaction (and its wait) huge.
pub(super) const GROUP_BYTES: usize = 4 * 1024 * 1024;

thread_local! {
    /// Set on the writer thread, where waiting for a write would wait for the thread itself.
    static ON_WRITER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// How much the writer has done since the store opened; for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Jobs handed to the writer.
    pub queued: u64,
    /// Jobs run, whether they succeeded or not.
    pub run: u64,
    /// Transactions committed: one per group.
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    run: AtomicU64,
    commits: AtomicU64,
    /// Told after every commit, for readers that wait for new rows (subscriptions).
    committed: tokio::sync::Notify,
}

/// The writer thread and the queue in front of it. Dropping it lets the thread finish what is
/// queued, then waits for it.
pub(super) struct Writer {
    /// `None` once the writer is stopped.
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// The number of jobs handed to the writer so far, readable from another thread: the
/// checkpointer copies the log only when it did not change for a while.
#[derive(Clone)]
pub(super) struct WriterActivity(Arc<Counters>);

impl WriterActivity {
    pub(super) fn jobs(&self) -> u64 {
        self.0.queued.load(Ordering::Relaxed)
    }
}

/// What the writer thread is asked to do, in the order asked.
enum Request {
    Write {
        job: Box<dyn Job>,
        /// About how many bytes the job writes, to bound a group.
        bytes: usize,
    },
    /// Copy the whole write-ahead log into the database and empty it, once every write queued
    /// before has committed; answers whether it could.
    EmptyLog(mpsc::SyncSender<Result<bool>>),
}

/// A queued write whose result type is erased, so that one queue holds them all.
trait Job: Send {
    /// Runs the write inside the group's transaction (the writer has opened its savepoint).
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran>;
    /// Answers the caller without running: the group could not run it.
    fn refuse(self: Box<Self>, error: StoreError);
}

/// A write that has run, waiting for its group's commit before its caller is answered.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller: its own error if it failed, else its value if the group committed,
    /// else the group's error.
    fn answer(self: Box<Self>, group: Result<(), &StoreError>);
}

/// Where a caller waits for its answer.
pub(super) enum Reply<T> {
    /// A thread blocked until the answer comes.
    Blocked(mpsc::SyncSender<Result<T>>),
    /// A future; any executor may poll it.
    Awaited(tokio::sync::oneshot::Sender<Result<T>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T>) {
        // A caller that stopped waiting (a dropped future) needs no answer: its write stands.
        match self {
            Reply::Blocked(sender) => {
                let _ = sender.send(result);
            }
            Reply::Awaited(sender) => {
                let _ = sender.send(result);
            }
        }
    }
}

struct QueuedJob<F, T> {
    work: F,
    reply: Reply<T>,
}

struct RanJob<T> {
    result: Result<T>,
    reply: Reply<T>,
}

impl<F, T> Job for QueuedJob<F, T>
where
    F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran> {
        let QueuedJob { work, reply } = *self;
        // A job that panics is rolled back like one that fails; the writer goes on for the
        // others. Nothing the closure touched outlives it but the transaction, which the
        // savepoint restores.
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| Err(StoreError::WritePanicked));
        Box::new(RanJob { result, reply })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        self.reply.send(Err(error));
    }
}

impl<T: Send + 'static> Ran for RanJob<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, group: Result<(), &StoreError>) {
        let RanJob { result, reply } = *self;
        let result = match (result, group) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(error)) => Err(same_error(error)),
            (Err(own), _) => Err(own),
        };
        reply.send(result);
    }
}

impl Writer {
    /// Starts the writer thread with `conn`, which must be the only connection that writes.
    pub(super) fn start(conn: Connection) -> Result<Self> {
        let (queue, requests) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let counters = counters.clone();
                move || serve(conn, &requests, &counters)
            })
            .map_err(|source| StoreError::StartThread { name: "sqlite-writer", source })?;
        Ok(Writer { queue: Some(queue), thread: Some(thread), counters })
    }

    /// Queues `work`; `reply` hears of it once its group has committed (or failed).
    pub(super) fn submit<T, F>(&self, bytes: usize, work: F, reply: Reply<T>) -> Result<()>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let queue = self.queue.as_ref().ok_or(StoreError::WriterGone)?;
        let job = Box::new(QueuedJob { work, reply });
        queue.send(Request::Write { job, bytes }).map_err(|_| StoreError::WriterGone)?;
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `work` in the next group and blocks the calling thread until that group committed.
    pub(super) fn write_blocking<T, F>(&self, bytes: usize, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        refuse_on_writer_thread()?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(bytes, work, Reply::Blocked(reply))?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Queues `work` now (not when the future is first polled) and returns a future of its
    /// result, ready once its group has committed. Dropping the future does not take the write
    /// back. The future borrows nothing and needs no particular runtime.
    pub(super) fn write<T, F>(&self, bytes: usize, work: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.submit(bytes, work, Reply::Awaited(reply));
        async move {
            queued?;
            answer.await.map_err(|_| StoreError::WriterGone)?
        }
    }

    /// Empties the write-ahead log after every write queued before this call has committed;
    /// says whether it could (readers in the middle of a read keep it from finishing).
    pub(super) fn empty_log(&self) -> Result<bool> {
        refuse_on_writer_thread()?;
        let queue = self.queue.as_ref().ok_or(StoreError::WriterGone)?;
        let (reply, answer) = mpsc::sync_channel(1);
        queue.send(Request::EmptyLog(reply)).map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub(super) fn committed(&self) -> &tokio::sync::Notify {
        &self.counters.committed
    }

    /// How busy the writer is, for the checkpointer.
    pub(super) fn activity(&self) -> WriterActivity {
        WriterActivity(self.counters.clone())
    }

    pub(super) fn stats(&self) -> WriterStats {
        WriterStats {
            queued: self.counters.queued.load(Ordering::Relaxed),
            run: self.counters.run.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }

    /// Lets the thread finish every queued write, then waits for it; later writes get
    /// [`StoreError::WriterGone`].
    pub(super) fn stop(&mut self) {
        // The thread ends when its queue is empty and has no sender left.
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            // A panic on the thread was reported by the panic hook; its callers got WriterGone.
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A write waited for from the writer thread (inside a job) would wait for itself forever.
fn refuse_on_writer_thread() -> Result<()> {
    if ON_WRITER_THREAD.get() { Err(StoreError::WriteInsideWrite) } else { Ok(()) }
}

/// The writer thread: takes what is queued, a group at a time, until no sender is left.
fn serve(mut conn: Connection, requests: &mpsc::Receiver<Request>, counters: &Counters) {
    ON_WRITER_THREAD.set(true);
    let mut next = None;
    loop {
        let request = match next.take() {
            Some(request) => request,
            None => match requests.recv() {
                Ok(request) => request,
                Err(mpsc::RecvError) => return,
            },
        };
        match request {
            Request::EmptyLog(reply) => {
                let _ = reply.send(checkpoint(&conn, "TRUNCATE").map(|outcome| outcome.finished));
            }
            Request::Write { job, bytes } => {
                let mut group = vec![job];
                let mut group_bytes = bytes;
                while group.len() < GROUP_JOBS && group_bytes < GROUP_BYTES {
                    match requests.try_recv() {
                        Ok(Request::Write { job, bytes }) => {
                            group.push(job);
                            group_bytes += bytes;
                        }
                        // Whatever comes after a write waits for the write's commit.
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_group(&mut conn, group, counters);
            }
        }
    }
}

/// Runs `group` in one transaction, a savepoint per job, commits, then answers every caller.
fn commit_group(conn: &mut Connection, group: Vec<Box<dyn Job>>, counters: &Counters) {
    // A job alone in its group (callers writing one at a time) needs no savepoint of its own:
    // if it fails, nothing is committed. That saves its SAVEPOINT, its RELEASE and the copy of
    // every page it touches into the savepoint's journal.
    let savepoints = group.len() > 1;
    // IMMEDIATE takes the write lock at BEGIN, where the busy timeout waits out a checkpoint
    // that holds it, rather than at a job's first write.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => {
            let error = StoreError::from(error);
            for job in group {
                job.refuse(same_error(&error));
            }
            return;
        }
    };
    let mut ran = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    // An error that leaves the transaction unusable: SQLite rolled it back by itself (a full
    // disk, an IO error), or a job ended it. No job of the group can then be committed.
    let mut broken = None;
    for job in jobs.by_ref() {
        if savepoints && let Err(error) = run_cached(&tx, "SAVEPOINT job") {
            let error = StoreError::from(error);
            job.refuse(same_error(&error));
            broken = Some(error);
            break;
        }
        let done = job.run(&tx);
        counters.run.fetch_add(1, Ordering::Relaxed);
        let closed = match (savepoints, done.succeeded()) {
            (false, _) => Ok(()),
            (true, true) => run_cached(&tx, "RELEASE job"),
            (true, false) => run_cached(&tx, "ROLLBACK TO job").and_then(|()| run_cached(&tx, "RELEASE job")),
        };
        ran.push(done);
        if let Err(error) = closed {
            broken = Some(StoreError::from(error));
            break;
        }
    }
    let outcome = match broken {
        Some(error) => {
            for job in jobs {
                job.refuse(same_error(&error));
            }
            // Dropping the transaction rolls back what is left of it.
            drop(tx);
            Err(error)
        }
        // No job succeeded, so there is nothing to commit (and a lone job's writes were never
        // undone by a savepoint): dropping the transaction undoes them; each job's own error is
        // its answer.
        None if !ran.iter().any(|done| done.succeeded()) => {
            drop(tx);
            Ok(false)
        }
        None => tx.commit().map(|()| true).map_err(StoreError::from),
    };
    if outcome.as_ref().is_ok_and(|committed| *committed) {
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters.committed.notify_waiters();
    }
    for done in ran {
        done.answer(outcome.as_ref().map(|_| ()));
    }
}

/// Runs a statement without parameters, parsed once per connection: a group runs its savepoint
/// statements hundreds of times.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The group's error once more for each of its callers (errors are not `Clone`): SQLite's own
/// failures keep their codes, anything else keeps its message.
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::GroupFailed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::model::Instance;
    use crate::store::{Store, insert_new_instance};

    fn instance(id: &str) -> Instance {
        Instance::queued("wf".into(), id.into(), "v1".into(), "{}".into(), 1)
    }

    /// Inserts an instance, refusing a taken id as [`Store::insert_instance`] does.
    fn insert(tx: &Transaction<'_>, id: &str) -> Result<()> {
        if insert_new_instance(tx, &instance(id))? { Ok(()) } else { Err(StoreError::InstanceExists) }
    }

    fn exists(store: &Store, id: &str) -> bool {
        store.instance(&crate::ids::InstanceKey::stored("wf".into(), id.into())).unwrap().is_some()
    }

    /// Holds the writer thread inside a job until the returned sender is dropped: what is
    /// queued meanwhile goes into the next group.
    fn hold_writer(store: &Store) -> mpsc::Sender<()> {
        let (started, has_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        // The job is queued at once; nobody needs to wait for its commit.
        drop(store.write(move |_| {
            started.send(()).ok();
            released.recv().ok();
            Ok(())
        }));
        has_started.recv_timeout(Duration::from_secs(10)).expect("the holding job runs");
        release
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "waited 10 s for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn writes_from_many_threads_at_once_share_one_commit() {
        const WRITERS: u64 = 64;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_in_dir(dir.path()).unwrap());
        let release = hold_writer(&store);
        let before = store.writer_stats();
        let barrier = Arc::new(Barrier::new(WRITERS as usize));
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.insert_instance(&instance(&format!("i{n}")), &[])
                })
            })
            .collect();
        wait_until("every writer to queue", || store.writer_stats().queued == before.queued + WRITERS);
        drop(release);
        for writer in writers {
            writer.join().unwrap().unwrap();
        }
        let after = store.writer_stats();
        assert_eq!(after.run - before.run, WRITERS + 1, "the writes and the holding job ran");
        assert_eq!(after.commits - before.commits, 2, "one commit for the holding job, one for all the writes");
        assert!((0..WRITERS).all(|n| exists(&store, &format!("i{n}"))));
    }

    #[test]
    fn a_failing_write_is_undone_alone_and_only_its_caller_hears_of_it() {
        let store = Store::open_in_memory().unwrap();
        store.insert_instance(&instance("taken"), &[]).unwrap();
        let release = hold_writer(&store);
        let before = store.writer_stats();
        let first = store.write(|tx| insert(tx, "first"));
        let taken = store.write(|tx| insert(tx, "taken"));
        let half = store.write(|tx| {
            insert(tx, "half")?;
            Err::<(), _>(StoreError::Corrupt("fails after a write".into()))
        });
        let panics = store.write(|tx| -> Result<()> {
            insert(tx, "panics")?;
            panic!("a job that panics after a write")
        });
        let last = store.write(|tx| insert(tx, "last"));
        drop(release);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            first.await.unwrap();
            assert!(matches!(taken.await, Err(StoreError::InstanceExists)));
            assert!(matches!(half.await, Err(StoreError::Corrupt(_))));
            assert!(matches!(panics.await, Err(StoreError::WritePanicked)));
            last.await.unwrap();
        });
        let after = store.writer_stats();
        assert_eq!((after.run - before.run, after.commits - before.commits), (6, 2), "the five writes were one group");
        assert!(exists(&store, "first") && exists(&store, "last"));
        assert!(!exists(&store, "half") && !exists(&store, "panics"), "a failed job's own writes are undone");
        store.insert_instance(&instance("after"), &[]).unwrap();
    }

    #[test]
    fn a_failing_write_alone_in_its_group_is_undone() {
        let store = Store::open_in_memory().unwrap();
        let before = store.writer_stats();
        let half = store.write_blocking(|tx| {
            insert(tx, "half")?;
            Err::<(), _>(StoreError::Corrupt("fails after a write".into()))
        });
        assert!(matches!(half, Err(StoreError::Corrupt(_))));
        let panics = store.write_blocking(|tx| -> Result<()> {
            insert(tx, "panics")?;
            panic!("a job that panics after a write")
        });
        assert!(matches!(panics, Err(StoreError::WritePanicked)));
        assert!(!exists(&store, "half") && !exists(&store, "panics"), "a failed job's own writes are undone");
        store.write_blocking(|tx| insert(tx, "after")).unwrap();
        assert!(exists(&store, "after"));
        let after = store.writer_stats();
        assert_eq!((after.run - before.run, after.commits - before.commits), (3, 1), "only the good write commits");
    }

    #[test]
    fn a_writer_thread_that_died_answers_every_caller_with_an_error() {
        /// A value that kills whichever thread drops it outside a write: the writer thread, when
        /// its caller has stopped waiting.
        struct KillsItsDropper;
        impl Drop for KillsItsDropper {
            fn drop(&mut self) {
                panic!("the writer thread dies");
            }
        }
        let store = Store::open_in_memory().unwrap();
        let release = hold_writer(&store);
        drop(store.write(|_| Ok(KillsItsDropper)));
        let queued_behind = store.write(|tx| insert(tx, "behind"));
        drop(release);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let answer = runtime.block_on(queued_behind);
        assert!(matches!(answer, Err(StoreError::WriterGone)), "{answer:?}");
        assert!(matches!(store.insert_instance(&instance("later"), &[]), Err(StoreError::WriterGone)));
        assert!(matches!(store.close(), Err(StoreError::WriterGone)));
        assert!(!exists(&store, "later"), "reads go on");
    }

    #[test]
    fn waiting_for_a_write_inside_a_write_fails_instead_of_hanging() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let inner = store.clone();
        let nested = store.write_blocking(move |_| Ok(inner.insert_instance(&instance("nested"), &[]))).unwrap();
        assert!(matches!(nested, Err(StoreError::WriteInsideWrite)));
    }
}
