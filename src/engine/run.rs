//! One run of an instance as the engine sees it: the replay state (stored steps, occurrence
//! counters), the answers to every `WorkflowStep` request, and the decision to suspend. A run
//! suspends when it has at least one request it will not answer now (a sleep, a retry delay, an
//! event wait, a pause) and no step callback is still running.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::duration::parse_duration_value;
use super::retry::StepConfig;
use super::{Engine, Inner, InstanceKey, MAX_PAYLOAD_BYTES};
use crate::ids::{EventType, StepKey, StepKind, check_step_name};
use crate::js::{
    AttemptOutcome, BindingHost, EXCEEDED_CPU, HostReply, HostRequest, InterruptCause, Interruption, LogLevel,
    RunOutcome, StepHost,
};
use crate::model::{Attempt, ErrorInfo, Step, StepState};
use crate::store::TimerChange;

/// The default and the bounds of `waitForEvent`'s timeout, and the longest sleep (spec §2.5, §2.6).
const DEFAULT_EVENT_TIMEOUT_MS: u64 = 24 * 3_600_000;
const MIN_EVENT_TIMEOUT_MS: u64 = 1_000;
const MAX_WAIT_MS: u64 = 365 * 86_400_000;

/// What the engine and a run share to stop it.
#[derive(Debug, Default)]
pub(super) struct RunControl {
    /// Set by the engine: stop now (terminate, restart, shutdown). The outcome is ignored.
    pub stop: CancellationToken,
    /// Set by the run itself: it has parked requests and nothing running.
    pub suspend: CancellationToken,
    pub pause_requested: AtomicBool,
    /// Set when the run was stopped with work it can go on with at once (an attempt that the
    /// watchdog stopped and that is retried without delay): the instance goes back in line.
    pub rerun: AtomicBool,
    /// Set by the engine when stepflare stops: no new attempt starts, and once no step
    /// callback is running the run is stopped (the instance stays `running`, to be recovered).
    draining: AtomicBool,
    activity: Mutex<Activity>,
}

#[derive(Debug, Default)]
struct Activity {
    callbacks_running: u32,
    parked: u32,
    parked_for_pause: bool,
}

impl RunControl {
    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn callback_started(&self) {
        self.activity().callbacks_running += 1;
    }

    /// A step callback settled. Whether the run is then idle is decided by [`Self::settle`],
    /// once the attempt's end is committed: stopping or suspending the run earlier could let
    /// the engine go on (or the process exit) while the commit is still being written.
    fn callback_ended(&self) {
        let mut activity = self.activity();
        activity.callbacks_running = activity.callbacks_running.saturating_sub(1);
    }

    /// Suspends (or, when stepflare is stopping, stops) the run if nothing runs in it any more.
    fn settle(&self) {
        let activity = self.activity();
        self.suspend_if_idle(&activity);
    }

    /// A request that will not be answered in this run.
    fn park(&self, for_pause: bool) -> Option<HostReply> {
        let mut activity = self.activity();
        activity.parked += 1;
        activity.parked_for_pause |= for_pause;
        self.suspend_if_idle(&activity);
        None
    }

    /// stepflare is stopping: let the step callbacks that run now finish (their results are
    /// committed as usual), start nothing new, and stop the run once none is left.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.settle();
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn request_pause(&self) {
        self.pause_requested.store(true, Ordering::SeqCst);
        let mut activity = self.activity();
        if activity.callbacks_running == 0 {
            activity.parked_for_pause = true;
            self.suspend.cancel();
        }
    }

    pub fn withdraw_pause(&self) {
        self.pause_requested.store(false, Ordering::SeqCst);
    }

    pub fn pause_requested(&self) -> bool {
        self.pause_requested.load(Ordering::SeqCst)
    }

    pub fn parked_for_pause(&self) -> bool {
        self.activity().parked_for_pause
    }

    fn suspend_if_idle(&self, activity: &Activity) {
        if activity.callbacks_running > 0 {
            return;
        }
        if self.draining() {
            // Stopped, not suspended: nothing about the instance changes, and the next start
            // replays it from what is committed.
            self.stop.cancel();
        } else if activity.parked > 0 {
            self.suspend.cancel();
        }
    }
}

/// Replay state: the steps stored before this run started plus those it made, and how many
/// times each (kind, name) was called so far in this run.
struct Replay {
    steps: HashMap<StepKey, Step>,
    occurrences: HashMap<(StepKind, String), u32>,
    next_seq: u32,
    attempt_started: HashMap<StepKey, i64>,
    /// How many `do` steps exist, for `limits.steps`.
    do_steps: usize,
}

