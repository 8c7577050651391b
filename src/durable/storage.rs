//! One Durable Object's storage: a SQLite file of its own (`do/<script>/<namespace>/<id>.sqlite`
//! under the state folder) holding the key-value API in `_cf_KV` (values as structured clone
//! text), the alarm in `_cf_METADATA`, and, for SQLite-backed classes, the tables the object's
//! own SQL creates. Answered synchronously on the object's JS thread (see `js/durable.rs`), with
//! the requests `durable.js` sends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ObjectKey;
use super::alarms::Alarms;
use crate::js::ObjectStorage;
use crate::sql_values::{self, Unbindable};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _cf_METADATA (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;
"#;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the storage of Durable Object {id} at {path}: {message}")]
    Open { id: String, path: PathBuf, message: String },
}

/// The storage of one object. Its connection is used by one call at a time (the object's
/// mailbox), so the lock is never contended but by a leftover of an evicted runtime.
pub struct ObjectStore {
    conn: Mutex<Connection>,
    /// Follows the class's code (its compatibility date), which a reload may change.
    delete_all_deletes_alarm: AtomicBool,
    key: ObjectKey,
    alarms: Alarms,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Request {
    Get {
        keys: Vec<String>,
    },
    Put {
        entries: Vec<(String, String)>,
    },
    Delete {
        keys: Vec<String>,
    },
    List {
        start: Option<String>,
        start_after: Option<String>,
        end: Option<String>,
        prefix: Option<String>,
        #[serde(default)]
        reverse: bool,
        limit: Option<u64>,
    },
    DeleteAll,
    GetAlarm,
    SetAlarm {
        time: i64,
    },
    DeleteAlarm,
    /// The handler of the alarm set for `time` starts: the alarm is no longer set in the file
    /// (the store's row stays until the handler succeeded or its retries ran out).
    AlarmStarted {
        time: i64,
    },
    Begin,
    Commit,
    Rollback,
    Sql {
        query: String,
        #[serde(default)]
        bindings: Vec<Value>,
    },
    DatabaseSize,
}

impl ObjectStore {
    pub fn open(path: Option<&Path>, key: ObjectKey, alarms: Alarms) -> Result<Arc<Self>, StorageError> {
        let shown = path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf);
        let failed = |message: String| StorageError::Open { id: key.id.clone(), path: shown.clone(), message };
        let conn = match path {
            Some(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
                }
                let conn = Connection::open(path).map_err(|e| failed(e.to_string()))?;
                conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .map_err(|e| failed(e.to_string()))?;
                conn
            }
            None => Connection::open_in_memory().map_err(|e| failed(e.to_string()))?,
        };
        conn.execute_batch(SCHEMA).map_err(|e| failed(e.to_string()))?;
        Ok(Arc::new(ObjectStore {
            conn: Mutex::new(conn),
            delete_all_deletes_alarm: AtomicBool::new(false),
            key,
            alarms,
        }))
    }

    pub fn set_delete_all_deletes_alarm(&self, deletes: bool) {
        self.delete_all_deletes_alarm.store(deletes, Ordering::Relaxed);
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn answer(&self, request: Request) -> Result<Value, String> {
        let conn = self.conn();
        let conn = &*conn;
        let sql_error = |e: rusqlite::Error| sql_message(e);
        Ok(match request {
            Request::Get { keys } => {
                let mut statement =
                    conn.prepare_cached("SELECT value FROM _cf_KV WHERE key = ?1").map_err(sql_error)?;
                let mut entries = Vec::new();
                for key in keys {
                    let found: Option<String> =
                        statement.query_row(params![key], |row| row.get(0)).optional().map_err(sql_error)?;
                    if let Some(value) = found {
                        entries.push(json!([key, value]));
                    }
                }
                json!({ "entries": entries })
            }
            Request::Put { entries } => {
                let mut statement = conn
                    .prepare_cached("INSERT INTO _cf_KV (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                    .map_err(sql_error)?;
                in_savepoint(conn, || {
                    for (key, value) in &entries {
                        statement.execute(params![key, value])?;
                    }
                    Ok(())
                })
                .map_err(sql_error)?;
                json!({})
            }
            Request::Delete { keys } => {
                let mut statement = conn.prepare_cached("DELETE FROM _cf_KV WHERE key = ?1").map_err(sql_error)?;
                let mut count = 0;
                in_savepoint(conn, || {
                    for key in &keys {
                        count += statement.execute(params![key])?;
                    }
                    Ok(())
                })
                .map_err(sql_error)?;
                json!({ "count": count })
            }
            Request::List { start, start_after, end, prefix, reverse, limit } => {
                let mut sql = String::from("SELECT key, value FROM _cf_KV WHERE 1");
                let mut bound: Vec<Sql> = Vec::new();
                if let Some(start) = start {
                    sql.push_str(" AND key >= ?");
                    bound.push(Sql::Text(start));
                }
                if let Some(after) = start_after {
                    sql.push_str(" AND key > ?");
                    bound.push(Sql::Text(after));
                }
                if let Some(end) = end {
                    sql.push_str(" AND key < ?");
                    bound.push(Sql::Text(end));
                }
                if let Some(prefix) = prefix {
                    sql.push_str(" AND substr(key, 1, length(?)) = ?");
                    bound.push(Sql::Text(prefix.clone()));
                    bound.push(Sql::Text(prefix));
                }
                sql.push_str(if reverse { " ORDER BY key DESC" } else { " ORDER BY key ASC" });
                if let Some(limit) = limit {
                    sql.push_str(&format!(" LIMIT {limit}"));
                }
                let mut statement = conn.prepare(&sql).map_err(sql_error)?;
                let rows = statement
                    .query_map(params_from_iter(bound), |row| {
                        Ok(json!([row.get::<_, String>(0)?, row.get::<_, String>(1)?]))
                    })
                    .map_err(sql_error)?;
                let entries: Vec<Value> = rows.collect::<Result<_, _>>().map_err(sql_error)?;
                json!({ "entries": entries })
            }
            Request::DeleteAll => {
                conn.execute("DELETE FROM _cf_KV", []).map_err(sql_error)?;
                let tables: Vec<String> = {
                    let mut statement = conn
                        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
                        .map_err(sql_error)?;
                    let names = statement.query_map([], |row| row.get(0)).map_err(sql_error)?;
                    names.collect::<Result<_, _>>().map_err(sql_error)?
                };
                for table in tables {
                    conn.execute(&format!("DROP TABLE IF EXISTS \"{}\"", table.replace('"', "\"\"")), [])
                        .map_err(sql_error)?;
                }
                if self.delete_all_deletes_alarm.load(Ordering::Relaxed) {
                    conn.execute("DELETE FROM _cf_METADATA WHERE key = 'alarm'", []).map_err(sql_error)?;
                    self.alarms.set(&self.key, None).map_err(|e| e.to_string())?;
                }
                json!({})
            }
            Request::GetAlarm => json!({ "time": read_alarm(conn).map_err(sql_error)? }),
            Request::SetAlarm { time } => {
                conn.execute(
                    "INSERT INTO _cf_METADATA (key, value) VALUES ('alarm', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![time],
                )
                .map_err(sql_error)?;
                self.alarms.set(&self.key, Some(time)).map_err(|e| e.to_string())?;
                json!({})
            }
            Request::DeleteAlarm => {
                conn.execute("DELETE FROM _cf_METADATA WHERE key = 'alarm'", []).map_err(sql_error)?;
                self.alarms.set(&self.key, None).map_err(|e| e.to_string())?;
                json!({})
            }
            Request::AlarmStarted { time } => {
                conn.execute("DELETE FROM _cf_METADATA WHERE key = 'alarm' AND value = ?1", params![time])
                    .map_err(sql_error)?;
                json!({})
            }
            Request::Begin => {
                conn.execute_batch("SAVEPOINT do_transaction").map_err(sql_error)?;
                json!({})
            }
            Request::Commit => {
                conn.execute_batch("RELEASE do_transaction").map_err(sql_error)?;
                json!({})
            }
            Request::Rollback => {
                conn.execute_batch("ROLLBACK TO do_transaction; RELEASE do_transaction").map_err(sql_error)?;
                json!({})
            }
            Request::Sql { query, bindings } => run_sql(conn, &query, &bindings)?,
            Request::DatabaseSize => {
                let size: i64 = conn
                    .query_row(
                        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                        [],
                        |row| row.get(0),
                    )
                    .map_err(sql_error)?;
                json!({ "size": size })
            }
        })
    }
}

impl ObjectStorage for ObjectStore {
    fn storage(&self, request: &str) -> Result<String, String> {
        let request: Request = serde_json::from_str(request).map_err(|e| format!("invalid storage request: {e}"))?;
        self.answer(request).map(|answer| answer.to_string())
    }

    fn call_ended(&self) {
        let conn = self.conn();
        if !conn.is_autocommit() {
            tracing::warn!("Durable Object {}: a call ended inside a transaction; it is rolled back", self.key.id);
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

fn read_alarm(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM _cf_METADATA WHERE key = 'alarm'", [], |row| row.get(0)).optional()
}

/// Runs `work` in a savepoint: all of it or none.
fn in_savepoint(conn: &Connection, work: impl FnOnce() -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT do_write")?;
    match work() {
        Ok(()) => conn.execute_batch("RELEASE do_write"),
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK TO do_write; RELEASE do_write");
            Err(error)
        }
    }
}

/// SQLite's error as workerd words it: `no such table: t: SQLITE_ERROR`.
fn sql_message(error: rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let code = match failure.code {
                rusqlite::ErrorCode::ConstraintViolation => "SQLITE_CONSTRAINT",
                _ => "SQLITE_ERROR",
            };
            format!("{}: {code}", message.unwrap_or_else(|| failure.to_string()))
        }
        other => format!("{other}: SQLITE_ERROR"),
    }
}

/// A bound value, with the message `sql.exec` gives for what cannot be bound.
fn to_sql(value: &Value) -> Result<Sql, String> {
    sql_values::to_sql(value).map_err(|error| match error {
        Unbindable::NotAValue => "Unsupported type for a SQL parameter".to_owned(),
        blob => blob.to_string(),
    })
}

/// `sql.exec`: every statement of `query` runs in order (all in one savepoint); the cursor is
/// the last one's rows. The bindings go to the statement that has parameters.
fn run_sql(conn: &Connection, query: &str, bindings: &[Value]) -> Result<Value, String> {
    let bound: Vec<Sql> = bindings.iter().map(to_sql).collect::<Result<_, _>>()?;
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    let mut rows_written: u64 = 0;
    let mut rows_read: u64 = 0;
    let ran = in_savepoint(conn, || {
        let mut batch = rusqlite::Batch::new(conn, query);
        while let Some(mut statement) = batch.next()? {
            columns = statement.column_names().map(str::to_owned).collect();
            rows.clear();
            let count = statement.column_count();
            let writes = !statement.readonly();
            let parameters = statement.parameter_count();
            if parameters != bound.len() && parameters > 0 {
                return Err(rusqlite::Error::InvalidParameterCount(bound.len(), parameters));
            }
            let mut result =
                if parameters > 0 { statement.query(params_from_iter(bound.iter()))? } else { statement.query([])? };
            while let Some(row) = result.next()? {
                let values: Vec<Value> =
                    (0..count).map(|i| row.get_ref(i).map(sql_values::to_json)).collect::<Result<_, _>>()?;
                rows.push(Value::Array(values));
            }
            rows_read += rows.len() as u64;
            if writes {
                rows_written += conn.changes();
            }
        }
        Ok(())
    });
    ran.map_err(|error| match error {
        rusqlite::Error::InvalidParameterCount(given, wanted) => {
            format!("Wrong number of parameter bindings for SQL query: {given} given, {wanted} expected")
        }
        other => sql_message(other),
    })?;
    Ok(json!({ "columns": columns, "rows": rows, "rowsRead": rows_read, "rowsWritten": rows_written }))
}
