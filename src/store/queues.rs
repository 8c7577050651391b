//! Queue messages: a message is a row from its send until it is acknowledged, dropped or moved
//! to a dead letter queue. A delivery leases its batch first, so a process killed mid-delivery
//! delivers the batch again on the next start (Queues deliver at least once).

use rusqlite::params;

use super::{Result, SMALL_WRITE, Store};

/// A message as sent, before it has an attempt.
#[derive(Debug, Clone)]
pub struct NewQueueMessage {
    pub id: String,
    pub queue: String,
    /// The body as encoded by the producer, according to `content_type`.
    pub body: String,
    pub content_type: String,
    pub visible_at: i64,
}

/// A leased message; `attempts` counts this delivery.
#[derive(Debug, Clone)]
pub struct QueueMessageRow {
    pub id: String,
    pub queue: String,
    pub body: String,
    pub content_type: String,
    pub attempts: u32,
    pub created_on: i64,
}

/// Whether a queue has a batch to deliver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueBacklog {
    /// Messages visible now, counted up to the limit asked for.
    pub ready: u32,
    /// When the longest-waiting visible message became visible.
    pub oldest_ready_at: Option<i64>,
    /// When the next delayed message becomes visible.
    pub next_visible_at: Option<i64>,
}

/// What becomes of a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Ack,
    RetryAt(i64),
    /// Retries ran out: the message moves to this queue as a new message.
    DeadLetter {
        queue: String,
        new_id: String,
    },
    /// Retries ran out and there is no dead letter queue.
    Drop,
}

