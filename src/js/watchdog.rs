//! The watchdog of one runtime: what QuickJS's interrupt handler reads to stop user code that
//! nobody waits for any more, that used more CPU than the Worker's `limits.cpu_ms`, or whose step
//! attempt is past its `timeout` while the code never yields (so the attempt's own timer cannot
//! fire). Stopping is all it does: it reports what was in flight, and the host decides what that
//! means for the instance.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How long past its deadline a step attempt may go on before the run is stopped. An attempt
/// whose code yields fails through its own timer at the deadline; this is only for code that
/// never yields, and keeps a run that is merely busy at the deadline from being stopped.
const STEP_TIMEOUT_GRACE: Duration = Duration::from_millis(100);

/// Why the watchdog stopped the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptCause {
    /// The code used more CPU than the limit (ms) since the invocation began or, in a workflow,
    /// since its last `step` call.
    CpuLimit { limit_ms: u64 },
    /// At least one step attempt went past its timeout inside code that never yielded.
    StepTimeout,
}

/// A step attempt that was running when the code was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptedAttempt {
    /// The token of its `Run` reply.
    pub token: String,
    pub attempt: u32,
    pub timeout_ms: u64,
    /// Whether it was past its timeout.
    pub overdue: bool,
}

/// What the watchdog stopped, and the step attempts that were in flight then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    pub cause: InterruptCause,
    pub attempts: Vec<InterruptedAttempt>,
}

/// Shared between the interrupt handler, the future that runs the code, and whoever waits for
/// it. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Watchdog(Arc<State>);

#[derive(Debug)]
struct State {
    abandoned: AtomicBool,
    meter: Mutex<CpuMeter>,
    attempts: Mutex<HashMap<String, RunningAttempt>>,
    interruption: OnceLock<Interruption>,
    interrupted: CancellationToken,
}

#[derive(Debug, Clone, Copy)]
struct RunningAttempt {
    attempt: u32,
    timeout_ms: u64,
    deadline: Instant,
}

impl Watchdog {
    pub fn new(cpu_limit: Duration) -> Self {
        Watchdog(Arc::new(State {
            abandoned: AtomicBool::new(false),
            meter: Mutex::new(CpuMeter::new(cpu_limit)),
            attempts: Mutex::new(HashMap::new()),
            interruption: OnceLock::new(),
            interrupted: CancellationToken::new(),
        }))
    }

    /// Nobody waits for the code any more: stop it at its next instruction.
    pub fn abandon(&self) {
        self.0.abandoned.store(true, Ordering::Relaxed);
    }

    /// Whether the code is being stopped: given up on, or interrupted over a limit. Unlike
    /// [`Self::should_interrupt`] this only looks.
    pub fn stopping(&self) -> bool {
        self.0.abandoned.load(Ordering::Relaxed) || self.0.interruption.get().is_some()
    }

    /// The interrupt handler: whether the code must stop now. Once it says yes it keeps saying
    /// yes, so that no code of this runtime runs again.
    pub fn should_interrupt(&self) -> bool {
        if self.0.abandoned.load(Ordering::Relaxed) || self.0.interruption.get().is_some() {
            return true;
        }
        if let Some(limit_ms) = self.meter().over_limit() {
            return self.interrupt(InterruptCause::CpuLimit { limit_ms });
        }
        let now = Instant::now();
        let overdue = self.attempts().values().any(|running| now > running.deadline + STEP_TIMEOUT_GRACE);
        overdue && self.interrupt(InterruptCause::StepTimeout)
    }

    fn interrupt(&self, cause: InterruptCause) -> bool {
        let now = Instant::now();
        let mut attempts: Vec<InterruptedAttempt> = self
            .attempts()
            .iter()
            .map(|(token, running)| InterruptedAttempt {
                token: token.clone(),
                attempt: running.attempt,
                timeout_ms: running.timeout_ms,
                overdue: now > running.deadline,
            })
            .collect();
        attempts.sort_by(|a, b| a.token.cmp(&b.token));
        let _ = self.0.interruption.set(Interruption { cause, attempts });
        self.0.interrupted.cancel();
        true
    }

    /// Settles when the watchdog has stopped the code, with what it stopped.
    async fn interrupted(&self) -> Interruption {
        self.0.interrupted.cancelled().await;
        self.interruption().unwrap_or(Interruption { cause: InterruptCause::StepTimeout, attempts: Vec::new() })
    }

