//! Turns a loaded config into the workflows the engine runs: checks that the entry module loads
//! and exports every configured class, records the workflow and a version (a new one whenever
//! the config or any loaded source changed), and builds each binding's `env`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError, ProjectConfig};
use crate::cron::CronExpression;
use crate::durable::DurableClass;
use crate::engine::{DEFAULT_STEPS_LIMIT, WorkflowDef};
use crate::ids::WorkflowName;
use crate::js::{self, EnvBinding, ProjectCode, WorkerCode};
use crate::model::{Retention, Version, WorkflowRecord};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{config}: `main` is not set, so there is no module to load the workflow classes from")]
    NoMain { config: String },
    /// The module did not load; `location` is `file:line:column` when known, else the entry
    /// module.
    #[error("{location}: {message}")]
    Load { location: String, message: String },
    #[error(
        "{location}: workflow {workflow:?} names class_name {class:?}, but {main} exports no class of that name{hint}"
    )]
    MissingClass { location: String, workflow: String, class: String, main: String, hint: String },
    #[error("{location}: Durable Object binding {binding:?} names class_name {class:?}, but {main_and_hint}")]
    MissingDurableClass { location: String, binding: String, class: String, main_and_hint: String },
    #[error("workflow {workflow:?} is defined by both {first} and {second}; workflow names are unique in an account")]
    DuplicateWorkflow { workflow: String, first: String, second: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The project as loaded: its config, the workflows to run, and the Worker when the entry
/// module's default export has handlers.
pub struct Project {
    pub config: ProjectConfig,
    pub workflows: Vec<WorkflowDef>,
    pub worker: Option<WorkerCode>,
    /// The Durable Object classes this Worker defines.
    pub durable: Vec<DurableClass>,
}

/// Loads the config at `path` (a file or a directory to search from), loads the code, and
/// records versions in `store`.
pub async fn load(path: &Path, env: Option<&str>, store: &Arc<Store>, now_ms: i64) -> Result<Project, ProjectError> {
    let config = config::load_env(path, env)?;
    let local: Vec<_> = config.workflows.iter().filter(|w| is_local(&config, w.script_name.as_deref())).collect();
    let Some(main) = config.main.clone() else {
        warn_of_idle_crons(&config, "there is no `main` module");
        if local.is_empty() {
            return Ok(Project { config, workflows: Vec::new(), worker: None, durable: Vec::new() });
        }
        return Err(ProjectError::NoMain { config: config.path.display().to_string() });
    };
    let (code, exports) = load_code(&config, &main).await?;
    let classes = &exports.classes;
    // What a missing class's error adds: the classes the module does export.
    let hint = if classes.is_empty() { String::new() } else { format!(" (it exports {})", classes.join(", ")) };
    for workflow in &local {
        if !classes.contains(&workflow.class_name) {
            return Err(ProjectError::MissingClass {
                location: workflow.location.to_string(),
                workflow: workflow.name.clone(),
                class: workflow.class_name.clone(),
                main: main.display().to_string(),
                hint,
            });
        }
    }
    let script_name = config.name.clone().unwrap_or_else(|| "worker".to_owned());
    let local_objects: Vec<_> =
        config.durable_objects.bindings.iter().filter(|b| is_local(&config, b.script_name.as_deref())).collect();
    for binding in &local_objects {
        if !classes.contains(&binding.class_name) {
            return Err(ProjectError::MissingDurableClass {
                location: binding.location.to_string(),
                binding: binding.name.clone(),
                class: binding.class_name.clone(),
                main_and_hint: format!("{} exports no class of that name{hint}", main.display()),
            });
        }
    }
    let has_handler = |name: &str| exports.handlers.iter().any(|handler| handler == name);
    let has_scheduled = has_handler("scheduled");
    if !has_scheduled {
        warn_of_idle_crons(&config, &format!("the default export of {} has no scheduled handler", main.display()));
    }
    let source_hash = hash_sources(&config, &code);
    let mut vars = config.vars.clone();
    vars.extend(config.secrets.clone());
    let env = Value::Object(vars);
    let mut bindings: Vec<EnvBinding> = local
        .iter()
        .filter_map(|w| Some(EnvBinding::Workflow { binding: w.binding.clone()?, workflow: w.name.clone() }))
        .collect();
    bindings.extend(
        local
            .iter()
            .filter(|w| w.exported)
            .map(|w| EnvBinding::Export { class_name: w.class_name.clone(), workflow: w.name.clone() }),
    );
    bindings.extend(
        config.kv_namespaces.iter().map(|kv| EnvBinding::Kv { binding: kv.binding.clone(), namespace: kv.id.clone() }),
    );
    bindings.extend(
        config.d1_databases.iter().map(|db| EnvBinding::D1 { binding: db.binding.clone(), database: db.id.clone() }),
    );
    bindings.extend(
        config
            .r2_buckets
            .iter()
            .map(|(binding, bucket)| EnvBinding::R2 { binding: binding.clone(), bucket: bucket.clone() }),
    );
    bindings.extend(config.queues.producers.iter().map(|producer| EnvBinding::Queue {
        binding: producer.binding.clone(),
        queue: producer.queue.clone(),
        delivery_delay: producer.delivery_delay_seconds,
    }));
    bindings.extend(config.services.iter().map(|service| EnvBinding::Service {
        binding: service.binding.clone(),
        service: service.service.clone(),
        entrypoint: service.entrypoint.clone(),
    }));
    bindings.extend(local_objects.iter().map(|binding| EnvBinding::DurableObject {
        binding: binding.name.clone(),
        script: script_name.clone(),
        namespace: config.durable_objects.namespace_of(&binding.class_name),
    }));
    let mut names = Vec::new();
    for workflow in &local {
        let name = WorkflowName::parse(&workflow.name)
            .map_err(|e| ConfigError::Invalid { location: workflow.location.clone(), message: e.to_string() })?;
        names.push(name);
    }
    let wanted: Vec<(WorkflowName, String)> =
        names.iter().zip(&local).map(|(name, w)| (name.clone(), w.class_name.clone())).collect();
    let records = {
        let (script_name, source_hash) = (script_name.clone(), source_hash.clone());
        store.on_blocking_thread(move |store| record_versions(store, &wanted, &script_name, &source_hash, now_ms))
    }
    .await?;
    let mut workflows = Vec::new();
    for ((workflow, name), (workflow_id, version_id)) in local.iter().zip(names).zip(records) {
        workflows.push(WorkflowDef {
            name,
            class_name: workflow.class_name.clone(),
            script_name: script_name.clone(),
            code: code.clone(),
            steps_limit: workflow.limits.steps.unwrap_or(DEFAULT_STEPS_LIMIT),
            concurrency_limit: workflow.concurrency_limit,
            version_id,
            workflow_id,
            env: env.clone(),
            bindings: bindings.clone(),
            schedules: distinct(&workflow.schedules),
            default_retention: workflow.default_retention,
        });
    }
    let consumers: Vec<_> = config.queues.consumers.iter().filter(|consumer| !consumer.pull).cloned().collect();
    if !consumers.is_empty() && !has_handler("queue") {
        for consumer in &consumers {
            tracing::warn!(
                "{}: this Worker consumes queue {:?}, but the default export of {} has no queue handler; its messages wait",
                consumer.location,
                consumer.queue,
                main.display()
            );
        }
    }
    let crons = if has_scheduled { distinct(&config.crons) } else { Vec::new() };
    // A Worker is reachable when its default export handles something, or when it exports a
    // class that is not one of its workflows (a `WorkerEntrypoint` a service binding may name).
    let entrypoint_classes = classes.iter().any(|class| !local.iter().any(|w| &w.class_name == class));
    let worker = (!exports.handlers.is_empty() || entrypoint_classes).then(|| WorkerCode {
        name: script_name.clone(),
        served: false,
        handlers: exports.handlers.clone(),
        code: code.clone(),
        vars: env.clone(),
        bindings: bindings.clone(),
        consumers: if has_handler("queue") { consumers } else { Vec::new() },
        crons,
    });
    // A class is a Durable Object class when a migration declares it or a binding names it.
    let mut durable_names: Vec<&str> = config.durable_objects.classes.iter().map(|(c, _)| c.as_str()).collect();
    durable_names.extend(local_objects.iter().map(|b| b.class_name.as_str()));
    let mut durable: Vec<DurableClass> = Vec::new();
    for class_name in durable_names.into_iter().filter(|c| classes.iter().any(|e| e == c)) {
        if durable.iter().all(|d| d.class_name != class_name) {
            durable.push(DurableClass {
                script: script_name.clone(),
                class_name: class_name.to_owned(),
                namespace: config.durable_objects.namespace_of(class_name),
                sqlite: config.durable_objects.is_sqlite(class_name),
                delete_all_deletes_alarm: config.compatibility_date.as_deref().is_some_and(|date| date >= "2026-02-24"),
                code: code.clone(),
                vars: env.clone(),
                bindings: bindings.clone(),
            });
        }
    }
    Ok(Project { config, workflows, worker, durable })
}

/// Records each workflow `(name, class_name)` of a Worker, and a new version of it when its
/// sources changed; returns each one's `(workflow id, version id)`, in order. Store work, for a
/// blocking thread.
fn record_versions(
    store: &Store,
    workflows: &[(WorkflowName, String)],
    script_name: &str,
    source_hash: &str,
    now_ms: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut records = Vec::new();
    for (name, class_name) in workflows {
        let row = store.upsert_workflow(&WorkflowRecord {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            class_name: class_name.clone(),
            script_name: script_name.to_owned(),
            created_on: now_ms,
            modified_on: now_ms,
            default_retention: Retention::default(),
        })?;
        let version_hash = format!("{source_hash}:{class_name}");
        let version_id = match store.latest_version(name)? {
            Some(version) if version.source_hash == version_hash => version.id,
            _ => {
                let version = Version {
                    id: uuid::Uuid::new_v4().to_string(),
                    workflow_name: name.to_string(),
                    source_hash: version_hash,
                    class_name: class_name.clone(),
                    created_on: now_ms,
                };
                store.insert_version(&version)?;
                version.id
            }
        };
        records.push((row.id, version_id));
    }
    Ok(records)
}

/// Loads the entry module and everything it imports, and reports its exports. A project that
/// imports `node:async_hooks` is loaded a second time, with async functions rewritten so that
/// `AsyncLocalStorage` follows `await`.
async fn load_code(config: &ProjectConfig, main: &Path) -> Result<(Arc<ProjectCode>, js::ModuleExports), ProjectError> {
    let inspect = |async_context: bool| async move {
        let code = ProjectCode::new(
            main.to_owned(),
            config.node_compat(),
            config.path.clone(),
            async_context,
            config.cpu_limit(),
        );
        let exports = js::inspect_module(code.clone()).await.map_err(|error| ProjectError::Load {
            location: error.location.unwrap_or_else(|| main.display().to_string()),
            message: error.message,
        })?;
        Ok::<_, ProjectError>((code, exports))
    };
    let (code, exports) = inspect(false).await?;
    if code.needs_async_context() { inspect(true).await } else { Ok((code, exports)) }
}

/// Loads several Workers at once (`stepflare dev -c a -c b`), as `wrangler dev` does, and binds
/// across them: a binding with `script_name` gets the workflow of that name in the Worker whose
/// `name` is `script_name`. A binding to a Worker that is not loaded is left out, with a warning.
pub async fn load_all(
    paths: &[PathBuf],
    env: Option<&str>,
    store: &Arc<Store>,
    now_ms: i64,
) -> Result<Vec<Project>, ProjectError> {
    let mut projects = Vec::new();
    for path in paths {
        projects.push(load(path, env, store, now_ms).await?);
    }
    let mut seen = std::collections::HashMap::new();
    for project in &projects {
        for def in &project.workflows {
            if let Some(other) = seen.insert(def.name.to_string(), project.config.path.clone()) {
                return Err(ProjectError::DuplicateWorkflow {
                    workflow: def.name.to_string(),
                    first: other.display().to_string(),
                    second: project.config.path.display().to_string(),
                });
            }
        }
    }
    warn_of_unreachable_services(&projects);
    let remote: Vec<Vec<EnvBinding>> = projects.iter().map(|project| remote_bindings(project, &projects)).collect();
    for (project, remote) in projects.iter_mut().zip(remote) {
        if let Some(worker) = &mut project.worker {
            worker.bindings.extend(remote.iter().cloned());
        }
        for def in &mut project.workflows {
            def.bindings.extend(remote.iter().cloned());
        }
        for class in &mut project.durable {
            class.bindings.extend(remote.iter().cloned());
        }
    }
    Ok(projects)
}

/// One warning per service binding whose Worker is not among the loaded ones: its calls fail
/// until that Worker is loaded too.
fn warn_of_unreachable_services(projects: &[Project]) {
    let reachable =
        |service: &str| projects.iter().any(|p| p.worker.as_ref().is_some_and(|worker| worker.name == service));
    for service in projects.iter().flat_map(|project| &project.config.services) {
        if !reachable(&service.service) {
            tracing::warn!(
                "{}: service binding {} names the Worker {:?}, which is not loaded; its calls fail (load it too, with another -c <its config>)",
                service.location,
                service.binding,
                service.service
            );
        }
    }
}

/// The Workers of loaded projects, for [`Workers::replace`](crate::workers::Workers::replace). As
/// with `wrangler dev`, the first config's Worker is the one served over HTTP.
pub fn worker_codes(projects: Vec<Project>) -> Vec<WorkerCode> {
    let mut workers = Vec::new();
    for (index, project) in projects.into_iter().enumerate() {
        if let Some(mut worker) = project.worker {
            worker.served = index == 0 && !worker.handlers.is_empty();
            workers.push(worker);
        }
    }
    workers
}

/// The Durable Object classes of loaded projects, for
/// [`DurableObjects::replace`](crate::durable::DurableObjects::replace).
pub fn durable_classes(projects: &[Project]) -> Vec<DurableClass> {
    projects.iter().flat_map(|project| project.durable.iter().cloned()).collect()
}

/// The bindings of `project` to workflows that other loaded Workers define.
fn remote_bindings(project: &Project, projects: &[Project]) -> Vec<EnvBinding> {
    let mut bindings = Vec::new();
    for entry in project.config.workflows.iter().filter(|w| !is_local(&project.config, w.script_name.as_deref())) {
        // Only a binding names another script: an export is always this Worker's.
        let Some(binding) = &entry.binding else { continue };
        let script = entry.script_name.as_deref().unwrap_or_default();
        let defined = projects.iter().any(|other| {
            other.config.name.as_deref() == Some(script)
                && other.workflows.iter().any(|def| def.name.as_str() == entry.name)
        });
        if defined {
            bindings.push(EnvBinding::Workflow { binding: binding.clone(), workflow: entry.name.clone() });
        } else {
            tracing::warn!(
                "{}: binding {} names workflow {:?} of script {:?}, which is not loaded (add its config with another -c); the binding is left out",
                entry.location,
                binding,
                entry.name,
                script
            );
        }
    }
    for entry in project.config.durable_objects.bindings.iter() {
        let Some(script) =
            entry.script_name.as_deref().filter(|_| !is_local(&project.config, entry.script_name.as_deref()))
        else {
            continue;
        };
        let defined = projects
            .iter()
            .filter(|other| other.config.name.as_deref() == Some(script))
            .flat_map(|other| other.durable.iter())
            .find(|class| class.class_name == entry.class_name);
        if let Some(class) = defined {
            bindings.push(EnvBinding::DurableObject {
                binding: entry.name.clone(),
                script: script.to_owned(),
                namespace: class.namespace.clone(),
            });
        } else {
            tracing::warn!(
                "{}: Durable Object binding {} names class {:?} of script {:?}, which is not loaded or defines no such Durable Object class (add its config with another -c); the binding is left out",
                entry.location,
                entry.name,
                entry.class_name,
                script
            );
        }
    }
    bindings
}

/// The same expression twice fires once, as one trigger.
fn distinct(crons: &[CronExpression]) -> Vec<CronExpression> {
    let mut distinct: Vec<CronExpression> = Vec::with_capacity(crons.len());
    for cron in crons {
        if !distinct.contains(cron) {
            distinct.push(cron.clone());
        }
    }
    distinct
}

/// `triggers.crons` without a `scheduled` handler to call is almost certainly a mistake.
fn warn_of_idle_crons(config: &ProjectConfig, why: &str) {
    if !config.crons.is_empty() {
        tracing::warn!("{}: triggers.crons is set, but {why}, so the crons do nothing", config.path.display());
    }
}

/// A binding without `script_name`, or naming this Worker itself, runs here.
fn is_local(config: &ProjectConfig, script_name: Option<&str>) -> bool {
    match script_name {
        None => true,
        Some(script) => config.name.as_deref() == Some(script),
    }
}

/// FNV-1a over the config and every module loaded: stable across runs and Rust versions, which
/// the standard library's hasher is not.
fn hash_sources(config: &ProjectConfig, code: &Arc<ProjectCode>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(std::fs::read(&config.path).unwrap_or_default().as_slice());
    for (path, text) in code.loaded_sources() {
        feed(path.display().to_string().as_bytes());
        feed(text.as_bytes());
    }
    format!("{hash:016x}")
}