impl Store {
    /// Stores a whole `send` or `sendBatch` in one transaction.
    pub fn enqueue(&self, messages: &[NewQueueMessage], now: i64) -> Result<()> {
        let messages = messages.to_vec();
        let bytes = messages.iter().map(|message| SMALL_WRITE + message.body.len()).sum();
        self.commit(bytes, move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO queue_messages (id, queue, body, content_type, attempts, visible_at, leased, created_on)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, 0, ?6)",
            )?;
            for message in &messages {
                insert.execute(params![
                    message.id,
                    message.queue,
                    message.body,
                    message.content_type,
                    message.visible_at,
                    now
                ])?;
            }
            Ok(())
        })
    }

    pub fn queue_backlog(&self, queue: &str, now: i64, limit: u32) -> Result<QueueBacklog> {
        self.read(|conn| {
            // One snapshot for both counts: a write may commit between two statements.
            let snapshot = conn.unchecked_transaction()?;
            let (ready, oldest_ready_at) = snapshot
                .prepare_cached(
                    "SELECT count(*), min(visible_at) FROM (SELECT visible_at FROM queue_messages
                     WHERE queue = ?1 AND leased = 0 AND visible_at <= ?2 LIMIT ?3)",
                )?
                .query_row(params![queue, now, limit], |row| {
                    Ok((row.get::<_, u32>(0)?, row.get::<_, Option<i64>>(1)?))
                })?;
            let next_visible_at = snapshot
                .prepare_cached(
                    "SELECT min(visible_at) FROM queue_messages WHERE queue = ?1 AND leased = 0 AND visible_at > ?2",
                )?
                .query_row(params![queue, now], |row| row.get::<_, Option<i64>>(0))?;
            Ok(QueueBacklog { ready, oldest_ready_at, next_visible_at })
        })
    }

    /// Takes up to `limit` visible messages of `queue`, oldest first, and counts the attempt.
    pub fn lease_batch(&self, queue: &str, now: i64, limit: u32) -> Result<Vec<QueueMessageRow>> {
        let queue = queue.to_owned();
        self.commit(SMALL_WRITE, move |tx| {
            let mut select = tx.prepare_cached(
                "UPDATE queue_messages SET leased = 1, attempts = attempts + 1
                 WHERE seq IN (SELECT seq FROM queue_messages
                               WHERE queue = ?1 AND leased = 0 AND visible_at <= ?2 ORDER BY seq LIMIT ?3)
                 RETURNING id, queue, body, content_type, attempts, created_on, seq",
            )?;
            let mut rows = select
                .query_map(params![queue, now, limit], |row| {
                    Ok((
                        row.get::<_, i64>(6)?,
                        QueueMessageRow {
                            id: row.get(0)?,
                            queue: row.get(1)?,
                            body: row.get(2)?,
                            content_type: row.get(3)?,
                            attempts: row.get(4)?,
                            created_on: row.get(5)?,
                        },
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // RETURNING gives no order; deliveries keep the order of sending.
            rows.sort_by_key(|(seq, _)| *seq);
            Ok(rows.into_iter().map(|(_, row)| row).collect())
        })
    }

    /// Applies the outcome of a delivery in one transaction.
    pub fn settle(&self, outcomes: &[(String, Settlement)], now: i64) -> Result<()> {
        let outcomes = outcomes.to_vec();
        self.commit(SMALL_WRITE * outcomes.len(), move |tx| {
            for (id, settlement) in &outcomes {
                match settlement {
                    Settlement::Ack | Settlement::Drop => {
                        tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?.execute([id])?;
                    }
                    Settlement::RetryAt(visible_at) => {
                        tx.prepare_cached("UPDATE queue_messages SET leased = 0, visible_at = ?2 WHERE id = ?1")?
                            .execute(params![id, visible_at])?;
                    }
                    Settlement::DeadLetter { queue, new_id } => {
                        let moved = tx
                            .prepare_cached(
                                "INSERT INTO queue_messages (id, queue, body, content_type, attempts, visible_at, leased,
                                     created_on)
                                 SELECT ?2, ?3, body, content_type, 0, ?4, 0, ?4 FROM queue_messages WHERE id = ?1",
                            )?
                            .execute(params![id, new_id, queue, now])?;
                        if moved > 0 {
                            tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?.execute([id])?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Makes leased messages visible again: their delivery died with the previous process.
    pub fn release_queue_leases(&self) -> Result<usize> {
        self.commit(SMALL_WRITE, |tx| Ok(tx.execute("UPDATE queue_messages SET leased = 0 WHERE leased = 1", [])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many messages `queue` holds, delivered or not.
    fn depth(store: &Store, queue: &str) -> i64 {
        store
            .read(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM queue_messages WHERE queue = ?1", [queue], |row| row.get(0))?)
            })
            .unwrap()
    }

    fn message(id: &str, visible_at: i64) -> NewQueueMessage {
        NewQueueMessage {
            id: id.into(),
            queue: "jobs".into(),
            body: format!("\"{id}\""),
            content_type: "json".into(),
            visible_at,
        }
    }

    #[test]
    fn a_lease_takes_visible_messages_in_order_and_counts_the_attempt() {
        let store = Store::open_in_memory().unwrap();
        store.enqueue(&[message("a", 0), message("b", 0), message("later", 500)], 0).unwrap();
        let backlog = store.queue_backlog("jobs", 100, 10).unwrap();
        assert_eq!(backlog, QueueBacklog { ready: 2, oldest_ready_at: Some(0), next_visible_at: Some(500) });
        let batch = store.lease_batch("jobs", 100, 10).unwrap();
        assert_eq!(batch.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(batch.iter().all(|m| m.attempts == 1));
        assert_eq!(store.queue_backlog("jobs", 100, 10).unwrap().ready, 0, "leased messages are not ready");
    }

    #[test]
    fn settling_acks_retries_and_moves_to_the_dead_letter_queue() {
        let store = Store::open_in_memory().unwrap();
        store.enqueue(&[message("a", 0), message("b", 0), message("c", 0)], 0).unwrap();
        store.lease_batch("jobs", 0, 10).unwrap();
        let outcomes = [
            ("a".to_owned(), Settlement::Ack),
            ("b".to_owned(), Settlement::RetryAt(50)),
            ("c".to_owned(), Settlement::DeadLetter { queue: "dlq".into(), new_id: "c2".into() }),
        ];
        store.settle(&outcomes, 10).unwrap();
        assert_eq!(depth(&store, "jobs"), 1);
        assert_eq!(depth(&store, "dlq"), 1);
        let retried = store.lease_batch("jobs", 50, 10).unwrap();
        assert_eq!((retried[0].id.as_str(), retried[0].attempts), ("b", 2));
        let dead = store.lease_batch("dlq", 10, 10).unwrap();
        assert_eq!((dead[0].id.as_str(), dead[0].body.as_str(), dead[0].attempts), ("c2", "\"c\"", 1));
    }

    #[test]
    fn leases_of_a_dead_process_are_released() {
        let store = Store::open_in_memory().unwrap();
        store.enqueue(&[message("a", 0)], 0).unwrap();
        store.lease_batch("jobs", 0, 10).unwrap();
        assert_eq!(store.release_queue_leases().unwrap(), 1);
        assert_eq!(store.lease_batch("jobs", 0, 10).unwrap()[0].attempts, 2);
    }
}