    pub fn interruption(&self) -> Option<Interruption> {
        self.0.interruption.get().cloned()
    }

    /// `work`'s result, unless the watchdog stopped its code. Stopped code never settles its
    /// promises (so `work` may never end), or, stopped in the middle of a call, ends at once with
    /// the stop's uncatchable error: either way the interruption is the answer.
    pub async fn unless_interrupted<T>(&self, work: impl Future<Output = T>) -> Result<T, Interruption> {
        tokio::select! {
            interruption = self.interrupted() => Err(interruption),
            done = work => self.interruption().map_or(Ok(done), Err),
        }
    }

    /// The code made a `step` call: CPU counts again from zero, as Cloudflare's limit is per step.
    pub fn step_boundary(&self) {
        self.meter().restart();
    }

    /// The host told the code to run attempt `attempt` of a step, with its timeout.
    pub fn attempt_started(&self, token: String, attempt: u32, timeout_ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        self.attempts().insert(token, RunningAttempt { attempt, timeout_ms, deadline });
    }

    pub fn attempt_ended(&self, token: &str) {
        self.attempts().remove(token);
    }

    /// Wraps the future that runs the code, so that CPU is counted while it is polled.
    pub fn metered<F: Future>(&self, future: F) -> Metered<F> {
        Metered { watchdog: self.clone(), future: Box::pin(future) }
    }

    // The locks below are held for a few instructions and never across an await or a call out.
    fn meter(&self) -> std::sync::MutexGuard<'_, CpuMeter> {
        self.0.meter.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, HashMap<String, RunningAttempt>> {
        self.0.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A future whose polls are counted as the code's CPU time.
pub(super) struct Metered<F> {
    watchdog: Watchdog,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.watchdog.meter().enter();
        let polled = self.future.as_mut().poll(cx);
        self.watchdog.meter().leave();
        polled
    }
}

/// CPU used since the meter last restarted: whole polls already counted, plus the poll going on
/// now. A poll runs on one thread, so the thread's CPU clock measures it. Reading that clock is a
/// system call, too slow to make twice per poll; a short poll counts its wall time (never less
/// than its CPU time), and a poll that goes on for long reads the CPU clock from then on, taking
/// the wall time before as CPU.
#[derive(Debug)]
struct CpuMeter {
    limit: Duration,
    used: Duration,
    /// The poll going on now: when it began, and the thread's CPU clock at that time once it is
    /// long enough to be read precisely.
    poll: Option<(Instant, Option<Duration>)>,
}

/// How long a poll may run before its CPU time is read from the CPU clock.
const PRECISE_AFTER: Duration = Duration::from_millis(1);

impl CpuMeter {
    fn new(limit: Duration) -> Self {
        CpuMeter { limit, used: Duration::ZERO, poll: None }
    }

    fn enter(&mut self) {
        self.poll = Some((Instant::now(), None));
    }

    fn leave(&mut self) {
        self.used += match self.poll.take() {
            Some((_, Some(cpu_at_start))) => thread_cpu_time().saturating_sub(cpu_at_start),
            Some((wall_at_start, None)) => wall_at_start.elapsed(),
            None => Duration::ZERO,
        };
    }

    fn restart(&mut self) {
        self.used = Duration::ZERO;
        if self.poll.is_some() {
            self.enter();
        }
    }

    /// The limit in ms, when the CPU used is over it.
    fn over_limit(&mut self) -> Option<u64> {
        let over = match &mut self.poll {
            None => self.used > self.limit,
            Some((wall_at_start, cpu_at_start)) => {
                let elapsed = wall_at_start.elapsed();
                if elapsed > PRECISE_AFTER && cpu_at_start.is_none() {
                    *cpu_at_start = Some(thread_cpu_time().saturating_sub(elapsed));
                }
                match cpu_at_start {
                    _ if self.used + elapsed <= self.limit => false,
                    Some(cpu_at_start) => self.used + thread_cpu_time().saturating_sub(*cpu_at_start) > self.limit,
                    None => true,
                }
            }
        };
        over.then_some(self.limit.as_millis() as u64)
    }
}

/// The CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for the call to write; the clock id is a constant that
    // every supported Unix has.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if read != 0 {
        return wall_time_since_start();
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    wall_time_since_start()
}

