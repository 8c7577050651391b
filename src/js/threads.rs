//! Where user JavaScript runs: threads of its own (`stepflare-js`), apart from the threads that
//! serve HTTP, drive timers and deliver queues, so that code that never yields (a `while (true)
//! {}`) holds only a JS thread and the API keeps answering. Each piece of work gets a
//! [`Watchdog`] that its runtime's interrupt handler reads: whoever waits for the code can give
//! up on it (dropping the waiting future), and the watchdog stops code over its CPU or step
//! limits; the code then stops with an uncatchable error at its next instruction.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

use super::watchdog::Watchdog;

/// The blocking threads of the JS runtime: what the code's bindings ask of the engine
/// (`env.W.create`, …) calls the store on them, as many at once as the engine's own runtime
/// allows (`store::BLOCKING_CALLERS`), rather than tokio's default of 512.
const BLOCKING_THREADS: usize = 8;

/// The JS threads: as many as the machine has cores, and at least two.
fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("stepflare-js")
            .max_blocking_threads(BLOCKING_THREADS)
            .enable_all()
            .build()
            // Without threads for user code nothing can run; this is as fatal as a failed start.
            .unwrap_or_else(|error| panic!("cannot start the JavaScript threads: {error}"))
    })
}

/// Runs `work` (given the watchdog its runtime's interrupt handler reads, which counts the CPU
/// the work uses against `cpu_limit`) on a JS thread and waits for its result. Dropping the
/// returned future gives up on the work: the watchdog stops its code and the task is aborted.
/// `None` when the work panicked.
pub(super) async fn on_js_thread<F, T>(cpu_limit: Duration, work: impl FnOnce(Watchdog) -> F) -> Option<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let watchdog = Watchdog::new(cpu_limit);
    let task = js_runtime().spawn(watchdog.metered(work(watchdog.clone())));
    let _give_up = GiveUpOnDrop { watchdog, task: task.abort_handle() };
    match task.await {
        Ok(result) => Some(result),
        Err(error) => {
            tracing::error!("JavaScript task failed: {error}");
            None
        }
    }
}

/// Starts `work` on a JS thread and leaves it running (a Worker's response stream and its
/// `waitUntil` work go on after the caller has its answer); its CPU counts against `watchdog`.
pub(super) fn spawn_on_js_thread(watchdog: &Watchdog, work: impl Future<Output = ()> + Send + 'static) {
    js_runtime().spawn(watchdog.metered(work));
}

struct GiveUpOnDrop {
    watchdog: Watchdog,
    task: AbortHandle,
}

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        if !self.task.is_finished() {
            self.watchdog.abandon();
            self.task.abort();
        }
    }
}
