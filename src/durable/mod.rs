//! Durable Objects' host: the classes the loaded Workers define, the objects alive now (one
//! mailbox each, served by the object's runtime in `js/durable.rs`), their storage (one SQLite
//! file per object, `storage.rs`) and their alarms (`alarms.rs`). A stub's call reaches it as a
//! `DurableObjectCall` binding request through `services.rs`. A reload replaces the classes and
//! lets every live object go (its next call constructs it again with the new code); storage
//! stays, with the namespace. **Invariant:** at most one live runtime per object serves calls,
//! one at a time, in the order they arrived.

mod alarms;
mod storage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::engine::Engine;
use crate::js::{BindingError, BindingHost, EnvBinding, ObjectCall, ObjectSpec, ProjectCode, start_object};
use crate::store::Store;
pub use alarms::Alarms;
use storage::ObjectStore;

/// How long an object with no calls stays in memory.
const IDLE_EVICTION: Duration = Duration::from_secs(60);
/// Calls that may wait in one object's mailbox.
const MAILBOX: usize = 1024;

/// A Durable Object class of a loaded Worker, with what its objects run.
#[derive(Debug, Clone)]
pub struct DurableClass {
    /// The Worker's name.
    pub script: String,
    pub class_name: String,
    /// The name a migration created the class under: ids and storage belong to it, so a rename
    /// keeps both.
    pub namespace: String,
    /// Listed in `new_sqlite_classes` (directly or through renames): `ctx.storage.sql` works.
    pub sqlite: bool,
    /// `deleteAll()` deletes the alarm too (compatibility date 2026-02-24 or later).
    pub delete_all_deletes_alarm: bool,
    pub code: Arc<ProjectCode>,
    pub vars: Value,
    pub bindings: Vec<EnvBinding>,
}

/// One object: its namespace (a Worker's, see [`DurableClass::namespace`]) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub script: String,
    pub namespace: String,
    pub id: String,
}

/// Held by whoever starts an object's runtime; holds the signal that the last one is gone.
type StartGate = tokio::sync::Mutex<Option<oneshot::Receiver<()>>>;

/// Cheap to clone: every clone is the same host.
#[derive(Clone)]
pub struct DurableObjects {
    inner: Arc<Inner>,
}

struct Inner {
    classes: RwLock<HashMap<(String, String), Arc<DurableClass>>>,
    live: Mutex<HashMap<ObjectKey, mpsc::Sender<ObjectCall>>>,
    /// Per object: one starter at a time, and the signal that its last runtime is gone (a
    /// mailbox closes before its runtime has answered the calls already in it).
    starts: Mutex<HashMap<ObjectKey, Arc<StartGate>>>,
    storages: Mutex<HashMap<ObjectKey, Arc<ObjectStore>>>,
    /// Where the objects' files are; `None` with `--in-memory`, where each object's storage is
    /// a SQLite database in memory (its one connection is the object's for the process's life).
    dir: Option<PathBuf>,
    engine: Engine,
    bindings: OnceLock<Arc<dyn BindingHost>>,
    alarms: Alarms,
}

impl DurableObjects {
    /// Objects keep their storage under `state_dir/do`, or in memory when there is no state
    /// folder (`--in-memory`), so that nothing of theirs outlives the process, even a killed
    /// one. Bindings inside objects go to `engine`.
    pub fn new(state_dir: Option<&Path>, store: Arc<Store>, engine: Engine) -> Self {
        let dir = state_dir.map(|dir| dir.join("do"));
        let alarms = Alarms::new(store);
        DurableObjects {
            inner: Arc::new(Inner {
                classes: RwLock::default(),
                live: Mutex::default(),
                starts: Mutex::default(),
                storages: Mutex::default(),
                dir,
                engine,
                bindings: OnceLock::new(),
                alarms,
            }),
        }
    }

