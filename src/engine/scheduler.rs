//! Where runs begin and end: the concurrency slots and the line of instances waiting for one,
//! each instance's gate (decisions about one instance are made one at a time), setting a run up
//! and recording its end, the timer task, and the store calls of all of these, which go to a
//! blocking thread (reads) or the store's writer, never onto an async worker thread and never
//! under a lock.
//!
//! Lock order: an instance's gate (async, held across store calls) before the scheduler's
//! mutex, before a run's state mutex; the two mutexes are held only for memory work. The map of
//! gates is locked alone.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use super::decider::{self, Action, RunEnd, RunState};
use super::run::{RunControl, RunHost};
use super::{EngineError, Inner};
use crate::ids::{InstanceKey, WorkflowName};
use crate::js::{RunOutcome, RunRequest, run_workflow};
use crate::model::{InstanceStatus, SentEvent, Step};
use crate::store::{Store, StoreError, Write};

pub(super) struct ActiveRun {
    pub control: Arc<RunControl>,
    /// `None` while the run is being set up (its state is read and its start written).
    pub host: Option<Arc<RunHost>>,
    pub task: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub(super) struct Scheduler {
    pub active: HashMap<InstanceKey, ActiveRun>,
    ready: VecDeque<InstanceKey>,
    in_line: HashSet<InstanceKey>,
}

impl Scheduler {
    /// Puts an instance in line for a slot; woken instances go first, as in production.
    pub fn push(&mut self, key: InstanceKey, woken: bool) {
        if self.active.contains_key(&key) || !self.in_line.insert(key.clone()) {
            return;
        }
        if woken { self.ready.push_front(key) } else { self.ready.push_back(key) }
    }

    /// Takes the instance out of line and out of the active runs, and tells its run to stop;
    /// returns the run's task, which ends soon after.
    pub fn stop(&mut self, key: &InstanceKey) -> Option<JoinHandle<()>> {
        self.remove_from_line(key);
        let mut run = self.active.remove(key)?;
        run.control.stop.cancel();
        run.task.take()
    }

    pub fn remove_from_line(&mut self, key: &InstanceKey) {
        if self.in_line.remove(key) {
            self.ready.retain(|k| k != key);
        }
    }

    /// Forgets the instances of `workflows` waiting in line.
    pub fn forget_line_of(&mut self, workflows: &[String]) {
        let leaving = |key: &InstanceKey| workflows.iter().any(|w| w == key.workflow.as_str());
        self.ready.retain(|key| !leaving(key));
        self.in_line.retain(|key| !leaving(key));
    }

    /// Forgets the whole line (stepflare is stopping).
    pub fn clear_line(&mut self) {
        self.ready.clear();
        self.in_line.clear();
    }

    /// How many instances of `workflow` wait in line.
    pub fn in_line_of(&self, workflow: &WorkflowName) -> usize {
        self.ready.iter().filter(|key| key.workflow == *workflow).count()
    }

    /// The run of `key`, if it is set up.
    pub fn host(&self, key: &InstanceKey) -> Option<Arc<RunHost>> {
        self.active.get(key)?.host.clone()
    }
}

/// The gates of the instances someone is deciding about now.
pub(super) type Gates = Mutex<HashMap<InstanceKey, Arc<tokio::sync::Mutex<()>>>>;

/// Held while deciding about one instance; the gate is forgotten when nobody holds or waits for
/// it any more.
pub(super) struct GateGuard {
    inner: Arc<Inner>,
    key: InstanceKey,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.guard.take();
        let Some(gate) = self.gate.take() else { return };
        let mut gates = self.inner.gates.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and this one: nobody else waits for it.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(&self.key);
        }
    }
}

