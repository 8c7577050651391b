//! The engine decides: it owns every instance's lifecycle, hands out concurrency slots, runs
//! instances (through `js`), fires timers, delivers events, and carries out pause, resume,
//! terminate and restart. It persists through `store` and never speaks HTTP.
//!
//! Concurrency model: one tokio task per running instance, a timer task, a small `Scheduler`
//! behind a mutex that is never held across an `.await` or a store call, and a gate per
//! instance that decisions about it pass one at a time (`scheduler.rs`). A run is stopped by
//! dropping its JS future; before the engine changes the state of an instance that is running,
//! it stops the run and waits for its task to end, so a stale run never writes after a decision.

pub mod admission;
mod bindings;
pub mod clock;
pub mod decider;
pub mod duration;
pub mod lifecycle;
mod retention;
pub mod retry;
mod run;
mod scheduler;
pub mod subscribe;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use self::clock::Clock;
use self::lifecycle::{Command, Refusal};
use self::scheduler::{Gates, Scheduler, fire_timers};
use crate::cron::CronExpression;
use crate::ids::{EventType, InstanceId, InstanceKey, InvalidId, StepKind, WorkflowName};
use crate::js::{BindingHost, EnvBinding, ProjectCode};
use crate::model::{
    Attempt, Instance, InstanceFilter, InstanceStatus, Retention, Step, StepState, Version, WorkflowRecord,
};
use crate::store::{CronOwner, Store, StoreError};

pub use self::decider::MAX_PAYLOAD_BYTES;
/// The most instances one batch call may create or delete.
pub const MAX_BATCH: usize = 100;
/// The default `limits.steps` (spec §2.6, paid plan default).
pub const DEFAULT_STEPS_LIMIT: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("workflow {0} not found")]
    WorkflowNotFound(String),
    #[error("instance {0} not found")]
    InstanceNotFound(String),
    #[error("(instance.already_exists) Instance already exists")]
    InstanceExists(String),
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("(instance.cannot_restart) Step \"{0}\" not found in execution history")]
    StepNotFound(String),
    #[error("workflow {workflow} has no schedule {cron:?}")]
    NoSuchSchedule { workflow: String, cron: String },
    #[error("a batch must have from 1 to 100 instances, not {0}")]
    BatchSize(usize),
    /// A command's task panicked or was cancelled (stepflare is stopping).
    #[error("the command did not finish: {0}")]
    CommandFailed(String),
    #[error("{what} is {size} bytes, over the 1 MiB limit")]
    TooLarge { what: &'static str, size: usize },
    /// `--strict`: production's creation rate was passed.
    #[error(
        "(instance.rate_limited) Too many instances created: at most {} a second per {}; try again in {} ms",
        .0.limit, .0.scope, .0.retry_after_ms
    )]
    RateLimited(admission::RateExceeded),
    /// `--strict`: the workflow has as many queued instances as production allows.
    #[error("(instance.queue_full) Workflow {0} has {limit} queued instances, the most production allows", limit = admission::QUEUED_LIMIT)]
    QueueFull(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A workflow the engine can run: a binding of the loaded config, at one version of the code.
#[derive(Debug, Clone)]
pub struct WorkflowDef {
    pub name: WorkflowName,
    pub class_name: String,
    pub script_name: String,
    pub code: Arc<ProjectCode>,
    pub steps_limit: u32,
    /// `concurrency.limit`: at most this many of its instances run at once.
    pub concurrency_limit: Option<u32>,
    pub version_id: String,
    pub workflow_id: String,
    /// The Worker's vars; workflow code sees them in `env` with `bindings`.
    pub env: Value,
    /// The project's bindings (workflows and queue producers), so that a workflow can create
    /// instances of others and send to queues.
    pub bindings: Vec<EnvBinding>,
    /// The binding's `schedules`: each firing creates one instance.
    pub schedules: Vec<CronExpression>,
    /// The config's `default_retention`; what it leaves unset falls to the default set over
    /// REST.
    pub default_retention: Retention,
}

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Instances running at once; more wait in `queued`. Waiting (sleeping) ones do not count.
    pub max_concurrent: usize,
    /// `--strict`: production's account limits (creation rate, queued instances, the account's
    /// default retention) are enforced.
    pub strict: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { max_concurrent: 100, strict: false }
    }
}

/// What `create` takes.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub id: Option<InstanceId>,
    /// The event payload.
    pub params: Value,
    pub trigger_source: &'static str,
    /// The instance's own retention; what it leaves unset falls to the workflow's default.
    pub retention: Retention,
}

/// `restart({from})`: the step to restart from.
#[derive(Debug, Clone)]
pub struct RestartFrom {
    pub name: String,
    pub count: u32,
    pub kind: StepKind,
}

/// What became of one entry of [`Engine::create_batch`].
#[derive(Debug, Clone)]
pub enum BatchEntry {
    Created(Box<Instance>),
    /// An instance with this id exists (Cloudflare's code 10405).
    Exists(InstanceId),
    /// An earlier entry of the same batch has this id (Cloudflare's code 10415).
    DuplicateInBatch(InstanceId),
}

