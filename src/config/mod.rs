//! Project configuration: finding a Workers project's `wrangler.json`,
//! `wrangler.jsonc` or `wrangler.toml`, parsing it, and validating the subset
//! stepflare reads (name, main, compatibility date, vars, workflow bindings, cron triggers and
//! queues).
//! Every error and warning names the file, line and column it is about.

mod dev_vars;
mod durable_objects;
mod environments;
mod location;
mod queues;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::path::{Component, Path, PathBuf};

pub use location::SourceLocation;

use crate::cron::CronExpression;
use crate::model::Retention;

/// Config file names in wrangler's own precedence order.
pub const CONFIG_FILE_NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

/// The validated project configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// Absolute path of the config file read.
    pub path: PathBuf,
    /// The config file's directory; relative paths in the config resolve against it.
    pub root: PathBuf,
    /// The Worker's name.
    pub name: Option<String>,
    /// The entry module, absolute.
    pub main: Option<PathBuf>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub workflows: Vec<WorkflowConfig>,
    pub queues: QueuesConfig,
    /// `durable_objects.bindings` and what `migrations` leave.
    pub durable_objects: DurableObjectsConfig,
    /// `kv_namespaces`: Workers KV bindings.
    pub kv_namespaces: Vec<KvNamespaceConfig>,
    /// `d1_databases`: D1 bindings.
    pub d1_databases: Vec<D1DatabaseConfig>,
    /// `r2_buckets`: R2 bindings, `(binding, bucket_name)`.
    pub r2_buckets: Vec<(String, String)>,
    /// `services`: bindings to other Workers (or this one).
    pub services: Vec<ServiceBindingConfig>,
    /// The Worker's cron triggers (`triggers.crons`).
    pub crons: Vec<CronExpression>,
    /// `limits.cpu_ms`: the CPU one invocation may use, in ms.
    pub cpu_ms: Option<u64>,
    /// Environment variables; TOML values are converted to their JSON equivalents.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// `secrets.required`: the only keys taken from `.dev.vars` / `.env`, when set.
    pub secrets_required: Option<Vec<String>>,
    /// Local secrets from `.dev.vars` or `.env` beside the config (read by [`load`], not by
    /// [`parse`]); they join `env` over `vars`.
    pub secrets: serde_json::Map<String, serde_json::Value>,
    pub warnings: Vec<ConfigWarning>,
}

/// The CPU a Worker invocation or a workflow step may use when the config sets no
/// `limits.cpu_ms`: Cloudflare's default.
pub const DEFAULT_CPU_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl ProjectConfig {
    /// Which Node.js built-ins and globals the Worker gets, from its compatibility date and flags.
    pub fn node_compat(&self) -> NodeCompat {
        NodeCompat::of(self.compatibility_date.as_deref().unwrap_or(""), &self.compatibility_flags)
    }

    /// The CPU one invocation (a Worker handler call, a workflow step) may use: `limits.cpu_ms`,
    /// or Cloudflare's default.
    pub fn cpu_limit(&self) -> std::time::Duration {
        self.cpu_ms.map_or(DEFAULT_CPU_LIMIT, std::time::Duration::from_millis)
    }
}

/// How much of Node.js a Worker gets, as wrangler and workerd decide it from the compatibility
/// date and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCompat {
    /// No `node:*` modules.
    None,
    /// `nodejs_als`: only `node:async_hooks`.
    Als,
    /// `nodejs_compat` before 2024-09-23: the built-ins, only as `node:*`, and no globals.
    V1,
    /// `nodejs_compat` from 2024-09-23 on (or `nodejs_compat_v2`, or any Worker dated 2026-08-04
    /// or later): the built-ins with and without `node:`, and the `Buffer`, `process` and
    /// `global` globals.
    V2 {
        /// `process.env` holds the Worker's vars (`nodejs_compat_populate_process_env`, on by
        /// default from 2025-04-01).
        populate_process_env: bool,
    },
}

/// From this date on, `nodejs_compat` means its second version.
const NODEJS_COMPAT_V2_DATE: &str = "2024-09-23";
/// From this date on, Workers have `nodejs_compat` without asking for it.
const NODEJS_COMPAT_DEFAULT_DATE: &str = "2026-08-04";
const POPULATE_PROCESS_ENV_DATE: &str = "2025-04-01";

