//! Where user JavaScript runs: threads of its own (`stepflare-js`), apart from the threads that
//! serve HTTP, drive timers and deliver queues, so that code that never yields (a `while (true)
//! {}`) holds only a JS thread and the API keeps answering. Whoever waits for such code can
//! give up on it: the waiting future's drop raises a flag that QuickJS's interrupt handler reads,
//! and the code stops with an uncatchable error at its next instruction.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

/// Raised when nobody waits any more for the code a runtime runs; its interrupt handler stops
/// the code then.
#[derive(Debug, Clone, Default)]
pub(super) struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The JS threads: as many as the machine has cores, and at least two.
fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("stepflare-js")
            .enable_all()
            .build()
            // Without threads for user code nothing can run; this is as fatal as a failed start.
            .unwrap_or_else(|error| panic!("cannot start the JavaScript threads: {error}"))
    })
}

/// Runs `work` (given the flag its runtime's interrupt handler reads) on a JS thread and waits
/// for its result. Dropping the returned future gives up on the work: the flag is raised and the
/// task aborted. `None` when the work panicked.
pub(super) async fn on_js_thread<F, T>(work: impl FnOnce(Abandoned) -> F) -> Option<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let abandoned = Abandoned::default();
    let task = js_runtime().spawn(work(abandoned.clone()));
    let _give_up = GiveUpOnDrop { abandoned, task: task.abort_handle() };
    match task.await {
        Ok(result) => Some(result),
        Err(error) => {
            tracing::error!("JavaScript task failed: {error}");
            None
        }
    }
}

/// Starts `work` on a JS thread and leaves it running (a Worker's response stream and its
/// `waitUntil` work go on after the caller has its answer).
pub(super) fn spawn_on_js_thread(work: impl Future<Output = ()> + Send + 'static) {
    js_runtime().spawn(work);
}

struct GiveUpOnDrop {
    abandoned: Abandoned,
    task: AbortHandle,
}

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        if !self.task.is_finished() {
            self.abandoned.raise();
            self.task.abort();
        }
    }
}