    /// Replaces the classes (at start and after a reload). Every live object goes once it has
    /// answered the calls it has; the next call constructs it with the new code.
    pub fn replace(&self, classes: Vec<DurableClass>) {
        let classes = classes.into_iter().map(|c| ((c.script.clone(), c.namespace.clone()), Arc::new(c))).collect();
        *self.inner.classes.write().unwrap_or_else(|p| p.into_inner()) = classes;
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Starts the alarm task, on the engine's clock.
    pub fn start_alarms(&self) {
        let host = self.clone();
        tokio::spawn(async move { host.inner.alarms.clone().run(host).await });
    }

    /// The folder of a namespace's objects' files (`None` with `--in-memory`).
    fn namespace_dir(&self, script: &str, namespace: &str) -> Option<PathBuf> {
        Some(self.inner.dir.as_ref()?.join(file_name(script)).join(file_name(namespace)))
    }

    /// Answers a `DurableObjectCall`.
    pub async fn answer(&self, request: crate::js::BindingRequest) -> Result<Value, BindingError> {
        let crate::js::BindingRequest::DurableObjectCall { script, namespace, id, name, call } = request else {
            return Err(BindingError("not a Durable Object request".into()));
        };
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BindingError("Invalid Durable Object ID. Durable Object IDs must be 64 hex digits.".into()));
        }
        self.call(ObjectKey { script, namespace, id }, name, call).await
    }

    /// Puts `call` in the object's mailbox (starting the object when it is not alive) and waits
    /// for its answer.
    pub async fn call(&self, key: ObjectKey, name: Option<String>, call: Value) -> Result<Value, BindingError> {
        // A mailbox that closed (the object went idle or was let go) just now gets a fresh object.
        for _ in 0..3 {
            let mailbox = self.mailbox(&key, name.clone()).await?;
            let (reply, answer) = oneshot::channel();
            if mailbox.send(ObjectCall { call: call.clone(), reply }).await.is_err() {
                self.forget(&key, &mailbox);
                continue;
            }
            return match answer.await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) if error.name == "Error" => Err(BindingError(error.message)),
                Ok(Err(error)) => Err(BindingError(format!("{}: {}", error.name, error.message))),
                Err(_) => Err(BindingError(
                    "Durable Object reset: its code was stopped (it exceeded its CPU or memory limit)".into(),
                )),
            };
        }
        Err(BindingError("Durable Object is not available: it kept stopping".into()))
    }

    fn forget(&self, key: &ObjectKey, mailbox: &mpsc::Sender<ObjectCall>) {
        let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.get(key).is_some_and(|current| current.same_channel(mailbox)) {
            live.remove(key);
        }
    }

    async fn mailbox(&self, key: &ObjectKey, name: Option<String>) -> Result<mpsc::Sender<ObjectCall>, BindingError> {
        if let Some(mailbox) = self.live_mailbox(key) {
            return Ok(mailbox);
        }
        // Calls that find the object asleep line up here, before anything that could reorder
        // them, in the order they were made (tokio's mutex is first come, first served), so
        // that they reach the new mailbox in that order.
        let start = self.inner.starts.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().clone();
        let mut previous = start.lock().await;
        if let Some(mailbox) = self.live_mailbox(key) {
            return Ok(mailbox);
        }
        let class = self
            .inner
            .classes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(key.script.clone(), key.namespace.clone()))
            .cloned()
            .ok_or_else(|| {
                BindingError(format!(
                    "Durable Object namespace {:?} of Worker {:?} is not loaded",
                    key.namespace, key.script
                ))
            })?;
        let storage = {
            let host = self.clone();
            let key = key.clone();
            tokio::task::spawn_blocking(move || host.storage(&key))
                .await
                .map_err(|e| BindingError(format!("opening a Durable Object's storage failed: {e}")))??
        };
        storage.set_delete_all_deletes_alarm(class.delete_all_deletes_alarm);
        let bindings = self.bindings();
        // The runtime before (let go by a reload, or gone idle) answers what it has first.
        if let Some(ended) = previous.take() {
            let _ = ended.await;
        }
        let (ended, gone) = oneshot::channel();
        *previous = Some(gone);
        let (mailbox, calls) = mpsc::channel(MAILBOX);
        let spec = ObjectSpec {
            code: class.code.clone(),
            class_name: class.class_name.clone(),
            vars: class.vars.clone(),
            bindings: class.bindings.clone(),
            id: key.id.clone(),
            name,
            sqlite: class.sqlite,
        };
        start_object(spec, storage, bindings, calls, IDLE_EVICTION, ended);
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), mailbox.clone());
        Ok(mailbox)
    }

    fn live_mailbox(&self, key: &ObjectKey) -> Option<mpsc::Sender<ObjectCall>> {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(key).filter(|mailbox| !mailbox.is_closed()).cloned()
    }

    /// The object's storage, opened on first use and kept open. Blocking: opens a file.
    fn storage(&self, key: &ObjectKey) -> Result<Arc<ObjectStore>, BindingError> {
        let mut storages = self.inner.storages.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = storages.get(key) {
            return Ok(store.clone());
        }
        let path = self.namespace_dir(&key.script, &key.namespace).map(|dir| dir.join(format!("{}.sqlite", key.id)));
        let store = ObjectStore::open(path.as_deref(), key.clone(), self.inner.alarms.clone())
            .map_err(|error| BindingError(error.to_string()))?;
        storages.insert(key.clone(), store.clone());
        Ok(store)
    }

    /// The host of the bindings in objects' `env`: the engine, which forwards what it does not
    /// answer itself back to the services (and so to this host).
    fn bindings(&self) -> Arc<dyn BindingHost> {
        self.inner.bindings.get_or_init(|| Arc::new(self.inner.engine.clone())).clone()
    }

    fn now_ms(&self) -> i64 {
        self.inner.engine.now_ms()
    }
}

/// A script or class name as one folder name: anything but letters, digits, `-`, `_` and `$`
/// becomes `_`.
fn file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$') { c } else { '_' }).collect()
}
