//! `--env <name>`: the config's `env.<name>` section over its top level, as wrangler reads it.
//! Inheritable keys (`main`, `compatibility_date`, limits, triggers, …) come from the section
//! when it sets them, else from the top level; bindings and `vars` are not inherited: only the
//! section's count. The Worker's `name` becomes `<name>-<env>` unless the section names it.
//! The section's values keep their own positions, so errors in them point into the section.

use std::path::Path;

use super::location::Position;
use super::raw::{RawEntry, RawKind, RawValue};
use super::{ConfigError, SourceLocation};

/// Keys an environment does not inherit from the top level (wrangler's non-inheritable keys).
const NOT_INHERITED: [&str; 25] = [
    "vars",
    "define",
    "durable_objects",
    "kv_namespaces",
    "r2_buckets",
    "d1_databases",
    "services",
    "queues",
    "workflows",
    "exports",
    "analytics_engine_datasets",
    "vectorize",
    "hyperdrive",
    "ai",
    "browser",
    "send_email",
    "mtls_certificates",
    "dispatch_namespaces",
    "pipelines",
    "secrets_store_secrets",
    "ratelimits",
    "images",
    "version_metadata",
    "tail_consumers",
    "secrets",
];

pub(super) fn select(path: &Path, root: RawValue, env: &str) -> Result<RawValue, ConfigError> {
    let RawKind::Table(entries) = root.kind else {
        return Ok(root);
    };
    let error = |position: Position, message: String| ConfigError::Invalid {
        location: SourceLocation::new(path, position),
        message,
    };
    let sections = entries.iter().find(|entry| entry.key == "env");
    let section = sections.and_then(|entry| match &entry.value.kind {
        RawKind::Table(named) => named.iter().rev().find(|named| named.key == env),
        _ => None,
    });
    let Some(section) = section else {
        let known: Vec<&str> = match sections.map(|entry| &entry.value.kind) {
            Some(RawKind::Table(named)) => named.iter().map(|named| named.key.as_str()).collect(),
            _ => Vec::new(),
        };
        let known = if known.is_empty() { "it has none".to_owned() } else { format!("it has {}", known.join(", ")) };
        return Err(error(Position::START, format!("no environment {env:?} in env ({known})")));
    };
    let RawKind::Table(overrides) = &section.value.kind else {
        return Err(error(
            section.value.position,
            format!("env.{env} must be an object (got {})", section.value.type_name()),
        ));
    };
    let mut merged: Vec<RawEntry> = entries
        .iter()
        .filter(|entry| entry.key != "env" && !NOT_INHERITED.contains(&entry.key.as_str()))
        .cloned()
        .collect();
    if !overrides.iter().any(|entry| entry.key == "name")
        && let Some(name) = merged.iter_mut().find(|entry| entry.key == "name")
        && let RawKind::String(top) = &name.value.kind
    {
        name.value.kind = RawKind::String(format!("{top}-{env}"));
    }
    for entry in overrides {
        merged.retain(|kept| kept.key != entry.key);
        merged.push(entry.clone());
    }
    Ok(RawValue { position: root.position, kind: RawKind::Table(merged) })
}