/// What became of one id of [`Engine::delete_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// Something else went wrong (logged); Cloudflare answers its code 10001.
    Failed,
}

/// An instance with its step history, for describe.
#[derive(Debug, Clone)]
pub struct InstanceHistory {
    pub instance: Instance,
    pub steps: Vec<Step>,
    pub attempts: Vec<Attempt>,
}

impl InstanceHistory {
    /// The attempts of a `do` step in order. A first attempt that succeeded is not stored (the
    /// step row says everything about it), so it is rebuilt here.
    pub fn attempts_of(&self, step: &Step) -> Vec<Attempt> {
        let mut attempts: Vec<Attempt> = self.attempts.iter().filter(|a| a.key == step.key).cloned().collect();
        let succeeded_first_time = step.state == StepState::Succeeded && step.attempts_made == 1;
        if succeeded_first_time && !attempts.iter().any(|a| a.attempt == 1) {
            attempts.push(Attempt {
                key: step.key.clone(),
                attempt: 1,
                started_on: step.started_on,
                ended_on: step.ended_on,
                success: Some(true),
                error: None,
            });
        }
        attempts.sort_by_key(|a| a.attempt);
        attempts
    }
}

pub(crate) struct Inner {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    workflows: RwLock<HashMap<String, Arc<WorkflowDef>>>,
    scheduler: Mutex<Scheduler>,
    /// The creations of the last second, for `--strict`'s rate limits.
    creation_rate: Mutex<admission::CreationRate>,
    gates: Gates,
    timers_changed: Notify,
    /// Told when an instance ends, so that the retention task plans again.
    instance_ended: Notify,
    /// Cancelled when the engine starts to stop: subscriptions end then.
    stopping: tokio_util::sync::CancellationToken,
    /// Answers the bindings in `env` that are not workflows (queue producers); set once at start.
    other_bindings: std::sync::OnceLock<Arc<dyn BindingHost>>,
    /// Told whenever the set of workflows changes, so the cron task plans again.
    workflows_changed: Notify,
    /// The runtime the engine's own tasks run on. A run is started from wherever its slot frees
    /// (often a JS thread, when another run ends there), but the task that waits for it must not
    /// wait behind user code that never yields.
    tasks: tokio::runtime::Handle,
    /// Set by [`Engine::shutdown`]: nothing starts any more.
    draining: AtomicBool,
    /// Set by [`Engine::start`], once what a previous process left is recovered.
    started: AtomicBool,
}

impl Inner {
    fn workflow(&self, name: &str) -> Option<Arc<WorkflowDef>> {
        self.workflows.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

/// The key of a stored instance.
fn key_of(row: &Instance) -> InstanceKey {
    InstanceKey::stored(row.workflow_name.clone(), row.id.clone())
}

/// Cheap to clone: every clone drives the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Must be called inside the tokio runtime that is to run the engine's tasks.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                workflows: RwLock::new(HashMap::new()),
                scheduler: Mutex::new(Scheduler::default()),
                creation_rate: Mutex::new(admission::CreationRate::default()),
                gates: Mutex::new(HashMap::new()),
                timers_changed: Notify::new(),
                instance_ended: Notify::new(),
                stopping: tokio_util::sync::CancellationToken::new(),
                other_bindings: std::sync::OnceLock::new(),
                workflows_changed: Notify::new(),
                tasks: tokio::runtime::Handle::current(),
                draining: AtomicBool::new(false),
                started: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Engine { inner }
    }

    /// How many instances of `workflow` have each status.
    pub async fn count_by_status(&self, workflow: &WorkflowName) -> Result<Vec<(InstanceStatus, u64)>, EngineError> {
        let workflow = workflow.clone();
        self.inner.with_store(move |store| store.count_by_status(&workflow)).await
    }

    /// The stored record of `workflow` (its id and dates), if it was ever loaded.
    pub async fn workflow_record(&self, workflow: &WorkflowName) -> Result<Option<WorkflowRecord>, EngineError> {
        let workflow = workflow.clone();
        self.inner.with_store(move |store| store.workflow(&workflow)).await
    }

