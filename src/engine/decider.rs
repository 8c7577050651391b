//! The decider: every decision about one instance, as a pure function of what is known about it,
//! the input and the time. A run's `WorkflowStep` requests, the end of a run, a slot granted, and
//! the commands (pause, resume, terminate, restart) come in; what goes out is the reply to the
//! run, the rows to write (with the journal entries that say what changed), and the effects the
//! engine must carry out. Nothing here does IO, takes a lock or reads a clock: the executors
//! (`run.rs` for a run's requests, `mod.rs` for the rest) do, in that order: decide, commit the
//! writes, then act.

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;

use super::duration::parse_duration_value;
use super::lifecycle::{Command, Effect, Refusal, transition};
use super::retry::{RetryDelay, StepConfig};
use crate::ids::{EventType, StepKey, StepKind, check_step_name};
use crate::js::{
    AttemptOutcome, DELAY_FUNCTION_TIMEOUT_MS, DelayOutcome, EXCEEDED_CPU, HostReply, HostRequest, InterruptCause,
    Interruption, RegisteredRollback, UserConfig,
};
use crate::model::{
    Attempt, ErrorInfo, InstanceEvent, InstanceStatus, JournalEntry, Rollback, RollbackOutcome, SentEvent, Step,
    StepState, json_text,
};
use crate::outputs;
use crate::store::{TimerChange, Write};

/// The default and the bounds of `waitForEvent`'s timeout, and the longest sleep (spec §2.5, §2.6).
pub const DEFAULT_EVENT_TIMEOUT_MS: u64 = 24 * 3_600_000;
const MIN_EVENT_TIMEOUT_MS: u64 = 1_000;
const MAX_WAIT_MS: u64 = 365 * 86_400_000;
/// Params, event payloads and step results are limited to 1 MiB (spec §1.3).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// The most bytes a step's stored result may have: a stream output is exempt from the 1 MiB
/// (the prelude holds it to stepflare's own cap).
fn result_limit(output: &str) -> usize {
    if outputs::is_stream(output) { outputs::MAX_STREAM_TEXT } else { MAX_PAYLOAD_BYTES }
}

/// What the decider knows about an instance while a run of it is in progress: its steps (those
/// stored before the run and those the run made), how often each (kind, name) was called so far,
/// the events buffered for it, and what runs in it now.
#[derive(Debug)]
pub struct RunState {
    steps: HashMap<StepKey, Step>,
    /// Resolved configs of the `do` steps seen in this run, so an attempt's end does not parse
    /// the stored config again.
    configs: HashMap<StepKey, Arc<StepConfig>>,
    /// The config the last `do` call passed, resolved: a loop of steps usually passes the same
    /// one (or none) each time, and comparing is cheaper than resolving.
    last_config: Option<(UserConfig, Arc<StepConfig>)>,
    occurrences: HashMap<(StepKind, String), u32>,
    next_seq: u32,
    /// `do` steps whose attempt runs now, with when it started.
    attempts_running: HashMap<StepKey, i64>,
    /// How many `do` steps exist, for `limits.steps`.
    do_steps: usize,
    steps_limit: u32,
    /// Events sent and not consumed yet, oldest first.
    buffered: Vec<SentEvent>,
    /// Entries of decisions that wrote nothing (an attempt started); they go with the next commit.
    pending_journal: Vec<JournalEntry>,
    callbacks_running: u32,
    parked: u32,
    parked_for_pause: bool,
    pause_requested: bool,
    /// stepflare is stopping: no attempt starts, and the run stops once nothing runs in it.
    draining: bool,
    /// Set when the run broke a rule that fails the instance whatever the code catches.
    fatal: Option<ErrorInfo>,
    /// The run was stopped with work it can go on with at once: back in line.
    rerun: bool,
    /// The instance's rollback, once one began (or a terminate asked for one).
    rollback: Option<Rollback>,
    /// The run started with a rollback under way: it replays `run()` only to register the
    /// handlers again, so steps answer from history and nothing new runs or waits.
    replaying: bool,
}

/// One run's request's decision: the rows to commit, then what to do once they are committed.
#[derive(Debug)]
pub struct Decision {
    pub writes: Vec<Write>,
    pub then: Then,
}

/// What follows a decision once its writes are committed; [`RunState::after_commit`] turns it
/// into the reply and the signal to the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Reply(HostReply),
    /// A `do` attempt ended: `reply` goes to the run unless stepflare is stopping; no reply
    /// parks the request (for a pause when `for_pause`).
    AttemptEnded {
        reply: Option<HostReply>,
        for_pause: bool,
    },
    /// The request is not answered in this run.
    Park {
        for_pause: bool,
    },
    /// The instance fails whatever the code catches.
    Fail(ErrorInfo),
}

/// What a run must do besides answering: end now because it is idle with requests it will not
/// answer (`Suspend`), or because stepflare is stopping (`Stop`: nothing about the instance
/// changes, and the next start replays it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Suspend,
    Stop,
}

/// The answer to one request, once its writes are committed. `reply: None` means the request is
/// never answered (the run is about to end).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub reply: Option<HostReply>,
    pub signal: Option<Signal>,
}

impl Decision {
    fn reply(reply: HostReply) -> Self {
        Decision { writes: Vec::new(), then: Then::Reply(reply) }
    }

    fn park(for_pause: bool) -> Self {
        Decision { writes: Vec::new(), then: Then::Park { for_pause } }
    }

    fn fail(error: ErrorInfo) -> Self {
        Decision { writes: Vec::new(), then: Then::Fail(error) }
    }

    fn type_error(message: impl Into<String>) -> Self {
        Decision::reply(HostReply::Failed { error: ErrorInfo::new("TypeError", message) })
    }
}

/// Cloudflare's error for a step config (or rollback config) it cannot use: `what` is "Step
/// config" or "Rollback config".
fn invalid_format(what: &str, name: &str) -> ErrorInfo {
    ErrorInfo::new(
        "WorkflowFatalError",
        format!(
            "{what} for \"{name}\" is in a invalid format. See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/"
        ),
    )
}

/// The wait before the attempt after `attempt` failed (`None`: no retry follows), or the
/// `NonRetryableDelayError` that ends the step when its delay function failed. A delay
/// function's result is the base that the configured backoff multiplies, as a fixed delay is.
fn retry_delay(
    config: &StepConfig,
    key: &StepKey,
    attempt: u32,
    non_retryable: bool,
    delay: Option<DelayOutcome>,
) -> Result<Option<u64>, ErrorInfo> {
    if non_retryable || !config.will_retry(attempt) {
        return Ok(None);
    }
    let (RetryDelay::Dynamic, Some(outcome)) = (config.retry_delay, delay) else {
        return Ok(config.delay_after_attempt(attempt));
    };
    let failed = |what: String| {
        let message = format!("The delay function for step \"{}\" {what}", key.display_name());
        Err(ErrorInfo::new("NonRetryableDelayError", message))
    };
    match outcome {
        DelayOutcome::Returned(value) => match parse_duration_value(&value) {
            Some(base) => Ok(Some(config.backoff_from(base, attempt))),
            None => failed(
                "returned an invalid delay value (expected a number of ms or a duration string like \"30 seconds\")"
                    .into(),
            ),
        },
        DelayOutcome::Threw(message) => failed(format!("threw an error: {message}")),
        DelayOutcome::TimedOut => failed(format!("did not return within {} seconds", DELAY_FUNCTION_TIMEOUT_MS / 1000)),
    }
}

fn entry(now: i64, event: InstanceEvent) -> JournalEntry {
    JournalEntry { timestamp: now, event }
}

/// Cloudflare's error for a step attempt or an event wait that ran out of time.
pub fn timed_out(ms: u64) -> ErrorInfo {
    ErrorInfo::new("WorkflowTimeoutError", format!("Execution timed out after {ms}ms"))
}

/// The token of a `do` step's `Run` reply (or a rollback handler's `RollbackRun`, marked `r`),
/// which names the step when its attempt ends.
pub fn attempt_token(key: &StepKey) -> String {
    match key.kind {
        StepKind::Rollback => format!("r{}:{}", key.count, key.name),
        _ => format!("{}:{}", key.count, key.name),
    }
}

/// The `do` step (or rollback handler) an [`attempt_token`] names.
pub fn step_of_token(token: &str) -> Option<StepKey> {
    let (kind, token) = match token.strip_prefix('r') {
        Some(rest) => (StepKind::Rollback, rest),
        None => (StepKind::Do, token),
    };
    let (count, name) = token.split_once(':')?;
    Some(StepKey { kind, name: name.to_owned(), count: count.parse().ok()? })
}

/// What a rollback handler gets as `error` when `terminate({rollback: true})` set it off
/// (production's local engine's marker; production's own is not documented).
pub fn terminated_marker() -> ErrorInfo {
    ErrorInfo::new("Terminated", "Instance terminated during rollback")
}

/// The journal events of a `do` step's attempts and end, or of a rollback handler's.
fn attempt_started(key: &StepKey, step_name: String, attempt: u32) -> InstanceEvent {
    match key.kind {
        StepKind::Rollback => InstanceEvent::RollbackAttemptStarted { step_name, attempt },
        _ => InstanceEvent::AttemptStarted { step_name, attempt },
    }
}

impl RunState {
    /// The state a run starts from: the instance's stored steps and buffered events.
    pub fn new(stored: Vec<Step>, buffered: Vec<SentEvent>, steps_limit: u32) -> Self {
        let next_seq = stored.iter().map(|s| s.seq + 1).max().unwrap_or(0);
        let do_steps = stored.iter().filter(|s| s.key.kind == StepKind::Do).count();
        RunState {
            steps: stored.into_iter().map(|row| (row.key.clone(), row)).collect(),
            configs: HashMap::default(),
            last_config: None,
            occurrences: HashMap::default(),
            next_seq,
            attempts_running: HashMap::default(),
            do_steps,
            steps_limit,
            buffered,
            pending_journal: Vec::new(),
            callbacks_running: 0,
            parked: 0,
            parked_for_pause: false,
            pause_requested: false,
            draining: false,
            fatal: None,
            rerun: false,
            rollback: None,
            replaying: false,
        }
    }

    /// The state of a run of an instance whose rollback is under way: the run replays `run()`
    /// to register the handlers, then runs those not done yet.
    pub fn with_rollback(mut self, rollback: Option<Rollback>) -> Self {
        self.replaying = rollback.is_some();
        self.rollback = rollback;
        self
    }

    /// Decides a request of the run at `now`.
    pub fn decide(&mut self, request: HostRequest, now: i64) -> Decision {
        let mut decision = match request {
            HostRequest::DoBegin { name, config, delay_function, rollback_config } => {
                let config = UserConfig { config, delay_function };
                self.do_begin(name, &config, rollback_config.as_ref(), now)
            }
            HostRequest::DoEnd { token, attempt, outcome } => match step_of_token(&token) {
                Some(key) => self.do_end(key, attempt, outcome, now),
                None => Decision::fail(ErrorInfo::new("Error", format!("unknown step token {token:?}"))),
            },
            HostRequest::Sleep { name, duration } => {
                let wake_at = parse_duration_value(&duration).filter(|ms| *ms <= MAX_WAIT_MS).map(|ms| now + ms as i64);
                self.sleep_until(name, wake_at, now)
            }
            HostRequest::SleepUntil { name, until } => {
                let wake_at = until.is_finite().then_some(until as i64);
                self.sleep_until(name, wake_at, now)
            }
            HostRequest::WaitForEvent { name, event_type, timeout } => {
                self.wait_for_event(name, event_type, timeout, now)
            }
            HostRequest::RollbackBegin { error, steps } => self.rollback_begin(error, &steps, now),
            HostRequest::RollbackStep { name, count, config, delay_function, missing } => {
                let key = StepKey { kind: StepKind::Rollback, name, count };
                self.rollback_step(key, &UserConfig { config, delay_function }, missing, now)
            }
            HostRequest::Fatal { error } => Decision::fail(error),
        };
        // Entries of earlier decisions that wrote nothing go with the first commit after them.
        if !decision.writes.is_empty() && !self.pending_journal.is_empty() {
            let pending = std::mem::take(&mut self.pending_journal);
            match decision.writes.iter_mut().find_map(|w| if let Write::Journal(e) = w { Some(e) } else { None }) {
                Some(entries) => {
                    let mut all = pending;
                    all.append(entries);
                    *entries = all;
                }
                None => decision.writes.push(Write::Journal(pending)),
            }
        }
        decision
    }

