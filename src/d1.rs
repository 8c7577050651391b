//! D1 databases (`d1_databases`), each its own SQLite file under the state folder
//! (`d1/<database_id>.sqlite`; in memory with `--in-memory`): the binding's prepared statements
//! (`first`, `all`, `run`, `raw`), `batch` (one transaction, all or nothing) and `exec`, with
//! results and `meta` in D1's shapes, and the `migrations_dir` of a database applied in order,
//! recorded in D1's own `d1_migrations` table. Queries run on blocking threads, one connection
//! per database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Value, json};

use crate::js::{BindingError, BindingRequest, D1Statement};
use crate::sql_values::{self, Unbindable};

/// Where D1 databases live: their folder, or memory.
#[derive(Clone)]
pub struct D1 {
    dir: Option<PathBuf>,
    open: Arc<Mutex<HashMap<String, Arc<Mutex<Connection>>>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum D1Error {
    #[error("D1_ERROR: {0}")]
    Query(String),
    #[error("cannot open D1 database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot read migrations in {path}: {source}")]
    Migrations { path: PathBuf, source: std::io::Error },
}

/// SQLite's error as D1 words it: `no such table: t: SQLITE_ERROR`.
fn query_error(error: rusqlite::Error) -> D1Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let code = match failure.code {
                rusqlite::ErrorCode::ConstraintViolation => "SQLITE_CONSTRAINT",
                rusqlite::ErrorCode::DatabaseBusy => "SQLITE_BUSY",
                _ => "SQLITE_ERROR",
            };
            D1Error::Query(format!("{}: {code}", message.unwrap_or_else(|| failure.to_string())))
        }
        other => D1Error::Query(format!("{other}: SQLITE_ERROR")),
    }
}

/// A bound value, with D1's messages for what cannot be bound.
fn to_sql(value: &Value) -> Result<Sql, D1Error> {
    sql_values::to_sql(value).map_err(|error| match (error, value) {
        (Unbindable::NotAValue, Value::Array(_)) => {
            D1Error::Query("Type 'object' not supported for value (an array)".into())
        }
        (Unbindable::NotAValue, _) => D1Error::Query("Type 'object' not supported for value '[object Object]'".into()),
        (blob, _) => D1Error::Query(blob.to_string()),
    })
}

/// Runs one statement: its column names and rows, and what it changed.
fn run_statement(conn: &Connection, statement: &D1Statement) -> Result<Value, D1Error> {
    let started = Instant::now();
    let mut stmt = conn.prepare(&statement.sql).map_err(query_error)?;
    if stmt.parameter_count() != statement.params.len() {
        return Err(D1Error::Query(format!(
            "Wrong number of parameter bindings for SQL query (expected {}, got {})",
            stmt.parameter_count(),
            statement.params.len()
        )));
    }
    let params = statement.params.iter().map(to_sql).collect::<Result<Vec<_>, _>>()?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let before = conn.total_changes();
    let mut rows = stmt.query(params_from_iter(params)).map_err(query_error)?;
    let mut results = Vec::new();
    while let Some(row) = rows.next().map_err(query_error)? {
        results.push(Value::Array(
            (0..columns.len()).map(|i| row.get_ref(i).map(sql_values::to_json).unwrap_or(Value::Null)).collect(),
        ));
    }
    drop(rows);
    let changes = conn.total_changes() - before;
    let size: i64 = conn
        .query_row("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", [], |row| row.get(0))
        .unwrap_or(0);
    Ok(json!({
        "columns": columns,
        "rows": results,
        "meta": {
            "served_by": "stepflare",
            "duration": started.elapsed().as_secs_f64() * 1000.0,
            "changes": changes,
            "last_row_id": conn.last_insert_rowid(),
            "changed_db": changes > 0,
            "size_after": size,
            "rows_read": results.len(),
            "rows_written": changes,
        },
    }))
}

impl D1 {
    /// Databases under `dir/d1/`, or in memory when `dir` is `None`.
    pub fn new(dir: Option<&Path>) -> Self {
        D1 { dir: dir.map(|dir| dir.join("d1")), open: Arc::default() }
    }

    fn connection(&self, database: &str) -> Result<Arc<Mutex<Connection>>, D1Error> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = open.get(database) {
            return Ok(conn.clone());
        }
        let conn = open_database(self.dir.as_deref(), database)?;
        let conn = Arc::new(Mutex::new(conn));
        open.insert(database.to_owned(), conn.clone());
        Ok(conn)
    }

    /// Runs `statements` against `database`; with `batch`, in one transaction that is rolled
    /// back whole if one fails.
    fn query(&self, database: &str, statements: &[D1Statement], batch: bool) -> Result<Vec<Value>, D1Error> {
        let conn = self.connection(database)?;
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        if !batch {
            return statements.iter().map(|statement| run_statement(&conn, statement)).collect();
        }
        let tx = conn.transaction().map_err(query_error)?;
        let results =
            statements.iter().map(|statement| run_statement(&tx, statement)).collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(query_error)?;
        Ok(results)
    }

    /// `exec`: every statement of `sql`, one after another; how many ran.
    fn exec(&self, database: &str, sql: &str) -> Result<Value, D1Error> {
        let started = Instant::now();
        let conn = self.connection(database)?;
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = 0;
        let mut batch = rusqlite::Batch::new(&conn, sql);
        // `Batch` is a fallible iterator; its `next` is reached through the trait rusqlite
        // re-exports.
        while let Some(mut stmt) =
            rusqlite::fallible_iterator::FallibleIterator::next(&mut batch).map_err(query_error)?
        {
            stmt.raw_execute().map_err(query_error)?;
            count += 1;
        }
        Ok(json!({ "count": count, "duration": started.elapsed().as_secs_f64() * 1000.0 }))
    }

    /// Answers one D1 request of the binding API, on a blocking thread.
    pub async fn answer(&self, request: BindingRequest) -> Result<Value, BindingError> {
        let d1 = self.clone();
        let answered = tokio::task::spawn_blocking(move || match request {
            BindingRequest::D1Query { database, statements, batch } => {
                d1.query(&database, &statements, batch).map(Value::Array)
            }
            BindingRequest::D1Exec { database, sql } => d1.exec(&database, &sql),
            _ => Err(D1Error::Query("this binding is not a D1 database".into())),
        })
        .await
        .map_err(|error| BindingError(format!("D1_ERROR: {error}")))?;
        answered.map_err(|error| BindingError(error.to_string()))
    }
}