impl Replay {
    fn next_key(&mut self, kind: StepKind, name: &str) -> StepKey {
        let count = self.occurrences.entry((kind, name.to_owned())).or_insert(0);
        *count += 1;
        StepKey { kind, name: name.to_owned(), count: *count }
    }

    fn new_row(&mut self, key: &StepKey, now: i64) -> Step {
        let seq = self.next_seq;
        self.next_seq += 1;
        Step::started(key.clone(), seq, now)
    }
}

/// The engine's answer to one run's requests.
pub(super) struct RunHost {
    inner: Arc<Inner>,
    key: InstanceKey,
    steps_limit: u32,
    pub control: Arc<RunControl>,
    replay: Mutex<Replay>,
    /// Set when the run broke a rule that fails the instance whatever the code catches.
    pub fatal: Mutex<Option<ErrorInfo>>,
}

impl RunHost {
    pub fn new(
        inner: Arc<Inner>,
        key: InstanceKey,
        steps_limit: u32,
        control: Arc<RunControl>,
        stored: Vec<Step>,
    ) -> Self {
        let next_seq = stored.iter().map(|s| s.seq + 1).max().unwrap_or(0);
        let do_steps = stored.iter().filter(|s| s.key.kind == StepKind::Do).count();
        let steps = stored.into_iter().map(|row| (row.key.clone(), row)).collect();
        RunHost {
            inner,
            key,
            steps_limit,
            control,
            replay: Mutex::new(Replay {
                steps,
                occurrences: HashMap::new(),
                next_seq,
                attempt_started: HashMap::new(),
                do_steps,
            }),
            fatal: Mutex::new(None),
        }
    }

    /// Steps whose callback is running now, with the attempt in progress: describe shows them
    /// although nothing about them is stored until the attempt ends.
    pub fn in_flight(&self) -> Vec<(Step, Attempt)> {
        let replay = self.replay();
        let mut running: Vec<_> = replay
            .attempt_started
            .iter()
            .filter_map(|(key, started_on)| {
                let row = replay.steps.get(key)?.clone();
                let attempt = Attempt {
                    key: key.clone(),
                    attempt: row.attempts_made + 1,
                    started_on: *started_on,
                    ended_on: None,
                    success: None,
                    error: None,
                };
                Some((row, attempt))
            })
            .collect();
        running.sort_by_key(|(row, _)| row.seq);
        running
    }

    fn replay(&self) -> std::sync::MutexGuard<'_, Replay> {
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn fail_instance(&self, error: ErrorInfo) -> Option<HostReply> {
        *self.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.control.suspend.cancel();
        None
    }

    /// Persists a step row; a store failure fails the instance rather than losing the result.
    fn save(&self, row: &Step, attempt: Option<&Attempt>, timer: TimerChange) -> Result<(), Option<HostReply>> {
        let (workflow, id) = (&self.key.0, &self.key.1);
        self.inner.store.save_step(workflow, id, row, attempt, timer).map_err(|error| {
            self.fail_instance(ErrorInfo::new(
                "Error",
                format!("stepflare could not store step {}: {error}", row.key.display_name()),
            ))
        })
    }

