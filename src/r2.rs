//! R2 buckets (`r2_buckets`): objects' records in the store, their bytes as files under the
//! state folder (`r2/<bucket>/<version>`; in memory with `--in-memory`). `head`, `get` (whole or
//! a range), `put` (with HTTP and custom metadata; the etag is the content's MD5, as R2's is for
//! a single upload), `delete` (one key or several) and `list` (prefix, cursor, limit, delimiter).
//! A new object's bytes are written before its record is committed, and old bytes removed
//! after, so a crash leaves at worst an unreferenced file, never a record without bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::js::{BindingError, BindingRequest};
use crate::store::{R2Record, Store};

const MAX_KEY_BYTES: usize = 1024;
const MAX_CUSTOM_METADATA_BYTES: usize = 2048;
const MAX_LIST_LIMIT: usize = 1000;

#[derive(Clone)]
pub struct R2 {
    store: Arc<Store>,
    engine: Engine,
    /// `<state>/r2`, or `None` to keep bytes in memory.
    dir: Option<PathBuf>,
    memory: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

fn refuse(message: impl Into<String>) -> BindingError {
    BindingError(message.into())
}

fn failed(error: impl std::fmt::Display) -> BindingError {
    refuse(format!("R2 operation failed: {error}"))
}

/// A bucket name as a folder name.
fn folder(bucket: &str) -> String {
    bucket.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn object_json(record: &R2Record) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    json!({
        "key": record.key,
        "version": record.version,
        "size": record.size,
        "etag": record.etag,
        "httpEtag": format!("\"{}\"", record.etag),
        "uploaded": record.uploaded,
        "httpMetadata": parse(&record.http_metadata),
        "customMetadata": parse(&record.custom_metadata),
        "checksums": { "md5": record.etag },
        "storageClass": "Standard",
    })
}

fn check_key(key: &str) -> Result<(), BindingError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(refuse(format!("R2 operation failed: key must be 1 to {MAX_KEY_BYTES} bytes long (10020)")));
    }
    Ok(())
}

impl R2 {
    pub fn new(store: Arc<Store>, engine: Engine, state_dir: Option<&std::path::Path>) -> Self {
        R2 { store, engine, dir: state_dir.map(|dir| dir.join("r2")), memory: Arc::default() }
    }

