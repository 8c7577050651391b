//! Real projects with npm packages: bare imports resolved in `node_modules` (package `exports`
//! and their conditions), CommonJS imported from ESM, JSON imports, the `node:*` built-ins of
//! `nodejs_compat`, pnpm's symlinked layout, an npm workspace, and Cloudflare's own
//! hello-world-workflows template run unchanged. Every expected answer below is what `wrangler dev`
//! (4.164.0) answered for the same project and request; where stepflare deliberately reports
//! what production reports instead, the comment says so. The fixtures' dependencies come from
//! their lockfiles and the template from `scripts/template.sh`, both run by `scripts/test.sh`.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// Panics with the command to run when `fixtures/<project>/node_modules/<package>` is missing.
fn require_installed(project: &str, package: &str) {
    let path = fixture_dir(project).join("node_modules").join(package);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (or `npm ci --prefix fixtures/{project}`) first",
        path.display()
    );
}

/// Panics unless `path` (inside `fixtures/`) is a symlink, as the fixture needs it to be.
fn require_symlink(path: &Path) {
    let meta = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        meta.file_type().is_symlink(),
        "{} must be a symlink (was the checkout made without them?)",
        path.display()
    );
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    server.request(Method::GET, &format!("{}{path}", server.base()), None).await
}

async fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    server.request(Method::POST, &format!("{}{path}", server.base()), Some(body)).await
}

/// The `id` of a `{ "id": … }` answer, checked to be a UUID.
fn uuid_of(body: &Value) -> String {
    let id = body["id"].as_str().unwrap_or_else(|| panic!("no id in {body:#}")).to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{body:#}");
    id
}

// --- fixtures/hono-zod: a Hono app that validates with zod ---------------------------------

fn good_order() -> Value {
    json!({
        "customer": "ada",
        "items": [
            { "sku": "tea", "quantity": 2, "priceCents": 350 },
            { "sku": "cake", "quantity": 1, "priceCents": 425 },
        ],
    })
}

/// `new ZodError(...).message` for `{"customer": "bob", "items": []}`: the issues as
/// `JSON.stringify(issues, null, 2)`.
const EMPTY_ITEMS_MESSAGE: &str = r#"[
  {
    "origin": "array",
    "code": "too_small",
    "minimum": 1,
    "inclusive": true,
    "path": [
      "items"
    ],
    "message": "Too small: expected array to have >=1 items"
  }
]"#;

#[tokio::test]
async fn hono_and_zod_take_a_valid_order_through_the_workflow() {
    require_installed("hono-zod", "hono");
    require_installed("hono-zod", "zod");
    let server = Server::start("hono-zod");
    let (status, body) = post(&server, "/orders", &good_order()).await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    let id = uuid_of(&body);
    assert_eq!(body, json!({ "id": id }));

    let d = server.wait_for_status("orders", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "customer": "ada", "items": 2, "totalCents": 1125 }), "{d:#}");
    assert_eq!(step(&d, "validate-1")["output"], good_order(), "zod's parsed data is the step's output: {d:#}");
    assert_eq!(step(&d, "total-1")["output"], json!(1125), "{d:#}");
    assert_eq!(do_steps(&d).len(), 2, "{d:#}");

    // wrangler dev adds `__LOCAL_DEV_STEP_OUTPUTS` to `status()`; production does not.
    let (status, body) = get(&server, &format!("/orders/{id}")).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"]["status"], "complete", "{body:#}");
    assert_eq!(body["status"]["output"], json!({ "customer": "ada", "items": 2, "totalCents": 1125 }), "{body:#}");
}