/// Where the thread's CPU clock cannot be read, the wall clock stands in for it (it reads more
/// on a busy machine, never less).
fn wall_time_since_start() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CPU_LIMIT;

    /// Uses `duration` of this thread's CPU, however long that takes on a busy machine.
    fn spin_cpu(duration: Duration) {
        let start = thread_cpu_time();
        while thread_cpu_time() - start < duration {
            std::hint::black_box(0);
        }
    }

    #[test]
    fn a_poll_that_spins_past_the_limit_is_interrupted_with_the_limit() {
        let watchdog = Watchdog::new(Duration::from_millis(20));
        watchdog.meter().enter();
        assert!(!watchdog.should_interrupt());
        spin_cpu(Duration::from_millis(25));
        assert!(watchdog.should_interrupt());
        let interruption = watchdog.interruption().expect("interrupted");
        assert_eq!(interruption.cause, InterruptCause::CpuLimit { limit_ms: 20 });
        // Once stopped, always stopped.
        watchdog.meter().restart();
        assert!(watchdog.should_interrupt());
    }

    #[test]
    fn cpu_adds_up_across_polls_until_a_step_boundary() {
        let watchdog = Watchdog::new(Duration::from_millis(30));
        for _ in 0..2 {
            watchdog.meter().enter();
            spin_cpu(Duration::from_millis(20));
            watchdog.meter().leave();
        }
        assert!(watchdog.should_interrupt(), "40 ms over two polls is over a 30 ms limit");

        let watchdog = Watchdog::new(Duration::from_millis(30));
        for _ in 0..2 {
            watchdog.meter().enter();
            spin_cpu(Duration::from_millis(20));
            watchdog.step_boundary();
            watchdog.meter().leave();
        }
        assert!(!watchdog.should_interrupt(), "each step boundary starts the count again");
    }

    #[test]
    fn a_long_poll_that_mostly_waits_is_not_counted_as_cpu() {
        let watchdog = Watchdog::new(Duration::from_millis(200));
        watchdog.meter().enter();
        std::thread::sleep(PRECISE_AFTER * 2);
        // The interrupt handler's first look past `PRECISE_AFTER` starts reading the CPU clock.
        assert!(!watchdog.should_interrupt());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!watchdog.should_interrupt(), "300 ms asleep is over 200 ms of wall time, not of CPU");
        watchdog.meter().leave();
        assert!(watchdog.meter().used < Duration::from_millis(200), "{:?}", watchdog.meter().used);
    }

    #[test]
    fn an_attempt_past_its_timeout_and_the_grace_stops_the_code_and_is_reported_overdue() {
        let watchdog = Watchdog::new(DEFAULT_CPU_LIMIT);
        watchdog.attempt_started("1:other".into(), 2, 60_000);
        assert!(!watchdog.should_interrupt(), "an attempt within its timeout");
        watchdog.attempt_started("1:slow".into(), 1, 0);
        std::thread::sleep(STEP_TIMEOUT_GRACE + Duration::from_millis(20));
        assert!(watchdog.should_interrupt());
        let interruption = watchdog.interruption().expect("interrupted");
        assert_eq!(interruption.cause, InterruptCause::StepTimeout);
        assert_eq!(
            interruption.attempts,
            vec![
                InterruptedAttempt { token: "1:other".into(), attempt: 2, timeout_ms: 60_000, overdue: false },
                InterruptedAttempt { token: "1:slow".into(), attempt: 1, timeout_ms: 0, overdue: true },
            ]
        );
    }

    #[test]
    fn an_attempt_that_ended_is_not_watched() {
        let watchdog = Watchdog::new(DEFAULT_CPU_LIMIT);
        watchdog.attempt_started("1:quick".into(), 1, 0);
        watchdog.attempt_ended("1:quick");
        std::thread::sleep(STEP_TIMEOUT_GRACE + Duration::from_millis(20));
        assert!(!watchdog.should_interrupt());
    }

    #[test]
    fn an_abandoned_runtime_stops_without_an_interruption_to_report() {
        let watchdog = Watchdog::new(DEFAULT_CPU_LIMIT);
        assert!(!watchdog.stopping());
        watchdog.abandon();
        assert!(watchdog.stopping());
        assert!(watchdog.should_interrupt());
        assert_eq!(watchdog.interruption(), None);
    }

    #[test]
    fn sleeping_uses_no_cpu() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu_time() - before;
        assert!(slept < Duration::from_millis(15), "sleeping used {slept:?} of CPU");
    }
}