impl NodeCompat {
    /// `date` is `YYYY-MM-DD` (an empty date is older than every switch-over date).
    pub fn of(date: &str, flags: &[String]) -> NodeCompat {
        let has = |flag: &str| flags.iter().any(|f| f == flag);
        let default_on = date >= NODEJS_COMPAT_DEFAULT_DATE;
        let enabled = has("nodejs_compat") || (default_on && !has("no_nodejs_compat"));
        let v2 = has("nodejs_compat_v2")
            || (!has("no_nodejs_compat_v2") && (default_on || (enabled && date >= NODEJS_COMPAT_V2_DATE)));
        if v2 {
            let populate_process_env = has("nodejs_compat_populate_process_env")
                || (date >= POPULATE_PROCESS_ENV_DATE && !has("nodejs_compat_do_not_populate_process_env"));
            NodeCompat::V2 { populate_process_env }
        } else if enabled {
            NodeCompat::V1
        } else if has("nodejs_als") {
            NodeCompat::Als
        } else {
            NodeCompat::None
        }
    }
}

/// One entry of the `workflows` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowConfig {
    pub name: String,
    /// The name in `env`; `None` for a workflow declared only in `exports`.
    pub binding: Option<String>,
    /// Declared in `exports` (under its class name): reachable as `ctx.exports.<class_name>`.
    pub exported: bool,
    pub class_name: String,
    /// Set when the workflow class lives in another Worker.
    pub script_name: Option<String>,
    pub limits: WorkflowLimits,
    /// `default_retention`: how long its instances are kept once they end, unless they say.
    pub default_retention: Retention,
    /// `concurrency.limit`: at most this many instances of the workflow run at once; the rest
    /// wait in `queued`.
    pub concurrency_limit: Option<u32>,
    /// Cron expressions; a single string in the config becomes a one-element list.
    pub schedules: Vec<CronExpression>,
    /// Where this binding's object (or `[[workflows]]` header) starts.
    pub location: SourceLocation,
}

/// One entry of `d1_databases`: `env[binding]` is the database `id` (`database_id`, else
/// `database_name`); `migrations_dir` (default `migrations`) holds its `.sql` migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct D1DatabaseConfig {
    pub binding: String,
    pub name: String,
    pub id: String,
    pub migrations_dir: PathBuf,
    pub location: SourceLocation,
}

/// One entry of `kv_namespaces`: `env[binding]` is the namespace `id` (the binding's name when
/// the entry has no id, as local development allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvNamespaceConfig {
    pub binding: String,
    pub id: String,
    pub location: SourceLocation,
}

/// One entry of `services`: `env[binding]` reaches the Worker named `service`, at its default
/// export or at the `WorkerEntrypoint` class exported as `entrypoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBindingConfig {
    pub binding: String,
    pub service: String,
    pub entrypoint: Option<String>,
    pub location: SourceLocation,
}

/// The `durable_objects` bindings, and the classes as `migrations` leave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurableObjectsConfig {
    pub bindings: Vec<DurableObjectBinding>,
    /// The classes the migrations created and did not delete (under their latest name), each
    /// with whether its storage is SQLite-backed (`new_sqlite_classes`).
    pub classes: Vec<(String, bool)>,
    /// `(from, to)` of every rename, in order.
    pub renamed_classes: Vec<(String, String)>,
    /// Classes a migration deleted (and none created again).
    pub deleted_classes: Vec<String>,
}

impl DurableObjectsConfig {
    /// The namespace of `class`: the name a migration created it under, whatever it was
    /// renamed to since (ids and storage stay with the namespace); a class no migration
    /// created is its own namespace.
    pub fn namespace_of(&self, class: &str) -> String {
        let mut name = class;
        for (from, to) in self.renamed_classes.iter().rev() {
            if to == name {
                name = from;
            }
        }
        name.to_owned()
    }

    /// Whether `class` keeps its storage in SQLite (and so has `ctx.storage.sql`).
    pub fn is_sqlite(&self, class: &str) -> bool {
        self.classes.iter().any(|(name, sqlite)| name == class && *sqlite)
    }
}

/// One entry of `durable_objects.bindings`: `env[name]` is the namespace of `class_name`, a
/// class of this Worker or of the Worker named `script_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableObjectBinding {
    pub name: String,
    pub class_name: String,
    pub script_name: Option<String>,
    pub location: SourceLocation,
}

/// The `queues` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuesConfig {
    pub producers: Vec<QueueProducerConfig>,
    pub consumers: Vec<QueueConsumerConfig>,
}