#[tokio::test]
async fn hono_answers_a_bad_order_with_zods_issues_and_starts_nothing() {
    require_installed("hono-zod", "hono");
    let server = Server::start("hono-zod");
    let bad = json!({ "customer": "", "items": [{ "sku": "tea", "quantity": 0, "priceCents": "3.50" }] });
    let (status, body) = post(&server, "/orders", &bad).await;
    assert_eq!(status, 400, "{body:#}\n--- server logs ---\n{}", server.logs());
    assert_eq!(
        body,
        json!({ "issues": [
            {
                "origin": "string", "code": "too_small", "minimum": 1, "inclusive": true,
                "path": ["customer"], "message": "Too small: expected string to have >=1 characters",
            },
            {
                "origin": "number", "code": "too_small", "minimum": 0, "inclusive": false,
                "path": ["items", 0, "quantity"], "message": "Too small: expected number to be >0",
            },
            {
                "expected": "number", "code": "invalid_type", "path": ["items", 0, "priceCents"],
                "message": "Invalid input: expected number, received string",
            },
        ] })
    );

    // A body that is not JSON reaches zod as `null`.
    let url = format!("{}/orders", server.base());
    let (status, body) = server.raw(Method::POST, &url, Some("not json"), None).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(
        body,
        json!({ "issues": [{
            "expected": "object", "code": "invalid_type", "path": [],
            "message": "Invalid input: expected object, received null",
        }] })
    );

    let (status, body) =
        server.request(Method::GET, &format!("{}/instances", server.workflow_url("orders")), None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["result"], json!([]), "a refused order creates no instance: {body:#}");
}

