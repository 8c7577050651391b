//! The session's answers against Cloudflare's own OpenAPI document for Workflows,
//! `schema/cloudflare-workflows-openapi.json` (a copy of the project's reference, kept beside
//! stepflare's document; a test checks the copy against the reference when it is there). Every
//! answer to a route Cloudflare documents must match Cloudflare's schema for it, fields stepflare
//! adds included (objects are closed, as in the main check), after the differences listed in
//! [`DIFFERENCES`], each with its reason: that list is the one place where stepflare's answers
//! knowingly depart from Cloudflare's. A difference that no answer needs fails the test too, so
//! the list cannot outlive the behaviour it excuses.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use super::{Answer, Spec, read};

const CLOUDFLARE: &str = "schema/cloudflare-workflows-openapi.json";
/// Where the project's reference lives beside a checkout, when it is there.
const REFERENCE: &str = "../shared/reference/cf-workflows-openapi.json";
/// Cloudflare's paths start after this prefix of stepflare's.
const V4: &str = "/client/v4";

/// Where stepflare departs from Cloudflare's document: a JSON pointer into the document, the
/// schema that replaces what is there (as JSON text), and why.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "/components/schemas/InstanceDetails/properties/output",
        "{}",
        "an instance's output is run()'s return value as JSON (null until it returns), where the \
         document types it string or number (its own note calls the encoding unverified)",
    ),
    (
        "/components/schemas/StepLog/properties/output",
        "{}",
        "a step's output is its JSON value, not a string (the document's note calls the encoding \
         unverified); `GET …/step` gives it whole as well",
    ),
    (
        "/components/schemas/WaitForEventLog/properties/output",
        "{}",
        "an event wait's output is the event's payload as JSON (null until it arrives), not a string",
    ),
    (
        "/components/schemas/WaitForEventLog/properties/end",
        r#"{ "type": "string", "format": "date-time", "nullable": true }"#,
        "an event wait still waiting has no end yet: null, where the document requires a time",
    ),
    (
        "/components/schemas/InstanceDetails/required",
        r#"["end", "error", "output", "params", "queued", "rollback", "start", "status", "step_count", "success", "trigger", "versionId"]"#,
        "`?simple=true` leaves `steps` out, as the document's own parameter says, though its schema \
         requires them",
    ),
];

/// Cloudflare's operations that stepflare does not serve, and why.
const NOT_SERVED: &[(&str, &str, &str)] = &[
    ("GET", "/accounts/{account_id}/triggers/{script_name}", TRIGGERS),
    ("PUT", "/accounts/{account_id}/triggers/{script_name}", TRIGGERS),
    ("PATCH", "/accounts/{account_id}/triggers/{script_name}", TRIGGERS),
    ("DELETE", "/accounts/{account_id}/triggers/{script_name}", TRIGGERS),
];
const TRIGGERS: &str = "a script's triggers come from its wrangler config, which stepflare reads; there is no \
                        deployed script to attach triggers to";

/// Stepflare's routes that Cloudflare's document does not have (the Local Explorer API that
/// `wrangler --local` calls, and the trailing-slash forms wrangler sends), as path prefixes or
/// suffixes of the request path. Their answers are checked by the main test only.
fn cloudflare_lacks(path: &str) -> bool {
    path.starts_with("/cdn-cgi/local/explorer/") || path.ends_with('/') || path.ends_with("/subscribe")
}

/// Cloudflare's document with `differences` applied.
fn patched(differences: &[(&str, &str, &str)]) -> Spec {
    let mut doc: Value =
        serde_json::from_str(&read(CLOUDFLARE)).unwrap_or_else(|e| panic!("{CLOUDFLARE} is not JSON: {e}"));
    for (pointer, replacement, why) in differences {
        let replacement: Value = serde_json::from_str(replacement)
            .unwrap_or_else(|e| panic!("the difference at {pointer} ({why}) is not JSON: {e}"));
        let slot = doc
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{CLOUDFLARE} has nothing at {pointer}, which DIFFERENCES changes ({why})"));
        *slot = replacement;
    }
    Spec::new(CLOUDFLARE, doc)
}