    /// The reply and the signal once a decision's writes are committed (or at once, for one
    /// that wrote nothing). Whether the run is idle is judged now, not at decision time: another
    /// request of the same run may have started a callback meanwhile.
    pub fn after_commit(&mut self, then: Then) -> Answer {
        match then {
            Then::Reply(reply) => Answer { reply: Some(reply), signal: None },
            Then::AttemptEnded { .. } if self.draining => self.park(false),
            Then::AttemptEnded { reply: Some(reply), .. } => Answer { reply: Some(reply), signal: self.idle_signal() },
            Then::AttemptEnded { reply: None, for_pause } | Then::Park { for_pause } => self.park(for_pause),
            Then::Fail(error) => {
                self.fatal.get_or_insert(error);
                Answer { reply: None, signal: Some(Signal::Suspend) }
            }
        }
    }

    /// A commit failed: the instance fails rather than lose a result.
    pub fn commit_failed(&mut self, what: &str, error: impl std::fmt::Display) -> Answer {
        self.after_commit(Then::Fail(ErrorInfo::new("Error", format!("stepflare could not store {what}: {error}"))))
    }

    fn park(&mut self, for_pause: bool) -> Answer {
        self.parked += 1;
        self.parked_for_pause |= for_pause;
        Answer { reply: None, signal: self.idle_signal() }
    }

    /// `Suspend` (or `Stop`, when stepflare is stopping) if nothing runs in the run any more.
    fn idle_signal(&self) -> Option<Signal> {
        if self.callbacks_running > 0 {
            None
        } else if self.draining {
            Some(Signal::Stop)
        } else if self.parked > 0 {
            Some(Signal::Suspend)
        } else {
            None
        }
    }

    /// A pause was asked for: it takes effect at once when no callback runs, else at the next
    /// step boundary.
    pub fn request_pause(&mut self) -> Option<Signal> {
        self.pause_requested = true;
        if self.callbacks_running == 0 {
            self.parked_for_pause = true;
            return Some(Signal::Suspend);
        }
        None
    }

    pub fn withdraw_pause(&mut self) {
        self.pause_requested = false;
    }

