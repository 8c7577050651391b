//! `schema/wrangler-workflows.schema.json`, the JSON Schema of the config subset stepflare reads:
//! every fixture's config is valid under it, and on a table of configs it agrees with
//! stepflare's own validation.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const SCHEMA: &str = "schema/wrangler-workflows.schema.json";

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SCHEMA} is not JSON: {e}"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{SCHEMA} does not compile: {e}"))
}

/// A config file as the JSON value an editor validates (TOML converted as wrangler reads it).
fn config_as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|ext| ext == "toml") {
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    } else {
        jsonc_parser::parse_to_serde_value::<Value>(&text, &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn fixture_configs(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() && name != "node_modules" && !name.starts_with('.') {
            fixture_configs(&path, found);
        } else if stepflare::config::CONFIG_FILE_NAMES.contains(&name) {
            found.push(path);
        }
    }
}

#[test]
fn every_fixture_config_is_valid_under_the_schema() {
    let validator = validator();
    let mut configs = Vec::new();
    fixture_configs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"), &mut configs);
    assert!(configs.len() >= 8, "found only {configs:?}");
    for path in configs {
        let config = config_as_json(&path);
        let errors: Vec<String> =
            validator.iter_errors(&config).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{}:\n{}", path.display(), errors.join("\n"));
    }
}

/// Configs both judges must agree on. The schema is stricter in one way only: it refuses
/// unknown fields in a workflow or queue entry, which stepflare (like wrangler) only warns about.
fn cases() -> Vec<(&'static str, Value)> {
    let workflow = |extra: Value| {
        let mut entry = json!({ "binding": "FLOW", "name": "flow", "class_name": "Flow" });
        entry.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "main": "index.js", "workflows": [entry] })
    };
    let queues = |queues: Value| json!({ "main": "index.js", "queues": queues });
    vec![
        ("a minimal workflow", workflow(json!({}))),
        ("a schedule as a string", workflow(json!({ "schedules": "0 * * * *" }))),
        ("schedules as an array", workflow(json!({ "schedules": ["0 * * * *", "*/15 * * * MON-FRI"] }))),
        ("limits", workflow(json!({ "limits": { "steps": 25 } }))),
        ("a binding that is not an identifier", workflow(json!({ "binding": "my-flow" }))),
        ("a name with a space", workflow(json!({ "name": "my flow" }))),
        ("a name of 65 characters", workflow(json!({ "name": "n".repeat(65) }))),
        ("an empty schedules array", workflow(json!({ "schedules": [] }))),
        ("an empty schedule", workflow(json!({ "schedules": "" }))),
        ("zero steps", workflow(json!({ "limits": { "steps": 0 } }))),
        ("an unknown limit", workflow(json!({ "limits": { "cpu_ms": 5 } }))),
        (
            "a default retention",
            workflow(json!({ "default_retention": { "success_retention": "3 days", "error_retention": 60000 } })),
        ),
        (
            "a retention of 3 fortnights",
            workflow(json!({ "default_retention": { "success_retention": "3 fortnights" } })),
        ),
        ("a negative retention", workflow(json!({ "default_retention": { "error_retention": -1 } }))),
        ("an unknown retention field", workflow(json!({ "default_retention": { "success": 1 } }))),
        (
            "a retention on another script's workflow",
            workflow(json!({ "script_name": "other", "default_retention": {} })),
        ),
        (
            "a workflow export",
            json!({ "main": "index.js", "exports": { "Flow": { "type": "workflow", "name": "flow", "limits": { "steps": 3 } } } }),
        ),
        ("an export without a name", json!({ "main": "index.js", "exports": { "Flow": { "type": "workflow" } } })),
        (
            "an export with a bad name",
            json!({ "main": "index.js", "exports": { "Flow": { "type": "workflow", "name": "a b" } } }),
        ),
        (
            "an export key that is no class name",
            json!({ "main": "index.js", "exports": { "my-flow": { "type": "workflow", "name": "f" } } }),
        ),
        (
            "an export of another type",
            json!({ "main": "index.js", "exports": { "Counter": { "type": "durable_object" } } }),
        ),
        ("a concurrency limit", workflow(json!({ "concurrency": { "limit": 2 } }))),
        ("a concurrency limit of 0", workflow(json!({ "concurrency": { "limit": 0 } }))),
        ("a fractional concurrency limit", workflow(json!({ "concurrency": { "limit": 1.5 } }))),
        ("an unknown concurrency field", workflow(json!({ "concurrency": { "max": 2 } }))),
        (
            "concurrency on another script's workflow",
            workflow(json!({ "script_name": "other", "concurrency": { "limit": 2 } })),
        ),
        (
            "schedules on another script's workflow",
            workflow(json!({ "script_name": "other", "schedules": "0 * * * *" })),
        ),
        ("limits on another script's workflow", workflow(json!({ "script_name": "other", "limits": { "steps": 2 } }))),
        ("a missing class_name", json!({ "main": "index.js", "workflows": [{ "binding": "A", "name": "a" }] })),
        (
            "queues",
            queues(json!({
                "producers": [{ "binding": "JOBS", "queue": "jobs", "delivery_delay": 5 }],
                "consumers": [{ "queue": "jobs", "max_batch_size": 100, "max_batch_timeout": 0, "dead_letter_queue": "dlq" }],
            })),
        ),
        ("a producer without a queue", queues(json!({ "producers": [{ "binding": "JOBS" }] }))),
        ("a batch size of 0", queues(json!({ "consumers": [{ "queue": "jobs", "max_batch_size": 0 }] }))),
        ("a batch timeout of 61", queues(json!({ "consumers": [{ "queue": "jobs", "max_batch_timeout": 61 }] }))),
        ("a queue name with a space", queues(json!({ "consumers": [{ "queue": "my jobs" }] }))),
        ("a consumer type that does not exist", queues(json!({ "consumers": [{ "queue": "q", "type": "push" }] }))),
        ("vars that are not an object", json!({ "vars": [1] })),
        ("a schedule of four fields", workflow(json!({ "schedules": "* * * *" }))),
        ("cron triggers", json!({ "main": "index.js", "triggers": { "crons": ["*/5 * * * *", "0 18 * * 6L"] } })),
        ("a cron trigger of six fields", json!({ "main": "index.js", "triggers": { "crons": ["0 * * * * *"] } })),
    ]
}

#[test]
fn the_schema_and_stepflare_agree_on_what_is_valid() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrangler.json");
    for (what, config) in cases() {
        std::fs::write(&path, config.to_string()).unwrap();
        let stepflare_says = stepflare::config::load(&path).map(|_| ()).map_err(|e| e.to_string());
        let schema_says = validator.validate(&config).map_err(|e| e.to_string());
        assert_eq!(
            stepflare_says.is_ok(),
            schema_says.is_ok(),
            "{what}: stepflare says {stepflare_says:?}, the schema says {schema_says:?}\n{config:#}"
        );
    }
}
