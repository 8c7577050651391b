//! The Workers loaded now. `stepflare dev` loads one per config; the first is the one served
//! over HTTP, as with `wrangler dev`. Hot reload swaps the whole set at once, so a request,
//! a cron firing or a queue delivery sees one consistent set of Workers.

use std::sync::{Arc, RwLock};

use crate::js::WorkerCode;

/// Cheap to clone: every clone sees the same, current set.
#[derive(Clone)]
pub struct Workers {
    loaded: Arc<RwLock<Vec<Arc<WorkerCode>>>>,
    /// Counts replacements, so that tasks planning around the Workers (queue deliveries, cron
    /// triggers) can wait for the next one.
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for Workers {
    fn default() -> Self {
        Workers { loaded: Arc::default(), generation: Arc::new(tokio::sync::watch::Sender::new(0)) }
    }
}

impl Workers {
    /// Replaces every Worker at once (after a reload).
    pub fn replace(&self, workers: Vec<WorkerCode>) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = workers.into_iter().map(Arc::new).collect();
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// A receiver whose `changed()` resolves at the next replacement.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
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