    /// stepflare is stopping: callbacks that run may finish (their results are committed as
    /// usual), nothing new starts, and the run stops once none is left.
    pub fn drain(&mut self) -> Option<Signal> {
        self.draining = true;
        self.idle_signal()
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    /// An event was sent while the run is in progress. A wait already parked in this run cannot
    /// be answered any more; [`RunState::should_wake`] puts the instance back in line for it.
    /// The run may have read it from the store already, if it started after the event was
    /// stored and before the engine handed it over: it counts once.
    pub fn event_sent(&mut self, event: SentEvent) {
        if !self.buffered.iter().any(|known| known.seq == event.seq) {
            self.buffered.push(event);
        }
    }

    /// The attempts the watchdog stopped, as the `do.end` requests that fail them: each fails as
    /// it would have at its own timer or CPU limit and is retried per its config by the next run.
    /// Attempts that merely ran beside it are not recorded and run again. CPU spent outside any
    /// step fails the instance (`Err`).
    pub fn interrupted(&mut self, interruption: Interruption) -> Result<Vec<HostRequest>, ErrorInfo> {
        let failed: Vec<_> = match interruption.cause {
            InterruptCause::StepTimeout => {
                interruption.attempts.into_iter().filter(|a| a.overdue).map(|a| (timed_out(a.timeout_ms), a)).collect()
            }
            InterruptCause::CpuLimit { .. } if interruption.attempts.is_empty() => {
                return Err(ErrorInfo::new("Error", EXCEEDED_CPU));
            }
            InterruptCause::CpuLimit { .. } => {
                interruption.attempts.into_iter().map(|a| (ErrorInfo::new("Error", EXCEEDED_CPU), a)).collect()
            }
        };
        self.rerun = true;
        Ok(failed
            .into_iter()
            .map(|(error, attempt)| HostRequest::DoEnd {
                token: attempt.token,
                attempt: attempt.attempt,
                outcome: AttemptOutcome::Err { error, non_retryable: false, delay: None },
            })
            .collect())
    }

    /// The error that fails the instance whatever the code caught, if the run broke such a rule.
    pub fn fatal(&self) -> Option<&ErrorInfo> {
        self.fatal.as_ref()
    }

    pub fn pause_requested(&self) -> bool {
        self.pause_requested
    }

    /// Whether a run that ended suspended must go back in line at once: a pause withdrawn after
    /// it parked for it, an attempt stopped by the watchdog, an event sent for a wait it parked
    /// on, or a timer already due.
    pub fn should_wake(&self, now: i64) -> bool {
        let withdrawn_pause = self.parked_for_pause && !self.pause_requested;
        withdrawn_pause || self.rerun || self.has_deliverable_event() || self.has_due_timer(now)
    }

    fn has_deliverable_event(&self) -> bool {
        self.steps.values().any(|step| {
            step.key.kind == StepKind::WaitForEvent
                && step.state == StepState::Waiting
                && self.buffered.iter().any(|event| Some(&event.event_type) == step.event_type.as_ref())
        })
    }

    fn has_due_timer(&self, now: i64) -> bool {
        self.steps.values().any(|step| {
            !matches!(step.state, StepState::Succeeded | StepState::Failed)
                && step.wake_at.is_some_and(|due| due <= now)
        })
    }

    /// Steps whose callback runs now, with the attempt in progress: describe shows them although
    /// nothing about them is stored until the attempt ends.
    pub fn in_flight(&self) -> Vec<(Step, Attempt)> {
        let mut running: Vec<_> = self
            .attempts_running
            .iter()
            .filter_map(|(key, started_on)| {
                let row = self.steps.get(key)?.clone();
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

    fn do_begin(&mut self, name: String, config: &UserConfig, rollback: Option<&UserConfig>, now: i64) -> Decision {
        if let Err(error) = check_step_name(&name) {
            return Decision::type_error(error.to_string());
        }
        if self.pause_requested {
            return Decision::park(true);
        }
        if self.draining {
            return Decision::park(false);
        }
        let key = self.next_key(StepKind::Do, &name);
        let Ok(config) = self.resolve(config) else {
            return Decision::fail(invalid_format("Step config", &name));
        };
        if let Some(rollback) = rollback
            && StepConfig::resolve_rollback(&rollback.config, rollback.delay_function).is_err()
        {
            return Decision::fail(invalid_format("Rollback config", &name));
        }
        let step_name = key.display_name();
        if self.replaying {
            return self.replayed(&key);
        }
        let attempt = match self.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => {
                return Decision::reply(HostReply::Cached { output: row.output.clone() });
            }
            Some(row) if row.state == StepState::Failed => {
                let error = row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", ""));
                return Decision::reply(HostReply::Failed { error });
            }
            Some(row) if row.wake_at.is_some_and(|due| due > now) => return Decision::park(false),
            Some(row) => row.attempts_made + 1,
            None => {
                if self.do_steps >= self.steps_limit as usize {
                    return Decision::fail(ErrorInfo::new(
                        "WorkflowFatalError",
                        format!(
                            "The limit of {} steps has been reached. This limit can be changed in your worker configuration.",
                            self.steps_limit
                        ),
                    ));
                }
                let mut row = self.new_row(&key, now);
                row.state = StepState::Retrying;
                row.config = Some(config.display_text.get().to_owned());
                self.pending_journal.push(entry(
                    now,
                    InstanceEvent::StepStarted {
                        step_name: step_name.clone(),
                        config: Some(config.display_text.clone()),
                    },
                ));
                self.steps.insert(key.clone(), row);
                self.do_steps += 1;
                1
            }
        };
        self.pending_journal.push(entry(now, InstanceEvent::AttemptStarted { step_name, attempt }));
        self.attempts_running.insert(key.clone(), now);
        self.callbacks_running += 1;
        let reply = self.run_reply(&key, attempt, &config);
        self.configs.insert(key, config);
        Decision::reply(reply)
    }

    /// `config` resolved, or the reason it is invalid; the same config as the last call's is
    /// not resolved again.
    fn resolve(&mut self, config: &UserConfig) -> Result<Arc<StepConfig>, String> {
        if let Some((last, resolved)) = &self.last_config
            && last == config
        {
            return Ok(resolved.clone());
        }
        let resolved = Arc::new(StepConfig::resolve(&config.config, config.delay_function)?);
        self.last_config = Some((config.clone(), resolved.clone()));
        Ok(resolved)
    }

    /// A step of a run that replays `run()` for a rollback: its result or error if it has one,
    /// else `undefined`, and nothing runs, waits or is written (production's local engine does
    /// the same).
    fn replayed(&self, key: &StepKey) -> Decision {
        match self.steps.get(key) {
            Some(row) if row.state == StepState::Failed => {
                let error = row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", ""));
                Decision::reply(HostReply::Failed { error })
            }
            Some(row) if row.state == StepState::Succeeded => {
                Decision::reply(HostReply::Cached { output: row.output.clone() })
            }
            _ => Decision::reply(HostReply::Cached { output: None }),
        }
    }

    /// The reply that runs attempt `attempt` of a `do` step, or of a rollback handler (which
    /// also gets its `do` step's `ctx` and result).
    fn run_reply(&self, key: &StepKey, attempt: u32, config: &StepConfig) -> HostReply {
        let token = attempt_token(key);
        let timeout_ms = config.timeout_ms;
        if key.kind != StepKind::Rollback {
            let config = config.context_text.clone();
            return HostReply::Run { token, count: key.count, attempt, timeout_ms, config };
        }
        let forward_key = StepKey { kind: StepKind::Do, name: key.name.clone(), count: key.count };
        let forward = self.steps.get(&forward_key);
        let context = serde_json::json!({
            "step": { "name": key.name, "count": key.count },
            "attempt": forward.map_or(0, |row| row.attempts_made),
            "config": forward.map_or(Value::Null, |row| self.config_of(&forward_key, row).context.clone()),
        });
        HostReply::RollbackRun {
            token,
            attempt,
            timeout_ms,
            config: config.context.clone(),
            context,
            output: forward.and_then(|row| row.output.clone()),
        }
    }

    fn config_of(&self, key: &StepKey, row: &Step) -> Arc<StepConfig> {
        if let Some(config) = self.configs.get(key) {
            return config.clone();
        }
        let config = row
            .config
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .and_then(|value: Value| StepConfig::from_stored(&value).ok())
            .unwrap_or_else(|| StepConfig::resolve(&Value::Null, false).expect("defaults are valid"));
        Arc::new(config)
    }

    fn do_end(&mut self, key: StepKey, attempt: u32, outcome: AttemptOutcome, now: i64) -> Decision {
        self.callbacks_running = self.callbacks_running.saturating_sub(1);
        let started_on = self.attempts_running.remove(&key).unwrap_or(now);
        let Some(mut row) = self.steps.get(&key).cloned() else {
            return Decision::fail(ErrorInfo::new("Error", format!("no step {}", key.display_name())));
        };
        let config = self.config_of(&key, &row);
        let step_name = key.display_name();
        let had_timer = row.wake_at.is_some();
        let clear_timer = if had_timer { TimerChange::Clear } else { TimerChange::Keep };
        row.attempts_made = attempt;
        let mut attempt_row =
            Attempt { key: key.clone(), attempt, started_on, ended_on: Some(now), success: Some(true), error: None };
        let rollback = key.kind == StepKind::Rollback;
        let outcome = match outcome {
            // A handler returns nothing worth keeping.
            AttemptOutcome::Ok { .. } if rollback => AttemptOutcome::Ok { output: None },
            AttemptOutcome::Ok { output: Some(output) } if output.len() > result_limit(&output) => {
                AttemptOutcome::Err {
                    error: ErrorInfo::new(
                        "Error",
                        format!(
                            "step \"{}\" returned {} bytes, over the {} MiB limit for a step result",
                            key.name,
                            output.len(),
                            result_limit(&output) >> 20
                        ),
                    ),
                    // The same code returns the same value again: retrying cannot help.
                    non_retryable: true,
                    delay: None,
                }
            }
            other => other,
        };
        let mut journal = Vec::with_capacity(2);
        let (then, timer) = match outcome {
            AttemptOutcome::Ok { output } => {
                if rollback {
                    journal.push(entry(
                        now,
                        InstanceEvent::RollbackAttemptCompleted { step_name: step_name.clone(), attempt },
                    ));
                    journal.push(entry(now, InstanceEvent::RollbackStepCompleted { step_name }));
                } else {
                    journal.push(entry(now, InstanceEvent::AttemptCompleted { step_name: step_name.clone(), attempt }));
                    let shown = if config.sensitive_output {
                        json_text("\"[REDACTED]\"")
                    } else {
                        output.as_deref().and_then(outputs::readable_text)
                    };
                    journal.push(entry(now, InstanceEvent::StepCompleted { step_name, output: shown }));
                }
                row.state = StepState::Succeeded;
                row.ended_on = Some(now);
                row.output = output;
                row.wake_at = None;
                let reply = (!self.pause_requested).then_some(HostReply::Resolved);
                (Then::AttemptEnded { reply, for_pause: true }, clear_timer)
            }
            AttemptOutcome::Err { error: attempt_error, non_retryable, delay: delay_outcome } => {
                attempt_row.success = Some(false);
                attempt_row.error = Some(attempt_error.clone());
                // The step's error is the attempt's, or the delay function's when that failed.
                let (delay, error) = match retry_delay(&config, &key, attempt, non_retryable, delay_outcome) {
                    Ok(delay) => (delay, attempt_error.clone()),
                    Err(delay_error) => (None, delay_error),
                };
                let (step_name_again, retry_delay_ms) = (step_name.clone(), delay);
                journal.push(entry(
                    now,
                    if rollback {
                        InstanceEvent::RollbackAttemptErrored {
                            step_name: step_name_again,
                            attempt,
                            retry_delay_ms,
                            error: attempt_error,
                        }
                    } else {
                        InstanceEvent::AttemptErrored {
                            step_name: step_name_again,
                            attempt,
                            retry_delay_ms,
                            error: attempt_error,
                        }
                    },
                ));
                match delay {
                    None => {
                        journal.push(entry(
                            now,
                            if rollback {
                                InstanceEvent::RollbackStepErrored { step_name, error: error.clone() }
                            } else {
                                InstanceEvent::StepErrored { step_name }
                            },
                        ));
                        row.state = StepState::Failed;
                        row.ended_on = Some(now);
                        row.error = Some(error.clone());
                        row.wake_at = None;
                        (Then::AttemptEnded { reply: Some(HostReply::Failed { error }), for_pause: false }, clear_timer)
                    }
                    // The next attempt, at once; when stepflare is stopping, at the next start.
                    Some(0) if self.draining => {
                        row.state = StepState::Retrying;
                        row.wake_at = None;
                        (Then::AttemptEnded { reply: None, for_pause: false }, clear_timer)
                    }
                    Some(0) => {
                        row.state = StepState::Retrying;
                        row.wake_at = None;
                        journal.push(entry(now, attempt_started(&key, step_name, attempt + 1)));
                        self.attempts_running.insert(key.clone(), now);
                        self.callbacks_running += 1;
                        let reply = self.run_reply(&key, attempt + 1, &config);
                        (Then::AttemptEnded { reply: Some(reply), for_pause: false }, clear_timer)
                    }
                    Some(delay) => {
                        let due = now + delay as i64;
                        row.state = StepState::Retrying;
                        row.wake_at = Some(due);
                        (Then::AttemptEnded { reply: None, for_pause: false }, TimerChange::Set(due))
                    }
                }
            }
        };
        if matches!(row.state, StepState::Succeeded | StepState::Failed) {
            self.configs.remove(&key);
        }
        self.steps.insert(key, row.clone());
        // A first attempt that succeeds is fully described by the step row itself (describe
        // derives it); not writing it halves the work of the common case.
        let attempt_row = (attempt > 1 || attempt_row.success != Some(true)).then_some(attempt_row);
        Decision {
            writes: vec![Write::SaveStep { step: row, attempt: attempt_row, timer }, Write::Journal(journal)],
            then,
        }
    }

    /// `run()` failed with `error` (or, replaying for a rollback, settled) having registered the
    /// rollback handlers of `registered`: the handlers to run. The first time, they are the
    /// registered `do` steps that started, newest start first; the rollback begins (written
    /// before any handler runs) and keeps that order for good. No handler: no rollback.
    fn rollback_begin(&mut self, error: Option<ErrorInfo>, registered: &[RegisteredRollback], now: i64) -> Decision {
        let plan = |rollback: &Rollback| {
            Decision::reply(HostReply::RollbackPlan {
                steps: rollback.steps.clone().unwrap_or_default(),
                error: Some(rollback.trigger.clone()),
            })
        };
        let none = Decision::reply(HostReply::RollbackPlan { steps: Vec::new(), error: None });
        let (trigger, terminate) = match (&self.rollback, error) {
            (Some(rollback), _) if rollback.steps.is_some() => return plan(rollback),
            (Some(rollback), _) => (rollback.trigger.clone(), rollback.terminate),
            (None, Some(error)) => (error, false),
            (None, None) => return none,
        };
        let mut started: Vec<&Step> = registered
            .iter()
            .filter_map(|r| self.steps.get(&StepKey { kind: StepKind::Do, name: r.name.clone(), count: r.count }))
            .collect();
        started.sort_by_key(|row| std::cmp::Reverse(row.seq));
        started.dedup_by_key(|row| row.seq);
        let steps: Vec<(String, u32)> = started.iter().map(|row| (row.key.name.clone(), row.key.count)).collect();
        if steps.is_empty() {
            // Nothing to undo: the run ends as it would have (a terminate still ends it).
            if let Some(rollback) = &mut self.rollback {
                rollback.steps = Some(Vec::new());
            }
            return none;
        }
        let rollback = Rollback { trigger, terminate, steps: Some(steps), outcome: None, error: None };
        self.rollback = Some(rollback.clone());
        Decision {
            writes: vec![
                Write::SetRollback(Some(rollback.clone())),
                Write::Journal(vec![entry(now, InstanceEvent::RollbackStarted)]),
            ],
            then: plan(&rollback).then,
        }
    }

    /// A rollback handler is to run (`missing`: the run registered none for its step): its
    /// outcome if it has one, else the attempt to run, as a `do` step's, with its own
    /// `rollbackConfig`.
    fn rollback_step(&mut self, key: StepKey, config: &UserConfig, missing: bool, now: i64) -> Decision {
        if self.pause_requested {
            return Decision::park(true);
        }
        if self.draining {
            return Decision::park(false);
        }
        let step_name = key.display_name();
        let attempt = match self.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => {
                return Decision::reply(HostReply::Cached { output: None });
            }
            Some(row) if row.state == StepState::Failed => {
                let error = row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", ""));
                return Decision::reply(HostReply::Failed { error });
            }
            Some(row) if row.wake_at.is_some_and(|due| due > now) => return Decision::park(false),
            Some(row) => row.attempts_made + 1,
            None => 1,
        };
        // Checked when its `do` step began; a config that changed since falls back to defaults.
        let config = StepConfig::resolve_rollback(&config.config, config.delay_function)
            .unwrap_or_else(|_| StepConfig::resolve(&Value::Null, false).expect("defaults are valid"));
        if attempt == 1 {
            let mut row = self.new_row(&key, now);
            row.state = StepState::Retrying;
            row.config = Some(config.display.to_string());
            let started = entry(
                now,
                InstanceEvent::RollbackStepStarted {
                    step_name: step_name.clone(),
                    config: json_text(&config.display.to_string()),
                },
            );
            if missing {
                // Production's local engine says so when it cannot register a handler again.
                let error = ErrorInfo::new("RollbackMissing", "Rollback function not available in registry");
                row.state = StepState::Failed;
                row.ended_on = Some(now);
                row.error = Some(error.clone());
                self.steps.insert(key.clone(), row.clone());
                let errored = entry(now, InstanceEvent::RollbackStepErrored { step_name, error: error.clone() });
                return Decision {
                    writes: vec![
                        Write::SaveStep { step: row, attempt: None, timer: TimerChange::Keep },
                        Write::Journal(vec![started, errored]),
                    ],
                    then: Then::Reply(HostReply::Failed { error }),
                };
            }
            self.pending_journal.push(started);
            self.steps.insert(key.clone(), row);
        }
        self.pending_journal.push(entry(now, attempt_started(&key, step_name, attempt)));
        self.attempts_running.insert(key.clone(), now);
        self.callbacks_running += 1;
        let reply = self.run_reply(&key, attempt, &config);
        self.configs.insert(key, Arc::new(config));
        Decision::reply(reply)
    }

    /// A sleep until `wake_at`, or the replay of one.
    fn sleep_until(&mut self, name: String, wake_at: Option<i64>, now: i64) -> Decision {
        if let Err(error) = check_step_name(&name) {
            return Decision::type_error(error.to_string());
        }
        let key = self.next_key(StepKind::Sleep, &name);
        if self.replaying {
            return Decision::reply(HostReply::Done);
        }
        let step_name = key.display_name();
        let mut journal = Vec::new();
        let mut row = match self.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => return Decision::reply(HostReply::Done),
            Some(row) => row.clone(),
            None => {
                let Some(wake_at) = wake_at else {
                    return Decision::type_error(format!(
                        "step.sleep(\"{name}\"): the duration must be milliseconds or a string such as \"10 seconds\", at most 365 days"
                    ));
                };
                let mut row = self.new_row(&key, now);
                row.wake_at = Some(wake_at);
                journal.push(entry(
                    now,
                    InstanceEvent::SleepStarted {
                        step_name: step_name.clone(),
                        duration_ms: (wake_at - now).max(0) as u64,
                    },
                ));
                row
            }
        };
        let due = row.wake_at.unwrap_or(now);
        let (then, timer) = if due <= now {
            row.state = StepState::Succeeded;
            row.ended_on = Some(now);
            journal.push(entry(now, InstanceEvent::SleepCompleted { step_name }));
            (Then::Reply(HostReply::Done), TimerChange::Clear)
        } else if self.steps.contains_key(&key) {
            return Decision::park(false);
        } else {
            (Then::Park { for_pause: false }, TimerChange::Set(due))
        };
        self.steps.insert(key, row.clone());
        let mut writes = vec![Write::SaveStep { step: row, attempt: None, timer }];
        writes.extend(Write::journal(journal));
        Decision { writes, then }
    }

    fn wait_for_event(&mut self, name: String, event_type: Value, timeout: Value, now: i64) -> Decision {
        if let Err(error) = check_step_name(&name) {
            return Decision::type_error(error.to_string());
        }
        let event_type = match event_type.as_str().map(EventType::parse) {
            Some(Ok(event_type)) => event_type,
            Some(Err(error)) => return Decision::type_error(format!("(workflow.invalid_event_type) {error}")),
            None => {
                return Decision::type_error(format!("step.waitForEvent(\"{name}\"): options.type must be a string"));
            }
        };
        let timeout_ms = match timeout {
            Value::Null => Some(DEFAULT_EVENT_TIMEOUT_MS),
            other => parse_duration_value(&other).filter(|ms| (MIN_EVENT_TIMEOUT_MS..=MAX_WAIT_MS).contains(ms)),
        };
        let Some(timeout_ms) = timeout_ms else {
            return Decision::type_error(format!(
                "step.waitForEvent(\"{name}\"): options.timeout must be between 1 second and 365 days"
            ));
        };
        let key = self.next_key(StepKind::WaitForEvent, &name);
        if self.replaying {
            return self.replayed(&key);
        }
        let step_name = key.display_name();
        let mut writes = Vec::new();
        let mut journal = Vec::new();
        let mut row = match self.steps.get(&key) {
            Some(row) if row.state == StepState::Succeeded => {
                return Decision::reply(HostReply::Cached { output: row.output.clone() });
            }
            Some(row) if row.state == StepState::Failed => {
                let error = row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", ""));
                return Decision::reply(HostReply::Failed { error });
            }
            Some(row) => row.clone(),
            None => {
                let mut row = self.new_row(&key, now);
                row.wake_at = Some(now + timeout_ms as i64);
                row.event_type = Some(event_type.to_string());
                row.config = Some(serde_json::json!({ "timeout": timeout_ms }).to_string());
                journal.push(entry(
                    now,
                    InstanceEvent::WaitStarted { step_name: step_name.clone(), event_type: event_type.to_string() },
                ));
                writes.push(Write::SaveStep {
                    step: row.clone(),
                    attempt: None,
                    timer: TimerChange::Set(now + timeout_ms as i64),
                });
                row
            }
        };
        let wanted = row.event_type.clone().unwrap_or_default();
        if let Some(index) = self.buffered.iter().position(|event| event.event_type == wanted) {
            // First in, first out: the oldest event of the type.
            let event = self.buffered.remove(index);
            row.state = StepState::Succeeded;
            row.ended_on = Some(now);
            let output = serde_json::json!({
                "payload": serde_json::from_str::<Value>(&event.payload).unwrap_or_default(),
                "timestamp": event.received_on,
                "type": event.event_type,
            })
            .to_string();
            row.output = Some(output.clone());
            journal.push(entry(now, InstanceEvent::WaitCompleted { step_name }));
            writes.push(Write::ConsumeEvent { seq: event.seq, by: key.clone() });
            writes.push(Write::SaveStep { step: row.clone(), attempt: None, timer: TimerChange::Clear });
            writes.extend(Write::journal(journal));
            self.steps.insert(key, row);
            return Decision { writes, then: Then::Reply(HostReply::Cached { output: Some(output) }) };
        }
        let due = row.wake_at.unwrap_or(now);
        if due > now {
            self.steps.insert(key, row);
            writes.extend(Write::journal(journal));
            return Decision { writes, then: Then::Park { for_pause: false } };
        }
        let waited = row.config.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
        let waited_ms = waited.and_then(|c| c["timeout"].as_u64()).unwrap_or(timeout_ms);
        let error = timed_out(waited_ms);
        row.state = StepState::Failed;
        row.ended_on = Some(now);
        row.error = Some(error.clone());
        journal.push(entry(now, InstanceEvent::WaitTimedOut { step_name }));
        writes.push(Write::SaveStep { step: row.clone(), attempt: None, timer: TimerChange::Clear });
        writes.extend(Write::journal(journal));
        self.steps.insert(key, row);
        Decision { writes, then: Then::Reply(HostReply::Failed { error }) }
    }
}

/// How a run ended, as the engine saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// `run()` returned this value (JSON text; `None` for `undefined`).
    Completed(Option<String>),
    Errored(ErrorInfo),
    /// The run stopped without settling: suspended at a sleep, a retry delay, an event wait or
    /// a pause, or stopped by the watchdog with work to go on with.
    Suspended,
}