/// A producer binding: `env[binding].send(…)` puts messages on `queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProducerConfig {
    pub binding: String,
    pub queue: String,
    /// Applied to every message sent through this binding unless the send gives its own.
    pub delivery_delay_seconds: u32,
    pub location: SourceLocation,
}

/// This Worker consumes `queue`: its `queue` handler gets the messages in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConsumerConfig {
    pub queue: String,
    /// Messages per batch, 1 to 100 (default 10).
    pub max_batch_size: u32,
    /// How long a batch waits to fill up, 0 to 60 seconds (default 5).
    pub max_batch_timeout_seconds: u32,
    /// Deliveries after the first before a message goes to the dead letter queue (default 3).
    pub max_retries: u32,
    /// The delay of a retry that does not give its own (default 0).
    pub retry_delay_seconds: u32,
    pub dead_letter_queue: Option<String>,
    /// Read and echoed; locally one batch of a queue is delivered at a time.
    pub max_concurrency: Option<u32>,
    /// `type = "http_pull"`: messages are pulled over HTTP, not delivered to the Worker.
    pub pull: bool,
    pub location: SourceLocation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowLimits {
    pub steps: Option<u32>,
}

/// Something wrangler accepts but which is probably a mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub location: SourceLocation,
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.location, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no wrangler.json, wrangler.jsonc or wrangler.toml found in {} or any parent directory",
        searched_from.display()
    )]
    NotFound { searched_from: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed JSON(C) or TOML.
    #[error("{location}: {message}")]
    Syntax { location: SourceLocation, message: String },
    /// The file parsed but breaks a configuration rule.
    #[error("{location}: {message}")]
    Invalid { location: SourceLocation, message: String },
}

impl ConfigError {
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            ConfigError::Syntax { location, .. } | ConfigError::Invalid { location, .. } => Some(location),
            ConfigError::NotFound { .. } | ConfigError::Io { .. } => None,
        }
    }
}

/// Finds the config file the way wrangler does: each name in precedence order is
/// searched for in `start_dir` and then every parent before the next name is tried,
/// so the same file is chosen as `wrangler dev` would choose.
pub fn find_config(start_dir: &Path) -> Result<PathBuf, ConfigError> {
    let start_dir = absolute(start_dir);
    CONFIG_FILE_NAMES
        .iter()
        .find_map(|name| start_dir.ancestors().map(|dir| dir.join(name)).find(|candidate| candidate.is_file()))
        .ok_or(ConfigError::NotFound { searched_from: start_dir })
}

/// Reads and validates a config file, or, given a directory, the config file
/// [`find_config`] finds from it.
pub fn load(path: &Path) -> Result<ProjectConfig, ConfigError> {
    load_env(path, None)
}

/// [`load`] for the environment `env` of the config (`--env`): its `env.<name>` section over
/// the top level, and its `.dev.vars.<name>` / `.env.<name>` files.
pub fn load_env(path: &Path, env: Option<&str>) -> Result<ProjectConfig, ConfigError> {
    let path = if path.is_dir() { find_config(path)? } else { absolute(path) };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io { path: path.clone(), source })?;
    let mut config = parse_env(&path, &text, env)?;
    let (secrets, warnings) = dev_vars::read(&config.root, env, config.secrets_required.as_deref())?;
    config.secrets = secrets;
    config.warnings.extend(warnings);
    Ok(config)
}

/// Parses and validates config text; `path` picks the format (`.toml`, otherwise
/// JSONC) and is used in locations and to resolve `main`.
pub fn parse(path: &Path, text: &str) -> Result<ProjectConfig, ConfigError> {
    parse_env(path, text, None)
}

/// [`parse`] for the environment `env`, when given.
pub fn parse_env(path: &Path, text: &str, env: Option<&str>) -> Result<ProjectConfig, ConfigError> {
    let path = absolute(path);
    let lines = location::LineIndex::new(text);
    let is_toml = path.extension().is_some_and(|ext| ext == "toml");
    let parsed = if is_toml { raw::parse_toml(text, &lines) } else { raw::parse_jsonc(text, &lines) };
    let root = parsed
        .map_err(|e| ConfigError::Syntax { location: SourceLocation::new(&path, e.position), message: e.message })?;
    let root = match env {
        Some(env) => environments::select(&path, root, env)?,
        None => root,
    };
    validate::validate(path, &root)
}

/// Makes `path` absolute and resolves `.` and `..` lexically, like Node's
/// `path.resolve`, which is how wrangler resolves paths in its config.
fn absolute(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    resolved
}
