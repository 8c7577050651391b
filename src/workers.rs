//! The Workers loaded now. `stepflare dev` loads one per config; the first is the one served
//! over HTTP, as with `wrangler dev`. Hot reload swaps the whole set at once, so a request,
//! a cron firing or a queue delivery sees one consistent set of Workers.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::js::WorkerCode;

/// Cheap to clone: every clone sees the same, current set.
#[derive(Clone, Default)]
pub struct Workers {
    loaded: Arc<RwLock<Vec<Arc<WorkerCode>>>>,
    /// Told on every replacement, so the cron task plans with the new crons.
    replaced: Arc<Notify>,
}

impl Workers {
    pub fn new(workers: Vec<WorkerCode>) -> Self {
        let loaded = Workers::default();
        loaded.replace(workers);
        loaded
    }

    /// Replaces every Worker at once (after a reload).
    pub fn replace(&self, workers: Vec<WorkerCode>) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = workers.into_iter().map(Arc::new).collect();
        self.replaced.notify_one();
    }

    /// Resolves after the next [`Workers::replace`] (at once if one happened since the last call).
    /// There is one waiter: the cron task.
    pub async fn replaced(&self) {
        self.replaced.notified().await;
    }

    /// The Worker that answers HTTP: the first config's, when its default export has handlers.
    pub fn served(&self) -> Option<Arc<WorkerCode>> {
        self.all().into_iter().find(|worker| worker.served)
    }

    /// Every loaded Worker with handlers.
    pub fn all(&self) -> Vec<Arc<WorkerCode>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The Worker whose `name` is `name`.
    pub fn named(&self, name: &str) -> Option<Arc<WorkerCode>> {
        self.all().into_iter().find(|worker| worker.name == name)
    }
}
