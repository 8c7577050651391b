//! The validation stage: checks the raw tree against wrangler's rules for the
//! keys stepflare reads and builds the public config types from it.

use std::path::{Path, PathBuf};

use super::location::{Position, SourceLocation};
use super::raw::{RawKind, RawValue};
use super::{
    ConfigError, ConfigWarning, D1DatabaseConfig, KvNamespaceConfig, ProjectConfig, ServiceBindingConfig,
    WorkflowConfig, WorkflowLimits, absolute,
};
use crate::cron::CronExpression;
use crate::model::Retention;

/// Above this, deploying to Cloudflare would fail, but running locally still works.
const PRODUCTION_MAX_STEPS: u64 = 25_000;
const PRODUCTION_MAX_CPU_MS: u64 = 300_000;
const WORKER_LIMIT_FIELDS: &[&str] = &["cpu_ms", "subrequests"];
const WORKFLOW_FIELDS: &[&str] =
    &["binding", "name", "class_name", "script_name", "limits", "schedules", "concurrency", "default_retention"];
const IDENTIFIER_RULE: &str = "a valid JavaScript identifier matching ^[A-Za-z_$][A-Za-z0-9_$]*$";

pub(crate) fn validate(path: PathBuf, root: &RawValue) -> Result<ProjectConfig, ConfigError> {
    let mut checker = Validator { path, warnings: Vec::new() };
    if !matches!(root.kind, RawKind::Table(_)) {
        return Err(checker.wrong_type(root, "the top level", "an object"));
    }
    let name = checker.string(root, "name", "name")?;
    let main = checker.string(root, "main", "main")?;
    let compatibility_date = checker.string(root, "compatibility_date", "compatibility_date")?;
    let compatibility_flags = checker.string_list(root, "compatibility_flags")?;
    let vars = match root.entry("vars").map(|e| (&e.value, e.value.to_json())) {
        None => serde_json::Map::new(),
        Some((_, serde_json::Value::Object(vars))) => vars,
        Some((value, _)) => return Err(checker.wrong_type(value, "vars", "an object")),
    };
    let mut workflows = checker.workflows(root)?;
    checker.exports(root, &mut workflows)?;
    let queues = checker.queues(root)?;
    let durable_objects = checker.durable_objects(root)?;
    let kv_namespaces = checker.kv_namespaces(root)?;
    let d1_databases = checker.d1_databases(root)?;
    let r2_buckets = checker.r2_buckets(root)?;
    let services = checker.services(root)?;
    let crons = checker.crons(root)?;
    let cpu_ms = checker.worker_limits(root)?;
    let secrets_required = match root.entry("secrets") {
        None => None,
        Some(entry) => {
            if !matches!(entry.value.kind, RawKind::Table(_)) {
                return Err(checker.wrong_type(&entry.value, "secrets", "an object"));
            }
            entry.value.entry("required").map(|_| checker.string_list(&entry.value, "required")).transpose()?
        }
    };
    checker.report_unemulated_bindings(root);

    let root_dir = checker.path.parent().map(PathBuf::from).unwrap_or_default();
    let main = match main {
        Some(("", position)) => return Err(checker.error(position, "main must not be empty")),
        Some((main, _)) => Some(absolute(&root_dir.join(main))),
        None if workflows.iter().any(|w| w.script_name.is_none())
            || durable_objects.bindings.iter().any(|b| b.script_name.is_none()) =>
        {
            let message = "main is required: it names the module that exports the workflow and Durable Object classes";
            return Err(checker.error(Position::START, message));
        }
        None => None,
    };
    Ok(ProjectConfig {
        path: checker.path,
        root: root_dir,
        name: name.map(|(s, _)| s.to_string()),
        main,
        compatibility_date: compatibility_date.map(|(s, _)| s.to_string()),
        compatibility_flags,
        workflows,
        queues,
        durable_objects,
        kv_namespaces,
        d1_databases,
        r2_buckets,
        services,
        crons,
        cpu_ms,
        vars,
        secrets_required,
        secrets: serde_json::Map::new(),
        warnings: checker.warnings,
    })
}