fn open_database(dir: Option<&Path>, database: &str) -> Result<Connection, D1Error> {
    let Some(dir) = dir else {
        return Connection::open_in_memory()
            .map_err(|source| D1Error::Open { path: PathBuf::from(":memory:"), source });
    };
    // A database id is a uuid or a name; anything that could leave the folder is replaced.
    let file: String =
        database.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let path = dir.join(format!("{file}.sqlite"));
    let opened = std::fs::create_dir_all(dir)
        .map_err(|error| rusqlite::Error::InvalidPath(PathBuf::from(error.to_string())))
        .and_then(|()| Connection::open(&path))
        .and_then(|conn| {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        });
    opened.map_err(|source| D1Error::Open { path, source })
}

/// Applies the `.sql` files of `migrations` that `database` has not had yet, in name order, each
/// in a transaction with its record in `d1_migrations`; returns the names applied.
pub fn apply_migrations(dir: Option<&Path>, database: &str, migrations: &Path) -> Result<Vec<String>, D1Error> {
    let mut conn = open_database(dir.map(|dir| dir.join("d1")).as_deref(), database)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS d1_migrations (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             name TEXT UNIQUE,
             applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
         )",
    )
    .map_err(query_error)?;
    let listed =
        std::fs::read_dir(migrations).map_err(|source| D1Error::Migrations { path: migrations.to_owned(), source })?;
    let mut files: Vec<PathBuf> = listed
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut applied = Vec::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let done: bool = conn
            .query_row("SELECT EXISTS(SELECT 1 FROM d1_migrations WHERE name = ?1)", [&name], |row| row.get(0))
            .map_err(query_error)?;
        if done {
            continue;
        }
        let sql =
            std::fs::read_to_string(&path).map_err(|source| D1Error::Migrations { path: path.clone(), source })?;
        let tx = conn.transaction().map_err(query_error)?;
        tx.execute_batch(&sql).map_err(|error| D1Error::Query(format!("{name}: {}", query_error(error))))?;
        tx.execute("INSERT INTO d1_migrations (name) VALUES (?1)", [&name]).map_err(query_error)?;
        tx.commit().map_err(query_error)?;
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sql: &str, params: Vec<Value>) -> D1Statement {
        D1Statement { sql: sql.into(), params }
    }

    #[test]
    fn statements_batches_and_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let d1 = D1::new(Some(dir.path()));
        d1.exec(
            "db",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB); CREATE INDEX t_name ON t (name);",
        )
        .unwrap();
        let inserted = d1
            .query(
                "db",
                &[statement("INSERT INTO t (name, data) VALUES (?, ?)", vec![json!("a"), json!({ "blob": "AAH/" })])],
                false,
            )
            .unwrap();
        assert_eq!(inserted[0]["meta"]["changes"], json!(1));
        assert_eq!(inserted[0]["meta"]["last_row_id"], json!(1));
        let read =
            d1.query("db", &[statement("SELECT name, data FROM t WHERE id = ?1", vec![json!(1)])], false).unwrap();
        assert_eq!(read[0]["columns"], json!(["name", "data"]));
        assert_eq!(read[0]["rows"], json!([["a", { "blob": "AAH/" }]]));

        // A batch that fails leaves nothing behind.
        let failed = d1.query(
            "db",
            &[statement("INSERT INTO t (name) VALUES ('b')", vec![]), statement("INSERT INTO nope VALUES (1)", vec![])],
            true,
        );
        assert!(failed.unwrap_err().to_string().contains("no such table: nope: SQLITE_ERROR"));
        let count = d1.query("db", &[statement("SELECT count(*) AS n FROM t", vec![])], false).unwrap();
        assert_eq!(count[0]["rows"], json!([[1]]));
        let wrong = d1.query("db", &[statement("SELECT ?", vec![])], false).unwrap_err().to_string();
        assert!(wrong.contains("Wrong number of parameter bindings"), "{wrong}");

        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(migrations.join("0001_users.sql"), "CREATE TABLE users (id INTEGER PRIMARY KEY);").unwrap();
        std::fs::write(migrations.join("0002_seed.sql"), "INSERT INTO users (id) VALUES (7);").unwrap();
        assert_eq!(apply_migrations(Some(dir.path()), "db", &migrations).unwrap(), ["0001_users.sql", "0002_seed.sql"]);
        assert!(apply_migrations(Some(dir.path()), "db", &migrations).unwrap().is_empty(), "applied once");
        let users = d1.query("db", &[statement("SELECT id FROM users", vec![])], false).unwrap();
        assert_eq!(users[0]["rows"], json!([[7]]));
    }
}