    fn do_begin(&self, name: String, config: Value) -> Option<HostReply> {
        if let Err(error) = check_step_name(&name) {
            return Some(HostReply::Failed { error: ErrorInfo::new("TypeError", error.to_string()) });
        }
        if self.control.pause_requested() {
            return self.control.park(true);
        }
        if self.control.draining() {
            return self.control.park(false);
        }
        let now = self.now();
        let mut replay = self.replay();
        let key = replay.next_key(StepKind::Do, &name);
        let config = match StepConfig::resolve(&config) {
            Ok(config) => config,
            Err(reason) => {
                drop(replay);
                return self.fail_instance(ErrorInfo::new(
                    "WorkflowFatalError",
                    format!("Step config for \"{name}\" is in a invalid format: {reason}"),
                ));
            }
        };
        let attempt = match replay.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => {
                return Some(HostReply::Cached { output: row.output.clone() });
            }
            Some(row) if row.state == StepState::Failed => {
                return Some(HostReply::Failed {
                    error: row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", "")),
                });
            }
            Some(row) if row.wake_at.is_some_and(|due| due > now) => {
                drop(replay);
                return self.control.park(false);
            }
            Some(row) => row.attempts_made + 1,
            None => {
                if replay.do_steps >= self.steps_limit as usize {
                    drop(replay);
                    return self.fail_instance(ErrorInfo::new(
                        "WorkflowFatalError",
                        format!(
                            "The limit of {} steps has been reached. This limit can be changed in your worker configuration.",
                            self.steps_limit
                        ),
                    ));
                }
                let mut row = replay.new_row(&key, now);
                row.state = StepState::Retrying;
                row.config = Some(config.display.to_string());
                replay.steps.insert(key.clone(), row);
                replay.do_steps += 1;
                1
            }
        };
        replay.attempt_started.insert(key.clone(), now);
        drop(replay);
        self.control.callback_started();
        Some(HostReply::Run {
            token: attempt_token(&key),
            count: key.count,
            attempt,
            timeout_ms: config.timeout_ms,
            config: config.display,
        })
    }

    fn do_end(&self, token: String, attempt: u32, outcome: AttemptOutcome) -> Option<HostReply> {
        self.control.callback_ended();
        let Some(key) = step_of_token(&token) else {
            return self.fail_instance(ErrorInfo::new("Error", format!("unknown step token {token:?}")));
        };
        let count = key.count;
        let now = self.now();
        let mut replay = self.replay();
        let started_on = replay.attempt_started.remove(&key).unwrap_or(now);
        let Some(mut row) = replay.steps.get(&key).cloned() else {
            drop(replay);
            return self.fail_instance(ErrorInfo::new("Error", format!("no step {}", key.display_name())));
        };
        let config = row
            .config
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .and_then(|value: Value| StepConfig::resolve(&value).ok())
            .unwrap_or_else(|| StepConfig::resolve(&Value::Null).expect("defaults are valid"));
        let had_timer = row.wake_at.is_some();
        row.attempts_made = attempt;
        let mut attempt_row =
            Attempt { key: key.clone(), attempt, started_on, ended_on: Some(now), success: Some(true), error: None };
        let outcome = match outcome {
            AttemptOutcome::Ok { output: Some(output) } if output.len() > MAX_PAYLOAD_BYTES => AttemptOutcome::Err {
                error: ErrorInfo::new(
                    "Error",
                    format!(
                        "step \"{}\" returned {} bytes, over the 1 MiB limit for a step result",
                        key.name,
                        output.len()
                    ),
                ),
                // The same code returns the same value again: retrying cannot help.
                non_retryable: true,
            },
            other => other,
        };
        let (reply, timer) = match outcome {
            AttemptOutcome::Ok { output } => {
                row.state = StepState::Succeeded;
                row.ended_on = Some(now);
                row.output = output;
                row.wake_at = None;
                let reply = if self.control.pause_requested() { None } else { Some(HostReply::Resolved) };
                (reply, if had_timer { TimerChange::Clear } else { TimerChange::Keep })
            }
            AttemptOutcome::Err { error, non_retryable } => {
                attempt_row.success = Some(false);
                attempt_row.error = Some(error.clone());
                let delay = if non_retryable { None } else { config.delay_after_attempt(attempt) };
                match delay {
                    None => {
                        row.state = StepState::Failed;
                        row.ended_on = Some(now);
                        row.error = Some(error.clone());
                        row.wake_at = None;
                        let clear = if had_timer { TimerChange::Clear } else { TimerChange::Keep };
                        (Some(HostReply::Failed { error }), clear)
                    }
                    // The next attempt, at once; when stepflare is stopping, at the next start.
                    Some(0) if self.control.draining() => {
                        row.state = StepState::Retrying;
                        row.wake_at = None;
                        (None, if had_timer { TimerChange::Clear } else { TimerChange::Keep })
                    }
                    Some(0) => {
                        row.state = StepState::Retrying;
                        row.wake_at = None;
                        replay.attempt_started.insert(key.clone(), now);
                        self.control.callback_started();
                        let reply = HostReply::Run {
                            token,
                            count,
                            attempt: attempt + 1,
                            timeout_ms: config.timeout_ms,
                            config: config.display.clone(),
                        };
                        (Some(reply), if had_timer { TimerChange::Clear } else { TimerChange::Keep })
                    }
                    Some(delay) => {
                        let due = now + delay as i64;
                        row.state = StepState::Retrying;
                        row.wake_at = Some(due);
                        (None, TimerChange::Set(due))
                    }
                }
            }
        };
        replay.steps.insert(key, row.clone());
        drop(replay);
        // A first attempt that succeeds is fully described by the step row itself (describe
        // derives it); not writing it halves the work of the common case.
        let attempt_row = (attempt > 1 || attempt_row.success != Some(true)).then_some(attempt_row);
        if let Err(stopped) = self.save(&row, attempt_row.as_ref(), timer) {
            return stopped;
        }
        if self.control.draining() {
            return self.control.park(false);
        }
        match reply {
            Some(reply) => {
                self.control.settle();
                Some(reply)
            }
            None => self.control.park(row.state == StepState::Succeeded),
        }
    }

    /// Records what the watchdog stopped: each attempt it ended fails, as it would have at its
    /// own timer or CPU limit, and is retried per its config by the next run (which replays up to
    /// it). Attempts that were merely running beside it are not recorded and run again. CPU spent
    /// outside any step fails the instance. `None` when the instance goes on.
    pub fn settle_interruption(&self, interruption: Interruption) -> Option<RunOutcome> {
        let failed: Vec<_> = match interruption.cause {
            InterruptCause::StepTimeout => {
                interruption.attempts.into_iter().filter(|a| a.overdue).map(|a| (timed_out(a.timeout_ms), a)).collect()
            }
            InterruptCause::CpuLimit { .. } if interruption.attempts.is_empty() => {
                return Some(RunOutcome::Errored(ErrorInfo::new("Error", EXCEEDED_CPU)));
            }
            InterruptCause::CpuLimit { .. } => {
                interruption.attempts.into_iter().map(|a| (ErrorInfo::new("Error", EXCEEDED_CPU), a)).collect()
            }
        };
        for (error, attempt) in failed {
            let (workflow, instance) = (&self.key.0, &self.key.1);
            tracing::warn!(
                target: "workflow", %workflow, %instance,
                "step {:?} attempt {} was stopped inside code that never yields: {}: {}",
                step_of_token(&attempt.token).map_or(attempt.token.clone(), |key| key.name),
                attempt.attempt,
                error.name,
                error.message
            );
            self.do_end(attempt.token, attempt.attempt, AttemptOutcome::Err { error, non_retryable: false });
        }
        self.control.rerun.store(true, Ordering::SeqCst);
        None
    }

    /// A sleep until `wake_at`, or the replay of one.
    fn sleep_until(&self, name: String, wake_at: Option<i64>) -> Option<HostReply> {
        if let Err(error) = check_step_name(&name) {
            return Some(HostReply::Failed { error: ErrorInfo::new("TypeError", error.to_string()) });
        }
        let now = self.now();
        let mut replay = self.replay();
        let key = replay.next_key(StepKind::Sleep, &name);
        let mut row = match replay.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => return Some(HostReply::Done),
            Some(row) => row.clone(),
            None => {
                let Some(wake_at) = wake_at else {
                    return Some(HostReply::Failed {
                        error: ErrorInfo::new(
                            "TypeError",
                            format!(
                                "step.sleep(\"{name}\"): the duration must be milliseconds or a string such as \"10 seconds\", at most 365 days"
                            ),
                        ),
                    });
                };
                let mut row = replay.new_row(&key, now);
                row.wake_at = Some(wake_at);
                row
            }
        };
        let due = row.wake_at.unwrap_or(now);
        let (reply, timer) = if due <= now {
            row.state = StepState::Succeeded;
            row.ended_on = Some(now);
            (Some(HostReply::Done), TimerChange::Clear)
        } else if replay.steps.contains_key(&key) {
            drop(replay);
            return self.control.park(false);
        } else {
            (None, TimerChange::Set(due))
        };
        replay.steps.insert(key, row.clone());
        drop(replay);
        if let Err(stopped) = self.save(&row, None, timer) {
            return stopped;
        }
        reply.or_else(|| self.control.park(false))
    }

    fn wait_for_event(&self, name: String, event_type: Value, timeout: Value) -> Option<HostReply> {
        let type_error = |message: String| Some(HostReply::Failed { error: ErrorInfo::new("TypeError", message) });
        if let Err(error) = check_step_name(&name) {
            return type_error(error.to_string());
        }
        let event_type = match event_type.as_str().map(EventType::parse) {
            Some(Ok(event_type)) => event_type,
            Some(Err(error)) => {
                return type_error(format!("(workflow.invalid_event_type) {error}"));
            }
            None => {
                return type_error(format!("step.waitForEvent(\"{name}\"): options.type must be a string"));
            }
        };
        let timeout_ms = match timeout {
            Value::Null => Some(DEFAULT_EVENT_TIMEOUT_MS),
            other => parse_duration_value(&other).filter(|ms| (MIN_EVENT_TIMEOUT_MS..=MAX_WAIT_MS).contains(ms)),
        };
        let Some(timeout_ms) = timeout_ms else {
            return type_error(format!(
                "step.waitForEvent(\"{name}\"): options.timeout must be between 1 second and 365 days"
            ));
        };
        let now = self.now();
        let mut replay = self.replay();
        let key = replay.next_key(StepKind::WaitForEvent, &name);
        let known = replay.steps.get(&key).cloned();
        let mut row = match known {
            Some(row) if row.state == StepState::Succeeded => {
                return Some(HostReply::Cached { output: row.output });
            }
            Some(row) if row.state == StepState::Failed => {
                return Some(HostReply::Failed { error: row.error.unwrap_or_else(|| ErrorInfo::new("Error", "")) });
            }
            Some(row) => row,
            None => {
                let mut row = replay.new_row(&key, now);
                row.wake_at = Some(now + timeout_ms as i64);
                row.event_type = Some(event_type.to_string());
                row.config = Some(serde_json::json!({ "timeout": timeout_ms }).to_string());
                if let Err(stopped) = self.save(&row, None, TimerChange::Set(now + timeout_ms as i64)) {
                    return stopped;
                }
                row
            }
        };
        let (workflow, id) = (&self.key.0, &self.key.1);
        match self.inner.store.deliver_event(workflow, id, &mut row, now) {
            Ok(Some(_)) => {
                let output = row.output.clone();
                replay.steps.insert(key, row);
                return Some(HostReply::Cached { output });
            }
            Ok(None) => {}
            Err(error) => {
                drop(replay);
                return self
                    .fail_instance(ErrorInfo::new("Error", format!("stepflare could not read events: {error}")));
            }
        }
        let due = row.wake_at.unwrap_or(now);
        if due > now {
            replay.steps.insert(key, row);
            drop(replay);
            return self.control.park(false);
        }
        let waited = row.config.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
        let waited_ms = waited.and_then(|c| c["timeout"].as_u64()).unwrap_or(timeout_ms);
        let error = timed_out(waited_ms);
        row.state = StepState::Failed;
        row.ended_on = Some(now);
        row.error = Some(error.clone());
        replay.steps.insert(key, row.clone());
        drop(replay);
        if let Err(stopped) = self.save(&row, None, TimerChange::Clear) {
            return stopped;
        }
        Some(HostReply::Failed { error })
    }
}

