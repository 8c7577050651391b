//! The boundary between a running workflow and the engine: the requests `WorkflowStep` makes and
//! the replies it gets. The JS side of `step.do`/`sleep`/`waitForEvent` is a thin loop that
//! follows these replies; every decision (replay, retries, timers, limits) is the host's.

use std::future::Future;

use serde::Deserialize;
use serde_json::Value;

use crate::model::ErrorInfo;

/// What `WorkflowStep` asks of the host.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op")]
pub enum HostRequest {
    /// `step.do(name, config?, callback, rollbackOptions?)` is called: replay it, or say which
    /// attempt to run. `config` is what the code passed (or null), without `retries.delay` when
    /// that is a function (`delay_function`), which JavaScript keeps; `rollback_config` is the
    /// `rollbackConfig` of its rollback options, to validate, in the same form.
    #[serde(rename = "do.begin", rename_all = "camelCase")]
    DoBegin {
        name: String,
        config: Value,
        #[serde(default)]
        delay_function: bool,
        #[serde(default)]
        rollback_config: Option<UserConfig>,
    },
    /// An attempt of a `do` step settled.
    #[serde(rename = "do.end")]
    DoEnd { token: String, attempt: u32, outcome: AttemptOutcome },
    #[serde(rename = "sleep")]
    Sleep { name: String, duration: Value },
    #[serde(rename = "sleepUntil")]
    SleepUntil { name: String, until: f64 },
    #[serde(rename = "waitForEvent")]
    WaitForEvent {
        name: String,
        #[serde(rename = "type")]
        event_type: Value,
        timeout: Value,
    },
    /// `run()` failed with `error` (or, in a run that replays for a rollback, settled: `None`):
    /// which rollback handlers run, in order. `steps` are the `do` steps whose rollback options
    /// the run registered, as `(name, count)`.
    #[serde(rename = "rollback.begin")]
    RollbackBegin { error: Option<ErrorInfo>, steps: Vec<RegisteredRollback> },
    /// The rollback handler of the `do` step `(name, count)` is to run: replay it, or say which
    /// attempt to run. `config` is its `rollbackConfig` as [`HostRequest::DoBegin`] sends a
    /// config; `missing` says the run registered no handler for the step. Its attempts end with
    /// [`HostRequest::DoEnd`].
    #[serde(rename = "rollback.step", rename_all = "camelCase")]
    RollbackStep {
        name: String,
        count: u32,
        config: Value,
        #[serde(default)]
        delay_function: bool,
        #[serde(default)]
        missing: bool,
    },
    /// The workflow broke a rule that ends the instance whatever it catches (an unserializable
    /// step result).
    #[serde(rename = "fatal")]
    Fatal { error: ErrorInfo },
}

/// A `do` step that registered rollback options in a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegisteredRollback {
    pub name: String,
    pub count: u32,
}

/// A step config as the code passed it: its JSON, and whether `retries.delay` was a function
/// (left out of the JSON).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserConfig {
    pub config: Value,
    #[serde(default)]
    pub delay_function: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AttemptOutcome {
    /// `output` is the result as stored (`outputs.rs` says how); absent when the callback
    /// returned `undefined`.
    Ok { output: Option<String> },
    Err {
        error: ErrorInfo,
        non_retryable: bool,
        /// What the step's delay function did, when it has one and the attempt will be retried:
        /// JavaScript calls it before it reports the attempt. `None` when it was not called.
        #[serde(default)]
        delay: Option<DelayOutcome>,
    },
}

/// What a step's `retries.delay` function did when called after a failed attempt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
pub enum DelayOutcome {
    /// It returned (or its promise resolved to) this: a duration if it is one, `null` for a
    /// value that has no JSON form (a non-finite number, an object).
    Returned(Value),
    /// It threw (or its promise rejected) an error with this message.
    Threw(String),
    /// It did not settle within [`DELAY_FUNCTION_TIMEOUT_MS`].
    TimedOut,
}

/// How long a delay function may take (production's local engine: 5 s).
pub const DELAY_FUNCTION_TIMEOUT_MS: u64 = 5_000;

/// The host's answer. JavaScript reads it as `{kind, …}`: the variant's name and its fields, in
/// camelCase (`host_calls.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum HostReply {
    /// The step already has a result: return it without running anything.
    Cached { output: Option<String> },
    /// The step already failed for good: throw this.
    Failed { error: ErrorInfo },
    /// Run attempt `attempt` of the callback. `config` is what `ctx.config` shows, as JSON text
    /// (JavaScript parses it only if the callback reads it).
    Run { token: String, count: u32, attempt: u32, timeout_ms: u64, config: std::sync::Arc<str> },
    /// The attempt's result was committed: resolve with it.
    Resolved,
    /// A sleep ended.
    Done,
    /// A wait got its event: `{payload, timestamp (ms), type}`.
    Event { event: Value },
    /// The rollback handlers to run, in order, as `(name, count)` of their `do` steps (none:
    /// the instance ends without a rollback), and the error they get.
    RollbackPlan { steps: Vec<(String, u32)>, error: Option<ErrorInfo> },
    /// Run attempt `attempt` of a rollback handler, with its rollback `config` (as `ctx.config`
    /// shows one) and what the handler gets of its `do` step: `context` (the step's `ctx`) and
    /// `output` (its result as stored).
    RollbackRun { token: String, attempt: u32, timeout_ms: u64, config: Value, context: Value, output: Option<String> },
}

/// The engine's side of a run. `None` means "never answer": the host is about to stop the run
/// (suspend, pause, terminate), so the promise must stay pending while the runtime is dropped.
pub trait StepHost: Send + Sync + 'static {
    /// The reply to `request`. The future is first polled inside the JavaScript call that made
    /// the request: if it is ready then, the call returns the reply itself, which saves a spawned
    /// task, a promise and a turn of the job queue. So a reply the host has at once should not
    /// wait for anything first (not even a `yield_now`); one that must wait (a commit) is polled
    /// on from a task of the run.
    fn handle(&self, request: HostRequest) -> impl Future<Output = Option<HostReply>> + Send;

    /// A `console` call of the workflow's code.
    fn log(&self, level: LogLevel, message: &str);

    /// Who answers the workflow bindings in `env`, if anyone.
    fn bindings(&self) -> Option<std::sync::Arc<dyn super::BindingHost>> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}
