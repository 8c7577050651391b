//! Broken projects: `stepflare dev` refuses to start, exits non-zero, and says where the problem
//! is (`wrangler.jsonc:LINE:COL`, or the name of the missing class).

use std::path::Path;

use crate::support::*;

const WORKFLOW_JS: &str = r#"import { WorkflowEntrypoint } from "cloudflare:workers";

export class Present extends WorkflowEntrypoint {
  async run(event, step) {
    return await step.do("one", async () => 1);
  }
}

export default {
  async fetch() {
    return new Response("ok");
  },
};
"#;

/// Writes a project with the given `wrangler.jsonc` and a `src/index.js` exporting `Present`.
fn write_project(dir: &Path, wrangler_jsonc: &str) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("wrangler.jsonc"), wrangler_jsonc).unwrap();
    std::fs::write(dir.join("src/index.js"), WORKFLOW_JS).unwrap();
}

/// Runs stepflare on a project with `config`, expecting a failed start that points at `needle`.
fn assert_reports_position(config: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), config);
    let exit = run_to_exit(dir.path());
    assert!(!exit.status.success(), "exit status {:?}", exit.status);
    let location = format!("wrangler.jsonc:{}", position_of(config, needle));
    assert!(
        exit.stderr.contains(&location),
        "stderr does not point at {location}:\n{}\n--- stdout ---\n{}",
        exit.stderr,
        exit.stdout
    );
}

#[test]
fn a_syntax_error_in_wrangler_jsonc_is_reported_with_line_and_column() {
    let config = r#"// A project whose config does not parse.
{
  "name": "broken",
  "main": "src/index.js",
  "compatibility_date": "2026-08-01",
  "workflows": [
    { "name": "present", "binding": "PRESENT", "class_name": nope },
  ],
}
"#;
    assert_reports_position(config, "nope");
}

#[test]
fn a_value_of_the_wrong_type_in_wrangler_jsonc_is_reported_with_line_and_column() {
    let config = r#"// A project whose config parses but has a number where a class name belongs.
{
  "name": "broken",
  "main": "src/index.js",
  "compatibility_date": "2026-08-01",
  "workflows": [
    {
      "name": "present",
      "binding": "PRESENT",
      "class_name": 42,
    },
  ],
}
"#;
    assert_reports_position(config, "42");
}

#[test]
fn a_missing_workflow_class_export_is_reported_by_name() {
    let config = r#"// The second binding names a class that src/index.js does not export.
{
  "name": "missing-class",
  "main": "src/index.js",
  "compatibility_date": "2026-08-01",
  "workflows": [
    { "name": "present", "binding": "PRESENT", "class_name": "Present" },
    { "name": "absent", "binding": "ABSENT", "class_name": "NotExportedAnywhere" },
  ],
}
"#;
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), config);
    let exit = run_to_exit(dir.path());
    assert!(!exit.status.success(), "exit status {:?}", exit.status);
    assert!(exit.stderr.contains("NotExportedAnywhere"), "stderr does not name the missing class:\n{}", exit.stderr);
}
