//! Tests for config discovery, both file formats and every validation rule.

use std::path::{Path, PathBuf};

use super::*;

fn jsonc(text: &str) -> Result<ProjectConfig, ConfigError> {
    parse(Path::new("/x/wrangler.jsonc"), text)
}

fn toml(text: &str) -> Result<ProjectConfig, ConfigError> {
    parse(Path::new("/x/wrangler.toml"), text)
}

/// Asserts the whole error text: the file, then `line:col`, then `message`.
#[track_caller]
fn assert_error(result: Result<ProjectConfig, ConfigError>, at: &str, message: &str) {
    let error = result.expect_err("expected an error");
    let path = error.location().expect("a located error").path.display();
    assert_eq!(error.to_string(), format!("{path}:{at}: {message}"));
}

/// Runs a table of `input | line:col | message` cases through `parse`.
#[track_caller]
fn assert_error_cases(parse: fn(&str) -> Result<ProjectConfig, ConfigError>, cases: &[&str]) {
    for case in cases {
        let [input, at, message] = case.split(" | ").collect::<Vec<_>>()[..] else {
            panic!("malformed case {case}");
        };
        assert_error(parse(input), at, message);
    }
}

/// One workflow entry with `fields` in an otherwise valid JSONC config: the
/// entry's `{` is at 3:17 and `fields` start at 4:5.
fn jsonc_workflow(fields: &str) -> Result<ProjectConfig, ConfigError> {
    jsonc(&format!("{{\n  \"main\": \"index.ts\",\n  \"workflows\": [{{\n    {fields}\n  }}]\n}}"))
}

/// Valid workflow fields, 46 characters long: extra fields start at 4:53.
const FIELDS: &str = r#""binding": "B", "name": "n", "class_name": "C""#;

#[test]
fn valid_jsonc_with_comments_and_trailing_commas() {
    let text = r#"{
  // the worker
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "my-worker", /* block comment */
  "main": "./src/../src/index.ts",
  "compatibility_date": "2025-01-01",
  "compatibility_flags": ["nodejs_compat"],
  "triggers": { "crons": [] },
  "vars": { "A": "x", "N": 5, "F": 1.5, "O": { "k": [true, null] }, "BIG": 1e400, },
  "workflows": [
    { "binding": "MY_WF", "name": "my-wf", "class_name": "MyWorkflow",
      "limits": { "steps": 100 }, "schedules": "0 * * * *", },
    { "binding": "$other", "name": "_other", "class_name": "Other",
      "script_name": "other-worker" },
    { "binding": "C", "name": "c", "class_name": "C", "schedules": ["59 23 LW * *", "0 18 * * friL"],
      "limits": { "steps": 5.0 } },
  ],
}"#;
    let config = jsonc(text).unwrap();
    assert_eq!(config.path, PathBuf::from("/x/wrangler.jsonc"));
    assert_eq!(config.root, PathBuf::from("/x"));
    assert_eq!(config.name.as_deref(), Some("my-worker"));
    assert_eq!(config.main, Some(PathBuf::from("/x/src/index.ts")));
    assert_eq!(config.compatibility_date.as_deref(), Some("2025-01-01"));
    let vars = serde_json::json!({ "A": "x", "N": 5, "F": 1.5, "O": { "k": [true, null] }, "BIG": null });
    assert_eq!(serde_json::Value::Object(config.vars), vars);
    assert!(config.warnings.is_empty());
    let [first, second, third] = &config.workflows[..] else {
        panic!("expected three workflows");
    };
    let names = (first.binding.as_deref().unwrap(), first.name.as_str(), first.class_name.as_str());
    assert_eq!(names, ("MY_WF", "my-wf", "MyWorkflow"));
    assert_eq!(first.limits.steps, Some(100));
    assert_eq!(first.schedules, vec!["0 * * * *"]);
    assert_eq!(first.script_name, None);
    assert_eq!(first.location.to_string(), "/x/wrangler.jsonc:11:5");
    assert_eq!(second.script_name.as_deref(), Some("other-worker"));
    assert_eq!(second.limits, WorkflowLimits::default());
    assert!(second.schedules.is_empty());
    assert_eq!((second.location.line, second.location.column), (13, 5));
    assert_eq!(third.schedules, vec!["59 23 LW * *", "0 18 * * friL"]);
    assert!(config.crons.is_empty());
    assert_eq!(third.limits.steps, Some(5));
}