#[tokio::test]
async fn bad_params_fail_the_order_workflow_with_zods_message_and_no_retry() {
    require_installed("hono-zod", "zod");
    let server = Server::start("hono-zod");
    let id = server.create("orders", json!({ "customer": "bob", "items": [] })).await;
    let d = server.wait_for_status("orders", &id, &["errored"]).await;

    // wrangler dev reports the instance's error as `WorkflowFatalError` ("The execution of the
    // Workflow instance was terminated, as a step threw an NonRetryableError and it was not
    // handled") and the attempt's as `Step threw a NonRetryableError with message
    // "NonRetryableError: <zod's message>"`; stepflare reports the error itself, as production
    // does (docs/compatibility.md). Either way zod's message arrives whole.
    assert_eq!(d["error"], json!({ "name": "NonRetryableError", "message": EMPTY_ITEMS_MESSAGE }), "{d:#}");
    let validate = step(&d, "validate-1");
    assert_eq!(validate["success"], json!(false), "{validate:#}");
    assert_eq!(attempts(validate).len(), 1, "a NonRetryableError is not retried: {validate:#}");
    let attempt_error = attempts(validate)[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(attempt_error.contains(EMPTY_ITEMS_MESSAGE), "{validate:#}");
    assert!(find_step(&d, "total-1").is_none(), "{d:#}");

    let (status, body) = get(&server, &format!("/orders/{id}")).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"]["status"], "errored", "{body:#}");
    assert_eq!(body["status"]["error"]["name"], "NonRetryableError", "{body:#}");
    assert_eq!(body["status"]["error"]["message"], EMPTY_ITEMS_MESSAGE, "{body:#}");
}

#[tokio::test]
async fn hono_answers_unknown_routes_and_unknown_instances_as_under_wrangler() {
    require_installed("hono-zod", "hono");
    let server = Server::start("hono-zod");
    assert_eq!(get(&server, "/nope").await, (404, json!("404 Not Found")));
    // `ORDERS.get` throws for an id that does not exist; Hono's error handler answers 500.
    assert_eq!(get(&server, "/orders/no-such-order").await, (500, json!("Internal Server Error")));
}

// --- fixtures/node-compat: CommonJS packages, JSON, node:* built-ins ------------------------

/// What `GET /probe` answers, and what the workflow returns (one `step.do` per key).
fn probes() -> Value {
    json!({
        "lodash": { "chunk": [[1, 2], [3, 4], [5]], "sum": 10, "sameChunk": true, "version": "4.18.1" },
        "cookie": {
            "parse": { "a": "1", "b": "hello world", "c": "✓" },
            "serialize": "session=abc%20123; Max-Age=60; Path=/; HttpOnly",
            // cookie 1.x sets `exports.__esModule`; from a `"type": "module"` package wrangler's
            // bundler still makes the default import `module.exports` (as Node does).
            "defaultImport": "object",
            "defaultParse": "function",
        },
        "json": {
            "name": "stepflare",
            "tags": ["workflows", "local"],
            "limits": { "steps": 10000, "ratio": 0.5 },
            "enabled": true,
            "owner": null,
        },
        "buffer": { "base64": "aMOpbGxv", "hex": "68c3a96c6c6f", "back": "héllo", "length": 6 },
        "crypto": "d97a6ab3639a3d8801d1cf6ea291e50cbf8fee609bff6a793b92fd8e4b9d06e3",
        "events": { "seen": ["on 1", "once 1", "on 2"], "first": true, "listeners": 1, "none": false },
        "asyncLocalStorage": {
            "outside": null,
            "inside": {
                "before": { "request": 7 },
                "afterAwait": { "request": 7 },
                "afterTimeout": { "request": 7 },
                "inTimer": { "request": 7 },
            },
            "after": null,
        },
        "legacy": {
            "greet": "Hello, ADA!",
            "viaDefault": "Hello, BOB!",
            "version": 3,
            "sameHelper": true,
            "helperKeys": ["shout", "whisper"],
            "keys": ["greet", "helperKeys", "sameHelper", "version"],
        },
    })
}

#[tokio::test]
async fn the_worker_runs_commonjs_packages_json_and_node_builtins() {
    require_installed("node-compat", "lodash");
    require_installed("node-compat", "cookie");
    let server = Server::start("node-compat");
    let (status, body) = get(&server, "/probe").await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    assert_eq!(body, probes());
}

#[tokio::test]
async fn workflow_steps_run_commonjs_packages_json_and_node_builtins() {
    require_installed("node-compat", "lodash");
    require_installed("node-compat", "cookie");
    let server = Server::start("node-compat");
    let (status, body) = server.request(Method::POST, &format!("{}/probes", server.base()), None).await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    let id = uuid_of(&body);

    let d = server.wait_for_status("probes", &id, &["complete"]).await;
    let expected = probes();
    assert_eq!(d["output"], expected, "{d:#}");
    let names: Vec<&str> = do_steps(&d).iter().map(|s| s["name"].as_str().unwrap()).collect();
    let probe_names: Vec<String> = expected.as_object().unwrap().keys().map(|k| format!("{k}-1")).collect();
    assert_eq!(names, probe_names, "{d:#}");
    for (name, output) in expected.as_object().unwrap() {
        let probe = step(&d, &format!("{name}-1"));
        assert_eq!(&probe["output"], output, "{probe:#}");
        assert_eq!(attempts(probe).len(), 1, "{probe:#}");
    }
}

// --- fixtures/pnpm-layout: a dependency reached only through pnpm's symlinks ----------------

fn require_pnpm_symlinks() {
    let modules = fixture_dir("pnpm-layout").join("node_modules");
    require_symlink(&modules.join("greeter"));
    require_symlink(&modules.join(".pnpm/greeter@1.0.0/node_modules/shout"));
}

#[tokio::test]
async fn a_pnpm_symlinked_package_finds_its_own_dependency_from_its_real_path() {
    require_pnpm_symlinks();
    let server = Server::start("pnpm-layout");
    let (status, body) = get(&server, "/greet?name=ada").await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    // greeter's `exports` lists `node` before `workerd`; only `workerd` is a condition here.
    assert_eq!(body, json!({ "greeting": "hello, ADA", "loud": "HELLO, ADA!!!", "runtime": "workerd" }));
    let (_, body) = get(&server, "/greet").await;
    assert_eq!(body, json!({ "greeting": "hello, WORLD", "loud": "HELLO, WORLD!!!", "runtime": "workerd" }));

    let (status, body) = server.request(Method::POST, &format!("{}/greetings?name=bob", server.base()), None).await;
    assert_eq!(status, 200, "{body:#}");
    let id = uuid_of(&body);
    let d = server.wait_for_status("greetings", &id, &["complete"]).await;
    assert_eq!(
        d["output"],
        json!({ "greeting": "hello, BOB", "loud": "HELLO, BOB!!!", "runtime": "workerd" }),
        "{d:#}"
    );
    assert_eq!(step(&d, "greet-1")["output"], json!("hello, BOB"), "{d:#}");
    assert_eq!(step(&d, "exclaim-1")["output"], json!("HELLO, BOB!!!"), "{d:#}");
}

// --- fixtures/workspace: an npm workspace whose Worker imports a sibling TypeScript package --

#[tokio::test]
async fn a_workspace_package_written_in_typescript_is_imported_through_its_symlink() {
    require_installed("workspace", "@fixture/shared");
    require_symlink(&fixture_dir("workspace").join("node_modules/@fixture/shared"));
    let server = Server::start("workspace/packages/worker");
    let invoice = json!({
        "customer": "Ada Lovelace",
        "lines": [{ "description": "tea", "cents": 350 }, { "description": "cake", "cents": 1225 }],
    });
    let (status, body) = post(&server, "/invoices", &invoice).await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    let id = uuid_of(&body);
    assert_eq!(body, json!({ "id": id, "preview": "15.75 EUR" }));

    let d = server.wait_for_status("invoices", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "reference": "ada-lovelace-1575", "total": "15.75 EUR" }), "{d:#}");
    assert_eq!(step(&d, "total-1")["output"], json!(1575), "{d:#}");
    assert_eq!(step(&d, "reference-1")["output"], json!("ada-lovelace-1575"), "{d:#}");

    assert_eq!(get(&server, "/slug?text=Hello,%20World!").await, (200, json!({ "slug": "hello-world" })));
}