/// The token of a `do` step's `Run` reply, which names the step when its attempt ends.
fn attempt_token(key: &StepKey) -> String {
    format!("{}:{}", key.count, key.name)
}

/// The `do` step an [`attempt_token`] names.
fn step_of_token(token: &str) -> Option<StepKey> {
    let (count, name) = token.split_once(':')?;
    Some(StepKey { kind: StepKind::Do, name: name.to_owned(), count: count.parse().ok()? })
}

/// Cloudflare's error for a step attempt or an event wait that ran out of time.
fn timed_out(ms: u64) -> ErrorInfo {
    ErrorInfo::new("WorkflowTimeoutError", format!("Execution timed out after {ms}ms"))
}

impl StepHost for RunHost {
    async fn handle(&self, request: HostRequest) -> Option<HostReply> {
        if self.control.stop.is_cancelled() {
            return None;
        }
        match request {
            HostRequest::DoBegin { name, config } => self.do_begin(name, config),
            HostRequest::DoEnd { token, attempt, outcome } => self.do_end(token, attempt, outcome),
            HostRequest::Sleep { name, duration } => {
                let wake_at =
                    parse_duration_value(&duration).filter(|ms| *ms <= MAX_WAIT_MS).map(|ms| self.now() + ms as i64);
                self.sleep_until(name, wake_at)
            }
            HostRequest::SleepUntil { name, until } => {
                let wake_at = until.is_finite().then_some(until as i64);
                self.sleep_until(name, wake_at)
            }
            HostRequest::WaitForEvent { name, event_type, timeout } => self.wait_for_event(name, event_type, timeout),
            HostRequest::Fatal { error } => self.fail_instance(error),
        }
    }

    fn bindings(&self) -> Option<Arc<dyn BindingHost>> {
        Some(Arc::new(Engine::from_inner(self.inner.clone())))
    }

    fn log(&self, level: LogLevel, message: &str) {
        let (workflow, instance) = (&self.key.0, &self.key.1);
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "workflow", %workflow, %instance, "{message}")
            }
            LogLevel::Info => tracing::info!(target: "workflow", %workflow, %instance, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "workflow", %workflow, %instance, "{message}"),
            LogLevel::Error => {
                tracing::error!(target: "workflow", %workflow, %instance, "{message}")
            }
        }
    }
}
