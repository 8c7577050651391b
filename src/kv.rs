//! Workers KV, emulated over the store: `get` (one key or several, with metadata), `put` (with
//! `expiration`, `expirationTtl` and `metadata`, checked against Cloudflare's limits), `delete`
//! and `list` (prefix, limit, cursor). Values cross from JavaScript as base64; expirations are
//! on the engine's clock, so `--clock-start` moves them too.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::js::{BindingError, BindingRequest};
use crate::store::{KvValue, Store};

/// Cloudflare's limits: key length, value size, metadata size, and the shortest expiration.
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
const MAX_METADATA_BYTES: usize = 1024;
const MIN_EXPIRATION_TTL: i64 = 60;
const MAX_LIST_LIMIT: usize = 1000;

/// The KV namespaces of every loaded Worker; each is keyed by its id in one table.
#[derive(Clone)]
pub struct Kv {
    store: Arc<Store>,
    engine: Engine,
}

fn refuse(message: impl Into<String>) -> BindingError {
    BindingError(message.into())
}

/// Cloudflare's key rules; `operation` (`PUT`, `DELETE`) names the call in the message.
fn check_key(operation: &str, key: &str) -> Result<(), BindingError> {
    if key.is_empty() || key == "." || key == ".." {
        return Err(refuse(format!("KV {operation} failed: 400 Invalid key name {key:?}")));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(refuse(format!(
            "KV {operation} failed: 414 UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    Ok(())
}

impl Kv {
    pub fn new(store: Arc<Store>, engine: Engine) -> Self {
        Kv { store, engine }
    }

    fn now_s(&self) -> i64 {
        self.engine.now_ms().div_euclid(1000)
    }

    /// Answers one KV request of the binding API.
    pub async fn answer(&self, request: BindingRequest) -> Result<Value, BindingError> {
        let store = self.store.clone();
        let now_s = self.now_s();
        let failed = |error: crate::store::StoreError| refuse(format!("KV operation failed: {error}"));
        match request {
            BindingRequest::KvGet { namespace, keys } => {
                let found = store
                    .on_blocking_thread(move |store| store.kv_get(&namespace, &keys, now_s))
                    .await
                    .map_err(failed)?;
                Ok(Value::Array(
                    found
                        .into_iter()
                        .map(|entry| match entry {
                            None => Value::Null,
                            Some(KvValue { value, metadata }) => json!({
                                "value": BASE64.encode(value),
                                "metadata": metadata.and_then(|text| serde_json::from_str::<Value>(&text).ok()),
                            }),
                        })
                        .collect(),
                ))
            }
            BindingRequest::KvPut { namespace, key, value, metadata, expiration, expiration_ttl } => {
                check_key("PUT", &key)?;
                let value = BASE64.decode(value).map_err(|error| refuse(format!("KV PUT failed: {error}")))?;
                if value.len() > MAX_VALUE_BYTES {
                    return Err(refuse(format!(
                        "KV PUT failed: 413 Value length of {} exceeds limit of {MAX_VALUE_BYTES}.",
                        value.len()
                    )));
                }
                let metadata = match metadata {
                    None | Some(Value::Null) => None,
                    Some(metadata) => {
                        let text = metadata.to_string();
                        if text.len() > MAX_METADATA_BYTES {
                            return Err(refuse(format!(
                                "KV PUT failed: 413 Metadata length of {} exceeds limit of {MAX_METADATA_BYTES}.",
                                text.len()
                            )));
                        }
                        Some(text)
                    }
                };
                let expiration = match (expiration, expiration_ttl) {
                    (_, Some(ttl)) => {
                        let ttl = ttl as i64;
                        if ttl < MIN_EXPIRATION_TTL {
                            return Err(refuse(format!(
                                "KV PUT failed: 400 Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_EXPIRATION_TTL}."
                            )));
                        }
                        Some(now_s + ttl)
                    }
                    (Some(at), None) => {
                        let at = at as i64;
                        if at < now_s + MIN_EXPIRATION_TTL {
                            return Err(refuse(format!(
                                "KV PUT failed: 400 Invalid expiration of {at}. Expiration times must be at least {MIN_EXPIRATION_TTL} seconds in the future."
                            )));
                        }
                        Some(at)
                    }
                    (None, None) => None,
                };
                let entry = KvValue { value, metadata };
                store
                    .on_blocking_thread(move |store| store.kv_put(&namespace, &key, entry, expiration))
                    .await
                    .map_err(failed)?;
                Ok(Value::Null)
            }
            BindingRequest::KvDelete { namespace, key } => {
                check_key("DELETE", &key)?;
                store.on_blocking_thread(move |store| store.kv_delete(&namespace, &key)).await.map_err(failed)?;
                Ok(Value::Null)
            }
            BindingRequest::KvList { namespace, prefix, limit, cursor } => {
                let limit = limit.map_or(MAX_LIST_LIMIT, |limit| limit as usize);
                if !(1..=MAX_LIST_LIMIT).contains(&limit) {
                    return Err(refuse(format!(
                        "KV GET failed: 400 Invalid key_count_limit of {limit}. Please specify an integer between 1 and {MAX_LIST_LIMIT}."
                    )));
                }
                // The cursor is the last key of the page before, base64 so that it stays opaque.
                let after = match cursor.filter(|cursor| !cursor.is_empty()) {
                    None => None,
                    Some(cursor) => Some(
                        BASE64
                            .decode(&cursor)
                            .ok()
                            .and_then(|bytes| String::from_utf8(bytes).ok())
                            .ok_or_else(|| refuse("KV GET failed: 400 Invalid cursor"))?,
                    ),
                };
                let prefix = prefix.unwrap_or_default();
                let (keys, more) = store
                    .on_blocking_thread(move |store| store.kv_list(&namespace, &prefix, after.as_deref(), limit, now_s))
                    .await
                    .map_err(failed)?;
                let cursor = if more { keys.last().map(|key| BASE64.encode(&key.name)) } else { None };
                let keys: Vec<Value> = keys
                    .into_iter()
                    .map(|key| {
                        let mut entry = json!({ "name": key.name });
                        if let Some(expiration) = key.expiration {
                            entry["expiration"] = json!(expiration);
                        }
                        if let Some(metadata) = key.metadata.and_then(|text| serde_json::from_str::<Value>(&text).ok())
                        {
                            entry["metadata"] = metadata;
                        }
                        entry
                    })
                    .collect();
                let mut listing = json!({ "keys": keys, "list_complete": cursor.is_none(), "cacheStatus": null });
                if let Some(cursor) = cursor {
                    listing["cursor"] = json!(cursor);
                }
                Ok(listing)
            }
            _ => Err(refuse("this binding is not a KV namespace")),
        }
    }
}