// --- Cloudflare's hello-world-workflows template, as create-cloudflare publishes it ----------

fn template_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/templates/hello-world-workflows");
    assert!(
        dir.join("wrangler.jsonc").is_file(),
        "{} is missing: run scripts/test.sh (or `scripts/template.sh target/templates`) first",
        dir.display()
    );
    dir
}

const TEMPLATE_FILES: [&str; 8] = [
    "doc_7392_rev3.pdf",
    "report_x29_final.pdf",
    "memo_2024_05_12.pdf",
    "file_089_update.pdf",
    "proj_alpha_v2.pdf",
    "data_analysis_q2.pdf",
    "notes_meeting_52.pdf",
    "summary_fy24_draft.pdf",
];

#[tokio::test]
async fn the_hello_world_workflows_template_runs_unchanged() {
    let dir = template_dir();
    // Persist outside the template, which tests share and must not change.
    let persist = tempfile::tempdir().expect("create a persistence dir");
    let server = Server::start_project(&dir, persist.path(), &[]);
    let wf = "workflow-hello-workflows";

    assert_eq!(get(&server, "/favicon.ico").await, (404, json!({})));

    let (status, body) = get(&server, "/").await;
    assert_eq!(status, 200, "{body:#}\n--- server logs ---\n{}", server.logs());
    let id = uuid_of(&body);
    let details = body["details"]["status"].as_str().unwrap_or_else(|| panic!("no details.status: {body:#}"));
    // The run goes on on a JS thread of its own while the Worker reads the status, so the first
    // step may be done and the event wait begun by then.
    assert!(["queued", "running", "waiting"].contains(&details), "{body:#}");

    // wrangler dev says `running` during the event wait; stepflare says `waiting`, as production.
    let d = server.wait_for_status(wf, &id, &["waiting"]).await;
    let first = step(&d, "my first step-1");
    let input = &first["output"]["inputParams"];
    assert_iso(&input["timestamp"]);
    // The template calls `MY_WORKFLOW.create()` without params; wrangler dev's event then has
    // `payload: {}` (and its instance `params: {}`), not `null`.
    assert_eq!(
        first["output"],
        json!({
            "inputParams": {
                "timestamp": input["timestamp"],
                "payload": {},
                "instanceId": id,
                "workflowName": wf,
            },
            "files": TEMPLATE_FILES,
        }),
        "{d:#}"
    );
    let wait = step(&d, "request-approval-1");
    assert_eq!(wait["type"], "waitForEvent", "{wait:#}");

    let (status, body) = get(&server, &format!("/?instanceId={id}")).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"]["status"], "waiting", "{body:#}");

    // The approval ends the wait. The next step calls api.cloudflare.com, whose answer depends on
    // the network, so the test stops here.
    server.deliver(wf, &id, "approval", json!({ "approved": true })).await;
    let ended = |d: &Value| find_step(d, "request-approval-1").is_some_and(|s| s["finished"] == json!(true));
    server.wait_for(wf, &id, "the end of the approval wait", ended).await;
}

/// A project of `files` (path, content) with a `wrangler.jsonc` that sets `compatibility_flags`,
/// run until `stepflare dev` gives up; returns what it printed.
fn failed_start(flags: &str, files: &[(&str, &str)]) -> String {
    let project = tempfile::tempdir().expect("a project folder");
    let config = format!(
        r#"{{ "name": "broken", "main": "src/index.js", "compatibility_date": "2026-01-01", "compatibility_flags": {flags},
             "workflows": [{{ "name": "w", "binding": "W", "class_name": "W" }}] }}"#
    );
    std::fs::write(project.path().join("wrangler.jsonc"), config).expect("write the config");
    write_files(project.path(), files);
    let exit = run_to_exit(project.path());
    assert!(!exit.status.success(), "a broken project started:\n{}", exit.stdout);
    exit.stderr
}