    /// The versions of `workflow`'s code, newest first.
    pub async fn versions(&self, workflow: &WorkflowName) -> Result<Vec<Version>, EngineError> {
        let workflow = workflow.clone();
        self.inner.with_store(move |store| store.versions(&workflow)).await
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Replaces the set of runnable workflows. A run of a workflow that left the config is
    /// stopped (even inside code that never yields); its instance keeps its status and goes on
    /// when the workflow comes back, as do the instances that waited for it to come back.
    pub fn set_workflows(&self, defs: Vec<WorkflowDef>) {
        let map: HashMap<String, Arc<WorkflowDef>> =
            defs.into_iter().map(|def| (def.name.to_string(), Arc::new(def))).collect();
        let (added, removed) = {
            let mut current = self.inner.workflows.write().unwrap_or_else(|p| p.into_inner());
            let added: Vec<String> = map.keys().filter(|name| !current.contains_key(*name)).cloned().collect();
            let removed: Vec<String> = current.keys().filter(|name| !map.contains_key(*name)).cloned().collect();
            *current = map;
            (added, removed)
        };
        self.stop_runs_of(&removed);
        if self.inner.started.load(Ordering::SeqCst) && !added.is_empty() {
            self.resume_instances_of(added);
        }
        // Timers of instances whose workflow just became runnable may be due.
        self.inner.timers_changed.notify_one();
        self.inner.workflows_changed.notify_one();
    }

    /// Stops the runs of `workflows`, which left the config; their slots free once the runs end.
    fn stop_runs_of(&self, workflows: &[String]) {
        let stopped: Vec<(InstanceKey, JoinHandle<()>)> = {
            let mut scheduler = self.inner.lock_scheduler();
            scheduler.forget_line_of(workflows);
            let keys: Vec<InstanceKey> = scheduler
                .active
                .keys()
                .filter(|key| workflows.iter().any(|w| w == key.workflow.as_str()))
                .cloned()
                .collect();
            keys.into_iter().filter_map(|key| Some((key.clone(), scheduler.stop(&key)?))).collect()
        };
        if stopped.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            for (InstanceKey { workflow, id: instance }, task) in stopped {
                let _ = task.await;
                tracing::warn!(
                    %workflow, %instance,
                    "the workflow left the config: its run was stopped; it goes on when the workflow is back"
                );
            }
            inner.start_ready();
        });
    }

    /// Puts the unfinished instances of `workflows`, which came (back) into the config, in line.
    fn resume_instances_of(&self, workflows: Vec<String>) {
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            let statuses = [InstanceStatus::Running, InstanceStatus::WaitingForPause, InstanceStatus::Queued];
            match inner.with_store(move |store| store.instances_in(&statuses)).await {
                Ok(keys) => {
                    let mut scheduler = inner.lock_scheduler();
                    for key in keys.into_iter().filter(|key| workflows.iter().any(|w| w == key.workflow.as_str())) {
                        scheduler.push(key, false);
                    }
                }
                Err(error) => tracing::error!("cannot read the instances of the workflows that came back: {error}"),
            }
            inner.start_ready();
        });
    }

    /// Resolves after the next [`Engine::set_workflows`] (at once if one happened since the last
    /// call). There is one waiter: the cron task.
    pub async fn workflows_changed(&self) {
        self.inner.workflows_changed.notified().await;
    }

    /// Hands the bindings the engine does not answer itself (queue producers) to `host`, for
    /// workflow code and Workers alike. Only the first call counts.
    pub fn forward_other_bindings(&self, host: Arc<dyn BindingHost>) {
        let _ = self.inner.other_bindings.set(host);
    }

    /// The default retention of the workflow's new instances: the config's, else the one set
    /// over REST.
    pub async fn default_retention(&self, workflow: &str) -> Result<Retention, EngineError> {
        let def = self.workflow(workflow)?;
        let name = def.name.clone();
        let record = self.inner.with_store(move |store| store.workflow(&name)).await?;
        Ok(def.default_retention.or(record.map(|r| r.default_retention).unwrap_or_default()))
    }

    /// Sets the workflow's default retention over REST; the config's, where it sets one, still
    /// goes first.
    pub async fn set_default_retention(&self, workflow: &str, retention: Retention) -> Result<(), EngineError> {
        let name = self.workflow(workflow)?.name.clone();
        self.inner.with_store(move |store| store.set_workflow_retention(&name, retention)).await
    }

    pub fn workflow(&self, name: &str) -> Result<Arc<WorkflowDef>, EngineError> {
        self.inner.workflow(name).ok_or_else(|| EngineError::WorkflowNotFound(name.to_owned()))
    }

    pub fn workflows(&self) -> Vec<Arc<WorkflowDef>> {
        let map = self.inner.workflows.read().unwrap_or_else(|p| p.into_inner());
        let mut defs: Vec<_> = map.values().cloned().collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        defs
    }

    /// Recovers what a previous process left (running instances run again, queued ones start,
    /// woken ones wake) and starts the timer task. Call once, inside the tokio runtime.
    pub async fn start(&self) -> Result<(), EngineError> {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        let (interrupted, queued, woken) = inner
            .with_store(move |store| {
                let interrupted = store.instances_in(&[InstanceStatus::Running, InstanceStatus::WaitingForPause])?;
                let queued = store.instances_in(&[InstanceStatus::Queued])?;
                let mut woken = Vec::new();
                for key in store.instances_in(&[InstanceStatus::Waiting])? {
                    if store.has_deliverable_event(&key)? || store.has_due_timer(&key, now)? {
                        woken.push(key);
                    }
                }
                Ok((interrupted, queued, woken))
            })
            .await?;
        {
            let mut scheduler = inner.lock_scheduler();
            for key in interrupted.into_iter().chain(queued) {
                scheduler.push(key, false);
            }
            for key in woken {
                scheduler.push(key, true);
            }
        }
        inner.started.store(true, Ordering::SeqCst);
        inner.start_ready();
        tokio::spawn(fire_timers(inner.clone()));
        tokio::spawn(retention::expire_instances(inner.clone()));
        Ok(())
    }

    /// Creates an instance in `queued`; it starts when a slot is free.
    pub async fn create(&self, workflow: &str, new: NewInstance) -> Result<Instance, EngineError> {
        let def = self.workflow(workflow)?;
        self.admit(&def.name)?;
        self.create_admitted(&def, new).await
    }

    /// [`Engine::create`] once the creation is admitted.
    async fn create_admitted(&self, def: &WorkflowDef, new: NewInstance) -> Result<Instance, EngineError> {
        let params = new.params.to_string();
        if params.len() > MAX_PAYLOAD_BYTES {
            return Err(EngineError::TooLarge { what: "params", size: params.len() });
        }
        let retention = self.retention_of_new(def, new.retention).await?;
        let id = new.id.unwrap_or_else(InstanceId::generate);
        let now = self.now_ms();
        let row = Instance {
            trigger_source: new.trigger_source.to_owned(),
            retention,
            ..Instance::queued(def.name.to_string(), id.to_string(), def.version_id.clone(), params, now)
        };
        self.insert_and_enqueue(row).await
    }

    /// In `--strict` mode, counts a creation (or restart) of `workflow` against production's
    /// creation rate and refuses it when the rate or the workflow's queue is full; otherwise
    /// admits everything.
    fn admit(&self, workflow: &WorkflowName) -> Result<(), EngineError> {
        if !self.inner.config.strict {
            return Ok(());
        }
        if self.inner.lock_scheduler().in_line_of(workflow) >= admission::QUEUED_LIMIT {
            return Err(EngineError::QueueFull(workflow.to_string()));
        }
        let now = self.now_ms();
        let mut rate = self.inner.creation_rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.admit(workflow.as_str(), now).map_err(EngineError::RateLimited)
    }

    /// The retention a new instance gets: its own, else its workflow's config; what is still
    /// unset the store fills from the workflow's REST default as it inserts. In `--strict` mode
    /// the account's default goes last, so that every instance expires as in production.
    async fn retention_of_new(&self, def: &WorkflowDef, own: Retention) -> Result<Retention, EngineError> {
        let retention = own.or(def.default_retention);
        if !self.inner.config.strict || (retention.success_ms.is_some() && retention.error_ms.is_some()) {
            return Ok(retention);
        }
        let rest = self.default_retention(def.name.as_str()).await?;
        Ok(retention.or(rest).or(admission::ACCOUNT_RETENTION))
    }

    /// Fires `cron` of `workflow` for `scheduled_ms`: creates the instance `"<cron>-<ms>"` with
    /// `event.schedule` and records the firing, in one commit. `None` when that firing was made
    /// already (its instance exists).
    pub async fn fire_schedule(
        &self,
        workflow: &str,
        cron: &str,
        scheduled_ms: i64,
    ) -> Result<Option<Instance>, EngineError> {
        let row = self.scheduled_instance(workflow, cron, scheduled_ms)?;
        let (inserted, cron) = (row.clone(), cron.to_owned());
        let fired = self
            .inner
            .with_store(move |store| {
                let owner = CronOwner::Workflow(inserted.workflow_name.clone());
                let journal = decider::created(inserted.created_on);
                store.insert_fired_instance(&inserted, &journal, &owner, &cron, scheduled_ms)
            })
            .await?;
        if !fired {
            return Ok(None);
        }
        self.enqueue_created(&row);
        Ok(Some(row))
    }

    /// Fires `cron` of `workflow` now, by hand: the instance is made as a firing at this moment
    /// would make it, and the firings on the clock are left as they are.
    pub async fn trigger_schedule(&self, workflow: &str, cron: &str) -> Result<Instance, EngineError> {
        let row = self.scheduled_instance(workflow, cron, self.now_ms())?;
        self.insert_and_enqueue(row).await
    }

    /// The instance a firing of `cron` at `scheduled_ms` creates; `cron` must be one of the
    /// workflow's schedules.
    fn scheduled_instance(&self, workflow: &str, cron: &str, scheduled_ms: i64) -> Result<Instance, EngineError> {
        let def = self.workflow(workflow)?;
        if !def.schedules.iter().any(|schedule| schedule.as_str() == cron) {
            return Err(EngineError::NoSuchSchedule { workflow: workflow.to_owned(), cron: cron.to_owned() });
        }
        let now = self.now_ms();
        let schedule = serde_json::json!({ "cron": cron, "scheduledTime": scheduled_ms });
        let id = InstanceId::for_firing(cron, scheduled_ms).to_string();
        Ok(Instance {
            trigger_source: "cron".to_owned(),
            schedule: Some(schedule.to_string()),
            retention: def.default_retention,
            ..Instance::queued(def.name.to_string(), id, def.version_id.clone(), Value::Null.to_string(), now)
        })
    }

    /// Inserts a new instance (refusing an id that exists) and puts it in line for a slot.
    async fn insert_and_enqueue(&self, row: Instance) -> Result<Instance, EngineError> {
        let inserted = row.clone();
        let result = self
            .inner
            .with_store(move |store| store.insert_instance(&inserted, &decider::created(inserted.created_on)))
            .await;
        match result {
            Err(EngineError::Store(StoreError::InstanceExists)) => return Err(EngineError::InstanceExists(row.id)),
            other => other?,
        }
        self.enqueue_created(&row);
        Ok(row)
    }

    /// Puts a just-created instance in line for a slot.
    fn enqueue_created(&self, row: &Instance) {
        self.inner.lock_scheduler().push(key_of(row), false);
        self.inner.start_ready();
    }

    /// The key of an instance of a loaded workflow (the workflow must be loaded; the instance
    /// need not exist).
    fn key(&self, workflow: &str, id: &InstanceId) -> Result<InstanceKey, EngineError> {
        Ok(InstanceKey::new(self.workflow(workflow)?.name.clone(), id.clone()))
    }

    /// The stored row of `key`'s instance.
    async fn row(&self, key: &InstanceKey) -> Result<Instance, EngineError> {
        let stored = key.clone();
        self.inner
            .with_store(move |store| store.instance(&stored))
            .await?
            .ok_or_else(|| EngineError::InstanceNotFound(key.id.to_string()))
    }

    pub async fn instance(&self, workflow: &str, id: &InstanceId) -> Result<Instance, EngineError> {
        self.row(&self.key(workflow, id)?).await
    }

    pub async fn history(&self, workflow: &str, id: &InstanceId) -> Result<InstanceHistory, EngineError> {
        let key = self.key(workflow, id)?;
        let stored = key.clone();
        let (instance, mut steps, mut attempts) = self
            .inner
            .with_store(move |store| Ok((store.instance(&stored)?, store.steps(&stored)?, store.attempts(&stored)?)))
            .await?;
        let instance = instance.ok_or_else(|| EngineError::InstanceNotFound(key.id.to_string()))?;
        let host = self.inner.lock_scheduler().host(&key);
        for (step, attempt) in host.map(|host| host.in_flight()).unwrap_or_default() {
            match steps.iter_mut().find(|s| s.key == step.key) {
                Some(stored) => *stored = step,
                None => steps.push(step),
            }
            attempts.push(attempt);
        }
        steps.sort_by_key(|s| s.seq);
        Ok(InstanceHistory { instance, steps, attempts })
    }

    pub async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, EngineError> {
        self.workflow(&filter.workflow)?;
        let filter = filter.clone();
        self.inner.with_store(move |store| store.list_instances(&filter)).await
    }

    pub async fn count(&self, filter: &InstanceFilter) -> Result<u64, EngineError> {
        self.workflow(&filter.workflow)?;
        let filter = filter.clone();
        self.inner.with_store(move |store| store.count_instances(&filter)).await
    }

    pub async fn pause(&self, workflow: &str, id: &InstanceId) -> Result<InstanceStatus, EngineError> {
        self.simple_command(workflow, id, Command::Pause).await
    }

    pub async fn resume(&self, workflow: &str, id: &InstanceId) -> Result<InstanceStatus, EngineError> {
        self.simple_command(workflow, id, Command::Resume).await
    }

    /// Pause and resume: decided on the status the instance has now (a run in progress keeps
    /// running), and carried out at once.
    async fn simple_command(
        &self,
        workflow: &str,
        id: &InstanceId,
        command: Command,
    ) -> Result<InstanceStatus, EngineError> {
        let key = self.key(workflow, id)?;
        let inner = &self.inner;
        let _gate = inner.gate(&key).await;
        let status = self.row(&key).await?.status;
        let verdict = decider::command(status, command, None, inner.clock.now_ms())?;
        inner.commit(&key, verdict.writes).await?;
        inner.act(&mut inner.lock_scheduler(), &key, &verdict.actions);
        inner.start_ready();
        Ok(verdict.to)
    }

    /// Stops the instance for good; a run in progress is cancelled mid-step. The run is stopped
    /// first, so the decision is made on the status the instance has with nothing running.
    pub async fn terminate(&self, workflow: &str, id: &InstanceId) -> Result<InstanceStatus, EngineError> {
        let (engine, workflow, id) = (self.clone(), workflow.to_owned(), id.clone());
        self.carried_out(async move { engine.terminate_now(&workflow, &id).await }).await
    }

    /// [`Self::terminate`], carried out by [`Self::carried_out`].
    async fn terminate_now(&self, workflow: &str, id: &InstanceId) -> Result<InstanceStatus, EngineError> {
        let key = self.key(workflow, id)?;
        let inner = &self.inner;
        let _gate = inner.gate(&key).await;
        let status = self.stop_run(&key).await?;
        let verdict = decider::command(status, Command::Terminate, None, inner.clock.now_ms())?;
        self.end_stopped(&key, verdict).await
    }

    /// Commits a verdict about an instance whose run was stopped, takes it out of line, and
    /// carries out the verdict's actions.
    async fn end_stopped(&self, key: &InstanceKey, verdict: decider::Verdict) -> Result<InstanceStatus, EngineError> {
        let inner = &self.inner;
        inner.commit(key, verdict.writes).await?;
        {
            let mut scheduler = inner.lock_scheduler();
            scheduler.remove_from_line(key);
            inner.act(&mut scheduler, key, &verdict.actions);
        }
        inner.start_ready();
        Ok(verdict.to)
    }

    /// `terminate({rollback: true})`: stops the run, then puts the instance in line for a run
    /// that replays `run()` to register its rollback handlers and runs them, newest start
    /// first; the instance ends `terminated` after them (at once, when it started no step).
    pub async fn terminate_with_rollback(
        &self,
        workflow: &str,
        id: &InstanceId,
    ) -> Result<InstanceStatus, EngineError> {
        let key = self.key(workflow, id)?;
        let inner = &self.inner;
        let _gate = inner.gate(&key).await;
        let run = inner.lock_scheduler().host(&key);
        let status = self.stop_run(&key).await?;
        // Steps whose attempt the stop cut started too, though a first attempt stores nothing
        // until it ends: read once the run is stopped, when no attempt can end any more.
        let cut: Vec<Step> =
            run.map(|run| run.in_flight().into_iter().map(|(step, _)| step).collect()).unwrap_or_default();
        let stored = key.clone();
        let (row, steps) = inner.with_store(move |store| Ok((store.instance(&stored)?, store.steps(&stored)?))).await?;
        let row = row.ok_or_else(|| EngineError::InstanceNotFound(key.id.to_string()))?;
        let cut: Vec<Step> = cut.into_iter().filter(|step| !steps.iter().any(|s| s.key == step.key)).collect();
        let started = !cut.is_empty() || steps.iter().any(|step| step.key.kind == StepKind::Do);
        let mut verdict = decider::terminate_with_rollback(status, row.rollback, started, inner.clock.now_ms())?;
        if verdict.to != InstanceStatus::Terminated {
            verdict.writes.extend(decider::started_steps(cut, inner.clock.now_ms()));
        }
        self.end_stopped(&key, verdict).await
    }

    /// Runs the instance again from the start, or from step `from` with the results of the
    /// steps before it kept: that step and every step started after it (of any kind) are
    /// erased. A `from` that matches no step of the history (a step in flight counts) is
    /// refused before anything changes.
    pub async fn restart(
        &self,
        workflow: &str,
        id: &InstanceId,
        from: Option<RestartFrom>,
    ) -> Result<InstanceStatus, EngineError> {
        let (engine, workflow, id) = (self.clone(), workflow.to_owned(), id.clone());
        self.carried_out(async move { engine.restart_now(&workflow, &id, from).await }).await
    }

    /// [`Self::restart`], carried out by [`Self::carried_out`].
    async fn restart_now(
        &self,
        workflow: &str,
        id: &InstanceId,
        from: Option<RestartFrom>,
    ) -> Result<InstanceStatus, EngineError> {
        let key = self.key(workflow, id)?;
        let inner = &self.inner;
        let _gate = inner.gate(&key).await;
        self.row(&key).await?;
        self.admit(&key.workflow)?;
        let from_seq = match &from {
            None => None,
            Some(from) => {
                let stored = key.clone();
                let mut steps = inner.with_store(move |store| store.steps(&stored)).await?;
                // A step whose first attempt runs now has no row yet; it is in the history all
                // the same, and its number is the one it will be stored with.
                let in_flight = inner.lock_scheduler().host(&key).map(|host| host.in_flight()).unwrap_or_default();
                steps.extend(in_flight.into_iter().map(|(step, _)| step));
                let found = steps
                    .iter()
                    .find(|s| s.key.kind == from.kind && s.key.name == from.name && s.key.count == from.count);
                Some(found.ok_or_else(|| EngineError::StepNotFound(from.name.clone()))?.seq)
            }
        };
        let restarted = async {
            let status = self.stop_run_keeping_slot(&key).await?;
            let verdict = decider::command(status, Command::Restart, from_seq, inner.clock.now_ms())?;
            inner.commit(&key, verdict.writes).await?;
            inner.act(&mut inner.lock_scheduler(), &key, &verdict.actions);
            Ok(verdict.to)
        }
        .await;
        // The slot goes on whatever happened: to this instance, first in line, when it restarted.
        inner.start_ready();
        restarted
    }

    /// Creates several instances, in order, and says what became of each entry: created, or
    /// refused because its id exists or an earlier entry of the batch has it (only the first
    /// entry with an id is created). Sizes are checked before anything is written, so a batch
    /// refused as a whole creates nothing; an id clash refuses only its entry.
    pub async fn create_batch(&self, workflow: &str, batch: Vec<NewInstance>) -> Result<Vec<BatchEntry>, EngineError> {
        let def = self.workflow(workflow)?;
        if batch.is_empty() || batch.len() > MAX_BATCH {
            return Err(EngineError::BatchSize(batch.len()));
        }
        for new in &batch {
            let size = new.params.to_string().len();
            if size > MAX_PAYLOAD_BYTES {
                return Err(EngineError::TooLarge { what: "params", size });
            }
        }
        // A whole batch counts once against the creation rate, as in production.
        self.admit(&def.name)?;
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(batch.len());
        for new in batch {
            if let Some(id) = &new.id
                && !seen.insert(id.clone())
            {
                entries.push(BatchEntry::DuplicateInBatch(id.clone()));
                continue;
            }
            let requested = new.id.clone();
            match (self.create_admitted(&def, new).await, requested) {
                (Ok(row), _) => entries.push(BatchEntry::Created(Box::new(row))),
                (Err(EngineError::InstanceExists(_)), Some(id)) => entries.push(BatchEntry::Exists(id)),
                (Err(other), _) => return Err(other),
            }
        }
        Ok(entries)
    }

    /// Stops the instance if it runs, then forgets it and all its history: its rows (steps,
    /// attempts, events, timers, journal) go in one commit, and it leaves the line for a slot.
    /// No rollback runs. The id can be used again at once.
    pub async fn delete(&self, workflow: &str, id: &InstanceId) -> Result<(), EngineError> {
        let (engine, workflow, id) = (self.clone(), workflow.to_owned(), id.clone());
        self.carried_out(async move { engine.delete_now(&workflow, &id).await }).await
    }

    /// [`Self::delete`], carried out by [`Self::carried_out`].
    async fn delete_now(&self, workflow: &str, id: &InstanceId) -> Result<(), EngineError> {
        let key = self.key(workflow, id)?;
        let _gate = self.inner.gate(&key).await;
        self.stop_run(&key).await?;
        let stored = key.clone();
        if !self.inner.with_store(move |store| store.delete_instance(&stored)).await? {
            return Err(EngineError::InstanceNotFound(id.to_string()));
        }
        self.inner.lock_scheduler().remove_from_line(&key);
        Ok(())
    }

    /// `deleteBatch`: deletes each distinct id once, in the order the ids first appear, and
    /// answers one outcome per position of `ids` (a repeated id repeats its outcome). A missing
    /// instance is an outcome, not an error; the size of the batch is checked first.
    pub async fn delete_batch(
        &self,
        workflow: &str,
        ids: &[InstanceId],
    ) -> Result<Vec<(InstanceId, Deletion)>, EngineError> {
        // Whole, even when one of the ids is the caller's own instance.
        let (engine, workflow, ids) = (self.clone(), workflow.to_owned(), ids.to_vec());
        self.carried_out(async move { engine.delete_batch_now(&workflow, &ids).await }).await
    }

    /// [`Self::delete_batch`], carried out by [`Self::carried_out`].
    async fn delete_batch_now(
        &self,
        workflow: &str,
        ids: &[InstanceId],
    ) -> Result<Vec<(InstanceId, Deletion)>, EngineError> {
        self.workflow(workflow)?;
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(EngineError::BatchSize(ids.len()));
        }
        let mut outcomes: HashMap<&InstanceId, Deletion> = HashMap::new();
        let mut answers = Vec::with_capacity(ids.len());
        for id in ids {
            let outcome = match outcomes.get(id) {
                Some(outcome) => *outcome,
                None => {
                    let outcome = match self.delete(workflow, id).await {
                        Ok(()) => Deletion::Deleted,
                        Err(EngineError::InstanceNotFound(_)) => Deletion::NotFound,
                        Err(error) => {
                            tracing::error!(workflow, instance = %id, "cannot delete instance: {error}");
                            Deletion::Failed
                        }
                    };
                    outcomes.insert(id, outcome);
                    outcome
                }
            };
            answers.push((id.clone(), outcome));
        }
        Ok(answers)
    }

    /// Terminates every instance of `workflow` in one of `statuses`; returns how many.
    pub async fn terminate_all(&self, workflow: &str, statuses: &[InstanceStatus]) -> Result<usize, EngineError> {
        let (name, statuses) = (self.workflow(workflow)?.name.clone(), statuses.to_vec());
        let ids = self.inner.with_store(move |store| store.instance_ids_in(&name, &statuses)).await?;
        self.terminate_each(workflow, &ids).await
    }

    /// Terminates each of `ids` that can be; returns how many were. Ids that are finished or
    /// gone are passed over.
    pub async fn terminate_each(&self, workflow: &str, ids: &[InstanceId]) -> Result<usize, EngineError> {
        let mut terminated = 0;
        for id in ids {
            match self.terminate(workflow, id).await {
                Ok(_) => terminated += 1,
                // It finished or was deleted in the meantime.
                Err(EngineError::Refused(_) | EngineError::InstanceNotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(terminated)
    }

    /// Deletes every instance of `workflow`, stopping those that run.
    pub async fn delete_all(&self, workflow: &str) -> Result<usize, EngineError> {
        let name = self.workflow(workflow)?.name.clone();
        let ids = self.inner.with_store(move |store| store.instance_ids_in(&name, &InstanceStatus::ALL)).await?;
        for id in &ids {
            match self.delete(workflow, id).await {
                Ok(()) | Err(EngineError::InstanceNotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(ids.len())
    }

    /// Buffers an event for the instance and wakes it if it waits for that type.
    pub async fn send_event(
        &self,
        workflow: &str,
        id: &InstanceId,
        event_type: &EventType,
        payload: &Value,
    ) -> Result<(), EngineError> {
        let key = self.key(workflow, id)?;
        let payload = payload.to_string();
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EngineError::TooLarge { what: "event payload", size: payload.len() });
        }
        let inner = &self.inner;
        let _gate = inner.gate(&key).await;
        let (stored, event_type, now) = (key.clone(), event_type.to_string(), inner.clock.now_ms());
        // Read with the event stored: under the gate, with no run in progress, the status
        // cannot change before the decision below.
        let (status, event, deliverable) = inner
            .with_store(move |store| {
                let Some(row) = store.instance(&stored)? else {
                    return Ok(None);
                };
                let event = store.insert_event(&stored, &event_type, &payload, now)?;
                Ok(Some((row.status, event, store.has_deliverable_event(&stored)?)))
            })
            .await?
            .ok_or_else(|| EngineError::InstanceNotFound(key.id.to_string()))?;
        let run = inner.lock_scheduler().active.get(&key).map(|run| run.host.clone());
        match run {
            // The run decides with it; if it already parked on a wait for it, it goes back in
            // line when it suspends.
            Some(Some(host)) => host.event_sent(event),
            // Being set up: it reads the buffered events, this one among them.
            Some(None) => {}
            None => {
                if decider::event_wakes(status, deliverable) {
                    inner.lock_scheduler().push(key, true);
                    inner.start_ready();
                }
            }
        }
        Ok(())
    }

    /// Runs `command` to its end on the engine's own tasks, whoever waits for it. A command
    /// that stops a run may be asked by that very run (an instance that deletes, terminates or
    /// restarts itself: stopping it drops the future that asked) or by an HTTP client that goes
    /// away; neither may leave it half done, with the run stopped and nothing decided.
    async fn carried_out<T: Send + 'static>(
        &self,
        command: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        self.inner.tasks.spawn(command).await.map_err(|error| EngineError::CommandFailed(error.to_string()))?
    }

    /// Cancels the run of `key` if there is one and waits until its task has ended. Returns the
    /// status the instance has once nothing runs. The caller holds the instance's gate.
    async fn stop_run(&self, key: &InstanceKey) -> Result<InstanceStatus, EngineError> {
        let status = self.stop_run_keeping_slot(key).await;
        self.inner.start_ready();
        status
    }

    /// [`Self::stop_run`], without handing the run's slot to the next instance in line: the
    /// caller does, once it has decided (a restart puts its instance first in line).
    async fn stop_run_keeping_slot(&self, key: &InstanceKey) -> Result<InstanceStatus, EngineError> {
        let task = self.inner.lock_scheduler().stop(key);
        if let Some(task) = task {
            // The task only ends by itself or by being stopped; a panic inside it was logged.
            let _ = task.await;
        }
        Ok(self.row(key).await?.status)
    }

    /// Stops the engine for a clean exit: no run or attempt starts any more, the step callbacks
    /// running now may finish and commit within `grace`, then every run is stopped. Instances
    /// keep their status (`running` ones are recovered at the next start), so a step whose
    /// result was committed never runs again; one cut short by the end of `grace` does.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.inner.stopping.cancel();
        let mut runs: Vec<_> = {
            let mut scheduler = self.inner.lock_scheduler();
            scheduler.clear_line();
            scheduler
                .active
                .values_mut()
                .filter_map(|run| {
                    match &run.host {
                        Some(host) => host.drain(),
                        // Not set up yet: it has run nothing, so it simply stops.
                        None => run.control.stop.cancel(),
                    }
                    Some((run.control.clone(), run.task.take()?))
                })
                .collect()
        };
        let in_flight = runs.len();
        if in_flight > 0 {
            tracing::info!("waiting up to {grace:?} for the steps of {in_flight} running instances to finish");
        }
        let deadline = tokio::time::Instant::now() + grace;
        while let Some((_, task)) = runs.last_mut() {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                break;
            }
            runs.pop();
        }
        if !runs.is_empty() {
            tracing::warn!(
                "{} instances still had steps running after {grace:?}; those steps run again at the next start",
                runs.len()
            );
        }
        for (control, _) in &runs {
            control.stop.cancel();
        }
        for (_, task) in runs {
            let _ = task.await;
        }
    }
}
