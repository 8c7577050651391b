//! Durable Objects' alarms as the alarm task sees them: one row per object with an alarm (the
//! object's own file holds it too), found by due time at start and as alarms come due.

use rusqlite::params;

use super::{Result, SMALL_WRITE, Store};

/// One object's alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableAlarm {
    pub script: String,
    /// The object's namespace (its class's name at creation).
    pub namespace: String,
    pub object_id: String,
    /// The time the object set, in ms since the epoch.
    pub scheduled_at: i64,
    /// When the handler runs next: `scheduled_at`, or later while it is retried.
    pub due_at: i64,
    /// Retries so far of the handler for this alarm.
    pub retries: u32,
}

impl Store {
    /// Sets (or, with `None`, deletes) an object's alarm; a new alarm starts with no retries.
    pub fn set_durable_alarm(&self, script: &str, namespace: &str, object_id: &str, time: Option<i64>) -> Result<()> {
        let (script, namespace, object_id) = (script.to_owned(), namespace.to_owned(), object_id.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            match time {
                Some(time) => tx.execute(
                    "INSERT INTO durable_alarms (script, namespace, object_id, scheduled_at, due_at, retries)
                     VALUES (?1, ?2, ?3, ?4, ?4, 0)
                     ON CONFLICT (script, namespace, object_id)
                     DO UPDATE SET scheduled_at = ?4, due_at = ?4, retries = 0",
                    params![script, namespace, object_id, time],
                )?,
                None => tx.execute(
                    "DELETE FROM durable_alarms WHERE script = ?1 AND namespace = ?2 AND object_id = ?3",
                    params![script, namespace, object_id],
                )?,
            };
            Ok(())
        })
    }

    /// The alarm at `scheduled_at` failed: its handler runs again at `due_at`. An alarm set
    /// again meanwhile is left alone.
    pub fn retry_durable_alarm(&self, alarm: &DurableAlarm, due_at: i64, retries: u32) -> Result<()> {
        let alarm = alarm.clone();
        self.commit(SMALL_WRITE, move |tx| {
            tx.execute(
                "UPDATE durable_alarms SET due_at = ?5, retries = ?6
                 WHERE script = ?1 AND namespace = ?2 AND object_id = ?3 AND scheduled_at = ?4",
                params![alarm.script, alarm.namespace, alarm.object_id, alarm.scheduled_at, due_at, retries],
            )?;
            Ok(())
        })
    }

    /// The alarm at `scheduled_at` is done (its handler succeeded, or its retries ran out),
    /// unless it was set again meanwhile.
    pub fn finish_durable_alarm(&self, alarm: &DurableAlarm) -> Result<()> {
        let alarm = alarm.clone();
        self.commit(SMALL_WRITE, move |tx| {
            tx.execute(
                "DELETE FROM durable_alarms
                 WHERE script = ?1 AND namespace = ?2 AND object_id = ?3 AND scheduled_at = ?4",
                params![alarm.script, alarm.namespace, alarm.object_id, alarm.scheduled_at],
            )?;
            Ok(())
        })
    }

    /// Every alarm, soonest first.
    pub fn durable_alarms(&self) -> Result<Vec<DurableAlarm>> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT script, namespace, object_id, scheduled_at, due_at, retries FROM durable_alarms ORDER BY due_at",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(DurableAlarm {
                    script: row.get(0)?,
                    namespace: row.get(1)?,
                    object_id: row.get(2)?,
                    scheduled_at: row.get(3)?,
                    due_at: row.get(4)?,
                    retries: row.get(5)?,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
        })
    }
}