const WORKFLOW: &str = "export class W extends WorkflowEntrypoint { async run() {} }\n";

#[test]
fn a_missing_package_names_the_importer_the_specifier_and_where_it_looked() {
    let entry = format!(
        "import {{ WorkflowEntrypoint }} from \"cloudflare:workers\";\nimport {{ z }} from \"zod\";\n{WORKFLOW}"
    );
    let stderr = failed_start("[]", &[("src/index.js", &entry)]);
    assert!(stderr.contains("cannot resolve \"zod\" from ") && stderr.contains("src/index.js"), "{stderr}");
    assert!(stderr.contains("no package \"zod\"") && stderr.contains("node_modules"), "{stderr}");
    assert!(stderr.contains("npm install"), "{stderr}");
}

#[test]
fn node_builtins_need_nodejs_compat_and_one_that_is_not_emulated_names_itself() {
    let uses = |builtin: &str| {
        format!("import {{ WorkflowEntrypoint }} from \"cloudflare:workers\";\nimport \"{builtin}\";\n{WORKFLOW}")
    };
    let stderr = failed_start("[]", &[("src/index.js", &uses("node:buffer"))]);
    assert!(
        stderr.contains("node:buffer") && stderr.contains("add \"nodejs_compat\" to compatibility_flags"),
        "{stderr}"
    );

    let stderr = failed_start(r#"["nodejs_compat"]"#, &[("src/index.js", &uses("node:fs"))]);
    assert!(stderr.contains("node:fs is not emulated by stepflare") && stderr.contains("src/index.js"), "{stderr}");

    // From CommonJS, by a bare name, inside a package: the failure still names the built-in.
    let stderr = failed_start(
        r#"["nodejs_compat"]"#,
        &[
            ("src/index.js", &uses("uses-fs")),
            ("node_modules/uses-fs/package.json", r#"{ "name": "uses-fs", "main": "index.js" }"#),
            ("node_modules/uses-fs/index.js", "const fs = require(\"fs\");\nmodule.exports = fs;\n"),
        ],
    );
    assert!(stderr.contains("node:fs is not emulated by stepflare") && stderr.contains("uses-fs/index.js"), "{stderr}");
}

#[test]
fn a_commonjs_package_that_throws_while_loading_names_its_file_and_line() {
    let stderr = failed_start(
        "[]",
        &[
            (
                "src/index.js",
                &format!(
                    "import {{ WorkflowEntrypoint }} from \"cloudflare:workers\";\nimport \"thrower\";\n{WORKFLOW}"
                ),
            ),
            ("node_modules/thrower/package.json", r#"{ "name": "thrower" }"#),
            ("node_modules/thrower/index.js", "exports.a = 1;\nthrow new RangeError(\"no luck\");\n"),
        ],
    );
    assert!(stderr.contains("thrower/index.js:2") && stderr.contains("RangeError: no luck"), "{stderr}");
}

/// The bytecode files in a cache folder.
fn cached_files(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.join("bytecode")) {
        Ok(entries) => entries.map(|entry| entry.expect("a cache entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn compiled_modules_are_cached_on_disk_and_a_damaged_cache_file_is_compiled_again() {
    require_installed("hono-zod", "zod");
    let cache = tempfile::tempdir().expect("a cache folder");
    let state = tempfile::tempdir().expect("a state folder");
    let project = fixture_dir("hono-zod");
    let bad_order = json!({ "customer": "", "items": [] });

    let first = Server::start_with_cache(&project, state.path(), cache.path());
    let (status, answer) = post(&first, "/orders", &bad_order).await;
    assert_eq!(status, 400, "{answer:#}");
    drop(first);
    let files = cached_files(cache.path());
    assert!(files.len() > 50, "hono, zod and stepflare's own modules are cached: {} files", files.len());

    // A second start reads them and writes none again.
    let written: Vec<_> =
        files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).expect("mtime")).collect();
    let again = Server::start_with_cache(&project, state.path(), cache.path());
    assert_eq!(post(&again, "/orders", &bad_order).await, (status, answer.clone()));
    drop(again);
    let rewritten: Vec<_> =
        files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).expect("mtime")).collect();
    assert_eq!(written, rewritten, "a warm start compiled again");
    assert_eq!(cached_files(cache.path()).len(), files.len());

    // Damage every file: each must be noticed and compiled again, with the same answer.
    for file in &files {
        let mut bytes = std::fs::read(file).expect("read a cache file");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(file, bytes).expect("damage a cache file");
    }
    let second = Server::start_with_cache(&project, state.path(), cache.path());
    assert_eq!(post(&second, "/orders", &bad_order).await, (status, answer));
}

/// Serves a project of `files` (path, content) with a `wrangler.jsonc` for `src/index.js`.
fn serve_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let project = tempfile::tempdir().expect("a project folder");
    let config = r#"{ "name": "files", "main": "src/index.js", "compatibility_date": "2026-08-01" }"#;
    std::fs::write(project.path().join("wrangler.jsonc"), config).expect("write the config");
    write_files(project.path(), files);
    let server = Server::start_project(project.path(), &project.path().join(".stepflare"), &[]);
    (project, server)
}

