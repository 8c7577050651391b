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
    /// `step.do(name, config?)` is called: replay it, or say which attempt to run.
    #[serde(rename = "do.begin")]
    DoBegin { name: String, config: Value },
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
    /// The workflow broke a rule that ends the instance whatever it catches (an unserializable
    /// step result).
    #[serde(rename = "fatal")]
    Fatal { error: ErrorInfo },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AttemptOutcome {
    /// `output` is the result as stored (`outputs.rs` says how); absent when the callback
    /// returned `undefined`.
    Ok {
        output: Option<String>,
    },
    Err {
        error: ErrorInfo,
        non_retryable: bool,
    },
}

/// The host's answer. JavaScript reads it as `{kind, …}`: the variant's name and its fields, in
/// camelCase (`host_calls.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum HostReply {
    /// The step already has a result: return it without running anything.
    Cached { output: Option<String> },
    /// The step already failed for good: throw this.
    Failed { error: ErrorInfo },
    /// Run attempt `attempt` of the callback.
    Run { token: String, count: u32, attempt: u32, timeout_ms: u64, config: Value },
    /// The attempt's result was committed: resolve with it.
    Resolved,
    /// A sleep ended.
    Done,
    /// A wait got its event: `{payload, timestamp (ms), type}`.
    Event { event: Value },
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