#[test]
fn valid_toml_with_vars_converted_to_json() {
    let text = r#"name = "my-worker"
main = "src/index.ts"
compatibility_date = "2025-01-01"
compatibility_flags = ["nodejs_compat"]

[vars]
S = "x"
I = 0x10
F = 2.5
B = true
D = 1979-05-27T07:32:00Z
A = [1, "two"]
T = { k = "v" }
INF = inf

[[workflows]]
binding = "MY_WF"
name = "my-wf"
class_name = "MyWorkflow"
schedules = ["0 * * * *", "*/5 * * * *"]
limits = { steps = 30_000 }

[[workflows]]
binding = "OTHER"
name = "other"
class_name = "Other"
script_name = "other-worker"

[workflows.limits]
"#;
    let error = toml(text).expect_err("limits beside script_name");
    assert_eq!(error.location().map(|l| (l.line, l.column)), Some((29, 1)));

    let config = toml(text.trim_end_matches("[workflows.limits]\n")).unwrap();
    assert_eq!(config.main, Some(PathBuf::from("/x/src/index.ts")));
    assert_eq!(config.compatibility_date.as_deref(), Some("2025-01-01"));
    let vars = serde_json::json!({
        "S": "x", "I": 16, "F": 2.5, "B": true, "D": "1979-05-27T07:32:00Z",
        "A": [1, "two"], "T": { "k": "v" }, "INF": null,
    });
    assert_eq!(serde_json::Value::Object(config.vars), vars);
    let [first, second] = &config.workflows[..] else {
        panic!("expected two workflows");
    };
    assert_eq!(first.schedules, vec!["0 * * * *", "*/5 * * * *"]);
    assert_eq!(first.limits.steps, Some(30_000));
    assert_eq!(first.location.to_string(), "/x/wrangler.toml:16:1");
    assert_eq!(second.script_name.as_deref(), Some("other-worker"));
    assert_eq!((second.location.line, second.location.column), (23, 1));
    let [warning] = &config.warnings[..] else {
        panic!("expected one warning");
    };
    assert_eq!(
        warning.to_string(),
        "/x/wrangler.toml:21:20: warning: workflows[0].limits.steps 30000 exceeds the production maximum of 25000"
    );
}

#[test]
fn toml_inline_workflows_and_limits_table() {
    let text = "main = \"i.ts\"\nworkflows = [\n  { binding = \"W\", name = \"w\", class_name = \"W\", schedules = \"0 0 * * *\" },\n]\n";
    let config = toml(text).unwrap();
    assert_eq!(config.workflows[0].schedules, vec!["0 0 * * *"]);
    assert_eq!(config.workflows[0].location.to_string(), "/x/wrangler.toml:3:3");
    let text = "main = \"i.ts\"\n[[workflows]]\nbinding = \"B\"\nname = \"n\"\nclass_name = \"C\"\n[workflows.limits]\nsteps = 0\n";
    let message = "workflows[0].limits.steps must be an integer >= 1 (got 0)";
    assert_error(toml(text), "7:9", message);
}

#[test]
fn spec_example_error_location() {
    let text = "{\n  \"name\": \"w\",\n  \"main\": \"src/index.ts\",\n  \"workflows\": [\n    {\n      \"binding\": \"WF\",\n      \"name\": \"my wf\",\n      \"class_name\": \"W\"\n    }\n  ]\n}";
    assert_eq!(
        jsonc(text).unwrap_err().to_string(),
        r#"/x/wrangler.jsonc:7:15: workflows[0].name must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (got "my wf")"#
    );
}

#[test]
fn syntax_errors_carry_the_parser_location() {
    let cases = [
        (jsonc("{\n  \"a\": 1\n  \"b\": 2\n}"), (2, 9)),
        (jsonc("{\n  'a': 1\n}"), (2, 3)),
        (jsonc(""), (1, 1)),
        (toml("name = \"w\"\nmain = \n"), (2, 8)),
        (toml("a = 1\na = 2\n"), (2, 1)),
    ];
    for (result, (line, column)) in cases {
        let Err(ConfigError::Syntax { location, .. }) = result else {
            panic!("expected a syntax error, got {result:?}");
        };
        assert_eq!((location.line, location.column), (line, column));
    }
    assert!(toml("").unwrap().workflows.is_empty());
}

#[test]
fn wrong_types_on_top_level_keys() {
    assert_error_cases(
        jsonc,
        &[
            r#"[1] | 1:1 | the top level must be an object (got an array)"#,
            r#"{ "main": 3 } | 1:11 | main must be a string (got a number)"#,
            r#"{ "main": "" } | 1:11 | main must not be empty"#,
            r#"{ "name": true } | 1:11 | name must be a string (got a boolean)"#,
            r#"{ "vars": [1] } | 1:11 | vars must be an object (got an array)"#,
            r#"{ "workflows": {} } | 1:16 | workflows must be an array (got an object)"#,
            r#"{ "name": "é✓", "main": 3 } | 1:25 | main must be a string (got a number)"#,
        ],
    );
    assert_error_cases(
        toml,
        &[
            "compatibility_date = 2025-01-01 | 1:22 | compatibility_date must be a string (got a date-time)",
            "\n\nworkflows = [\"x\"] | 3:14 | workflows[0] must be an object (got a string)",
        ],
    );
}