pub(super) struct Validator {
    pub(super) path: PathBuf,
    warnings: Vec<ConfigWarning>,
}

impl Validator {
    pub(super) fn error(&self, position: Position, message: impl Into<String>) -> ConfigError {
        let location = SourceLocation::new(&self.path, position);
        ConfigError::Invalid { location, message: message.into() }
    }

    pub(super) fn wrong_type(&self, value: &RawValue, label: &str, expected: &str) -> ConfigError {
        let got = value.type_name();
        self.error(value.position, format!("{label} must be {expected} (got {got})"))
    }

    pub(super) fn warn(&mut self, position: Position, message: String) {
        let location = SourceLocation::new(&self.path, position);
        self.warnings.push(ConfigWarning { location, message });
    }

    pub(super) fn string<'v>(
        &self,
        table: &'v RawValue,
        key: &str,
        label: &str,
    ) -> Result<Option<(&'v str, Position)>, ConfigError> {
        match table.entry(key).map(|e| &e.value) {
            None => Ok(None),
            Some(RawValue { kind: RawKind::String(s), position }) => Ok(Some((s, *position))),
            Some(value) => Err(self.wrong_type(value, label, "a string")),
        }
    }

    /// An optional array of strings, such as `compatibility_flags`.
    fn string_list(&self, table: &RawValue, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some(entry) = table.entry(key) else {
            return Ok(Vec::new());
        };
        let RawKind::Array(items) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, key, "an array of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| match &item.kind {
                RawKind::String(text) => Ok(text.clone()),
                _ => Err(self.wrong_type(item, &format!("{key}[{index}]"), "a string")),
            })
            .collect()
    }

    pub(super) fn required_string<'v>(
        &self,
        item: &'v RawValue,
        at: &str,
        key: &str,
    ) -> Result<(&'v str, Position), ConfigError> {
        self.string(item, key, &format!("{at}.{key}"))?
            .ok_or_else(|| self.error(item.position, format!("{at} is missing required field {key:?}")))
    }

    pub(super) fn identifier<'v>(
        &self,
        item: &'v RawValue,
        at: &str,
        key: &str,
    ) -> Result<(&'v str, Position), ConfigError> {
        let (value, position) = self.required_string(item, at, key)?;
        if is_js_identifier(value) {
            return Ok((value, position));
        }
        Err(self.error(position, format!("{at}.{key} must be {IDENTIFIER_RULE} (got {value:?})")))
    }

    fn workflows(&mut self, root: &RawValue) -> Result<Vec<WorkflowConfig>, ConfigError> {
        let Some(entry) = root.entry("workflows") else {
            return Ok(Vec::new());
        };
        let RawKind::Array(items) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, "workflows", "an array"));
        };
        let mut workflows = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let workflow = self.workflow(&format!("workflows[{index}]"), item, &workflows)?;
            workflows.push(workflow);
        }
        Ok(workflows)
    }

    /// The entries of the array `key` of `section`, each an object, with its label
    /// (`<prefix><key>[<i>]`).
    pub(super) fn items<'v>(
        &self,
        section: &'v RawValue,
        prefix: &str,
        key: &str,
    ) -> Result<Vec<(String, &'v RawValue)>, ConfigError> {
        let Some(entry) = section.entry(key) else {
            return Ok(Vec::new());
        };
        let RawKind::Array(items) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, &format!("{prefix}{key}"), "an array"));
        };
        let labelled = items.iter().enumerate().map(|(i, item)| (format!("{prefix}{key}[{i}]"), item));
        labelled
            .map(|(at, item)| match item.kind {
                RawKind::Table(_) => Ok((at, item)),
                _ => Err(self.wrong_type(item, &at, "an object")),
            })
            .collect()
    }

    /// A warning for each field of `item` that is not `known`: wrangler only warns, so a typo
    /// must not stop the run.
    pub(super) fn unexpected_fields(&mut self, at: &str, item: &RawValue, known: &[&str]) {
        if let RawKind::Table(fields) = &item.kind {
            for field in fields.iter().filter(|f| !known.contains(&f.key.as_str())) {
                self.warn(field.key_position, format!("unexpected field {:?} in {at}", field.key));
            }
        }
    }

    /// The entries of a top-level binding list (`kv_namespaces`, `d1_databases`, …): each an
    /// object whose `binding` is a JavaScript identifier no earlier entry of the list uses.
    fn binding_items<'v>(
        &self,
        root: &'v RawValue,
        key: &str,
    ) -> Result<Vec<(String, &'v RawValue, &'v str)>, ConfigError> {
        let mut bound: Vec<(String, &RawValue, &str)> = Vec::new();
        for (at, item) in self.items(root, "", key)? {
            let (binding, position) = self.identifier(item, &at, "binding")?;
            if bound.iter().any(|(_, _, earlier)| *earlier == binding) {
                return Err(self.error(position, format!("{at}.binding {binding:?} is already used")));
            }
            bound.push((at, item, binding));
        }
        Ok(bound)
    }

    /// `d1_databases`: `[{binding, database_name, database_id?, migrations_dir?, …}]`.
    fn d1_databases(&mut self, root: &RawValue) -> Result<Vec<D1DatabaseConfig>, ConfigError> {
        const FIELDS: [&str; 7] = [
            "binding",
            "database_name",
            "database_id",
            "preview_database_id",
            "migrations_dir",
            "migrations_table",
            "remote",
        ];
        let root_dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut databases = Vec::new();
        for (at, item, binding) in self.binding_items(root, "d1_databases")? {
            self.unexpected_fields(&at, item, &FIELDS);
            let name = self.string(item, "database_name", &format!("{at}.database_name"))?.map(|(name, _)| name);
            let id = self.string(item, "database_id", &format!("{at}.database_id"))?.map(|(id, _)| id);
            let migrations = self.string(item, "migrations_dir", &format!("{at}.migrations_dir"))?;
            databases.push(D1DatabaseConfig {
                binding: binding.to_owned(),
                name: name.unwrap_or(binding).to_owned(),
                id: id.or(name).unwrap_or(binding).to_owned(),
                migrations_dir: absolute(&root_dir.join(migrations.map_or("migrations", |(dir, _)| dir))),
                location: SourceLocation::new(&self.path, item.position),
            });
        }
        Ok(databases)
    }

    /// `r2_buckets`: `[{binding, bucket_name, …}]` as `(binding, bucket)`.
    fn r2_buckets(&mut self, root: &RawValue) -> Result<Vec<(String, String)>, ConfigError> {
        let mut buckets = Vec::new();
        for (at, item, binding) in self.binding_items(root, "r2_buckets")? {
            let bucket = self.string(item, "bucket_name", &format!("{at}.bucket_name"))?.map_or(binding, |(b, _)| b);
            buckets.push((binding.to_owned(), bucket.to_owned()));
        }
        Ok(buckets)
    }

    /// `kv_namespaces`: `[{binding, id?, preview_id?}]`.
    fn kv_namespaces(&mut self, root: &RawValue) -> Result<Vec<KvNamespaceConfig>, ConfigError> {
        let mut namespaces = Vec::new();
        for (at, item, binding) in self.binding_items(root, "kv_namespaces")? {
            self.unexpected_fields(&at, item, &["binding", "id", "preview_id", "remote"]);
            let id = self.string(item, "id", &format!("{at}.id"))?.map_or(binding, |(id, _)| id);
            namespaces.push(KvNamespaceConfig {
                binding: binding.to_owned(),
                id: id.to_owned(),
                location: SourceLocation::new(&self.path, item.position),
            });
        }
        Ok(namespaces)
    }

    /// `services`: `[{binding, service, entrypoint?}]`.
    fn services(&mut self, root: &RawValue) -> Result<Vec<ServiceBindingConfig>, ConfigError> {
        let mut services = Vec::new();
        for (at, item, binding) in self.binding_items(root, "services")? {
            self.unexpected_fields(&at, item, &["binding", "service", "entrypoint", "environment", "remote", "props"]);
            let service = match self.string(item, "service", &format!("{at}.service"))? {
                Some(("", position)) => return Err(self.error(position, format!("{at}.service must not be empty"))),
                Some((service, _)) => service.to_owned(),
                None => return Err(self.error(item.position, format!("{at}.service is required"))),
            };
            let entrypoint = match self.string(item, "entrypoint", &format!("{at}.entrypoint"))? {
                Some(("", position)) => return Err(self.error(position, format!("{at}.entrypoint must not be empty"))),
                Some(("default", _)) | None => None,
                Some((entrypoint, _)) => Some(entrypoint.to_owned()),
            };
            services.push(ServiceBindingConfig {
                binding: binding.to_owned(),
                service,
                entrypoint,
                location: SourceLocation::new(&self.path, item.position),
            });
        }
        Ok(services)
    }

    /// Bindings of kinds stepflare does not emulate: one warning each, naming the binding that
    /// will be missing from `env`, so that nothing is left out silently.
    fn report_unemulated_bindings(&mut self, root: &RawValue) {
        // (config key, what it binds, where the binding's name is)
        const LISTS: [(&str, &str); 9] = [
            ("vectorize", "Vectorize index"),
            ("hyperdrive", "Hyperdrive config"),
            ("analytics_engine_datasets", "Analytics Engine dataset"),
            ("mtls_certificates", "mTLS certificate"),
            ("dispatch_namespaces", "dispatch namespace"),
            ("send_email", "send_email binding"),
            ("pipelines", "pipeline"),
            ("secrets_store_secrets", "Secrets Store secret"),
            ("ratelimits", "rate limiter"),
        ];
        const SINGLES: [(&str, &str); 5] = [
            ("ai", "Workers AI"),
            ("browser", "Browser Rendering"),
            ("images", "Images"),
            ("version_metadata", "version metadata"),
            ("assets", "static assets"),
        ];
        let mut report = |kind: &str, item: &RawValue, key: &str| {
            let name = match item.entry(key).map(|e| &e.value.kind) {
                Some(RawKind::String(name)) => format!("env.{name} is absent"),
                _ => "nothing is bound".to_owned(),
            };
            self.warn(item.position, format!("{kind} is not emulated; {name}"));
        };
        for (key, kind) in LISTS {
            if let Some(RawKind::Array(items)) = root.entry(key).map(|e| &e.value.kind) {
                for item in items {
                    report(kind, item, "binding");
                }
            }
        }
        for (key, kind) in SINGLES {
            if let Some(entry) = root.entry(key) {
                report(kind, &entry.value, "binding");
            }
        }
    }

    /// `exports`: each key names an exported class; a `"type": "workflow"` entry declares a
    /// workflow of that class (with a binding's settings but no binding) reachable as
    /// `ctx.exports.<class>`. One with the name of a binding of this Worker is the same workflow:
    /// it must use the same class and may not set what the binding sets differently.
    fn exports(&mut self, root: &RawValue, workflows: &mut Vec<WorkflowConfig>) -> Result<(), ConfigError> {
        let Some(entry) = root.entry("exports") else {
            return Ok(());
        };
        let RawKind::Table(fields) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, "exports", "an object"));
        };
        for field in fields {
            let at = format!("exports.{}", field.key);
            if !is_js_identifier(&field.key) {
                let message = format!("{at}: an export's key is a class name, a JavaScript identifier");
                return Err(self.error(field.key_position, message));
            }
            let item = &field.value;
            let RawKind::Table(settings) = &item.kind else {
                return Err(self.wrong_type(item, &at, "an object"));
            };
            let (kind, kind_position) = self.required_string(item, &at, "type")?;
            if kind == "durable-object" {
                // Read with the Durable Object classes (`durable_objects.rs`).
                continue;
            }
            if kind != "workflow" {
                let message = format!("{at}: exports of type {kind:?} are not emulated; {} is left out", field.key);
                self.warn(kind_position, message);
                continue;
            }
            const EXPORT_FIELDS: [&str; 6] =
                ["type", "name", "limits", "schedules", "default_retention", "concurrency"];
            for unknown in settings.iter().filter(|f| !EXPORT_FIELDS.contains(&f.key.as_str())) {
                self.warn(unknown.key_position, format!("unexpected field {:?} in {at}", unknown.key));
            }
            let (name, name_position) = self.required_string(item, &at, "name")?;
            if name.is_empty() || name.chars().count() > 64 || !is_workflow_name(name) {
                let message = format!(
                    "{at}.name must be 1 to 64 characters matching ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (got {name:?})"
                );
                return Err(self.error(name_position, message));
            }
            let limits = match item.entry("limits") {
                Some(entry) => Some(self.limits(&at, &entry.value)?),
                None => None,
            };
            let schedules = match item.entry("schedules") {
                Some(entry) => Some(self.schedules(&at, &entry.value)?),
                None => None,
            };
            let default_retention = match item.entry("default_retention") {
                Some(entry) => Some(self.retention(&at, &entry.value)?),
                None => None,
            };
            let concurrency_limit = match item.entry("concurrency") {
                Some(entry) => self.concurrency(&at, &entry.value)?,
                None => None,
            };
            let location = SourceLocation::new(&self.path, field.key_position);
            let Some(bound) = workflows.iter_mut().find(|w| w.name == name) else {
                workflows.push(WorkflowConfig {
                    name: name.to_string(),
                    binding: None,
                    exported: true,
                    class_name: field.key.clone(),
                    script_name: None,
                    limits: limits.unwrap_or_default(),
                    default_retention: default_retention.unwrap_or_default(),
                    concurrency_limit,
                    schedules: schedules.unwrap_or_default(),
                    location,
                });
                continue;
            };
            if bound.script_name.is_some() {
                let message = format!("{at}.name {name:?} is the name of a binding to another Worker's workflow");
                return Err(self.error(name_position, message));
            }
            if bound.class_name != field.key {
                let message = format!(
                    "{at} declares workflow {name:?} with class {}, but its binding uses class {}",
                    field.key, bound.class_name
                );
                return Err(self.error(field.key_position, message));
            }
            let differs =
                |what: &str| format!("{at}.{what} differs from the binding of workflow {name:?}; set it in one place");
            if let Some(limits) = limits {
                if bound.limits != WorkflowLimits::default() && bound.limits != limits {
                    return Err(self.error(field.key_position, differs("limits")));
                }
                bound.limits = limits;
            }
            if let Some(schedules) = schedules {
                if !bound.schedules.is_empty() && bound.schedules != schedules {
                    return Err(self.error(field.key_position, differs("schedules")));
                }
                bound.schedules = schedules;
            }
            if let Some(retention) = default_retention {
                if bound.default_retention.is_set() && bound.default_retention != retention {
                    return Err(self.error(field.key_position, differs("default_retention")));
                }
                bound.default_retention = retention;
            }
            if let Some(limit) = concurrency_limit {
                if bound.concurrency_limit.is_some_and(|set| set != limit) {
                    return Err(self.error(field.key_position, differs("concurrency")));
                }
                bound.concurrency_limit = Some(limit);
            }
            bound.exported = true;
        }
        Ok(())
    }

    /// `earlier` holds the entries before this one, for the uniqueness rules.
    fn workflow(
        &mut self,
        at: &str,
        item: &RawValue,
        earlier: &[WorkflowConfig],
    ) -> Result<WorkflowConfig, ConfigError> {
        let RawKind::Table(fields) = &item.kind else {
            return Err(self.wrong_type(item, at, "an object"));
        };
        // Wrangler only warns about unknown fields, so a typo must not stop the run.
        for field in fields.iter().filter(|f| !WORKFLOW_FIELDS.contains(&f.key.as_str())) {
            self.warn(field.key_position, format!("unexpected field {:?} in {at}", field.key));
        }

        let (binding, binding_position) = self.identifier(item, at, "binding")?;
        if let Some(first) = earlier.iter().position(|w| w.binding.as_deref() == Some(binding)) {
            let message = format!("{at}.binding {binding:?} is already used by workflows[{first}]");
            return Err(self.error(binding_position, message));
        }
        let (name, name_position) = self.required_string(item, at, "name")?;
        let name_length = name.chars().count();
        if !(1..=64).contains(&name_length) {
            let message = format!("{at}.name must be 1 to 64 characters long (got {name_length})");
            return Err(self.error(name_position, message));
        }
        if !is_workflow_name(name) {
            let message = format!("{at}.name must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (got {name:?})");
            return Err(self.error(name_position, message));
        }
        if let Some(first) = earlier.iter().position(|w| w.name == name) {
            let message = format!("{at}.name {name:?} is already used by workflows[{first}]");
            return Err(self.error(name_position, message));
        }
        let (class_name, _) = self.identifier(item, at, "class_name")?;
        let script_name = self.string(item, "script_name", &format!("{at}.script_name"))?;

        // The other script owns its workflow's limits and schedules.
        for key in ["limits", "schedules", "concurrency", "default_retention"] {
            if let (Some(entry), Some(_)) = (item.entry(key), script_name) {
                let message = format!("{at}.{key} cannot be set on a workflow bound from another script (script_name)");
                return Err(self.error(entry.value.position, message));
            }
        }
        let limits = match item.entry("limits") {
            Some(entry) => self.limits(at, &entry.value)?,
            None => WorkflowLimits::default(),
        };
        let schedules = match item.entry("schedules") {
            Some(entry) => self.schedules(at, &entry.value)?,
            None => Vec::new(),
        };
        let default_retention = match item.entry("default_retention") {
            Some(entry) => self.retention(at, &entry.value)?,
            None => Retention::default(),
        };
        let concurrency_limit = match item.entry("concurrency") {
            Some(entry) => self.concurrency(at, &entry.value)?,
            None => None,
        };
        Ok(WorkflowConfig {
            name: name.to_string(),
            binding: Some(binding.to_string()),
            exported: false,
            class_name: class_name.to_string(),
            script_name: script_name.map(|(s, _)| s.to_string()),
            limits,
            concurrency_limit,
            default_retention,
            schedules,
            location: SourceLocation::new(&self.path, item.position),
        })
    }

    fn limits(&mut self, at: &str, limits: &RawValue) -> Result<WorkflowLimits, ConfigError> {
        let RawKind::Table(fields) = &limits.kind else {
            return Err(self.wrong_type(limits, &format!("{at}.limits"), "an object"));
        };
        if let Some(field) = fields.iter().find(|f| f.key != "steps") {
            let message = format!("unexpected field {:?} in {at}.limits (only \"steps\" is allowed)", field.key);
            return Err(self.error(field.key_position, message));
        }
        let Some(steps) = limits.entry("steps").map(|e| &e.value) else {
            return Ok(WorkflowLimits::default());
        };
        let Some(count) = whole_number(steps).filter(|&n| n >= 1) else {
            let got = match &steps.kind {
                RawKind::Number(n) => n.to_string(),
                _ => steps.type_name().to_string(),
            };
            let message = format!("{at}.limits.steps must be an integer >= 1 (got {got})");
            return Err(self.error(steps.position, message));
        };
        let Ok(steps_u32) = u32::try_from(count) else {
            let message = format!("{at}.limits.steps must be at most {} (got {count})", u32::MAX);
            return Err(self.error(steps.position, message));
        };
        if count > PRODUCTION_MAX_STEPS {
            let message = format!("{at}.limits.steps {count} exceeds the production maximum of {PRODUCTION_MAX_STEPS}");
            self.warn(steps.position, message);
        }
        Ok(WorkflowLimits { steps: Some(steps_u32) })
    }

    /// `default_retention: { success_retention?, error_retention? }`, each a string like
    /// `"3 days"` or a whole number of milliseconds, as wrangler takes them; longer than
    /// production allows is capped, with a warning.
    fn retention(&mut self, at: &str, retention: &RawValue) -> Result<Retention, ConfigError> {
        let RawKind::Table(fields) = &retention.kind else {
            return Err(self.wrong_type(retention, &format!("{at}.default_retention"), "an object"));
        };
        const FIELDS: [&str; 2] = ["success_retention", "error_retention"];
        if let Some(field) = fields.iter().find(|f| !FIELDS.contains(&f.key.as_str())) {
            let message = format!(
                "unexpected field {:?} in {at}.default_retention (only \"success_retention\" and \"error_retention\" are allowed)",
                field.key
            );
            return Err(self.error(field.key_position, message));
        }
        let mut durations = [None, None];
        for (slot, field) in durations.iter_mut().zip(FIELDS) {
            let Some(value) = retention.entry(field).map(|e| &e.value) else { continue };
            let ms = match &value.kind {
                RawKind::String(text) => Retention::parse_text(text),
                _ => whole_number(value),
            };
            let Some(ms) = ms else {
                let message = format!(
                    "{at}.default_retention.{field} must be a duration like \"3 days\" (second, minute, hour, day, week, month or year) or a whole number of milliseconds"
                );
                return Err(self.error(value.position, message));
            };
            if ms > Retention::MAX_MS as u64 {
                let message = format!(
                    "{at}.default_retention.{field} is over production's maximum of 30 days; it is capped to 30 days"
                );
                self.warn(value.position, message);
            }
            *slot = Some(ms);
        }
        Ok(Retention::capped_from(durations[0], durations[1]))
    }

    /// `concurrency: { limit }`, a positive integer as wrangler checks it; production enforces an
    /// upper bound wrangler does not know, so none is checked here.
    fn concurrency(&mut self, at: &str, concurrency: &RawValue) -> Result<Option<u32>, ConfigError> {
        let RawKind::Table(fields) = &concurrency.kind else {
            return Err(self.wrong_type(concurrency, &format!("{at}.concurrency"), "an object"));
        };
        if let Some(field) = fields.iter().find(|f| f.key != "limit") {
            let message = format!("unexpected field {:?} in {at}.concurrency (only \"limit\" is allowed)", field.key);
            return Err(self.error(field.key_position, message));
        }
        let Some(limit) = concurrency.entry("limit").map(|e| &e.value) else {
            return Ok(None);
        };
        let Some(count) = whole_number(limit).filter(|&n| n >= 1) else {
            let got = match &limit.kind {
                RawKind::Number(n) => n.to_string(),
                _ => limit.type_name().to_string(),
            };
            let message = format!("{at}.concurrency.limit must be a positive integer (got {got})");
            return Err(self.error(limit.position, message));
        };
        match u32::try_from(count) {
            Ok(count) => Ok(Some(count)),
            Err(_) => {
                let message = format!("{at}.concurrency.limit must be at most {} (got {count})", u32::MAX);
                Err(self.error(limit.position, message))
            }
        }
    }

    /// The Worker's own `limits`: `cpu_ms` bounds every invocation; `subrequests` is checked
    /// and not enforced.
    fn worker_limits(&mut self, root: &RawValue) -> Result<Option<u64>, ConfigError> {
        let Some(entry) = root.entry("limits") else {
            return Ok(None);
        };
        let RawKind::Table(fields) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, "limits", "an object"));
        };
        for field in fields.iter().filter(|f| !WORKER_LIMIT_FIELDS.contains(&f.key.as_str())) {
            self.warn(field.key_position, format!("unexpected field {:?} in limits", field.key));
        }
        self.integer(&entry.value, "limits", "subrequests", 1, u64::from(u32::MAX))?;
        let cpu_ms = self.integer(&entry.value, "limits", "cpu_ms", 1, u64::from(u32::MAX))?;
        if let Some(cpu_ms) = cpu_ms.filter(|&ms| ms > PRODUCTION_MAX_CPU_MS) {
            let position = entry.value.entry("cpu_ms").map_or(entry.value.position, |e| e.value.position);
            let message = format!("limits.cpu_ms {cpu_ms} exceeds the production maximum of {PRODUCTION_MAX_CPU_MS}");
            self.warn(position, message);
        }
        Ok(cpu_ms)
    }

    fn schedules(&self, at: &str, schedules: &RawValue) -> Result<Vec<CronExpression>, ConfigError> {
        let items = match &schedules.kind {
            RawKind::String(s) if !s.is_empty() => return Ok(vec![self.cron(schedules, &format!("{at}.schedules"))?]),
            RawKind::Array(items) if !items.is_empty() => items,
            _ => {
                let expected = "a non-empty string or a non-empty array of strings";
                return Err(self.wrong_type(schedules, &format!("{at}.schedules"), expected));
            }
        };
        let schedule = |(i, item): (usize, &RawValue)| self.cron(item, &format!("{at}.schedules[{i}]"));
        items.iter().enumerate().map(schedule).collect()
    }

    /// `triggers.crons`: the Worker's cron triggers. Other triggers are not run locally.
    fn crons(&mut self, root: &RawValue) -> Result<Vec<CronExpression>, ConfigError> {
        let Some(entry) = root.entry("triggers") else {
            return Ok(Vec::new());
        };
        let RawKind::Table(fields) = &entry.value.kind else {
            return Err(self.wrong_type(&entry.value, "triggers", "an object"));
        };
        for field in fields.iter().filter(|f| f.key != "crons") {
            self.warn(field.key_position, format!("unexpected field {:?} in triggers", field.key));
        }
        let Some(crons) = entry.value.entry("crons") else {
            return Ok(Vec::new());
        };
        let RawKind::Array(items) = &crons.value.kind else {
            return Err(self.wrong_type(&crons.value, "triggers.crons", "an array of strings"));
        };
        items.iter().enumerate().map(|(i, item)| self.cron(item, &format!("triggers.crons[{i}]"))).collect()
    }

    /// One cron expression, checked against Cloudflare's syntax.
    fn cron(&self, item: &RawValue, label: &str) -> Result<CronExpression, ConfigError> {
        let RawKind::String(text) = &item.kind else {
            return Err(self.wrong_type(item, label, "a non-empty string"));
        };
        if text.is_empty() {
            return Err(self.wrong_type(item, label, "a non-empty string"));
        }
        CronExpression::parse(text)
            .map_err(|e| self.error(item.position, format!("{label} {text:?} is not a valid cron expression: {e}")))
    }
}

/// The value as a whole number `>= 0`, if it is one. JavaScript has no integer type, so `5.0`
/// counts as the integer 5.
pub(super) fn whole_number(value: &RawValue) -> Option<u64> {
    match &value.kind {
        RawKind::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        }
        _ => None,
    }
}

/// `^[A-Za-z_$][A-Za-z0-9_$]*$`: bindings and class names become JavaScript names.
fn is_js_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`, the workflow name rule.
fn is_workflow_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