/// What the engine does about an instance, besides writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Put the instance in line for a slot, at the front (woken) or the back.
    Enqueue {
        woken: bool,
    },
    /// Ask the run to pause at its next step boundary.
    RequestPause,
    WithdrawPause,
    /// Timers may have been armed: the timer task plans again.
    PlanTimers,
}

/// A decision about an instance as a whole: its new status, the rows to write, what to do.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub to: InstanceStatus,
    pub writes: Vec<Write>,
    pub actions: Vec<Action>,
}

fn status_writes(from: InstanceStatus, to: InstanceStatus, now: i64) -> Vec<Write> {
    if from == to {
        return Vec::new();
    }
    let mut writes = vec![Write::SetStatus(to)];
    writes.extend(InstanceEvent::of_status(to).map(|event| Write::Journal(vec![entry(now, event)])));
    writes
}

/// A slot was granted to an instance. `Ok(None)` when it must not run after all (it is paused,
/// finished, or a pause wins over the start); its status may still change.
pub fn start(
    status: InstanceStatus,
    first_start: bool,
    version_id: &str,
    params: &str,
    now: i64,
) -> Result<Verdict, Refusal> {
    let step = transition(status, Command::Start)?;
    if step.to != InstanceStatus::Running {
        return Ok(Verdict { to: step.to, writes: status_writes(status, step.to, now), actions: Vec::new() });
    }
    let mut journal = Vec::new();
    if first_start {
        journal.push(entry(now, InstanceEvent::WorkflowStarted { params: json_text(params) }));
    }
    journal.push(entry(now, InstanceEvent::WorkflowRunning));
    Ok(Verdict {
        to: InstanceStatus::Running,
        writes: vec![Write::MarkRunning { version_id: version_id.to_owned() }, Write::Journal(journal)],
        actions: Vec::new(),
    })
}

/// A run ended (and was not stopped by the engine, whose stopper decides instead).
pub fn end_of_run(status: InstanceStatus, end: RunEnd, run: &RunState, now: i64) -> Result<Verdict, Refusal> {
    if let Some(rollback) = &run.rollback
        && end != RunEnd::Suspended
    {
        return rollback_ended(status, rollback, run, now);
    }
    match end {
        RunEnd::Completed(output) => {
            transition(status, Command::Complete)?;
            let shown = output.as_deref().and_then(outputs::readable_text);
            Ok(Verdict {
                to: InstanceStatus::Complete,
                writes: vec![
                    Write::Finish { status: InstanceStatus::Complete, output, error: None, terminated_by: None },
                    Write::Journal(vec![entry(now, InstanceEvent::WorkflowCompleted { output: shown })]),
                ],
                actions: Vec::new(),
            })
        }
        RunEnd::Errored(error) => {
            transition(status, Command::Fail)?;
            Ok(Verdict {
                to: InstanceStatus::Errored,
                writes: vec![
                    Write::Finish {
                        status: InstanceStatus::Errored,
                        output: None,
                        error: Some(error.clone()),
                        terminated_by: None,
                    },
                    Write::Journal(vec![entry(now, InstanceEvent::WorkflowErrored { error })]),
                ],
                actions: Vec::new(),
            })
        }
        RunEnd::Suspended => {
            let command = if run.pause_requested { Command::PauseReached } else { Command::Suspend };
            let step = transition(status, command)?;
            let mut actions = Vec::new();
            if step.to == InstanceStatus::Waiting {
                // Its timers count from now on. A run that ends only takes timers away, so it
                // leaves the timer task's plan alone: a create costs no timer planning.
                actions.push(Action::PlanTimers);
                if run.should_wake(now) {
                    actions.push(Action::Enqueue { woken: true });
                }
            }
            Ok(Verdict { to: step.to, writes: status_writes(status, step.to, now), actions })
        }
    }
}

/// The run of an instance with a rollback settled: the rollback's outcome (the first handler,
/// in the order they run, that did not complete is the one that failed it: the handlers stop
/// there), then the end the rollback was for, `errored` with the error that set it off, or
/// `terminated`.
fn rollback_ended(status: InstanceStatus, rollback: &Rollback, run: &RunState, now: i64) -> Result<Verdict, Refusal> {
    let (to, command) = if rollback.terminate {
        (InstanceStatus::Terminated, Command::Terminate)
    } else {
        (InstanceStatus::Errored, Command::Fail)
    };
    transition(status, command)?;
    let mut journal = Vec::new();
    let mut writes = Vec::new();
    match rollback.steps.as_deref() {
        Some(steps) if !steps.is_empty() => {
            let failure = steps.iter().find_map(|(name, count)| {
                let key = StepKey { kind: StepKind::Rollback, name: name.clone(), count: *count };
                match run.steps.get(&key) {
                    Some(row) if row.state == StepState::Succeeded => None,
                    Some(row) if row.state == StepState::Failed => {
                        Some(row.error.clone().unwrap_or_else(|| ErrorInfo::new("Error", "")))
                    }
                    _ => Some(
                        run.fatal
                            .clone()
                            .unwrap_or_else(|| ErrorInfo::new("Error", "the rollback ended before every handler ran")),
                    ),
                }
            });
            let (outcome, event) = match failure {
                Some(_) => (RollbackOutcome::Failed, InstanceEvent::RollbackErrored),
                None => (RollbackOutcome::Complete, InstanceEvent::RollbackCompleted),
            };
            let ended = Rollback { outcome: Some(outcome), error: failure, ..rollback.clone() };
            writes.push(Write::SetRollback(Some(ended)));
            journal.push(entry(now, event));
        }
        // Nothing was undone: no rollback to report.
        _ => writes.push(Write::SetRollback(None)),
    }
    if rollback.terminate {
        writes.push(Write::Finish { status: to, output: None, error: None, terminated_by: Some("api".to_owned()) });
        journal.push(entry(now, InstanceEvent::WorkflowTerminated));
    } else {
        let error = rollback.trigger.clone();
        writes.push(Write::Finish { status: to, output: None, error: Some(error.clone()), terminated_by: None });
        journal.push(entry(now, InstanceEvent::WorkflowErrored { error }));
    }
    writes.push(Write::Journal(journal));
    Ok(Verdict { to, writes, actions: Vec::new() })
}

/// `terminate({rollback: true})` on an instance in `status` (its run stopped), whose rollback
/// so far is `rollback` and which `started` a `do` step or not. Its handlers run first: a run
/// replays `run()` to register them, runs them, and then the instance ends `terminated`
/// ([`end_of_run`]). An instance that started no step has nothing to undo and ends at once.
pub fn terminate_with_rollback(
    status: InstanceStatus,
    rollback: Option<Rollback>,
    started: bool,
    now: i64,
) -> Result<Verdict, Refusal> {
    transition(status, Command::Terminate)?;
    let rollback = match rollback {
        Some(rollback) => Rollback { terminate: true, ..rollback },
        None if !started => return command(status, Command::Terminate, None, now),
        None => Rollback { trigger: terminated_marker(), terminate: true, steps: None, outcome: None, error: None },
    };
    let mut writes = vec![Write::SetRollback(Some(rollback))];
    writes.extend(status_writes(status, InstanceStatus::Queued, now));
    Ok(Verdict { to: InstanceStatus::Queued, writes, actions: vec![Action::Enqueue { woken: true }] })
}

/// The rows of `do` steps whose first attempt a stop cut (nothing of them is stored yet, not
/// even the journal's `step_started`), so that a rollback counts them as started.
pub fn started_steps(cut: Vec<Step>, now: i64) -> Vec<Write> {
    let mut writes = Vec::new();
    let mut journal = Vec::new();
    for step in cut.into_iter().filter(|step| step.key.kind == StepKind::Do) {
        let config = step.config.as_deref().and_then(json_text);
        journal.push(entry(now, InstanceEvent::StepStarted { step_name: step.key.display_name(), config }));
        writes.push(Write::SaveStep { step, attempt: None, timer: TimerChange::Keep });
    }
    writes.extend(Write::journal(journal));
    writes
}

