//! The writes the engine's decider asks for, as data, and the one function that carries out a
//! list of them for one instance in one transaction, with the journal entries that describe
//! them. Also the reads of the journal and of buffered events, the other halves of those tables.

use std::future::Future;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Result, Store, TimerChange, step_token};
use crate::ids::{InstanceKey, StepKey};
use crate::model::{Attempt, ErrorInfo, InstanceStatus, JournalEntry, NumberedEvent, SentEvent, Step};

/// One change to an instance's rows. A decision's writes are applied in order, in one commit.
// A decision makes a few and they are applied at once, never kept in bulk: boxing the step row
// would cost an allocation per step for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Write {
    /// A step's row, the attempt that produced it (if it is worth storing) and its timer.
    SaveStep {
        step: Step,
        attempt: Option<Attempt>,
        timer: TimerChange,
    },
    /// A buffered event was delivered to the wait `by`.
    ConsumeEvent {
        seq: i64,
        by: StepKey,
    },
    SetStatus(InstanceStatus),
    /// A run starts with this version of the code; `started_on` is set the first time.
    MarkRunning {
        version_id: String,
    },
    /// The instance ended: its final status, output or error; its timers go.
    Finish {
        status: InstanceStatus,
        output: Option<String>,
        error: Option<ErrorInfo>,
        terminated_by: Option<String>,
    },
    /// Erase the step state from step `from_seq` on (all of it when `None`) and make the
    /// instance queued as if just created. Events that erased waits consumed go with them;
    /// events never consumed stay buffered.
    ResetForRestart {
        from_seq: Option<u32>,
    },
    ClearTimers,
    /// The instance's rollback, as it stands now (`None`: it has none).
    SetRollback(Option<crate::model::Rollback>),
    /// What the writes before mean, for `subscribe` and the history.
    Journal(Vec<JournalEntry>),
}

impl Write {
    pub fn journal(entries: Vec<JournalEntry>) -> Option<Write> {
        (!entries.is_empty()).then_some(Write::Journal(entries))
    }

    /// About how many bytes the write adds to a transaction, so that the writer keeps its
    /// groups of a bounded size.
    fn size(&self) -> usize {
        const ROW: usize = 128;
        match self {
            Write::SaveStep { step, .. } => ROW + step.output.as_ref().map_or(0, String::len),
            Write::Finish { output, .. } => ROW + output.as_ref().map_or(0, String::len),
            Write::Journal(entries) => ROW * entries.len(),
            _ => ROW,
        }
    }
}

/// Carries out `writes` for the instance `(workflow, id)` inside `tx`.
pub(super) fn apply(tx: &Transaction<'_>, workflow: &str, id: &str, writes: &[Write], now: i64) -> Result<()> {
    for write in writes {
        match write {
            Write::SaveStep { step, attempt, timer } => save_step(tx, workflow, id, step, attempt.as_ref(), *timer)?,
            Write::ConsumeEvent { seq, by } => {
                tx.prepare_cached("UPDATE events SET consumed_by = ?2 WHERE seq = ?1")?
                    .execute(params![seq, step_token(by)])?;
            }
            Write::SetStatus(status) => {
                tx.prepare_cached(
                    "UPDATE instances SET status = ?3, modified_on = ?4 WHERE workflow_name = ?1 AND id = ?2",
                )?
                .execute(params![workflow, id, status.as_str(), now])?;
            }
            Write::MarkRunning { version_id } => {
                tx.prepare_cached(
                    "UPDATE instances SET status = 'running', modified_on = ?3, version_id = ?4,
                         started_on = COALESCE(started_on, ?3)
                     WHERE workflow_name = ?1 AND id = ?2",
                )?
                .execute(params![workflow, id, now, version_id])?;
            }
            Write::Finish { status, output, error, terminated_by } => {
                tx.prepare_cached(
                    "UPDATE instances SET status = ?3, modified_on = ?4, ended_on = ?4, output = ?5,
                         error_name = ?6, error_message = ?7, terminated_by = ?8,
                         expires_on = ?4 + CASE ?3 WHEN 'errored' THEN error_retention_ms ELSE success_retention_ms END
                     WHERE workflow_name = ?1 AND id = ?2",
                )?
                .execute(params![
                    workflow,
                    id,
                    status.as_str(),
                    now,
                    output,
                    error.as_ref().map(|e| &e.name),
                    error.as_ref().map(|e| &e.message),
                    terminated_by
                ])?;
                clear_timers(tx, workflow, id)?;
            }
            Write::ResetForRestart { from_seq } => reset_for_restart(tx, workflow, id, from_seq.unwrap_or(0), now)?,
            Write::ClearTimers => clear_timers(tx, workflow, id)?,
            Write::SetRollback(rollback) => {
                let text = rollback
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|error| super::StoreError::Corrupt(error.to_string()))?;
                tx.prepare_cached("UPDATE instances SET rollback = ?3 WHERE workflow_name = ?1 AND id = ?2")?
                    .execute(params![workflow, id, text])?;
            }
            Write::Journal(entries) => append_journal(tx, workflow, id, entries)?,
        }
    }
    Ok(())
}