    fn path(&self, bucket: &str, version: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join(folder(bucket)).join(version))
    }

    fn write_bytes(&self, bucket: &str, version: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        let Some(path) = self.path(bucket, version) else {
            self.memory.lock().unwrap_or_else(|p| p.into_inner()).insert(version.to_owned(), bytes);
            return Ok(());
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bytes)?;
        std::fs::rename(partial, path)
    }

    fn read_bytes(&self, bucket: &str, version: &str) -> std::io::Result<Vec<u8>> {
        match self.path(bucket, version) {
            Some(path) => std::fs::read(path),
            None => Ok(self.memory.lock().unwrap_or_else(|p| p.into_inner()).get(version).cloned().unwrap_or_default()),
        }
    }

    fn remove_bytes(&self, bucket: &str, version: &str) {
        match self.path(bucket, version) {
            Some(path) => {
                let _ = std::fs::remove_file(path);
            }
            None => {
                self.memory.lock().unwrap_or_else(|p| p.into_inner()).remove(version);
            }
        }
    }

    /// Answers one R2 request of the binding API, on a blocking thread (files and the store).
    pub async fn answer(&self, request: BindingRequest) -> Result<Value, BindingError> {
        let r2 = self.clone();
        let now = self.engine.now_ms();
        tokio::task::spawn_blocking(move || r2.answer_blocking(request, now)).await.map_err(failed)?
    }

    fn answer_blocking(&self, request: BindingRequest, now: i64) -> Result<Value, BindingError> {
        match request {
            BindingRequest::R2Head { bucket, key } => {
                Ok(self.store.r2_head(&bucket, &key).map_err(failed)?.map_or(Value::Null, |r| object_json(&r)))
            }
            BindingRequest::R2Get { bucket, key, offset, length, suffix } => {
                let Some(record) = self.store.r2_head(&bucket, &key).map_err(failed)? else { return Ok(Value::Null) };
                let bytes = self.read_bytes(&bucket, &record.version).map_err(failed)?;
                let size = bytes.len() as u64;
                let (start, count) = match (offset, length, suffix) {
                    (_, _, Some(suffix)) => (size.saturating_sub(suffix), suffix.min(size)),
                    (offset, length, None) => {
                        let start = offset.unwrap_or(0);
                        if start > size {
                            return Err(refuse("get: The requested range is not satisfiable (10039)"));
                        }
                        (start, length.unwrap_or(size - start).min(size - start))
                    }
                };
                let slice = &bytes[start as usize..(start + count) as usize];
                let mut answer = json!({ "object": object_json(&record), "body": BASE64.encode(slice) });
                if offset.is_some() || length.is_some() || suffix.is_some() {
                    answer["range"] = json!({ "offset": start, "length": count });
                }
                Ok(answer)
            }
            BindingRequest::R2Put { bucket, key, body, http_metadata, custom_metadata } => {
                check_key(&key)?;
                let custom = custom_metadata.unwrap_or_else(|| json!({}));
                if !custom.as_object().is_some_and(|fields| fields.values().all(Value::is_string)) {
                    return Err(refuse("put: customMetadata must be an object of strings"));
                }
                let custom = custom.to_string();
                if custom.len() > MAX_CUSTOM_METADATA_BYTES {
                    return Err(refuse(format!(
                        "put: customMetadata is {} bytes, over the limit of {MAX_CUSTOM_METADATA_BYTES} (10012)",
                        custom.len()
                    )));
                }
                let bytes = BASE64.decode(body).map_err(failed)?;
                let etag: String = Md5::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
                let record = R2Record {
                    key,
                    version: uuid::Uuid::new_v4().simple().to_string(),
                    size: bytes.len() as i64,
                    etag,
                    uploaded: now,
                    http_metadata: http_metadata.unwrap_or_else(|| json!({})).to_string(),
                    custom_metadata: custom,
                };
                self.write_bytes(&bucket, &record.version, bytes).map_err(failed)?;
                match self.store.r2_put(&bucket, record.clone()) {
                    Ok(replaced) => {
                        if let Some(old) = replaced {
                            self.remove_bytes(&bucket, &old);
                        }
                        Ok(object_json(&record))
                    }
                    Err(error) => {
                        self.remove_bytes(&bucket, &record.version);
                        Err(failed(error))
                    }
                }
            }
            BindingRequest::R2Delete { bucket, keys } => {
                for version in self.store.r2_delete(&bucket, &keys).map_err(failed)? {
                    self.remove_bytes(&bucket, &version);
                }
                Ok(Value::Null)
            }
            BindingRequest::R2List { bucket, prefix, cursor, limit, delimiter } => {
                let limit = limit.unwrap_or(MAX_LIST_LIMIT).clamp(1, MAX_LIST_LIMIT);
                let prefix = prefix.unwrap_or_default();
                let mut after = match cursor.filter(|c| !c.is_empty()) {
                    Some(cursor) => String::from_utf8(BASE64.decode(cursor).map_err(failed)?).map_err(failed)?,
                    None => String::new(),
                };
                let mut objects = Vec::new();
                let mut prefixes: Vec<String> = Vec::new();
                let mut truncated = false;
                'pages: loop {
                    let page = self.store.r2_list(&bucket, &prefix, &after, limit + 1).map_err(failed)?;
                    let mut skipped_a_group = false;
                    for record in &page {
                        if objects.len() + prefixes.len() == limit {
                            truncated = true;
                            break 'pages;
                        }
                        let rest = &record.key[prefix.len()..];
                        let grouped = delimiter
                            .as_deref()
                            .filter(|d| !d.is_empty())
                            .and_then(|d| rest.find(d).map(|at| at + d.len()));
                        match grouped {
                            Some(end) => {
                                // Every key under this common prefix is one entry: go on after all of them.
                                let common = format!("{prefix}{}", &rest[..end]);
                                after = format!("{common}{}", char::MAX);
                                prefixes.push(common);
                                skipped_a_group = true;
                                break;
                            }
                            None => {
                                after = record.key.clone();
                                objects.push(object_json(record));
                            }
                        }
                    }
                    if !skipped_a_group && page.len() <= limit {
                        break;
                    }
                }
                let mut listing = json!({ "objects": objects, "truncated": truncated, "delimitedPrefixes": prefixes });
                if truncated {
                    listing["cursor"] = json!(BASE64.encode(&after));
                }
                Ok(listing)
            }
            _ => Err(refuse("this binding is not an R2 bucket")),
        }
    }
}