/// What of `answers` Cloudflare's document (as `spec` has it) does not allow: one line per
/// violation, naming the request.
fn violations(spec: &Spec, answers: &[Answer]) -> Vec<String> {
    let mut found = Vec::new();
    for answer in answers {
        let Some(path) = answer.path.strip_prefix(V4) else { continue };
        let Some(template) = spec.template_for(path) else { continue };
        let key = (answer.method.as_str().to_owned(), template);
        let Some(operation) = spec.operation(&key) else { continue };
        let name = format!("{} {} ({} {})", answer.method, answer.path, operation["operationId"], key.1);
        // Cloudflare answers every error with its envelope, documented or not.
        let envelope = json!({ "$ref": "#/components/schemas/ErrorEnvelope" });
        let schema = match spec.response_schema(operation, answer.status) {
            Ok(schema) => schema,
            Err(_) if answer.status >= 400 => &envelope,
            Err(why) => {
                found.push(format!("{name}: {why}"));
                continue;
            }
        };
        for violation in spec.violations(schema, &answer.body) {
            found.push(format!("{name} HTTP {}: {violation}", answer.status));
        }
    }
    found
}

/// Checks the session's `answers` against Cloudflare's document.
pub(super) fn check(answers: &[Answer]) {
    let unmatched: Vec<&str> = answers
        .iter()
        .filter(|a| !cloudflare_lacks(&a.path))
        .filter(|a| a.path.strip_prefix(V4).and_then(|p| patched(&[]).template_for(p)).is_none())
        .map(|a| a.path.as_str())
        .collect();
    assert!(
        unmatched.is_empty(),
        "answers to paths {CLOUDFLARE} does not have and the test does not excuse: {unmatched:#?}"
    );

    let spec = patched(DIFFERENCES);
    let found = violations(&spec, answers);
    assert!(
        found.is_empty(),
        "answers that depart from {CLOUDFLARE} beyond its listed DIFFERENCES:\n  {}",
        found.join("\n  ")
    );
    // Every operation of Cloudflare's that stepflare serves was answered with a 200 and checked.
    let checked: BTreeSet<(String, String)> = answers
        .iter()
        .filter(|a| a.status == 200)
        .filter_map(|a| Some((a.method.as_str().to_owned(), spec.template_for(a.path.strip_prefix(V4)?)?)))
        .collect();
    let mut unchecked = BTreeSet::new();
    for (template, item) in spec.paths() {
        for method in super::METHODS {
            let key = (method.to_uppercase(), template.clone());
            if item.get(method).is_some() && !checked.contains(&key) {
                unchecked.insert(key);
            }
        }
    }
    let not_served: BTreeSet<(String, String)> =
        NOT_SERVED.iter().map(|(method, path, _)| (method.to_string(), path.to_string())).collect();
    assert_eq!(unchecked, not_served, "operations of {CLOUDFLARE} without a 200 answer checked, against NOT_SERVED");

    for (i, (pointer, _, why)) in DIFFERENCES.iter().enumerate() {
        let mut others = DIFFERENCES.to_vec();
        others.remove(i);
        assert!(
            !violations(&patched(&others), answers).is_empty(),
            "no answer needs the difference at {pointer} ({why}); take it out of DIFFERENCES"
        );
    }
}

/// The copy in `schema/` is the project's reference, unchanged, wherever a checkout has the
/// reference beside it.
#[test]
fn the_copy_of_cloudflares_document_is_the_reference() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    let copy = read(CLOUDFLARE);
    let document: Value = serde_json::from_str(&copy).unwrap_or_else(|e| panic!("{CLOUDFLARE} is not JSON: {e}"));
    assert_eq!(document["openapi"], "3.0.3", "{CLOUDFLARE}");
    if let Ok(original) = std::fs::read_to_string(&reference) {
        assert!(original == copy, "{CLOUDFLARE} differs from {}; copy it again", reference.display());
    }
}