fn clear_timers(tx: &Transaction<'_>, workflow: &str, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM timers WHERE workflow_name = ?1 AND instance_id = ?2")?.execute([workflow, id])?;
    Ok(())
}

pub(super) fn save_step(
    tx: &Transaction<'_>,
    workflow: &str,
    id: &str,
    step: &Step,
    attempt: Option<&Attempt>,
    timer: TimerChange,
) -> Result<()> {
    let config_id = match &step.config {
        Some(config) => Some(config_id(tx, config)?),
        None => None,
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO steps (workflow_name, instance_id, kind, name, count, seq, state, started_on,
             ended_on, output, error_name, error_message, config_id, attempts_made, wake_at, event_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        workflow,
        id,
        step.key.kind.as_str(),
        step.key.name,
        step.key.count,
        step.seq,
        step.state.as_str(),
        step.started_on,
        step.ended_on,
        step.output,
        step.error.as_ref().map(|e| &e.name),
        step.error.as_ref().map(|e| &e.message),
        config_id,
        step.attempts_made,
        step.wake_at,
        step.event_type
    ])?;
    if let Some(attempt) = attempt {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO attempts (workflow_name, instance_id, kind, name, count, attempt, started_on,
                 ended_on, success, error_name, error_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            workflow,
            id,
            attempt.key.kind.as_str(),
            attempt.key.name,
            attempt.key.count,
            attempt.attempt,
            attempt.started_on,
            attempt.ended_on,
            attempt.success,
            attempt.error.as_ref().map(|e| &e.name),
            attempt.error.as_ref().map(|e| &e.message)
        ])?;
    }
    match timer {
        TimerChange::Keep => {}
        TimerChange::Set(due_at) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO timers (workflow_name, instance_id, step, due_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![workflow, id, step_token(&step.key), due_at])?;
        }
        TimerChange::Clear => {
            tx.prepare_cached("DELETE FROM timers WHERE workflow_name = ?1 AND instance_id = ?2 AND step = ?3")?
                .execute(params![workflow, id, step_token(&step.key)])?;
        }
    }
    Ok(())
}

pub(super) fn reset_for_restart(tx: &Transaction<'_>, workflow: &str, id: &str, from_seq: u32, now: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM events WHERE workflow_name = ?1 AND instance_id = ?2 AND consumed_by IN (
             SELECT kind || ':' || count || ':' || name FROM steps
             WHERE workflow_name = ?1 AND instance_id = ?2 AND seq >= ?3)",
        params![workflow, id, from_seq],
    )?;
    tx.execute(
        "DELETE FROM attempts WHERE workflow_name = ?1 AND instance_id = ?2 AND (kind, name, count) IN (
             SELECT kind, name, count FROM steps WHERE workflow_name = ?1 AND instance_id = ?2 AND seq >= ?3)",
        params![workflow, id, from_seq],
    )?;
    tx.execute(
        "DELETE FROM steps WHERE workflow_name = ?1 AND instance_id = ?2 AND seq >= ?3",
        params![workflow, id, from_seq],
    )?;
    clear_timers(tx, workflow, id)?;
    tx.execute(
        "UPDATE instances SET status = 'queued', modified_on = ?3, started_on = NULL, ended_on = NULL,
             output = NULL, error_name = NULL, error_message = NULL, terminated_by = NULL, expires_on = NULL,
             rollback = NULL
         WHERE workflow_name = ?1 AND id = ?2",
        params![workflow, id, now],
    )?;
    Ok(())
}

/// The number of an instance's last journal event: one seek in the index, which holds it.
pub(super) const LAST_JOURNAL_ID: &str =
    "SELECT last_id FROM journal WHERE workflow_name = ?1 AND instance_id = ?2 ORDER BY first_id DESC LIMIT 1";

