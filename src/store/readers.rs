//! Read-only connections to the state database, opened on first need, up to [`MAX_READERS`],
//! and kept for the next read. In WAL mode they read while the writer thread writes. Each read
//! starts a snapshot of its own once the connection is taken (no connection is put back inside
//! a transaction), so it sees every commit made before it, which includes every write whose
//! store method has returned.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, Result};

/// Reads are short; a few connections keep the API, the engine and the timer task from waiting
/// for each other, and each one holds its own page cache.
pub(super) const MAX_READERS: usize = 4;

pub(super) struct ReadPool {
    path: PathBuf,
    state: Mutex<PoolState>,
    /// Signalled whenever a connection goes back or its place frees up.
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections that exist, idle or in use.
    open: usize,
}

/// A place in the pool while a read holds its connection. A read that panics drops its
/// connection instead of putting it back; the place frees up all the same.
struct Lease<'a> {
    pool: &'a ReadPool,
    given_back: bool,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf) -> Self {
        ReadPool { path, state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }), freed: Condvar::new() }
    }

    /// Runs `query` on a read-only connection, waiting for one when all are busy.
    pub(super) fn read<T>(&self, query: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let (conn, lease) = self.take()?;
        let result = query(&conn);
        lease.give_back(conn);
        result
    }

    /// Opens every connection the pool may hold and has each read once, which opens the
    /// database's log and shared memory too: for a database whose files are about to be
    /// unlinked, after which no connection can be opened (an attempt fails, it does not wait).
    pub(super) fn open_all(&self) -> Result<()> {
        let mut opened = Vec::with_capacity(MAX_READERS);
        for _ in 0..MAX_READERS {
            let conn = self.open()?;
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
            opened.push(conn);
        }
        let mut state = self.lock();
        state.open += opened.len();
        state.idle.extend(opened);
        Ok(())
    }

    fn take(&self) -> Result<(Connection, Lease<'_>)> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok((conn, Lease { pool: self, given_back: false }));
            }
            if state.open < MAX_READERS {
                state.open += 1;
                drop(state);
                // Counted before it exists, so that the place is freed if opening fails.
                let lease = Lease { pool: self, given_back: false };
                return Ok((self.open()?, lease));
            }
            state = self.freed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    #[cfg(test)]
    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // A read meets SQLITE_BUSY only in rare moments (the log being recovered or restarted).
        conn.busy_timeout(BUSY_TIMEOUT)?;
        super::keep_plans(&conn)?;
        Ok(conn)
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The lock guards a list and a count, never SQLite; a panic elsewhere leaves them whole.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Lease<'_> {
    fn give_back(mut self, conn: Connection) {
        self.pool.lock().idle.push(conn);
        self.given_back = true;
        self.pool.freed.notify_one();
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.given_back {
            self.pool.lock().open -= 1;
            self.pool.freed.notify_one();
        }
    }
}