/// The expected answer is what esbuild's bundle of the same files (with wrangler's conditions)
/// prints.
#[tokio::test]
async fn the_default_import_of_commonjs_follows_esbuild_and_node_by_the_importers_package_type() {
    let marked = r#"Object.defineProperty(exports, "__esModule", { value: true });
exports.default = "the default export";
exports.named = "a named export";
"#;
    let (_project, server) = serve_files(&[
        ("node_modules/marked/package.json", r#"{ "name": "marked", "main": "index.js" }"#),
        ("node_modules/marked/index.js", marked),
        // A Node ES module (.mjs) gets module.exports itself, as under Node.
        ("src/node-mode.mjs", "import whole from \"marked\";\nexport const inNodeMode = typeof whole;\n"),
        (
            "src/index.js",
            r#"import marked, { named } from "marked";
import * as namespace from "marked";
import { inNodeMode } from "./node-mode.mjs";
export default {
  async fetch() {
    return Response.json({ marked, named, namespaceDefault: namespace.default, inNodeMode });
  },
};
"#,
        ),
    ]);
    let (status, body) = get(&server, "/").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body,
        json!({
            "marked": "the default export",
            "named": "a named export",
            "namespaceDefault": "the default export",
            "inNodeMode": "object",
        })
    );
}

#[tokio::test]
async fn modules_load_only_from_inside_the_project_and_a_refusal_shows_nothing_of_the_file() {
    let parent = tempfile::tempdir().expect("a folder");
    let secret = "TOP-SECRET-4242";
    std::fs::write(parent.path().join("outside.js"), format!("export const leaked = \"{secret}\";")).expect("outside");
    let project = parent.path().join("app");
    std::fs::create_dir_all(project.join("src")).expect("src");
    std::fs::write(project.join("src/.env"), format!("API_KEY={secret}\n")).expect("a .env file");
    std::fs::write(
        project.join("wrangler.jsonc"),
        r#"{ "name": "confined", "main": "src/index.js", "compatibility_date": "2026-08-01" }"#,
    )
    .expect("config");
    let outside = parent.path().join("outside.js").display().to_string();
    std::fs::write(
        project.join("src/index.js"),
        format!(
            r#"const attempt = (load) => load().then((m) => JSON.stringify(m), (e) => String(e && e.message));
export default {{
  async fetch() {{
    return Response.json({{
      relative: await attempt(() => import("../../outside.js")),
      absolute: await attempt(() => import({outside:?})),
      dotenv: await attempt(() => import("./.env")),
    }});
  }},
}};
"#
        ),
    )
    .expect("module");
    let server = Server::start_project(&project, &project.join(".stepflare"), &[]);
    let (status, body) = get(&server, "/").await;
    assert_eq!(status, 200, "{body:#}");
    for key in ["relative", "absolute"] {
        let message = body[key].as_str().unwrap_or_default();
        assert!(message.contains("is outside the project"), "{key}: {body:#}");
    }
    assert!(body["dotenv"].as_str().unwrap_or_default().contains("is not a module"), "{body:#}");
    assert!(!body.to_string().contains(secret), "a refusal showed the file: {body:#}");
}