#[test]
fn workflow_field_rules() {
    assert_error_cases(
        jsonc_workflow,
        &[
            r#""name": "n", "class_name": "C" | 3:17 | workflows[0] is missing required field "binding""#,
            r#""binding": "B", "class_name": "C" | 3:17 | workflows[0] is missing required field "name""#,
            r#""binding": "B", "name": "n" | 3:17 | workflows[0] is missing required field "class_name""#,
            r#""binding": 7 | 4:16 | workflows[0].binding must be a string (got a number)"#,
            r#""binding": "1B" | 4:16 | workflows[0].binding must be a valid JavaScript identifier matching ^[A-Za-z_$][A-Za-z0-9_$]*$ (got "1B")"#,
            r#""binding": "B", "name": "n", "class_name": "My-Class" | 4:48 | workflows[0].class_name must be a valid JavaScript identifier matching ^[A-Za-z_$][A-Za-z0-9_$]*$ (got "My-Class")"#,
            r#""binding": "B", "name": "" | 4:29 | workflows[0].name must be 1 to 64 characters long (got 0)"#,
            r#""binding": "B", "name": "-n" | 4:29 | workflows[0].name must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (got "-n")"#,
            r#""binding": "B", "name": "n", "class_name": "C", "script_name": 1 | 4:68 | workflows[0].script_name must be a string (got a number)"#,
        ],
    );
    let long = "n".repeat(64);
    let fields = format!(r#""binding": "B", "name": "{long}", "class_name": "C""#);
    assert!(jsonc_workflow(&fields).is_ok());
    let message = "workflows[0].name must be 1 to 64 characters long (got 65)";
    assert_error(jsonc_workflow(&fields.replace(&long, &format!("{long}x"))), "4:29", message);
}

#[test]
fn concurrency_rules() {
    let with_concurrency = |value: &str| jsonc_workflow(&format!("{FIELDS}, \"concurrency\": {value}"));
    assert_error_cases(
        with_concurrency,
        &[
            r#"5 | 4:68 | workflows[0].concurrency must be an object (got a number)"#,
            r#"{ "limit": 1, "max": 5 } | 4:82 | unexpected field "max" in workflows[0].concurrency (only "limit" is allowed)"#,
            r#"{ "limit": 0 } | 4:79 | workflows[0].concurrency.limit must be a positive integer (got 0)"#,
            r#"{ "limit": 1.5 } | 4:79 | workflows[0].concurrency.limit must be a positive integer (got 1.5)"#,
            r#"{ "limit": "2" } | 4:79 | workflows[0].concurrency.limit must be a positive integer (got a string)"#,
            r#"{ "limit": 4294967296 } | 4:79 | workflows[0].concurrency.limit must be at most 4294967295 (got 4294967296)"#,
        ],
    );
    let valid = |value: &str| with_concurrency(value).unwrap().workflows[0].concurrency_limit;
    assert_eq!(valid("{}"), None);
    assert_eq!(valid(r#"{ "limit": 2 }"#), Some(2));
    assert_eq!(valid(r#"{ "limit": 10.0 }"#), Some(10));
    let toml_text = "main = \"i.ts\"\n[[workflows]]\nbinding = \"B\"\nname = \"n\"\nclass_name = \"C\"\n[workflows.concurrency]\nlimit = 3\n";
    assert_eq!(toml(toml_text).unwrap().workflows[0].concurrency_limit, Some(3));
}

#[test]
fn default_retention_rules() {
    let with_retention = |value: &str| jsonc_workflow(&format!("{FIELDS}, \"default_retention\": {value}"));
    assert_error_cases(
        with_retention,
        &[
            r#"5 | 4:74 | workflows[0].default_retention must be an object (got a number)"#,
            r#"{ "success": 1 } | 4:76 | unexpected field "success" in workflows[0].default_retention (only "success_retention" and "error_retention" are allowed)"#,
            r#"{ "success_retention": "3 fortnights" } | 4:97 | workflows[0].default_retention.success_retention must be a duration like "3 days" (second, minute, hour, day, week, month or year) or a whole number of milliseconds"#,
            r#"{ "error_retention": -1 } | 4:95 | workflows[0].default_retention.error_retention must be a duration like "3 days" (second, minute, hour, day, week, month or year) or a whole number of milliseconds"#,
        ],
    );
    let valid = |value: &str| with_retention(value).unwrap();
    assert_eq!(valid("{}").workflows[0].default_retention, Retention::default());
    let config = valid(r#"{ "success_retention": "3 days", "error_retention": 60000 }"#);
    assert_eq!(
        config.workflows[0].default_retention,
        Retention { success_ms: Some(259_200_000), error_ms: Some(60_000) }
    );
    assert!(config.warnings.is_empty());
    let config = valid(r#"{ "error_retention": "1 year" }"#);
    assert_eq!(config.workflows[0].default_retention.error_ms, Some(Retention::MAX_MS), "capped");
    assert!(config.warnings[0].message.contains("capped to 30 days"), "{:?}", config.warnings);
}

#[test]
fn exports_declare_workflows_without_a_binding() {
    let config = jsonc(
        r#"{ "main": "i.ts",
  "workflows": [{ "binding": "SHARED", "name": "shared", "class_name": "Shared", "limits": { "steps": 5 } }],
  "exports": {
    "Billing": { "type": "workflow", "name": "billing", "schedules": "0 * * * *", "concurrency": { "limit": 2 } },
    "Shared": { "type": "workflow", "name": "shared", "default_retention": { "success_retention": "1 day" } },
    "Counter": { "type": "durable_object" }
  } }"#,
    )
    .unwrap();
    let [shared, billing] = &config.workflows[..] else { panic!("{:?}", config.workflows) };
    assert_eq!((shared.binding.as_deref(), shared.exported, shared.limits.steps), (Some("SHARED"), true, Some(5)));
    assert_eq!(shared.default_retention.success_ms, Some(86_400_000), "the export's settings join the binding's");
    assert_eq!((billing.binding.as_deref(), billing.exported, billing.class_name.as_str()), (None, true, "Billing"));
    assert_eq!((billing.schedules.len(), billing.concurrency_limit), (1, Some(2)));
    assert!(config.warnings[0].message.contains("not emulated"), "{:?}", config.warnings);

    let with = |exports: &str| {
        jsonc(&format!(
            r#"{{ "main": "i.ts", "workflows": [{{ "binding": "B", "name": "n", "class_name": "C", "limits": {{ "steps": 5 }} }}],
  "exports": {exports} }}"#
        ))
    };
    let message = |exports: &str| with(exports).unwrap_err().to_string();
    assert!(
        message(r#"{ "D": { "type": "workflow", "name": "n" } }"#)
            .contains("with class D, but its binding uses class C")
    );
    assert!(
        message(r#"{ "C": { "type": "workflow", "name": "n", "limits": { "steps": 6 } } }"#).contains("limits differs")
    );
    assert!(message(r#"{ "C": { "name": "n" } }"#).contains("missing required field \"type\""));
    assert!(message(r#"{ "C": { "type": "workflow", "name": "bad name" } }"#).contains("exports.C.name must be"));
    assert!(message(r#"{ "my-class": { "type": "workflow", "name": "x" } }"#).contains("a JavaScript identifier"));
    assert!(
        with(r#"{ "C": { "type": "workflow", "name": "n", "limits": { "steps": 5 } } }"#).is_ok(),
        "the same value twice"
    );
}

#[test]
fn an_environment_overrides_inheritable_keys_and_brings_its_own_bindings() {
    let text = r#"{
  "name": "app",
  "main": "src/index.ts",
  "compatibility_date": "2026-10-01",
  "vars": { "MODE": "top" },
  "workflows": [{ "binding": "W", "name": "top-flow", "class_name": "Flow" }],
  "env": {
    "staging": {
      "vars": { "MODE": "staging" },
      "workflows": [{ "binding": "W", "name": "staging-flow", "class_name": "Flow" }]
    },
    "bare": { "compatibility_date": "2026-11-01" },
    "named": { "name": "custom", "workflows": [{ "binding": "W", "name": "bad name", "class_name": "Flow" }] }
  }
}"#;
    let path = Path::new("/x/wrangler.jsonc");
    let top = parse_env(path, text, None).unwrap();
    assert_eq!((top.name.as_deref(), top.workflows[0].name.as_str()), (Some("app"), "top-flow"));
    let staging = parse_env(path, text, Some("staging")).unwrap();
    assert_eq!(staging.name.as_deref(), Some("app-staging"));
    assert_eq!(staging.workflows[0].name, "staging-flow");
    assert_eq!(staging.vars["MODE"], "staging");
    assert_eq!(staging.main.as_deref(), Some(Path::new("/x/src/index.ts")), "main is inherited");
    let bare = parse_env(path, text, Some("bare")).unwrap();
    assert!(bare.workflows.is_empty() && bare.vars.is_empty(), "bindings and vars are not inherited");
    assert_eq!(bare.compatibility_date.as_deref(), Some("2026-11-01"));
    let error = parse_env(path, text, Some("named")).unwrap_err().to_string();
    assert!(error.starts_with("/x/wrangler.jsonc:13:74:"), "the error points into the section: {error}");
    let error = parse_env(path, text, Some("prod")).unwrap_err().to_string();
    assert!(error.contains(r#"no environment "prod" in env (it has staging, bare, named)"#), "{error}");
}

#[test]
fn limits_rules() {
    let with_limits = |limits: &str| jsonc_workflow(&format!("{FIELDS}, \"limits\": {limits}"));
    assert_error_cases(
        with_limits,
        &[
            r#"5 | 4:63 | workflows[0].limits must be an object (got a number)"#,
            r#"{ "steps": 1, "cpu_ms": 5 } | 4:77 | unexpected field "cpu_ms" in workflows[0].limits (only "steps" is allowed)"#,
            r#"{ "steps": 0 } | 4:74 | workflows[0].limits.steps must be an integer >= 1 (got 0)"#,
            r#"{ "steps": -3 } | 4:74 | workflows[0].limits.steps must be an integer >= 1 (got -3)"#,
            r#"{ "steps": 2.5 } | 4:74 | workflows[0].limits.steps must be an integer >= 1 (got 2.5)"#,
            r#"{ "steps": "5" } | 4:74 | workflows[0].limits.steps must be an integer >= 1 (got a string)"#,
            r#"{ "steps": 4294967296 } | 4:74 | workflows[0].limits.steps must be at most 4294967295 (got 4294967296)"#,
        ],
    );
    let valid = |limits: &str| with_limits(limits).unwrap();
    assert_eq!(valid("{}").workflows[0].limits.steps, None);
    assert!(valid(r#"{ "steps": 25000 }"#).warnings.is_empty());
    let config = valid(r#"{ "steps": 25001 }"#);
    assert_eq!(config.workflows[0].limits.steps, Some(25_001));
    assert_eq!(
        config.warnings[0].to_string(),
        "/x/wrangler.jsonc:4:74: warning: workflows[0].limits.steps 25001 exceeds the production maximum of 25000"
    );
}

#[test]
fn schedules_rules() {
    assert_error_cases(
        |schedules| jsonc_workflow(&format!("{FIELDS}, \"schedules\": {schedules}")),
        &[
            r#""" | 4:66 | workflows[0].schedules must be a non-empty string or a non-empty array of strings (got an empty string)"#,
            r#"[] | 4:66 | workflows[0].schedules must be a non-empty string or a non-empty array of strings (got an empty array)"#,
            r#"{} | 4:66 | workflows[0].schedules must be a non-empty string or a non-empty array of strings (got an object)"#,
            r#"["* * * * *", 1] | 4:80 | workflows[0].schedules[1] must be a non-empty string (got a number)"#,
            r#"[""] | 4:67 | workflows[0].schedules[0] must be a non-empty string (got an empty string)"#,
        ],
    );
}

#[test]
fn cron_expressions_are_checked_where_they_are_written() {
    let with_schedules = |schedules: &str| jsonc_workflow(&format!("{FIELDS}, \"schedules\": {schedules}"));
    assert_error_cases(
        with_schedules,
        &[
            r#""@daily" | 4:66 | workflows[0].schedules "@daily" is not a valid cron expression: nicknames like @daily are not part of Cloudflare's cron syntax"#,
            r#"["* * * * *", "0 0 * * 0"] | 4:80 | workflows[0].schedules[1] "0 0 * * 0" is not a valid cron expression: day-of-week value "0" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"#,
            r#"["0 * * * * *"] | 4:67 | workflows[0].schedules[0] "0 * * * * *" is not a valid cron expression: expected 5 fields (minute hour day-of-month month day-of-week), found 6"#,
        ],
    );
    let config = with_schedules(r#"["10 7 * * mon-fri", "0 0 * * 2#1"]"#).unwrap();
    assert_eq!(config.workflows[0].schedules, vec!["10 7 * * mon-fri", "0 0 * * 2#1"]);

    let with_triggers = |triggers: &str| jsonc(&format!("{{\n  \"triggers\": {triggers}\n}}"));
    assert_error_cases(
        with_triggers,
        &[
            r#"[] | 2:15 | triggers must be an object (got an empty array)"#,
            r#"{ "crons": "* * * * *" } | 2:26 | triggers.crons must be an array of strings (got a string)"#,
            r#"{ "crons": ["* * * * *", 5] } | 2:40 | triggers.crons[1] must be a non-empty string (got a number)"#,
            r#"{ "crons": ["* * * * *", "0 0 31 2 *"] } | 2:40 | triggers.crons[1] "0 0 31 2 *" is not a valid cron expression: it never fires: no month has the day it names"#,
        ],
    );
    let config = with_triggers(r#"{ "crons": ["*/30 * * * *", "0 18 * * 6L"], "other": 1 }"#).unwrap();
    assert_eq!(config.crons, vec!["*/30 * * * *", "0 18 * * 6L"]);
    assert_eq!(
        config.warnings[0].to_string(),
        "/x/wrangler.jsonc:2:59: warning: unexpected field \"other\" in triggers"
    );

    let text = "[triggers]\ncrons = [\"0 0 * * *\",\n  \"0 0 * * 8\"]\n";
    let message = r#"triggers.crons[1] "0 0 * * 8" is not a valid cron expression: day-of-week value "8" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"#;
    assert_error(toml(text), "3:3", message);
    assert_eq!(toml("[triggers]\ncrons = [\"0 0 * * 7\"]\n").unwrap().crons, vec!["0 0 * * 7"]);
}

#[test]
fn worker_limits_rules() {
    // The value of `limits` starts at 1:33.
    let with_limits = |limits: &str| jsonc(&format!("{{ \"main\": \"index.ts\", \"limits\": {limits} }}"));
    assert_error_cases(
        with_limits,
        &[
            r#"[] | 1:33 | limits must be an object (got an empty array)"#,
            r#"{ "cpu_ms": "fast" } | 1:45 | limits.cpu_ms must be a whole number from 1 to 4294967295 (got a string)"#,
            r#"{ "cpu_ms": 0 } | 1:45 | limits.cpu_ms must be a whole number from 1 to 4294967295 (got 0)"#,
            r#"{ "cpu_ms": 2.5 } | 1:45 | limits.cpu_ms must be a whole number from 1 to 4294967295 (got 2.5)"#,
            r#"{ "subrequests": -1 } | 1:50 | limits.subrequests must be a whole number from 1 to 4294967295 (got -1)"#,
        ],
    );
    let valid = |limits: &str| with_limits(limits).unwrap();
    assert_eq!(valid("{}").cpu_limit(), DEFAULT_CPU_LIMIT);
    let config = valid(r#"{ "cpu_ms": 300000, "subrequests": 50 }"#);
    assert_eq!(config.cpu_limit(), std::time::Duration::from_secs(300));
    assert!(config.warnings.is_empty());
    let config = valid(r#"{ "cpu_ms": 300001, "extra": 1 }"#);
    assert_eq!(config.cpu_ms, Some(300_001));
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "/x/wrangler.jsonc:1:53: warning: unexpected field \"extra\" in limits",
            "/x/wrangler.jsonc:1:45: warning: limits.cpu_ms 300001 exceeds the production maximum of 300000",
        ]
    );
}

#[test]
fn script_name_excludes_limits_and_schedules() {
    let base = "[[workflows]]\nbinding = \"B\"\nname = \"n\"\nclass_name = \"C\"\nscript_name = \"o\"\n";
    let problem = "cannot be set on a workflow bound from another script (script_name)";
    let result = toml(&format!("{base}limits = {{ steps = 5 }}\n"));
    assert_error(result, "6:10", &format!("workflows[0].limits {problem}"));
    let result = toml(&format!("{base}schedules = \"0 0 * * *\"\n"));
    assert_error(result, "6:13", &format!("workflows[0].schedules {problem}"));
    // Every workflow lives in another script, so no local module is needed.
    let config = toml(base).unwrap();
    assert_eq!(config.main, None);
    assert_eq!(config.workflows[0].script_name.as_deref(), Some("o"));
}

#[test]
fn unknown_workflow_fields_only_warn() {
    let text = "main = \"i.ts\"\n[[workflows]]\nbinding = \"B\"\nname = \"n\"\nclass_name = \"C\"\nclassname = \"C\"\n";
    let config = toml(text).unwrap();
    assert_eq!(config.workflows.len(), 1);
    assert_eq!(
        config.warnings[0].to_string(),
        "/x/wrangler.toml:6:1: warning: unexpected field \"classname\" in workflows[0]"
    );
}

#[test]
fn duplicate_names_and_bindings_error_at_the_second() {
    let entry = |binding: &str, name: &str| {
        format!("[[workflows]]\nbinding = \"{binding}\"\nname = \"{name}\"\nclass_name = \"C\"\n")
    };
    let text = format!("main = \"i.ts\"\n{}{}", entry("A", "n"), entry("B", "n"));
    let message = r#"workflows[1].name "n" is already used by workflows[0]"#;
    assert_error(toml(&text), "8:8", message);
    let text = format!("main = \"i.ts\"\n{}{}", entry("A", "a"), entry("A", "b"));
    let message = r#"workflows[1].binding "A" is already used by workflows[0]"#;
    assert_error(toml(&text), "7:11", message);
}

#[test]
fn main_is_required_for_local_workflows() {
    let text = format!("{{ \"workflows\": [{{ {FIELDS} }}] }}");
    let message = "main is required: it names the module that exports the workflow and Durable Object classes";
    assert_error(jsonc(&text), "1:1", message);
    assert_eq!(toml("name = \"w\"\n").unwrap().main, None);
}

#[test]
fn no_panics_on_truncated_input() {
    let jsonc_text = "{ \"main\": \"é\", // c\n \"workflows\": [{ \"binding\": \"B\", \"name\": \"n\", \"class_name\": \"C\", \"limits\": { \"steps\": 3 } }] }";
    let toml_text = "main = \"é\"\n[vars]\nx = 1979-05-27\n[[workflows]]\nbinding = \"B\"\nname = \"n\"\nclass_name = \"C\"\nschedules = [\"0 0 * * 2#1\"]\n[triggers]\ncrons = [\"59 23 LW * *\"]\n";
    for text in [jsonc_text, toml_text] {
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = jsonc(&text[..end]);
            let _ = toml(&text[..end]);
        }
    }
}

/// A fresh directory under the system temp dir, unique to this process and test.
fn scratch_dir(label: &str) -> PathBuf {
    let unique = format!("stepflare-config-{}-{label}", std::process::id());
    let dir = std::env::temp_dir().join(unique);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn find_config_walks_up_and_load_reads_it() {
    let dir = scratch_dir("walk");
    let nested = dir.join("a/b/c");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.join("a/wrangler.toml"), "name = \"from-toml\"\n").unwrap();
    assert_eq!(find_config(&nested).unwrap(), dir.join("a/wrangler.toml"));
    let config = load(&nested).unwrap();
    assert_eq!(config.name.as_deref(), Some("from-toml"));
    assert_eq!(config.root, dir.join("a"));
    assert_eq!(load(&dir.join("a/b/../wrangler.toml")).unwrap().path, dir.join("a/wrangler.toml"));
    let missing = dir.join("a/wrangler.json");
    assert!(matches!(load(&missing), Err(ConfigError::Io { path, .. }) if path == missing));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn find_config_follows_wrangler_precedence() {
    let dir = scratch_dir("precedence");
    let nested = dir.join("child");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("wrangler.toml"), "").unwrap();
    std::fs::write(nested.join("wrangler.jsonc"), "{}").unwrap();
    assert_eq!(find_config(&nested).unwrap(), nested.join("wrangler.jsonc"));
    std::fs::write(nested.join("wrangler.json"), "{}").unwrap();
    assert_eq!(find_config(&nested).unwrap(), nested.join("wrangler.json"));
    // Like wrangler, a higher-precedence name anywhere up the tree wins.
    std::fs::remove_file(nested.join("wrangler.json")).unwrap();
    std::fs::write(dir.join("wrangler.json"), "{}").unwrap();
    assert_eq!(find_config(&nested).unwrap(), dir.join("wrangler.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn not_found_message() {
    let error = ConfigError::NotFound { searched_from: PathBuf::from("/p") };
    assert_eq!(
        error.to_string(),
        "no wrangler.json, wrangler.jsonc or wrangler.toml found in /p or any parent directory"
    );
}

#[test]
fn node_compatibility_follows_wrangler_from_the_date_and_flags() {
    use super::NodeCompat;
    let flags = |list: &[&str]| list.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(NodeCompat::of("2024-01-01", &[]), NodeCompat::None);
    assert_eq!(NodeCompat::of("2024-01-01", &flags(&["nodejs_als"])), NodeCompat::Als);
    assert_eq!(NodeCompat::of("2024-09-22", &flags(&["nodejs_compat"])), NodeCompat::V1);
    assert_eq!(
        NodeCompat::of("2024-09-23", &flags(&["nodejs_compat"])),
        NodeCompat::V2 { populate_process_env: false }
    );
    assert_eq!(NodeCompat::of("2025-04-01", &flags(&["nodejs_compat"])), NodeCompat::V2 { populate_process_env: true });
    assert_eq!(
        NodeCompat::of(
            "2024-01-01",
            &flags(&["nodejs_compat", "nodejs_compat_v2", "nodejs_compat_populate_process_env"])
        ),
        NodeCompat::V2 { populate_process_env: true }
    );
    assert_eq!(NodeCompat::of("2026-08-04", &[]), NodeCompat::V2 { populate_process_env: true }, "on by default");
    assert_eq!(NodeCompat::of("2026-08-04", &flags(&["no_nodejs_compat", "no_nodejs_compat_v2"])), NodeCompat::None);
    assert_eq!(
        NodeCompat::of("2025-06-01", &flags(&["nodejs_compat", "nodejs_compat_do_not_populate_process_env"])),
        NodeCompat::V2 { populate_process_env: false }
    );
}

#[test]
fn compatibility_flags_must_be_strings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wrangler.jsonc"), "{\n  \"compatibility_flags\": [\"nodejs_compat\", 3]\n}")
        .unwrap();
    let error = super::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("wrangler.jsonc:2:44") && error.contains("compatibility_flags[1] must be a string"),
        "{error}"
    );
}

#[test]
fn service_bindings_are_read_and_checked() {
    let config = jsonc(
        r#"{
  "services": [
    { "binding": "A", "service": "accounts" },
    { "binding": "B", "service": "accounts", "entrypoint": "Admin" },
    { "binding": "C", "service": "accounts", "entrypoint": "default" }
  ]
}"#,
    )
    .unwrap();
    let read: Vec<_> =
        config.services.iter().map(|s| (s.binding.as_str(), s.service.as_str(), s.entrypoint.as_deref())).collect();
    assert_eq!(read, [("A", "accounts", None), ("B", "accounts", Some("Admin")), ("C", "accounts", None)]);
    assert!(config.warnings.is_empty(), "service bindings are emulated: {:?}", config.warnings);
    assert_error_cases(
        jsonc,
        &[
            r#"{"services": [{"binding": "A"}]} | 1:15 | services[0].service is required"#,
            r#"{"services": [{"binding": "A", "service": ""}]} | 1:43 | services[0].service must not be empty"#,
            r#"{"services": [{"binding": "A", "service": 1}]} | 1:43 | services[0].service must be a string (got a number)"#,
            r#"{"services": [{"binding": "A", "service": "s"}, {"binding": "A", "service": "t"}]} | 1:61 | services[1].binding "A" is already used"#,
        ],
    );
}

#[test]
fn durable_object_bindings_and_migrations_fold_into_classes() {
    let config = toml(
        r#"main = "index.js"
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"
[[durable_objects.bindings]]
name = "REMOTE"
class_name = "Elsewhere"
script_name = "other"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["Tally"]
new_classes = ["Scratch", "Gone"]
[[migrations]]
tag = "v2"
renamed_classes = [{ from = "Tally", to = "Counter" }]
deleted_classes = ["Gone"]
"#,
    )
    .unwrap();
    let objects = &config.durable_objects;
    let bound: Vec<_> =
        objects.bindings.iter().map(|b| (b.name.as_str(), b.class_name.as_str(), b.script_name.as_deref())).collect();
    assert_eq!(bound, [("COUNTER", "Counter", None), ("REMOTE", "Elsewhere", Some("other"))]);
    assert_eq!(objects.classes, [("Scratch".to_owned(), false), ("Counter".to_owned(), true)]);
    assert!(objects.is_sqlite("Counter"), "a rename keeps the class SQLite-backed");
    assert!(!objects.is_sqlite("Scratch"));
    assert_eq!(objects.renamed_classes, [("Tally".to_owned(), "Counter".to_owned())]);
    assert_eq!(objects.namespace_of("Counter"), "Tally", "a renamed class keeps the namespace it was created in");
    assert_eq!(objects.namespace_of("Scratch"), "Scratch");
    assert_eq!(objects.namespace_of("Unmigrated"), "Unmigrated");
    assert_eq!(objects.deleted_classes, ["Gone"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn durable_object_config_errors_name_line_and_column() {
    assert_error_cases(
        jsonc,
        &[
            r#"{"durable_objects": []} | 1:21 | durable_objects must be an object (got an empty array)"#,
            r#"{"durable_objects": {"bindings": [{"class_name": "A"}]}} | 1:35 | durable_objects.bindings[0] is missing required field "name""#,
            r#"{"durable_objects": {"bindings": [{"name": "1x", "class_name": "A"}]}} | 1:44 | durable_objects.bindings[0].name must be a valid JavaScript identifier matching ^[A-Za-z_$][A-Za-z0-9_$]*$ (got "1x")"#,
            r#"{"migrations": [{"tag": "v1", "new_classes": ["A"]}, {"tag": "v2", "new_sqlite_classes": ["A"]}]} | 1:91 | migrations[1].new_sqlite_classes: class "A" already exists (an earlier migration created it)"#,
            r#"{"migrations": [{"tag": "v1", "deleted_classes": ["A"]}]} | 1:51 | migrations[0].deleted_classes: class "A" does not exist, so it cannot be deleted"#,
            r#"{"migrations": [{"tag": "v1", "new_classes": ["A", "B"], "renamed_classes": [{"from": "A", "to": "B"}]}]} | 1:98 | migrations[0].renamed_classes[0].to: class "B" already exists"#,
            r#"{"migrations": [{"new_classes": ["A"]}]} | 1:17 | migrations[0] is missing required field "tag""#,
        ],
    );
}

#[test]
fn a_durable_object_binding_without_a_migration_is_a_warning_and_without_main_an_error() {
    let config =
        jsonc("{\"main\": \"i.js\", \"durable_objects\": {\"bindings\": [{\"name\": \"A\", \"class_name\": \"C\"}]}}")
            .unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("1:51: warning: durable_objects.bindings[0]: no migration creates class \"C\""),
        "{warnings:?}"
    );
    assert_error(
        jsonc("{\"durable_objects\": {\"bindings\": [{\"name\": \"A\", \"class_name\": \"C\"}]}}"),
        "1:1",
        "main is required: it names the module that exports the workflow and Durable Object classes",
    );
}

#[test]
fn durable_object_classes_declared_in_exports() {
    let config = jsonc(
        r#"{"main": "i.js", "exports": {
  "Room": { "type": "durable-object", "storage": "sqlite" },
  "Lobby": { "type": "durable-object", "state": "renamed", "renamed_to": "Room" },
  "Cache": { "type": "durable-object", "storage": "kv" },
  "Gone": { "type": "durable-object", "state": "deleted" }
},
"durable_objects": {"bindings": [{"name": "ROOM", "class_name": "Room"}]}}"#,
    )
    .unwrap();
    let objects = &config.durable_objects;
    assert_eq!(objects.classes, [("Room".to_owned(), true), ("Cache".to_owned(), false)]);
    assert_eq!(objects.namespace_of("Room"), "Lobby", "a renamed class keeps its objects");
    assert_eq!(objects.deleted_classes, ["Gone"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_error_cases(
        jsonc,
        &[
            r#"{"exports": {"A": {"type": "durable-object", "storage": "disk"}}} | 1:57 | exports.A.storage must be "sqlite" or "kv" (got "disk")"#,
            r#"{"exports": {"A": {"type": "durable-object", "state": "renamed", "renamed_to": "B"}}} | 1:80 | exports.A.renamed_to names "B", which exports declares as no live Durable Object class"#,
            r#"{"exports": {"A": {"type": "durable-object"}}, "migrations": []} | 1:48 | exports.A: a Worker declares its Durable Object classes in exports or in migrations, not both"#,
            r#"{"exports": {"A": {"type": "durable-object", "state": "deleted"}}, "durable_objects": {"bindings": [{"name": "X", "class_name": "A"}]}} | 1:129 | durable_objects.bindings[0].class_name "A" names a class that a migration deleted"#,
        ],
    );
}