/// An instance's journal rows that hold events after `?3`, in order.
pub(super) const JOURNAL_AFTER: &str = "SELECT first_id, events FROM journal
     WHERE workflow_name = ?1 AND instance_id = ?2 AND last_id > ?3 ORDER BY first_id";

/// The id of a step config's text in `step_configs`, adding it the first time it is seen: an
/// instance's steps mostly share one config, which a step row then names in a few bytes.
fn config_id(tx: &Transaction<'_>, config: &str) -> Result<i64> {
    let known =
        tx.prepare_cached("SELECT id FROM step_configs WHERE config = ?1")?.query_row([config], |row| row.get(0));
    match known.optional()? {
        Some(id) => Ok(id),
        None => {
            tx.prepare_cached("INSERT INTO step_configs (config) VALUES (?1)")?.execute([config])?;
            Ok(tx.last_insert_rowid())
        }
    }
}

/// Appends `entries` as one row numbered on from the instance's last event: the writer is the
/// only one, so numbers follow commit order and a reader past event `n` never misses one below.
pub(super) fn append_journal(tx: &Transaction<'_>, workflow: &str, id: &str, entries: &[JournalEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let events = serde_json::to_string(entries).map_err(|error| super::StoreError::Corrupt(error.to_string()))?;
    // The last id is read by a statement of its own, whose plan a unit test checks: one seek in
    // the index.
    let last: Option<i64> =
        tx.prepare_cached(LAST_JOURNAL_ID)?.query_row([workflow, id], |row| row.get(0)).optional()?;
    let first = last.unwrap_or(0) + 1;
    tx.prepare_cached(
        "INSERT INTO journal (workflow_name, instance_id, first_id, last_id, events) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![workflow, id, first, first + entries.len() as i64 - 1, events])?;
    Ok(())
}

impl Store {
    /// Carries out one decision's writes for an instance, in one commit, blocking the calling
    /// thread until it is committed.
    pub fn apply(&self, key: &InstanceKey, writes: Vec<Write>, now: i64) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let (bytes, job) = apply_job(key, writes, now);
        self.commit(bytes, job)
    }

    /// [`Store::apply`] for a caller that must not block its thread: the writes are queued at
    /// once (so one caller's decisions commit in the order it made them), and the future is
    /// ready once they are committed, in a transaction they may share with other instances'.
    /// No writes make no job: the future is ready at once.
    pub fn apply_async(
        &self,
        key: &InstanceKey,
        writes: Vec<Write>,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let commit = (!writes.is_empty()).then(|| {
            let (bytes, job) = apply_job(key, writes, now);
            self.write_sized(bytes, job)
        });
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            }
        }
    }

    /// The instance's journal after event `after` (from the start with 0), in order.
    pub fn journal(&self, key: &InstanceKey, after: u64) -> Result<Vec<NumberedEvent>> {
        let rows: Vec<(i64, String)> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(JOURNAL_AFTER)?;
            let rows = stmt.query_map(params![key.workflow.as_str(), key.id.as_str(), after as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })?;
        let mut events = Vec::new();
        for (first_id, text) in rows {
            let entries: Vec<JournalEntry> =
                serde_json::from_str(&text).map_err(|error| super::StoreError::Corrupt(format!("journal: {error}")))?;
            for (offset, entry) in entries.into_iter().enumerate() {
                let event_id = first_id as u64 + offset as u64;
                if event_id > after {
                    events.push(NumberedEvent { event_id, entry });
                }
            }
        }
        Ok(events)
    }

    /// The events sent to the instance that no wait has consumed yet, oldest first.
    pub fn buffered_events(&self, key: &InstanceKey) -> Result<Vec<SentEvent>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, event_type, payload, received_on FROM events
                 WHERE workflow_name = ?1 AND instance_id = ?2 AND consumed_by IS NULL ORDER BY seq",
            )?;
            let rows = stmt.query_map([key.workflow.as_str(), key.id.as_str()], SentEvent::from_row)?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }
}

/// The writer's job for one decision's writes, and about how many bytes it writes.
fn apply_job(
    key: &InstanceKey,
    writes: Vec<Write>,
    now: i64,
) -> (usize, impl FnOnce(&Transaction<'_>) -> Result<()> + Send + 'static) {
    let bytes = writes.iter().map(Write::size).sum::<usize>();
    let key = key.clone();
    (bytes, move |tx: &Transaction<'_>| apply(tx, key.workflow.as_str(), key.id.as_str(), &writes, now))
}