impl Inner {
    pub(super) fn lock_scheduler(&self) -> std::sync::MutexGuard<'_, Scheduler> {
        self.scheduler.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the gate of `key`: decisions about one instance are made one at a time.
    pub(super) async fn gate(self: &Arc<Self>, key: &InstanceKey) -> GateGuard {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            gates.entry(key.clone()).or_default().clone()
        };
        let guard = gate.clone().lock_owned().await;
        GateGuard { inner: self.clone(), key: key.clone(), gate: Some(gate), guard: Some(guard) }
    }

    /// Runs `work` (reads, or writes whose result the caller needs) with the store on a
    /// blocking thread.
    pub(super) async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, EngineError> {
        Ok(self.store.on_blocking_thread(work).await?)
    }

    /// Commits one decision's writes for the instance `key`, on the store's writer.
    pub(super) async fn commit(&self, key: &InstanceKey, writes: Vec<Write>) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let ends = writes.iter().any(|write| matches!(write, Write::Finish { .. }));
        self.store.apply_async(key, writes, now).await?;
        if ends {
            self.instance_ended.notify_one();
        }
        Ok(())
    }

    /// Carries out a verdict's actions on the scheduler and the instance's run.
    pub(super) fn act(&self, scheduler: &mut Scheduler, key: &InstanceKey, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Enqueue { woken } => scheduler.push(key.clone(), *woken),
                Action::RequestPause => {
                    if let Some(host) = scheduler.host(key) {
                        host.request_pause();
                    }
                }
                Action::WithdrawPause => {
                    if let Some(host) = scheduler.host(key) {
                        host.withdraw_pause();
                    }
                }
                Action::PlanTimers => self.timers_changed.notify_one(),
            }
        }
    }

    /// Gives slots to instances in line while slots are free (none once the engine is
    /// stopping). A slot is taken at once; the run is set up by its own task. An instance whose
    /// workflow runs as many as its `concurrency.limit` allows keeps its place in line.
    pub(super) fn start_ready(self: &Arc<Self>) {
        if self.draining.load(Ordering::SeqCst) {
            return;
        }
        let limits: HashMap<WorkflowName, usize> = self
            .workflows
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|def| Some((def.name.clone(), def.concurrency_limit? as usize)))
            .collect();
        let mut scheduler = self.lock_scheduler();
        let mut running: HashMap<WorkflowName, usize> = HashMap::new();
        if !limits.is_empty() {
            for key in scheduler.active.keys().filter(|key| limits.contains_key(&key.workflow)) {
                *running.entry(key.workflow.clone()).or_default() += 1;
            }
        }
        let mut passed_over = Vec::new();
        while scheduler.active.len() < self.config.max_concurrent {
            let Some(key) = scheduler.ready.pop_front() else {
                break;
            };
            if let Some(&limit) = limits.get(&key.workflow) {
                let count = running.entry(key.workflow.clone()).or_default();
                if *count >= limit {
                    passed_over.push(key);
                    continue;
                }
                *count += 1;
            }
            scheduler.in_line.remove(&key);
            let control = Arc::new(RunControl::default());
            let task = self.tasks.spawn(run_instance(self.clone(), key.clone(), control.clone()));
            scheduler.active.insert(key, ActiveRun { control, host: None, task: Some(task) });
        }
        for key in passed_over.into_iter().rev() {
            scheduler.ready.push_front(key);
        }
    }

    /// Frees the slot that `control`'s run held, unless the run was stopped (its stopper took it).
    fn release(self: &Arc<Self>, key: &InstanceKey, control: &Arc<RunControl>) {
        {
            let mut scheduler = self.lock_scheduler();
            if scheduler.active.get(key).is_some_and(|run| Arc::ptr_eq(&run.control, control)) {
                scheduler.active.remove(key);
            }
        }
        self.start_ready();
    }

    /// Decides whether the instance that got a slot runs, and if so writes its start and makes
    /// its run. `None` when it does not run (paused meanwhile, finished, or its workflow left).
    async fn set_up(
        self: &Arc<Self>,
        key: &InstanceKey,
        control: &Arc<RunControl>,
    ) -> Result<Option<(Arc<RunHost>, RunRequest)>, EngineError> {
        let _gate = self.gate(key).await;
        let Some(def) = self.workflow(key.workflow.as_str()) else {
            tracing::warn!(workflow = %key.workflow, instance = %key.id, "the workflow is no longer in the config; the instance waits");
            return Ok(None);
        };
        let stored = key.clone();
        let (row, steps, events): (_, Vec<Step>, Vec<SentEvent>) = self
            .with_store(move |store| {
                let Some(row) = store.instance(&stored)? else {
                    return Ok((None, Vec::new(), Vec::new()));
                };
                Ok((Some(row), store.steps(&stored)?, store.buffered_events(&stored)?))
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let now = self.clock.now_ms();
        let Ok(verdict) = decider::start(row.status, row.started_on.is_none(), &def.version_id, &row.params, now)
        else {
            return Ok(None);
        };
        if control.stop.is_cancelled() {
            return Ok(None);
        }
        self.commit(key, verdict.writes).await?;
        if verdict.to != InstanceStatus::Running {
            return Ok(None);
        }
        let host = Arc::new(RunHost::new(
            self.clone(),
            key.clone(),
            control.clone(),
            RunState::new(steps, events, def.steps_limit).with_rollback(row.rollback.clone()),
        ));
        {
            let mut scheduler = self.lock_scheduler();
            match scheduler.active.get_mut(key) {
                Some(run) if Arc::ptr_eq(&run.control, control) => run.host = Some(host.clone()),
                // Stopped while it was set up: the stopper decides.
                _ => return Ok(None),
            }
        }
        let request = RunRequest {
            code: def.code.clone(),
            class_name: def.class_name.clone(),
            payload: row.params,
            created_on: row.created_on,
            instance_id: row.id,
            workflow_name: row.workflow_name,
            schedule: row.schedule,
            env: def.env.clone(),
            bindings: def.bindings.clone(),
            replay_for_rollback: row.rollback.is_some(),
        };
        Ok(Some((host, request)))
    }

    /// Records how a run ended, unless the engine stopped it (then the stopper decides).
    async fn finish(
        self: &Arc<Self>,
        key: &InstanceKey,
        host: &RunHost,
        outcome: Option<RunOutcome>,
    ) -> Result<(), EngineError> {
        let control = host.control.clone();
        let _gate = tokio::select! {
            biased;
            _ = control.stop.cancelled() => return Ok(()),
            gate = self.gate(key) => gate,
        };
        if control.stop.is_cancelled() {
            return Ok(());
        }
        let stored = key.clone();
        let row = self.with_store(move |store| store.instance(&stored)).await?;
        let Some(row) = row else {
            self.release(key, &control);
            return Ok(());
        };
        let verdict = {
            let state = host.state();
            let end = match (state.fatal().cloned(), outcome) {
                (Some(error), _) => RunEnd::Errored(error),
                (None, Some(RunOutcome::Complete(output))) => RunEnd::Completed(output),
                (None, Some(RunOutcome::Errored(error))) => RunEnd::Errored(error),
                // A run that stopped without settling: suspended, or stopped by the watchdog
                // (whose interruption `run_instance` has recorded).
                (None, Some(RunOutcome::Interrupted(_)) | None) => RunEnd::Suspended,
            };
            decider::end_of_run(row.status, end, &state, self.clock.now_ms())
        };
        let verdict = match verdict {
            Ok(verdict) => verdict,
            Err(refusal) => {
                self.release(key, &control);
                return Err(refusal.into());
            }
        };
        let committed = self.commit(key, verdict.writes).await;
        {
            let mut scheduler = self.lock_scheduler();
            if scheduler.active.get(key).is_some_and(|run| Arc::ptr_eq(&run.control, &control)) {
                scheduler.active.remove(key);
                if committed.is_ok() {
                    self.act(&mut scheduler, key, &verdict.actions);
                }
            }
        }
        self.start_ready();
        committed
    }
}

/// The task of one run: set it up, run the JS until it settles, suspends, or is stopped, and
/// record how it ended.
async fn run_instance(inner: Arc<Inner>, key: InstanceKey, control: Arc<RunControl>) {
    let set_up = tokio::select! {
        biased;
        _ = control.stop.cancelled() => return,
        set_up = inner.set_up(&key, &control) => set_up,
    };
    let (host, request) = match set_up {
        Ok(Some(run)) => run,
        Ok(None) => return inner.release(&key, &control),
        Err(error) => {
            tracing::error!(workflow = %key.workflow, instance = %key.id, "cannot start instance: {error}");
            return inner.release(&key, &control);
        }
    };
    // Stopping wins over an outcome that comes in the same poll: a run stopped inside code that
    // never yields ends with the error of its interrupt, which must not be recorded.
    let outcome = tokio::select! {
        biased;
        _ = control.stop.cancelled() => return,
        _ = control.suspend.cancelled() => None,
        outcome = run_workflow(request, host.clone()) => Some(outcome),
    };
    let outcome = match outcome {
        Some(RunOutcome::Interrupted(interruption)) => host.settle_interruption(interruption).await,
        other => other,
    };
    if let Err(error) = inner.finish(&key, &host, outcome).await {
        tracing::error!(workflow = %key.workflow, instance = %key.id, "cannot record the end of a run: {error}");
    }
}

/// Wakes suspended instances whose timers are due. Only instances of workflows the engine runs
/// count: one whose workflow left the config stays waiting without being polled.
pub(super) async fn fire_timers(inner: Arc<Inner>) {
    loop {
        let now = inner.clock.now_ms();
        let runnable: Vec<WorkflowName> =
            inner.workflows.read().unwrap_or_else(|p| p.into_inner()).values().map(|def| def.name.clone()).collect();
        let plan = inner
            .with_store(move |store| Ok((store.due_instances(now, &runnable)?, store.next_timer(&runnable)?)))
            .await;
        let next = match plan {
            Ok((due, next)) => {
                if !due.is_empty() {
                    {
                        let mut scheduler = inner.lock_scheduler();
                        for key in due {
                            scheduler.push(key, true);
                        }
                    }
                    inner.start_ready();
                }
                next
            }
            Err(error) => {
                tracing::error!("cannot read timers: {error}");
                None
            }
        };
        let wait = match next {
            Some(due) if due > now => std::time::Duration::from_millis((due - now) as u64),
            // Due now but the instance could not start yet (no slot): look again shortly.
            Some(_) => std::time::Duration::from_millis(50),
            None => std::time::Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.timers_changed.notified() => {}
        }
    }
}
