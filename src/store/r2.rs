//! R2 buckets' object records: one row per object key with its size, etag, upload time, HTTP
//! and custom metadata, and the version whose bytes hold its content (`r2.rs` keeps the bytes,
//! as files under the state folder).

use rusqlite::{OptionalExtension, Row, params};

use super::{Result, SMALL_WRITE, Store};

/// An object's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R2Record {
    pub key: String,
    pub version: String,
    pub size: i64,
    pub etag: String,
    pub uploaded: i64,
    /// JSON text of `{contentType, …}`.
    pub http_metadata: String,
    /// JSON text of `{name: value}`.
    pub custom_metadata: String,
}

const COLUMNS: &str = "key, version, size, etag, uploaded, http_metadata, custom_metadata";

fn record(row: &Row<'_>) -> rusqlite::Result<R2Record> {
    Ok(R2Record {
        key: row.get(0)?,
        version: row.get(1)?,
        size: row.get(2)?,
        etag: row.get(3)?,
        uploaded: row.get(4)?,
        http_metadata: row.get(5)?,
        custom_metadata: row.get(6)?,
    })
}

impl Store {
    pub fn r2_head(&self, bucket: &str, key: &str) -> Result<Option<R2Record>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM r2_objects WHERE bucket = ?1 AND key = ?2"))?
                .query_row(params![bucket, key], record)
                .optional()?)
        })
    }

    /// Records `object` in `bucket`; returns the version it replaced, whose bytes may go.
    pub fn r2_put(&self, bucket: &str, object: R2Record) -> Result<Option<String>> {
        let bucket = bucket.to_owned();
        self.commit(SMALL_WRITE, move |tx| {
            let replaced: Option<String> = tx
                .prepare_cached("SELECT version FROM r2_objects WHERE bucket = ?1 AND key = ?2")?
                .query_row(params![bucket, object.key], |row| row.get(0))
                .optional()?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO r2_objects (bucket, key, version, size, etag, uploaded, http_metadata, custom_metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                bucket,
                object.key,
                object.version,
                object.size,
                object.etag,
                object.uploaded,
                object.http_metadata,
                object.custom_metadata
            ])?;
            Ok(replaced)
        })
    }

    /// Forgets `keys`; returns the versions whose bytes may go.
    pub fn r2_delete(&self, bucket: &str, keys: &[String]) -> Result<Vec<String>> {
        let (bucket, keys) = (bucket.to_owned(), keys.to_vec());
        self.commit(SMALL_WRITE, move |tx| {
            let mut gone = Vec::new();
            for key in &keys {
                let version: Option<String> = tx
                    .prepare_cached("DELETE FROM r2_objects WHERE bucket = ?1 AND key = ?2 RETURNING version")?
                    .query_row(params![bucket, key], |row| row.get(0))
                    .optional()?;
                gone.extend(version);
            }
            Ok(gone)
        })
    }

    /// Records of `bucket` whose keys start with `prefix` and come after `after`, in key order,
    /// at most `limit`.
    pub fn r2_list(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<R2Record>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM r2_objects
                 WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2 AND key > ?3 ORDER BY key LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![bucket, prefix, after, limit as i64], record)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
