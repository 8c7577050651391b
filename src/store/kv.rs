//! Workers KV namespaces: one row per key, with its value (bytes), its metadata (JSON text) and
//! its expiration (seconds since the epoch). A key past its expiration reads as missing and is
//! left out of listings; rows are written through the writer like everything else.

use rusqlite::{OptionalExtension, params};

use super::{Result, SMALL_WRITE, Store};

/// A stored value with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvValue {
    pub value: Vec<u8>,
    pub metadata: Option<String>,
}

/// One key of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvKey {
    pub name: String,
    pub expiration: Option<i64>,
    pub metadata: Option<String>,
}

impl Store {
    /// The live values of `keys` in `namespace` at `now_s`, in the order asked.
    pub fn kv_get(&self, namespace: &str, keys: &[String], now_s: i64) -> Result<Vec<Option<KvValue>>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT value, metadata FROM kv
                 WHERE namespace = ?1 AND key = ?2 AND (expiration IS NULL OR expiration > ?3)",
            )?;
            keys.iter()
                .map(|key| {
                    stmt.query_row(params![namespace, key, now_s], |row| {
                        Ok(KvValue { value: row.get(0)?, metadata: row.get(1)? })
                    })
                    .optional()
                    .map_err(Into::into)
                })
                .collect()
        })
    }

    /// Writes `key`, replacing what it held.
    pub fn kv_put(&self, namespace: &str, key: &str, value: KvValue, expiration: Option<i64>) -> Result<()> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.commit(SMALL_WRITE + value.value.len(), move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO kv (namespace, key, value, metadata, expiration) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![namespace, key, value.value, value.metadata, expiration])?;
            Ok(())
        })
    }

    pub fn kv_delete(&self, namespace: &str, key: &str) -> Result<()> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.commit(SMALL_WRITE, move |tx| {
            tx.prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?.execute(params![namespace, key])?;
            Ok(())
        })
    }

    /// Up to `limit` live keys of `namespace` that start with `prefix` and come after `after`,
    /// in key order, and whether more follow.
    pub fn kv_list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        now_s: i64,
    ) -> Result<(Vec<KvKey>, bool)> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, expiration, metadata FROM kv
                 WHERE namespace = ?1 AND substr(key, 1, length(?2)) = ?2 AND key > ?3
                     AND (expiration IS NULL OR expiration > ?4)
                 ORDER BY key LIMIT ?5",
            )?;
            let rows = stmt
                .query_map(params![namespace, prefix, after.unwrap_or(""), now_s, limit as i64 + 1], |row| {
                    Ok(KvKey { name: row.get(0)?, expiration: row.get(1)?, metadata: row.get(2)? })
                })?;
            let mut keys = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let more = keys.len() > limit;
            keys.truncate(limit);
            Ok((keys, more))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> KvValue {
        KvValue { value: text.as_bytes().to_vec(), metadata: None }
    }

    #[test]
    fn keys_read_back_expire_and_list_in_pages() {
        let store = Store::open_in_memory().unwrap();
        store.kv_put("ns", "a/1", value("one"), None).unwrap();
        store
            .kv_put("ns", "a/2", KvValue { value: b"two".to_vec(), metadata: Some("{\"v\":2}".into()) }, Some(100))
            .unwrap();
        store.kv_put("ns", "b/1", value("bee"), None).unwrap();
        store.kv_put("other", "a/1", value("elsewhere"), None).unwrap();

        let got = store.kv_get("ns", &["a/1".into(), "a/2".into(), "nope".into()], 50).unwrap();
        assert_eq!(
            got,
            [Some(value("one")), Some(KvValue { value: b"two".to_vec(), metadata: Some("{\"v\":2}".into()) }), None]
        );
        assert_eq!(store.kv_get("ns", &["a/2".into()], 100).unwrap(), [None], "expired at its second");

        let (page, more) = store.kv_list("ns", "a/", None, 1, 50).unwrap();
        assert_eq!((page.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), more), (vec!["a/1"], true));
        let (page, more) = store.kv_list("ns", "a/", Some("a/1"), 1, 50).unwrap();
        assert_eq!((page[0].name.as_str(), page[0].expiration, more), ("a/2", Some(100), false));
        let (page, _) = store.kv_list("ns", "", None, 10, 100).unwrap();
        assert_eq!(page.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["a/1", "b/1"]);

        store.kv_delete("ns", "a/1").unwrap();
        assert_eq!(store.kv_get("ns", &["a/1".into()], 50).unwrap(), [None]);
        assert_eq!(store.kv_get("other", &["a/1".into()], 50).unwrap(), [Some(value("elsewhere"))]);
    }
}
