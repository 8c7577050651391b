//! One run of an instance as the engine carries it out: the run's [`RunState`] behind a lock,
//! and the executor of the decider's decisions about its `WorkflowStep` requests: decide, commit
//! the writes, then answer and signal. A run suspends when it has at least one request it will
//! not answer now (a sleep, a retry delay, an event wait, a pause) and no step callback is still
//! running; the decider says when.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::decider::{RunState, Signal, step_of_token};
use super::{Engine, Inner};
use crate::ids::InstanceKey;
use crate::js::{BindingHost, HostReply, HostRequest, Interruption, LogLevel, RunOutcome, StepHost};
use crate::model::{Attempt, SentEvent, Step};

/// The tokens by which a run is ended.
#[derive(Debug, Default)]
pub(super) struct RunControl {
    /// Set by the engine: stop now (terminate, restart, shutdown). The outcome is ignored.
    pub stop: CancellationToken,
    /// Set by the run itself: it has parked requests and nothing running.
    pub suspend: CancellationToken,
}

/// The engine's answer to one run's requests.
pub(super) struct RunHost {
    inner: Arc<Inner>,
    key: InstanceKey,
    pub control: Arc<RunControl>,
    state: Mutex<RunState>,
}

impl RunHost {
    pub fn new(inner: Arc<Inner>, key: InstanceKey, control: Arc<RunControl>, state: RunState) -> Self {
        RunHost { inner, key, control, state: Mutex::new(state) }
    }

    /// The run's state. The lock is held only to decide, never across IO.
    pub fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Steps whose callback is running now, with the attempt in progress.
    pub fn in_flight(&self) -> Vec<(Step, Attempt)> {
        self.state().in_flight()
    }

    fn signal(&self, signal: Option<Signal>) {
        match signal {
            Some(Signal::Suspend) => self.control.suspend.cancel(),
            Some(Signal::Stop) => self.control.stop.cancel(),
            None => {}
        }
    }

    /// Decides a request, commits the decision's writes, then answers and signals as the
    /// decider says. A commit that fails fails the instance rather than lose a result.
    async fn answer(&self, request: HostRequest) -> Option<HostReply> {
        let now = self.inner.clock.now_ms();
        let (then, commit) = {
            let mut state = self.state();
            let decision = state.decide(request, now);
            // Queued under the lock, so that the run's commits follow the order of its decisions
            // (and the journal numbers its events in that order).
            let commit = self.inner.store.apply_async(&self.key, decision.writes, now);
            (decision.then, commit)
        };
        let answer = match commit.await {
            Ok(()) => self.state().after_commit(then),
            Err(error) => self.state().commit_failed("the step", error),
        };
        self.signal(answer.signal);
        answer.reply
    }

    pub fn request_pause(&self) {
        let signal = self.state().request_pause();
        self.signal(signal);
    }

    pub fn withdraw_pause(&self) {
        self.state().withdraw_pause();
    }

    /// stepflare is stopping: see [`RunState::drain`].
    pub fn drain(&self) {
        let signal = self.state().drain();
        self.signal(signal);
    }

    pub fn event_sent(&self, event: SentEvent) {
        self.state().event_sent(event);
    }

    /// Records what the watchdog stopped (see [`RunState::interrupted`]). `None` when the
    /// instance goes on.
    pub async fn settle_interruption(&self, interruption: Interruption) -> Option<RunOutcome> {
        let requests = match self.state().interrupted(interruption) {
            Ok(requests) => requests,
            Err(error) => return Some(RunOutcome::Errored(error)),
        };
        for request in requests {
            if let HostRequest::DoEnd { token, attempt, outcome: crate::js::AttemptOutcome::Err { error, .. } } =
                &request
            {
                let (workflow, instance) = (self.key.workflow.as_str(), self.key.id.as_str());
                tracing::warn!(
                    target: "workflow", %workflow, %instance,
                    "step {:?} attempt {attempt} was stopped inside code that never yields: {}: {}",
                    step_of_token(token).map_or(token.clone(), |key| key.name),
                    error.name,
                    error.message
                );
            }
            self.answer(request).await;
        }
        None
    }
}

impl StepHost for RunHost {
    async fn handle(&self, request: HostRequest) -> Option<HostReply> {
        if self.control.stop.is_cancelled() {
            return None;
        }
        self.answer(request).await
    }

    fn bindings(&self) -> Option<Arc<dyn BindingHost>> {
        Some(Arc::new(Engine::from_inner(self.inner.clone())))
    }

    fn log(&self, level: LogLevel, message: &str) {
        let (workflow, instance) = (self.key.workflow.as_str(), self.key.id.as_str());
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