/// A user's command (pause, resume, terminate, restart) on an instance in `status`. Terminate
/// and restart are decided once the instance's run (if any) has been stopped, so `status` is
/// the one it has with nothing running. `from_seq` is where a restart from a step begins.
pub fn command(status: InstanceStatus, command: Command, from_seq: Option<u32>, now: i64) -> Result<Verdict, Refusal> {
    let step = transition(status, command)?;
    let mut writes = Vec::new();
    let mut actions = Vec::new();
    for effect in &step.effects {
        match effect {
            Effect::RequestPause => actions.push(Action::RequestPause),
            Effect::WithdrawPause => actions.push(Action::WithdrawPause),
            // A restarted instance keeps its concurrency slot (production's rule): it goes first
            // in line, and the engine hands its slot on only after this decision.
            Effect::Enqueue => actions.push(Action::Enqueue { woken: command == Command::Restart }),
            // The run is stopped before the decision; timers go with the end or the reset.
            Effect::CancelRun | Effect::ClearTimers => {}
            Effect::ClearSteps => writes.push(Write::ResetForRestart { from_seq }),
        }
    }
    match (command, step.to) {
        (Command::Terminate, InstanceStatus::Terminated) => {
            writes.push(Write::Finish {
                status: InstanceStatus::Terminated,
                output: None,
                error: None,
                terminated_by: Some("api".to_owned()),
            });
            writes.push(Write::Journal(vec![entry(now, InstanceEvent::WorkflowTerminated)]));
        }
        // The reset makes it queued; the journal says so even when it was queued already.
        (Command::Restart, to) => writes.push(Write::Journal(vec![entry(
            now,
            InstanceEvent::of_status(to).unwrap_or(InstanceEvent::WorkflowQueued),
        )])),
        (_, to) => writes.extend(status_writes(status, to, now)),
    }
    Ok(Verdict { to: step.to, writes, actions })
}

/// The journal of a new instance.
pub fn created(now: i64) -> Vec<JournalEntry> {
    vec![entry(now, InstanceEvent::WorkflowQueued)]
}

/// An event was sent to an instance that has no run in progress: whether it wakes it.
pub fn event_wakes(status: InstanceStatus, deliverable: bool) -> bool {
    status == InstanceStatus::Waiting && deliverable
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::js::InterruptedAttempt;
    use InstanceStatus as S;

    const NOW: i64 = 1_000_000;

    fn key(kind: StepKind, name: &str, count: u32) -> StepKey {
        StepKey { kind, name: name.to_owned(), count }
    }

    fn stored(kind: StepKind, name: &str, count: u32, seq: u32, state: StepState) -> Step {
        let mut row = Step::started(key(kind, name, count), seq, NOW - 100);
        row.state = state;
        match state {
            StepState::Succeeded => row.output = Some(format!("\"{name}#{count}\"")),
            StepState::Failed => row.error = Some(ErrorInfo::new("Error", format!("{name} broke"))),
            _ => {}
        }
        row
    }

    fn begin(name: &str, config: Value) -> HostRequest {
        HostRequest::DoBegin { name: name.to_owned(), config, delay_function: false, rollback_config: None }
    }

    /// A `do.begin` whose `retries.delay` is a function (kept in JavaScript, left out of `config`).
    fn begin_dynamic(name: &str, config: Value) -> HostRequest {
        HostRequest::DoBegin { name: name.to_owned(), config, delay_function: true, rollback_config: None }
    }

    /// Attempt `attempt` of the first step `name` failed with "nope", and its delay function did
    /// `delay`.
    fn end_err_delayed(name: &str, attempt: u32, delay: Option<DelayOutcome>) -> HostRequest {
        HostRequest::DoEnd {
            token: attempt_token(&key(StepKind::Do, name, 1)),
            attempt,
            outcome: AttemptOutcome::Err { error: ErrorInfo::new("Error", "nope"), non_retryable: false, delay },
        }
    }

    fn journal_of(writes: &[Write]) -> Vec<Value> {
        writes
            .iter()
            .filter_map(|w| if let Write::Journal(e) = w { Some(e) } else { None })
            .flatten()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    fn end_ok(name: &str, count: u32, attempt: u32, output: &str) -> HostRequest {
        HostRequest::DoEnd {
            token: attempt_token(&key(StepKind::Do, name, count)),
            attempt,
            outcome: AttemptOutcome::Ok { output: Some(output.to_owned()) },
        }
    }

    fn end_err(name: &str, attempt: u32, non_retryable: bool) -> HostRequest {
        HostRequest::DoEnd {
            token: attempt_token(&key(StepKind::Do, name, 1)),
            attempt,
            outcome: AttemptOutcome::Err { error: ErrorInfo::new("Error", "nope"), non_retryable, delay: None },
        }
    }

    fn reply_of(decision: &Decision) -> Option<&HostReply> {
        match &decision.then {
            Then::Reply(reply) => Some(reply),
            Then::AttemptEnded { reply, .. } => reply.as_ref(),
            _ => None,
        }
    }

    fn journal_types(writes: &[Write]) -> Vec<String> {
        writes
            .iter()
            .filter_map(|w| if let Write::Journal(entries) = w { Some(entries) } else { None })
            .flatten()
            .map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_owned())
            .collect()
    }

    fn saved_step(writes: &[Write]) -> &Step {
        writes.iter().find_map(|w| if let Write::SaveStep { step, .. } = w { Some(step) } else { None }).unwrap()
    }

    fn timer_of(writes: &[Write]) -> TimerChange {
        writes.iter().find_map(|w| if let Write::SaveStep { timer, .. } = w { Some(*timer) } else { None }).unwrap()
    }

    #[test]
    fn replay_answers_by_kind_name_and_occurrence() {
        let steps = vec![
            stored(StepKind::Do, "a", 1, 0, StepState::Succeeded),
            stored(StepKind::Do, "a", 2, 1, StepState::Failed),
            stored(StepKind::Sleep, "a", 1, 2, StepState::Succeeded),
        ];
        let mut run = RunState::new(steps, Vec::new(), 100);
        let cases: [(HostRequest, HostReply); 3] = [
            (begin("a", Value::Null), HostReply::Cached { output: Some("\"a#1\"".into()) }),
            (begin("a", Value::Null), HostReply::Failed { error: ErrorInfo::new("Error", "a broke") }),
            (HostRequest::Sleep { name: "a".into(), duration: json!(1000) }, HostReply::Done),
        ];
        for (request, expected) in cases {
            let decision = run.decide(request.clone(), NOW);
            assert!(decision.writes.is_empty(), "{request:?} is answered from memory");
            assert_eq!(reply_of(&decision), Some(&expected), "{request:?}");
        }
        // The third "a" of kind do is new: it runs.
        let decision = run.decide(begin("a", Value::Null), NOW);
        assert!(matches!(reply_of(&decision), Some(HostReply::Run { count: 3, attempt: 1, .. })));
    }

    #[test]
    fn every_backoff_sets_the_retry_timer_it_documents() {
        // (backoff, delay, attempt that failed, expected delay)
        let cases = [
            ("constant", 1_000, 1, 1_000),
            ("constant", 1_000, 3, 1_000),
            ("linear", 1_000, 1, 1_000),
            ("linear", 1_000, 3, 3_000),
            ("exponential", 1_000, 1, 1_000),
            ("exponential", 1_000, 2, 2_000),
            ("exponential", 1_000, 4, 8_000),
        ];
        for (backoff, delay, attempt, expected) in cases {
            let config = json!({ "retries": { "limit": 5, "delay": delay, "backoff": backoff } });
            let mut row = stored(StepKind::Do, "s", 1, 0, StepState::Retrying);
            row.attempts_made = attempt - 1;
            let mut run = RunState::new(vec![row], Vec::new(), 100);
            let decision = run.decide(begin("s", config), NOW);
            assert!(matches!(reply_of(&decision), Some(HostReply::Run { attempt: a, .. }) if *a == attempt));
            let decision = run.decide(end_err("s", attempt, false), NOW);
            assert_eq!(timer_of(&decision.writes), TimerChange::Set(NOW + expected), "{backoff} after {attempt}");
            assert_eq!(decision.then, Then::AttemptEnded { reply: None, for_pause: false });
            let journal: Vec<Value> = decision
                .writes
                .iter()
                .filter_map(|w| if let Write::Journal(e) = w { Some(e) } else { None })
                .flatten()
                .map(|e| serde_json::to_value(e).unwrap())
                .collect();
            let errored = journal.iter().find(|e| e["type"] == "attempt_errored").unwrap();
            assert_eq!(errored["retryDelayMs"], expected, "{backoff} after {attempt}");
        }
    }

    #[test]
    fn a_delay_functions_result_is_the_base_of_every_backoff() {
        // (backoff, what the function returned, attempt that failed, expected delay)
        let cases = [
            ("constant", json!(1_500), 1, 1_500),
            ("constant", json!("2 seconds"), 3, 2_000),
            ("linear", json!(1_500), 1, 1_500),
            ("linear", json!(1_500), 3, 4_500),
            ("exponential", json!(1_500), 1, 1_500),
            ("exponential", json!("1 second"), 4, 8_000),
            ("exponential", json!(2.4), 2, 4),
        ];
        for (backoff, returned, attempt, expected) in cases {
            let config = json!({ "retries": { "limit": 5, "backoff": backoff } });
            let mut row = stored(StepKind::Do, "s", 1, 0, StepState::Retrying);
            row.attempts_made = attempt - 1;
            let mut run = RunState::new(vec![row], Vec::new(), 100);
            let decision = run.decide(begin_dynamic("s", config), NOW);
            let Some(HostReply::Run { config: context, .. }) = reply_of(&decision) else { panic!("{decision:?}") };
            let context: Value = serde_json::from_str(context).unwrap();
            assert_eq!(context["retries"], json!({ "limit": 5, "backoff": backoff }), "no delay in ctx.config");
            let decision = run.decide(end_err_delayed("s", attempt, Some(DelayOutcome::Returned(returned))), NOW);
            assert_eq!(timer_of(&decision.writes), TimerChange::Set(NOW + expected), "{backoff} after {attempt}");
            let journal = journal_of(&decision.writes);
            let errored = journal.iter().find(|e| e["type"] == "attempt_errored").unwrap();
            assert_eq!(errored["retryDelayMs"], expected, "{backoff} after {attempt}");
            assert_eq!(saved_step(&decision.writes).state, StepState::Retrying);
        }
    }

    #[test]
    fn a_dynamic_step_stores_its_delay_as_dynamic_and_a_zero_result_retries_at_once() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin_dynamic("s", json!({ "retries": { "limit": 1, "backoff": "constant" } })), NOW);
        let decision = run.decide(end_err_delayed("s", 1, Some(DelayOutcome::Returned(json!(0)))), NOW);
        let stored: Value = serde_json::from_str(saved_step(&decision.writes).config.as_deref().unwrap()).unwrap();
        assert_eq!(
            stored,
            json!({ "retries": { "limit": 1, "delay": "[dynamic]", "backoff": "constant" }, "timeout": "10 minutes" })
        );
        let journal = journal_of(&decision.writes);
        assert_eq!(journal[0]["type"], "step_started");
        assert_eq!(journal[0]["config"]["retries"]["delay"], "[dynamic]");
        let Some(HostReply::Run { attempt: 2, config, .. }) = reply_of(&decision) else { panic!("{decision:?}") };
        assert_eq!(
            config.as_ref(),
            r#"{"retries":{"limit":1,"backoff":"constant"},"timeout":"10 minutes"}"#,
            "production's key order"
        );
        // The last attempt's failure asks nothing of the function: whatever it did is ignored.
        let last = run.decide(end_err_delayed("s", 2, Some(DelayOutcome::Threw("unused".into()))), NOW);
        assert_eq!(reply_of(&last), Some(&HostReply::Failed { error: ErrorInfo::new("Error", "nope") }));
    }

    #[test]
    fn a_delay_function_that_fails_ends_the_step_with_a_non_retryable_delay_error() {
        let invalid =
            "returned an invalid delay value (expected a number of ms or a duration string like \"30 seconds\")";
        let cases = [
            (DelayOutcome::Threw("rate limited".into()), "threw an error: rate limited"),
            (DelayOutcome::TimedOut, "did not return within 5 seconds"),
            (DelayOutcome::Returned(json!(-1)), invalid),
            (DelayOutcome::Returned(json!("soon")), invalid),
            (DelayOutcome::Returned(Value::Null), invalid),
        ];
        for (outcome, what) in cases {
            let mut run = RunState::new(Vec::new(), Vec::new(), 100);
            run.decide(begin_dynamic("s", json!({ "retries": { "limit": 3 } })), NOW);
            let decision = run.decide(end_err_delayed("s", 1, Some(outcome)), NOW);
            let expected =
                ErrorInfo::new("NonRetryableDelayError", format!("The delay function for step \"s-1\" {what}"));
            assert_eq!(reply_of(&decision), Some(&HostReply::Failed { error: expected.clone() }), "{what}");
            let Write::SaveStep { step, attempt: Some(attempt), timer } = &decision.writes[0] else { panic!() };
            assert_eq!((step.state, step.error.as_ref()), (StepState::Failed, Some(&expected)));
            assert_eq!(attempt.error, Some(ErrorInfo::new("Error", "nope")), "the attempt keeps its own error");
            assert_eq!(*timer, TimerChange::Keep);
            let journal = journal_of(&decision.writes);
            let errored = journal.iter().find(|e| e["type"] == "attempt_errored").unwrap();
            assert_eq!(
                (errored["retryDelayMs"].clone(), errored["error"]["message"].clone()),
                (json!(null), json!("nope"))
            );
            assert_eq!(journal_types(&decision.writes).last().map(String::as_str), Some("step_errored"));
        }
    }

    #[test]
    fn a_fixed_delay_ignores_a_delay_outcome_and_a_function_that_could_not_run_has_the_default_base() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("s", json!({ "retries": { "limit": 3, "delay": 700, "backoff": "constant" } })), NOW);
        let decision = run.decide(end_err_delayed("s", 1, Some(DelayOutcome::Returned(json!(5)))), NOW);
        assert_eq!(timer_of(&decision.writes), TimerChange::Set(NOW + 700));

        // An attempt the watchdog stopped: its runtime is gone, so the function never ran.
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin_dynamic("s", json!({ "retries": { "limit": 3, "backoff": "linear" } })), NOW);
        let decision = run.decide(end_err_delayed("s", 1, None), NOW);
        assert_eq!(timer_of(&decision.writes), TimerChange::Set(NOW + 10_000));
    }

    #[test]
    fn an_invalid_step_or_rollback_config_fails_the_instance_with_cloudflares_message() {
        let see =
            "is in a invalid format. See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/";
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let decision = run.decide(begin("s", json!({ "retries": { "tries": 3 } })), NOW);
        let expected = ErrorInfo::new("WorkflowFatalError", format!("Step config for \"s\" {see}"));
        assert_eq!(decision.then, Then::Fail(expected));
        let rollback = |config: Value| HostRequest::DoBegin {
            name: "r".into(),
            config: Value::Null,
            delay_function: false,
            rollback_config: Some(UserConfig { config, delay_function: false }),
        };
        let decision = run.decide(rollback(json!({ "sensitive": "output" })), NOW);
        let expected = ErrorInfo::new("WorkflowFatalError", format!("Rollback config for \"r\" {see}"));
        assert_eq!(decision.then, Then::Fail(expected));
        let decision = run.decide(rollback(json!({ "retries": { "limit": 2 }, "timeout": "1 minute" })), NOW);
        assert!(matches!(reply_of(&decision), Some(HostReply::Run { .. })), "{decision:?}");
    }

    #[test]
    fn retries_run_out_after_the_limit_and_nonretryable_errors_are_not_retried() {
        let config = json!({ "retries": { "limit": 2, "delay": 0, "backoff": "constant" } });
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("s", config.clone()), NOW);
        // A zero delay runs the next attempt at once, in the same run.
        let second = run.decide(end_err("s", 1, false), NOW);
        assert!(matches!(reply_of(&second), Some(HostReply::Run { attempt: 2, .. })));
        let third = run.decide(end_err("s", 2, false), NOW);
        assert!(matches!(reply_of(&third), Some(HostReply::Run { attempt: 3, .. })));
        let last = run.decide(end_err("s", 3, false), NOW);
        assert_eq!(reply_of(&last), Some(&HostReply::Failed { error: ErrorInfo::new("Error", "nope") }));
        assert_eq!(saved_step(&last.writes).state, StepState::Failed);
        assert_eq!(journal_types(&last.writes), ["attempt_errored", "step_errored"]);

        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("s", config), NOW);
        let decision = run.decide(end_err("s", 1, true), NOW);
        assert!(matches!(reply_of(&decision), Some(HostReply::Failed { .. })), "not retried");
    }

    #[test]
    fn a_step_is_journaled_when_its_attempt_is_committed() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let begun = run.decide(begin("s", Value::Null), NOW);
        assert!(begun.writes.is_empty(), "an attempt's start is not committed on its own");
        let ended = run.decide(end_ok("s", 1, 1, "42"), NOW + 5);
        assert_eq!(
            journal_types(&ended.writes),
            ["step_started", "attempt_started", "attempt_completed", "step_completed"]
        );
        let step = saved_step(&ended.writes);
        assert_eq!((step.state, step.output.as_deref()), (StepState::Succeeded, Some("42")));
        assert_eq!(ended.then, Then::AttemptEnded { reply: Some(HostReply::Resolved), for_pause: true });
        assert!(
            ended.writes.iter().all(|w| !matches!(w, Write::SaveStep { attempt: Some(_), .. })),
            "a first attempt that succeeded is described by the step row"
        );
    }

    #[test]
    fn a_sensitive_output_is_redacted_in_the_journal_only() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("s", json!({ "sensitive": "output" })), NOW);
        let ended = run.decide(end_ok("s", 1, 1, "\"secret\""), NOW);
        let entries: Vec<&JournalEntry> = ended
            .writes
            .iter()
            .filter_map(|w| if let Write::Journal(e) = w { Some(e) } else { None })
            .flatten()
            .collect();
        let completed = serde_json::to_value(entries.last().unwrap()).unwrap();
        assert_eq!(completed["output"], "[REDACTED]");
        assert_eq!(saved_step(&ended.writes).output.as_deref(), Some("\"secret\""), "replay gets the real value");
    }

    #[test]
    fn a_result_over_1_mib_fails_unless_it_is_a_stream_and_the_journal_shows_it_readably() {
        let journal_output = |decision: &Decision| {
            let entries: Vec<&JournalEntry> = decision
                .writes
                .iter()
                .filter_map(|w| if let Write::Journal(e) = w { Some(e) } else { None })
                .flatten()
                .collect();
            serde_json::to_value(entries.last().unwrap()).unwrap()["output"].clone()
        };
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("big", Value::Null), NOW);
        let big = format!("\"{}\"", "x".repeat(MAX_PAYLOAD_BYTES));
        let ended = run.decide(end_ok("big", 1, 1, &big), NOW);
        assert_eq!(saved_step(&ended.writes).state, StepState::Failed);

        run.decide(begin("stream", Value::Null), NOW);
        let stream = format!("{}{}", outputs::STREAM_MARK, "QUFB".repeat(MAX_PAYLOAD_BYTES / 2));
        let ended = run.decide(end_ok("stream", 1, 1, &stream), NOW);
        assert_eq!(saved_step(&ended.writes).state, StepState::Succeeded);
        assert_eq!(journal_output(&ended), json!("A".repeat(1024)), "a preview, not the bytes");

        run.decide(begin("map", Value::Null), NOW);
        let ended = run.decide(end_ok("map", 1, 1, r#"v8:["m",[["a",["i","1"]]]]"#), NOW);
        assert_eq!(journal_output(&ended), json!([["a", "1"]]));
    }

    #[test]
    fn the_steps_limit_counts_do_steps_only() {
        let steps = vec![
            stored(StepKind::Do, "a", 1, 0, StepState::Succeeded),
            stored(StepKind::Sleep, "n", 1, 1, StepState::Succeeded),
        ];
        let mut run = RunState::new(steps, Vec::new(), 2);
        assert!(matches!(reply_of(&run.decide(begin("a", Value::Null), NOW)), Some(HostReply::Cached { .. })));
        let second = run.decide(begin("b", Value::Null), NOW);
        assert!(matches!(reply_of(&second), Some(HostReply::Run { .. })), "the sleep does not count");
        run.decide(end_ok("b", 1, 1, "1"), NOW);
        let third = run.decide(begin("c", Value::Null), NOW);
        let Then::Fail(error) = third.then else { panic!("{third:?}") };
        assert_eq!(error.name, "WorkflowFatalError");
        assert!(error.message.starts_with("The limit of 2 steps has been reached."), "{}", error.message);
    }

    #[test]
    fn an_attempt_stopped_past_its_timeout_fails_with_cloudflares_message_and_is_retried() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let config = json!({ "timeout": 50, "retries": { "limit": 1, "delay": 0 } });
        let Some(HostReply::Run { token, timeout_ms, .. }) = reply_of(&run.decide(begin("s", config), NOW)).cloned()
        else {
            panic!()
        };
        assert_eq!(timeout_ms, 50);
        let interruption = Interruption {
            cause: InterruptCause::StepTimeout,
            attempts: vec![InterruptedAttempt { token, attempt: 1, timeout_ms: 50, overdue: true }],
        };
        let requests = run.interrupted(interruption).unwrap();
        let [HostRequest::DoEnd { outcome: AttemptOutcome::Err { error, non_retryable: false, .. }, .. }] =
            &requests[..]
        else {
            panic!("{requests:?}")
        };
        assert_eq!(*error, ErrorInfo::new("WorkflowTimeoutError", "Execution timed out after 50ms"));
        assert!(run.should_wake(NOW), "the instance goes back in line to retry");
        let cpu = Interruption { cause: InterruptCause::CpuLimit { limit_ms: 10 }, attempts: Vec::new() };
        let outside = run.interrupted(cpu).map(|requests| requests.len());
        assert_eq!(outside, Err(ErrorInfo::new("Error", EXCEEDED_CPU)), "CPU outside a step fails the instance");
    }

    fn sent(seq: i64, event_type: &str, payload: Value) -> SentEvent {
        SentEvent { seq, event_type: event_type.into(), payload: payload.to_string(), received_on: NOW - 10 * seq }
    }

    fn wait(name: &str, event_type: &str, timeout: Value) -> HostRequest {
        HostRequest::WaitForEvent { name: name.into(), event_type: json!(event_type), timeout }
    }

    #[test]
    fn an_early_event_is_delivered_first_in_first_out_and_consumed() {
        let events = vec![sent(1, "other", json!(0)), sent(2, "go", json!(1)), sent(3, "go", json!(2))];
        let mut run = RunState::new(Vec::new(), events, 100);
        let first = run.decide(wait("w", "go", Value::Null), NOW);
        let Some(HostReply::Cached { output: Some(output) }) = reply_of(&first) else { panic!("{first:?}") };
        let output: Value = serde_json::from_str(output).unwrap();
        assert_eq!((output["payload"].clone(), output["type"].clone()), (json!(1), json!("go")));
        assert!(first.writes.iter().any(|w| matches!(w, Write::ConsumeEvent { seq: 2, .. })));
        assert_eq!(journal_types(&first.writes), ["wait_started", "wait_completed"]);
        let second = run.decide(wait("w", "go", Value::Null), NOW);
        assert!(second.writes.iter().any(|w| matches!(w, Write::ConsumeEvent { seq: 3, .. })));
        let third = run.decide(wait("w", "go", Value::Null), NOW);
        assert_eq!(third.then, Then::Park { for_pause: false }, "no event left");
    }

    #[test]
    fn a_late_event_wakes_the_suspended_wait_and_a_wait_past_its_timeout_fails() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let parked = run.decide(wait("w", "go", json!("1 hour")), NOW);
        assert_eq!(parked.then, Then::Park { for_pause: false });
        assert_eq!(timer_of(&parked.writes), TimerChange::Set(NOW + 3_600_000));
        assert_eq!(run.after_commit(parked.then), Answer { reply: None, signal: Some(Signal::Suspend) });
        assert!(!run.should_wake(NOW));
        run.event_sent(sent(7, "elsewhere", json!(null)));
        assert!(!run.should_wake(NOW), "an event of another type does not wake it");
        run.event_sent(sent(8, "go", json!(null)));
        assert!(run.should_wake(NOW));
        run.event_sent(sent(8, "go", json!(null)));
        assert_eq!(run.buffered.len(), 2, "an event handed over twice counts once");

        // The next run replays the wait after its timeout.
        let row = saved_step(&parked.writes).clone();
        let mut later = RunState::new(vec![row], Vec::new(), 100);
        let timed_out = later.decide(wait("w", "go", json!("1 hour")), NOW + 3_600_000);
        let expected = ErrorInfo::new("WorkflowTimeoutError", "Execution timed out after 3600000ms");
        assert_eq!(reply_of(&timed_out), Some(&HostReply::Failed { error: expected }));
        assert_eq!(journal_types(&timed_out.writes), ["wait_timed_out"]);
        assert_eq!(timer_of(&timed_out.writes), TimerChange::Clear);
    }

    #[test]
    fn bad_wait_and_sleep_arguments_are_type_errors() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        for request in [
            wait("w", "go", json!(10)),
            wait("w", "go", json!("366 days")),
            HostRequest::WaitForEvent { name: "w".into(), event_type: json!(5), timeout: Value::Null },
            HostRequest::Sleep { name: "s".into(), duration: json!("forever") },
            begin("", Value::Null),
        ] {
            let decision = run.decide(request.clone(), NOW);
            assert!(decision.writes.is_empty());
            assert!(
                matches!(reply_of(&decision), Some(HostReply::Failed { error }) if error.name == "TypeError"),
                "{request:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn a_sleep_in_the_past_ends_at_once_and_a_future_one_parks() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let past = run.decide(HostRequest::SleepUntil { name: "p".into(), until: (NOW - 5) as f64 }, NOW);
        assert_eq!(past.then, Then::Reply(HostReply::Done));
        assert_eq!(journal_types(&past.writes), ["sleep_started", "sleep_completed"]);
        let future = run.decide(HostRequest::Sleep { name: "f".into(), duration: json!("1 second") }, NOW);
        assert_eq!(future.then, Then::Park { for_pause: false });
        assert_eq!(timer_of(&future.writes), TimerChange::Set(NOW + 1_000));
        assert!(run.should_wake(NOW + 1_000), "due");
        assert!(!run.should_wake(NOW + 999));
    }

    #[test]
    fn a_run_suspends_only_when_no_callback_runs() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("a", Value::Null), NOW);
        let nap = run.decide(HostRequest::Sleep { name: "n".into(), duration: json!(1000) }, NOW);
        assert_eq!(run.after_commit(nap.then).signal, None, "step a still runs");
        let ended = run.decide(end_ok("a", 1, 1, "1"), NOW);
        assert_eq!(
            run.after_commit(ended.then),
            Answer { reply: Some(HostReply::Resolved), signal: Some(Signal::Suspend) }
        );
    }

    #[test]
    fn a_pause_takes_effect_at_the_next_step_boundary() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("a", Value::Null), NOW);
        assert_eq!(run.request_pause(), None, "a callback runs");
        let ended = run.decide(end_ok("a", 1, 1, "1"), NOW);
        assert_eq!(ended.then, Then::AttemptEnded { reply: None, for_pause: true }, "its result is kept, not returned");
        assert_eq!(run.after_commit(ended.then), Answer { reply: None, signal: Some(Signal::Suspend) });
        assert_eq!(run.decide(begin("b", Value::Null), NOW).then, Then::Park { for_pause: true });
        run.withdraw_pause();
        assert!(run.should_wake(NOW), "a pause withdrawn after the run parked for it runs it again");

        let mut idle = RunState::new(Vec::new(), Vec::new(), 100);
        assert_eq!(idle.request_pause(), Some(Signal::Suspend), "nothing runs: at once");
    }

    #[test]
    fn draining_lets_callbacks_finish_then_stops() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        run.decide(begin("a", Value::Null), NOW);
        assert_eq!(run.drain(), None);
        assert_eq!(
            run.decide(begin("b", Value::Null), NOW).then,
            Then::Park { for_pause: false },
            "nothing new starts"
        );
        let ended = run.decide(end_ok("a", 1, 1, "1"), NOW);
        assert!(!ended.writes.is_empty(), "the result is committed");
        assert_eq!(run.after_commit(ended.then).signal, Some(Signal::Stop));
    }

    #[test]
    fn a_failed_commit_fails_the_instance() {
        let mut run = RunState::new(Vec::new(), Vec::new(), 100);
        let answer = run.commit_failed("the step", "disk full");
        assert_eq!(answer, Answer { reply: None, signal: Some(Signal::Suspend) });
        assert_eq!(run.fatal().unwrap().message, "stepflare could not store the step: disk full");
        let verdict = end_of_run(S::Running, RunEnd::Errored(run.fatal().unwrap().clone()), &run, NOW).unwrap();
        assert_eq!(verdict.to, S::Errored);
    }

    #[test]
    fn every_command_at_every_status() {
        use Action as A;
        use Command as C;
        const ENQUEUE: &[Action] = &[A::Enqueue { woken: false }];
        // What each command does at each status: the status after it (or the refusal), what the
        // engine must do, and what the journal says.
        type Outcome = (Result<S, Refusal>, &'static [Action], &'static [&'static str]);
        let expected = |status: S, command: C| -> Outcome {
            match (command, status) {
                (C::Pause, S::Queued | S::Waiting) => (Ok(S::Paused), &[], &["workflow_paused"]),
                (C::Pause, S::Running) => (Ok(S::WaitingForPause), &[A::RequestPause], &["workflow_waiting_for_pause"]),
                (C::Pause, S::Paused | S::WaitingForPause) => (Ok(status), &[], &[]),
                (C::Pause, S::Errored | S::Terminated | S::Complete) => (Err(Refusal::CannotPause), &[], &[]),
                (C::Pause, S::Unknown) => (Err(Refusal::NotApplicable(S::Unknown)), &[], &[]),
                (C::Resume, S::Paused) => (Ok(S::Queued), ENQUEUE, &["workflow_queued"]),
                (C::Resume, S::WaitingForPause) => (Ok(S::Running), &[A::WithdrawPause], &["workflow_running"]),
                (C::Resume, other) => (Ok(other), &[], &[]),
                (C::Terminate, S::Errored | S::Terminated | S::Complete) => (Err(Refusal::CannotTerminate), &[], &[]),
                (C::Terminate, _) => (Ok(S::Terminated), &[], &["workflow_terminated"]),
                (C::Restart, _) => (Ok(S::Queued), &[A::Enqueue { woken: true }], &["workflow_queued"]),
                (other, _) => panic!("{other:?} is not a user's command"),
            }
        };
        for status in S::ALL {
            for cmd in [C::Pause, C::Resume, C::Terminate, C::Restart] {
                let (to, actions, journal) = expected(status, cmd);
                match (to, command(status, cmd, None, NOW)) {
                    (Ok(to), Ok(verdict)) => {
                        assert_eq!(verdict.to, to, "{status} {cmd:?}");
                        assert_eq!(verdict.actions, actions, "{status} {cmd:?}");
                        assert_eq!(journal_types(&verdict.writes), journal, "{status} {cmd:?}");
                        let writes_status = verdict.writes.iter().any(|w| {
                            matches!(w, Write::SetStatus(_) | Write::Finish { .. } | Write::ResetForRestart { .. })
                        });
                        assert_eq!(writes_status, to != status || cmd == C::Restart, "{status} {cmd:?}: {verdict:?}");
                    }
                    (Err(refusal), Err(got)) => assert_eq!(refusal, got, "{status} {cmd:?}"),
                    (expected, got) => panic!("{status} {cmd:?}: expected {expected:?}, got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn terminate_writes_the_end_and_restart_from_a_step_keeps_the_steps_before_it() {
        let verdict = command(S::Waiting, Command::Terminate, None, NOW).unwrap();
        assert!(verdict.writes.iter().any(|w| matches!(
            w,
            Write::Finish { status: S::Terminated, terminated_by: Some(by), .. } if by == "api"
        )));
        let verdict = command(S::Errored, Command::Restart, Some(3), NOW).unwrap();
        assert!(matches!(verdict.writes[0], Write::ResetForRestart { from_seq: Some(3) }));
    }

    #[test]
    fn the_end_of_a_run() {
        let run = RunState::new(Vec::new(), Vec::new(), 100);
        let done = end_of_run(S::Running, RunEnd::Completed(Some("7".into())), &run, NOW).unwrap();
        assert_eq!(done.to, S::Complete);
        assert_eq!(journal_types(&done.writes), ["workflow_completed"]);
        let failed = end_of_run(S::Running, RunEnd::Errored(ErrorInfo::new("Error", "x")), &run, NOW).unwrap();
        assert_eq!((failed.to, journal_types(&failed.writes)), (S::Errored, vec!["workflow_errored".to_owned()]));
        let suspended = end_of_run(S::Running, RunEnd::Suspended, &run, NOW).unwrap();
        assert_eq!((suspended.to, suspended.actions), (S::Waiting, vec![Action::PlanTimers]));
        let paused = end_of_run(S::WaitingForPause, RunEnd::Suspended, &run, NOW).unwrap();
        assert_eq!((paused.to, journal_types(&paused.writes)), (S::Paused, vec!["workflow_paused".to_owned()]));
        assert!(end_of_run(S::Terminated, RunEnd::Completed(None), &run, NOW).is_err(), "a finished instance stays so");
    }

    fn rollback_begin(error: Option<&str>, registered: &[(&str, u32)]) -> HostRequest {
        HostRequest::RollbackBegin {
            error: error.map(|message| ErrorInfo::new("Error", message)),
            steps: registered
                .iter()
                .map(|(name, count)| RegisteredRollback { name: (*name).into(), count: *count })
                .collect(),
        }
    }

    fn rollback_step(name: &str, config: Value) -> HostRequest {
        HostRequest::RollbackStep { name: name.into(), count: 1, config, delay_function: false, missing: false }
    }

    fn end_rollback(name: &str, attempt: u32, ok: bool) -> HostRequest {
        let outcome = if ok {
            AttemptOutcome::Ok { output: None }
        } else {
            AttemptOutcome::Err { error: ErrorInfo::new("Error", "undo failed"), non_retryable: false, delay: None }
        };
        HostRequest::DoEnd { token: attempt_token(&key(StepKind::Rollback, name, 1)), attempt, outcome }
    }

    fn plan_of(decision: &Decision) -> Vec<(String, u32)> {
        match reply_of(decision) {
            Some(HostReply::RollbackPlan { steps, .. }) => steps.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn rollback_written(writes: &[Write]) -> Option<Rollback> {
        writes.iter().find_map(|w| if let Write::SetRollback(r) = w { Some(r.clone()) } else { None }).flatten()
    }

    /// a, b and c started (c failed); x never started.
    fn saga_steps() -> Vec<Step> {
        vec![
            stored(StepKind::Do, "a", 1, 0, StepState::Succeeded),
            stored(StepKind::Do, "b", 1, 1, StepState::Succeeded),
            stored(StepKind::Sleep, "nap", 1, 2, StepState::Succeeded),
            stored(StepKind::Do, "c", 1, 3, StepState::Failed),
        ]
    }

    #[test]
    fn the_handlers_that_run_are_of_the_registered_started_steps_newest_start_first() {
        let plan = |names: &[&str]| names.iter().map(|n| ((*n).to_owned(), 1)).collect::<Vec<_>>();
        // What `run()` registered, and the handlers that run.
        type Case<'a> = (&'a [(&'a str, u32)], Vec<(String, u32)>);
        let table: &[Case] = &[
            (&[("a", 1), ("b", 1)], plan(&["b", "a"])),
            (&[("b", 1), ("a", 1), ("x", 1)], plan(&["b", "a"])),
            (&[("c", 1), ("a", 1)], plan(&["c", "a"])),
            (&[("a", 1), ("a", 1)], plan(&["a"])),
            (&[("x", 1), ("a", 2)], plan(&[])),
            (&[], plan(&[])),
        ];
        for (registered, expected) in table {
            let mut run = RunState::new(saga_steps(), Vec::new(), 100);
            let decision = run.decide(rollback_begin(Some("c broke"), registered), NOW);
            assert_eq!(&plan_of(&decision), expected, "{registered:?}");
            if expected.is_empty() {
                assert!(decision.writes.is_empty(), "no handler, no rollback: {decision:?}");
                assert!(run.rollback.is_none());
                continue;
            }
            assert_eq!(journal_types(&decision.writes), ["rollback_started"], "{registered:?}");
            let written = rollback_written(&decision.writes).unwrap();
            assert_eq!(written.trigger, ErrorInfo::new("Error", "c broke"));
            assert_eq!((written.steps.as_ref(), written.outcome), (Some(expected), None));
        }
    }

    #[test]
    fn a_handler_is_a_step_with_its_own_retries_and_one_that_gives_up_fails_the_rollback() {
        let mut run = RunState::new(saga_steps(), Vec::new(), 100);
        run.decide(rollback_begin(Some("c broke"), &[("a", 1), ("b", 1)]), NOW);
        let config = json!({ "retries": { "limit": 1, "delay": 0 }, "timeout": 50 });
        let first = run.decide(rollback_step("b", config.clone()), NOW);
        let Some(HostReply::RollbackRun { token, attempt: 1, timeout_ms: 50, context, output, .. }) = reply_of(&first)
        else {
            panic!("{first:?}")
        };
        assert_eq!(step_of_token(token), Some(key(StepKind::Rollback, "b", 1)));
        assert_eq!(output.as_deref(), Some("\"b#1\""), "the handler gets its step's result");
        assert_eq!(context["step"], json!({ "name": "b", "count": 1 }));
        let retried = run.decide(end_rollback("b", 1, false), NOW);
        assert!(matches!(reply_of(&retried), Some(HostReply::RollbackRun { attempt: 2, .. })), "{retried:?}");
        assert_eq!(
            journal_types(&retried.writes),
            [
                "rollback_step_started",
                "rollback_attempt_started",
                "rollback_attempt_errored",
                "rollback_attempt_started"
            ]
        );
        let gave_up = run.decide(end_rollback("b", 2, false), NOW);
        let undo_failed = ErrorInfo::new("Error", "undo failed");
        assert_eq!(
            gave_up.then,
            Then::AttemptEnded { reply: Some(HostReply::Failed { error: undo_failed.clone() }), for_pause: false }
        );
        assert_eq!(journal_types(&gave_up.writes), ["rollback_attempt_errored", "rollback_step_errored"]);
        assert_eq!(run.do_steps, 3, "handlers do not count as steps");

        // The run throws on; the instance ends errored with its own error, the rollback failed.
        let end = end_of_run(S::Running, RunEnd::Errored(ErrorInfo::new("Error", "thrown on")), &run, NOW).unwrap();
        assert_eq!(end.to, S::Errored);
        assert_eq!(journal_types(&end.writes), ["rollback_errored", "workflow_errored"]);
        let ended = rollback_written(&end.writes).unwrap();
        assert_eq!((ended.outcome, ended.error), (Some(RollbackOutcome::Failed), Some(undo_failed)));
        assert!(end.writes.iter().any(|w| matches!(
            w,
            Write::Finish { status: S::Errored, error: Some(error), .. } if error.message == "c broke"
        )));
    }

    #[test]
    fn a_handler_waits_out_its_retry_delay_and_a_handler_not_registered_again_fails() {
        let mut run = RunState::new(saga_steps(), Vec::new(), 100);
        run.decide(rollback_begin(Some("c broke"), &[("a", 1), ("b", 1)]), NOW);
        run.decide(rollback_step("b", json!({ "retries": { "limit": 2, "delay": "1 second" } })), NOW);
        let delayed = run.decide(end_rollback("b", 1, false), NOW);
        assert_eq!(delayed.then, Then::AttemptEnded { reply: None, for_pause: false });
        assert_eq!(timer_of(&delayed.writes), TimerChange::Set(NOW + 1_000));
        assert!(run.should_wake(NOW + 1_000));

        let missing = HostRequest::RollbackStep {
            name: "a".into(),
            count: 1,
            config: Value::Null,
            delay_function: false,
            missing: true,
        };
        let mut run = RunState::new(saga_steps(), Vec::new(), 100);
        run.decide(rollback_begin(Some("c broke"), &[("a", 1)]), NOW);
        let decision = run.decide(missing, NOW);
        let Some(HostReply::Failed { error }) = reply_of(&decision) else { panic!("{decision:?}") };
        assert_eq!(error.name, "RollbackMissing");
        assert_eq!(journal_types(&decision.writes), ["rollback_step_started", "rollback_step_errored"]);
    }

    #[test]
    fn a_rollback_resumes_after_a_crash_at_the_next_handler_and_a_finished_one_is_not_run_again() {
        // Written when the process died: the rollback began, b's handler completed, a's had not.
        let mut steps = saga_steps();
        steps.push(stored(StepKind::Rollback, "b", 1, 4, StepState::Succeeded));
        let rollback = Rollback {
            trigger: ErrorInfo::new("Error", "c broke"),
            terminate: false,
            steps: Some(vec![("b".into(), 1), ("a".into(), 1)]),
            outcome: None,
            error: None,
        };
        let mut run = RunState::new(steps, Vec::new(), 100).with_rollback(Some(rollback));
        // `run()` is replayed to register the handlers: history answers, nothing new runs.
        type Replayed = (HostRequest, fn(&HostReply) -> bool);
        let replayed: [Replayed; 5] = [
            (begin("a", Value::Null), |r| matches!(r, HostReply::Cached { output: Some(_) })),
            (begin("c", Value::Null), |r| matches!(r, HostReply::Failed { .. })),
            (begin("new", Value::Null), |r| *r == HostReply::Cached { output: None }),
            (HostRequest::Sleep { name: "long".into(), duration: json!("1 day") }, |r| *r == HostReply::Done),
            (wait("w", "go", Value::Null), |r| *r == HostReply::Cached { output: None }),
        ];
        for (request, expected) in replayed {
            let decision = run.decide(request.clone(), NOW);
            assert!(decision.writes.is_empty(), "{request:?} wrote {decision:?}");
            assert!(reply_of(&decision).is_some_and(expected), "{request:?}: {decision:?}");
        }
        assert_eq!(run.callbacks_running, 0);
        // Whatever `run()` does now, the order stays the one the rollback began with.
        let again = run.decide(rollback_begin(None, &[("a", 1), ("b", 1), ("c", 1)]), NOW);
        assert!(again.writes.is_empty());
        assert_eq!(plan_of(&again), [("b".to_owned(), 1), ("a".to_owned(), 1)]);
        let finished = run.decide(rollback_step("b", Value::Null), NOW);
        assert_eq!(reply_of(&finished), Some(&HostReply::Cached { output: None }), "b's handler does not run again");
        assert!(finished.writes.is_empty());
        let next = run.decide(rollback_step("a", Value::Null), NOW);
        assert!(matches!(reply_of(&next), Some(HostReply::RollbackRun { attempt: 1, .. })), "{next:?}");
        let done = run.decide(end_rollback("a", 1, true), NOW);
        assert_eq!(done.then, Then::AttemptEnded { reply: Some(HostReply::Resolved), for_pause: true });
        let end = end_of_run(S::Running, RunEnd::Errored(ErrorInfo::new("Error", "c broke")), &run, NOW).unwrap();
        assert_eq!(journal_types(&end.writes), ["rollback_completed", "workflow_errored"]);
        assert_eq!(rollback_written(&end.writes).unwrap().outcome, Some(RollbackOutcome::Complete));
        // A suspension (a handler's retry delay) is no end.
        let suspended = end_of_run(S::Running, RunEnd::Suspended, &run, NOW).unwrap();
        assert_eq!(suspended.to, S::Waiting);
    }

    #[test]
    fn terminate_with_rollback_runs_the_handlers_before_the_instance_ends_terminated() {
        assert_eq!(terminate_with_rollback(S::Complete, None, true, NOW).unwrap_err(), Refusal::CannotTerminate);
        let nothing_started = terminate_with_rollback(S::Queued, None, false, NOW).unwrap();
        assert_eq!(nothing_started.to, S::Terminated, "nothing to undo: at once");

        let verdict = terminate_with_rollback(S::Waiting, None, true, NOW).unwrap();
        assert_eq!((verdict.to, verdict.actions.as_slice()), (S::Queued, &[Action::Enqueue { woken: true }][..]));
        let pending = rollback_written(&verdict.writes).unwrap();
        assert_eq!(
            (pending.trigger.clone(), pending.terminate, pending.steps.clone()),
            (terminated_marker(), true, None)
        );

        // The run that follows replays `run()`, registers a and b, and undoes them.
        let mut run = RunState::new(saga_steps(), Vec::new(), 100).with_rollback(Some(pending));
        let begun = run.decide(rollback_begin(None, &[("a", 1), ("b", 1)]), NOW);
        assert_eq!(journal_types(&begun.writes), ["rollback_started"]);
        let Some(HostReply::RollbackPlan { error: Some(error), .. }) = reply_of(&begun) else { panic!("{begun:?}") };
        assert_eq!(error.name, "Terminated");
        for name in ["b", "a"] {
            run.decide(rollback_step(name, Value::Null), NOW);
            run.decide(end_rollback(name, 1, true), NOW);
        }
        let end = end_of_run(S::Running, RunEnd::Errored(terminated_marker()), &run, NOW).unwrap();
        assert_eq!(end.to, S::Terminated);
        assert_eq!(journal_types(&end.writes), ["rollback_completed", "workflow_terminated"]);

        // No handler registered: it ends terminated with no rollback to report.
        let pending = rollback_written(&verdict.writes);
        let mut run = RunState::new(saga_steps(), Vec::new(), 100).with_rollback(pending);
        assert!(plan_of(&run.decide(rollback_begin(None, &[]), NOW)).is_empty());
        let end = end_of_run(S::Running, RunEnd::Errored(terminated_marker()), &run, NOW).unwrap();
        assert_eq!((end.to, journal_types(&end.writes)), (S::Terminated, vec!["workflow_terminated".to_owned()]));
        assert!(end.writes.iter().any(|w| matches!(w, Write::SetRollback(None))));
    }

    #[test]
    fn a_start_runs_a_queued_or_waiting_instance_and_a_pause_wins_over_it() {
        let first = start(S::Queued, true, "v1", "{\"a\":1}", NOW).unwrap();
        assert_eq!(first.to, S::Running);
        assert_eq!(journal_types(&first.writes), ["workflow_started", "workflow_running"]);
        let again = start(S::Waiting, false, "v1", "{}", NOW).unwrap();
        assert_eq!(journal_types(&again.writes), ["workflow_running"]);
        let paused = start(S::WaitingForPause, false, "v1", "{}", NOW).unwrap();
        assert_eq!(paused.to, S::Paused);
        assert!(start(S::Complete, false, "v1", "{}", NOW).is_err());
    }
}
