//! Checks the server against its published OpenAPI document, `schema/openapi.json`: a realistic
//! session calls every documented operation and validates every answer against the schema the
//! document gives for that path, method and HTTP status. It also checks that the document lists
//! exactly the routes of `src/api/mod.rs`, that every operation answered 200 at least once, and
//! that no documented route was answered with "no route" (7003) or "method not allowed" (7001).
//! The same answers are then checked against Cloudflare's own document (`cloudflare.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::support::*;

mod cloudflare;

const DOCUMENT: &str = "schema/openapi.json";
const ROUTES_SOURCE: &str = "src/api/mod.rs";
/// The router functions of `src/api/mod.rs`, each with the prefix its routes are nested under.
const ROUTERS: [(&str, &str); 3] = [
    ("fn v4_routes", "/client/v4/accounts/{account_id}"),
    ("fn explorer_routes", "/cdn-cgi/local/explorer/api"),
    ("fn router", ""),
];
/// Routes of `src/api/mod.rs` that serve the project's Worker or stepflare's own purposes rather
/// than Cloudflare's REST API, and so are not in the document.
const NOT_API: [(&str, &str); 2] =
    [("GET", "/cdn-cgi/handler/scheduled"), ("POST", "/cdn-cgi/stepflare/workflows/{workflow_name}/schedules/trigger")];
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// An operation: upper-case HTTP method and the document's path template.
type Operation = (String, String);

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The document

pub(crate) struct Spec {
    /// The document's path in the repository, for messages.
    name: &'static str,
    doc: Value,
    /// `components.schemas` turned into JSON Schema 2020-12.
    schemas: Value,
}

impl Spec {
    pub(crate) fn load() -> Spec {
        Spec::read(DOCUMENT)
    }

    /// The OpenAPI 3.0.3 document at `relative` (from the repository's root).
    fn read(relative: &'static str) -> Spec {
        let doc: Value =
            serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} is not JSON: {e}"));
        Spec::new(relative, doc)
    }

    fn new(name: &'static str, doc: Value) -> Spec {
        assert_eq!(doc["openapi"], "3.0.3", "{name}: OpenAPI version");
        let schemas = doc["components"]["schemas"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no components.schemas"))
            .iter()
            .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
            .collect::<Map<_, _>>();
        Spec { name, doc, schemas: Value::Object(schemas) }
    }

    fn paths(&self) -> &Map<String, Value> {
        self.doc["paths"].as_object().unwrap_or_else(|| panic!("{} has no paths", self.name))
    }

    fn operations(&self) -> BTreeSet<Operation> {
        let mut operations = BTreeSet::new();
        for (template, item) in self.paths() {
            for method in METHODS {
                if item.get(method).is_some() {
                    operations.insert((method.to_uppercase(), template.clone()));
                }
            }
        }
        operations
    }

    /// The documented path template that `path` (no query) falls under; literal segments win
    /// over parameters, as they do in the router.
    fn template_for(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths()
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literals = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literals += 1;
                    } else {
                        return None;
                    }
                }
                Some((literals, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    fn operation(&self, (method, template): &Operation) -> Option<&Value> {
        self.paths().get(template)?.get(method.to_lowercase())
    }

    /// Follows a local `$ref` (`#/components/...`) once.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(pointer) => {
                let pointer = pointer.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {pointer}"));
                self.doc.pointer(pointer).unwrap_or_else(|| panic!("{}: dangling $ref #{pointer}", self.name))
            }
            None => value,
        }
    }

    /// The names of the query parameters the operation documents.
    fn query_parameters(&self, operation: &Value) -> BTreeSet<String> {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
            .collect()
    }

    /// The JSON schema of the answer with HTTP `status`, or why there is none.
    fn response_schema<'a>(&'a self, operation: &'a Value, status: u16) -> Result<&'a Value, String> {
        let responses = &operation["responses"];
        let range = format!("{}XX", status / 100);
        let response = [status.to_string(), range, "default".to_owned()]
            .iter()
            .find_map(|key| responses.get(key))
            .ok_or_else(|| format!("HTTP {status} is not documented"))?;
        let content = self.resolve(response);
        content
            .pointer("/content/application~1json/schema")
            .or_else(|| content.pointer("/content/text~1event-stream/schema"))
            .ok_or_else(|| {
                format!("the HTTP {status} answer documents no application/json or text/event-stream schema")
            })
    }

    fn request_schema<'a>(&'a self, operation: &'a Value) -> Option<&'a Value> {
        self.resolve(&operation["requestBody"]).pointer("/content/application~1json/schema")
    }

    /// Validates `instance` against `schema` (OpenAPI 3.0, `$ref`s into the document's
    /// components); returns one line per violation.
    /// What of `instance` the component schema `name` does not allow.
    pub(crate) fn component_violations(&self, name: &str, instance: &Value) -> Vec<String> {
        self.violations(&json!({ "$ref": format!("#/components/schemas/{name}") }), instance)
    }

    fn violations(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut root = match to_json_schema(schema) {
            Value::Object(map) => map,
            other => panic!("a schema must be an object, not {other}"),
        };
        root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        root.insert("components".into(), json!({ "schemas": self.schemas }));
        let root = Value::Object(root);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{}: a schema does not compile: {e}\n{schema:#}", self.name));
        validator
            .iter_errors(instance)
            .map(|error| {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("at {at}: {error} (schema {})", error.schema_path())
            })
            .collect()
    }
}

/// Keywords that say something about a value without constraining it.
fn is_annotation(key: &str) -> bool {
    key.starts_with("x-") || matches!(key, "description" | "title" | "example" | "default" | "deprecated")
}

/// OpenAPI 3.0 schema → JSON Schema 2020-12: `nullable: true` becomes a `"null"` type (or an
/// `anyOf` with null when there is no `type`), and every object schema that lists `properties`
/// is closed (`additionalProperties: false` unless it says otherwise), so a field the server
/// sends and the document does not know fails the check.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "properties" | "patternProperties" => match value {
                Value::Object(props) => {
                    Value::Object(props.iter().map(|(name, s)| (name.clone(), to_json_schema(s))).collect())
                }
                other => other.clone(),
            },
            "items" | "not" | "additionalProperties" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(list) => Value::Array(list.iter().map(to_json_schema).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    if out.remove("nullable") == Some(json!(true)) {
        match out.get("type").cloned() {
            Some(Value::String(kind)) => {
                out.insert("type".into(), json!([kind, "null"]));
                if let Some(Value::Array(values)) = out.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
            }
            Some(other) => panic!("an OpenAPI schema has `nullable` beside a `type` that is not a string: {other}"),
            None if out.keys().all(|k| is_annotation(k)) => {}
            None => return json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// The routes of the server, read from its source

/// Every `(METHOD, path)` that `src/api/mod.rs` routes, with the prefix its router is nested
/// under. It reads `let name = "…"` / `format!("…")` bindings and `.route(path, get(…).post(…))`
/// calls, which is how that file declares its routes.
fn server_routes() -> BTreeSet<Operation> {
    let source = read(ROUTES_SOURCE);
    let mut routes = BTreeSet::new();
    for (function, prefix) in ROUTERS {
        assert!(
            prefix.is_empty() || source.contains(&format!("\"{prefix}\"")),
            "{ROUTES_SOURCE} no longer nests a router under {prefix:?}; update {DOCUMENT} and this test"
        );
        let start = source.find(function).unwrap_or_else(|| panic!("{ROUTES_SOURCE} has no `{function}`"));
        let body = &source[start..];
        let body = balanced(&body[body.find('{').expect("a function body")..], ('{', '}'));
        let mut bindings = BTreeMap::new();
        for statement in body.split(';') {
            let binding =
                statement.find("let ").filter(|&at| at == 0 || statement[..at].ends_with(char::is_whitespace));
            if let Some(at) = binding
                && let Some((name, expression)) = statement[at + "let ".len()..].split_once('=')
                && let Some(value) = path_expression(expression, &bindings)
            {
                bindings.insert(name.trim().to_owned(), value);
            }
        }
        let mut found = 0;
        for (at, _) in body.match_indices(".route(") {
            let arguments = balanced(&body[at + ".route".len()..], ('(', ')'));
            let (path, handlers) = split_top_level_comma(arguments)
                .unwrap_or_else(|| panic!("{ROUTES_SOURCE}: cannot read `.route({arguments})`"));
            let path = path_expression(path, &bindings)
                .unwrap_or_else(|| panic!("{ROUTES_SOURCE}: cannot read the path of `.route({arguments})`"));
            let path = format!("{prefix}{path}");
            let methods = route_methods(handlers);
            assert!(!methods.is_empty(), "{ROUTES_SOURCE}: no method in `.route({arguments})`");
            for method in methods {
                routes.insert((method.to_uppercase(), path.clone()));
            }
            found += 1;
        }
        assert!(prefix.is_empty() || found > 0, "{ROUTES_SOURCE}: no `.route(` in `{function}`");
    }
    routes
}

/// The text inside the brackets (`open`, `close`) that `text` starts with; brackets inside
/// string literals do not count.
fn balanced(text: &str, (open, close): (char, char)) -> &str {
    assert!(text.starts_with(open));
    let mut depth = 0;
    let mut in_string = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_string = !in_string,
            c if c == open && !in_string => depth += 1,
            c if c == close && !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &text[1..i];
                }
            }
            _ => {}
        }
    }
    panic!("{ROUTES_SOURCE}: unbalanced {open}{close} in {text:.80}")
}

fn split_top_level_comma(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0;
    let mut in_string = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// The path a Rust expression of that file stands for: a string literal, `format!("…")` with
/// `{binding}` and `{{`/`}}`, or a binding, each maybe borrowed with `&`. `None` for anything
/// else (other `let`s of a router function are not paths).
fn path_expression(expression: &str, bindings: &BTreeMap<String, String>) -> Option<String> {
    let expression = expression.trim().trim_start_matches('&').trim();
    let literal = |text: &str| text.trim().strip_prefix('"')?.strip_suffix('"').map(str::to_owned);
    if let Some(arguments) = expression.strip_prefix("format!(").and_then(|t| t.strip_suffix(')')) {
        let template = literal(arguments)?;
        let mut out = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    chars.next();
                    out.push(c);
                }
                ('{', _) => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push_str(bindings.get(&name)?);
                }
                _ => out.push(c),
            }
        }
        Some(out)
    } else if expression.starts_with('"') {
        literal(expression)
    } else {
        bindings.get(expression).cloned()
    }
}

/// The HTTP methods of a handler chain such as `get(a::b).put(a::c)`.
fn route_methods(handlers: &str) -> Vec<&'static str> {
    let mut methods = Vec::new();
    for method in METHODS {
        for (at, _) in handlers.match_indices(&format!("{method}(")) {
            let before = handlers[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                methods.push(method);
            }
        }
    }
    methods
}

// ---------------------------------------------------------------------------------------------
// A session that checks every answer

/// HTTP statuses seen per operation, over every server of the test, and every answer.
#[derive(Default)]
struct Coverage(Mutex<BTreeMap<Operation, BTreeSet<u16>>>, Mutex<Vec<Answer>>);

/// One answer of the session: the request's method and path (without the query), the HTTP
/// status and the body.
pub(crate) struct Answer {
    method: Method,
    path: String,
    status: u16,
    body: Value,
}

struct Session<'a> {
    server: &'a Server,
    spec: &'a Spec,
    coverage: &'a Coverage,
}

impl Session<'_> {
    /// Sends the request, finds the documented operation, and checks the answer (and, when the
    /// server accepted it, the request body) against the document. Returns status and body.
    async fn call(&self, method: Method, path_and_query: &str, body: Option<Value>) -> (u16, Value) {
        let (key, name) = self.operation(&method, path_and_query);
        let operation = self.spec.operation(&key).expect("checked by Session::operation");
        let query = path_and_query.split_once('?').map_or("", |(_, query)| query);

        let documented = self.spec.query_parameters(operation);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let parameter = pair.split_once('=').map_or(pair, |(k, _)| k);
            assert!(documented.contains(parameter), "{name}: query parameter {parameter:?} is not documented");
        }

        let url = format!("{}{path_and_query}", self.server.base());
        let (status, answer) = self.server.request(method.clone(), &url, body.as_ref()).await;
        let code = answer.pointer("/errors/0/code").and_then(Value::as_i64);
        if matches!(code, Some(7003 | 7001)) {
            panic!("{name}: the server has no such route (code {code:?}) for {method} {path_and_query}: {answer:#}");
        }
        let schema = self
            .spec
            .response_schema(operation, status)
            .unwrap_or_else(|why| panic!("{name}: {why}; {method} {path_and_query} answered:\n{answer:#}"));
        let violations = self.spec.violations(schema, &answer);
        assert!(
            violations.is_empty(),
            "{name}: the HTTP {status} answer to {method} {path_and_query} does not match {DOCUMENT}:\n  {}\nbody:\n{answer:#}",
            violations.join("\n  ")
        );
        if (200..300).contains(&status)
            && let (Some(sent), Some(schema)) = (&body, self.spec.request_schema(operation))
        {
            let violations = self.spec.violations(schema, sent);
            assert!(
                violations.is_empty(),
                "{name}: the server accepted a request body that {DOCUMENT} refuses:\n  {}\nrequest body:\n{sent:#}",
                violations.join("\n  ")
            );
        }
        self.coverage.0.lock().unwrap().entry(key).or_default().insert(status);
        let path = path_and_query.split_once('?').map_or(path_and_query, |(path, _)| path).to_owned();
        self.coverage.1.lock().unwrap().push(Answer { method, path, status, body: answer.clone() });
        (status, answer)
    }

    /// The documented operation a request falls under, and a name for it in messages:
    /// `operationId (METHOD /path/template)`.
    fn operation(&self, method: &Method, path_and_query: &str) -> (Operation, String) {
        let path = path_and_query.split_once('?').map_or(path_and_query, |(path, _)| path);
        let template = self
            .spec
            .template_for(path)
            .unwrap_or_else(|| panic!("{method} {path}: no path of {DOCUMENT} matches this URL"));
        let key = (method.as_str().to_owned(), template);
        let operation =
            self.spec.operation(&key).unwrap_or_else(|| panic!("{method} {} is not documented in {DOCUMENT}", key.1));
        let id = operation["operationId"].as_str().unwrap_or("no operationId");
        let name = format!("{id} ({method} {})", key.1);
        (key, name)
    }

    /// A call that must succeed; returns `result`.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (_, name) = self.operation(&method, path);
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(
            (status, &answer["success"]),
            (200, &json!(true)),
            "{name}: {method} {path} did not succeed: {answer:#}\n--- server logs ---\n{}",
            self.server.logs()
        );
        answer["result"].clone()
    }

    /// A call that must fail with HTTP `http` and error `code`.
    async fn fails(&self, method: Method, path: &str, body: Option<Value>, http: u16, code: i64) {
        let (_, name) = self.operation(&method, path);
        let what = format!("{name}: {method} {path}");
        assert_api_error(&what, self.call(method, path, body).await, http, Some(code));
    }
}

fn ids(result: &Value) -> Vec<&str> {
    result
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {result:#}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Every `$ref` string under `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_complete_and_consistent() {
    let spec = Spec::load();
    let mut targets = Vec::new();
    refs(&spec.doc, &mut targets);
    for target in targets {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{DOCUMENT}: non-local $ref {target}"));
        assert!(spec.doc.pointer(pointer).is_some(), "{DOCUMENT}: dangling $ref {target}");
    }
    let mut operation_ids = BTreeSet::new();
    for key in spec.operations() {
        let operation = spec.operation(&key).unwrap();
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{key:?} has no operationId"));
        assert!(operation_ids.insert(id.to_owned()), "{DOCUMENT}: operationId {id} is used twice");
        let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{id}: no responses"));
        assert!(responses.contains_key("200"), "{id}: no 200 answer documented");
        let errors: Vec<&String> = responses.keys().filter(|status| status.starts_with(['4', '5'])).collect();
        assert!(errors.iter().any(|status| status.starts_with('4')), "{id}: no 4xx answer documented");
        for status in errors {
            let schema = spec.resolve(&responses[status]).pointer("/content/application~1json/schema");
            let envelope = json!({ "$ref": "#/components/schemas/ErrorEnvelope" });
            assert_eq!(schema, Some(&envelope), "{id}: the HTTP {status} answer is not the error envelope");
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten().map(|p| spec.resolve(p)) {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap();
                assert!(key.1.contains(&format!("{{{name}}}")), "{id}: path parameter {name} is not in {}", key.1);
            }
        }
    }
    // Every schema compiles once converted.
    for (name, schema) in spec.schemas.as_object().unwrap() {
        spec.violations(&json!({ "$ref": format!("#/components/schemas/{name}") }), &Value::Null);
        assert!(schema.is_object() || schema.is_boolean(), "{name} is not a schema");
    }
}

#[tokio::test]
async fn the_server_answers_as_its_openapi_document_says() {
    let spec = Spec::load();
    let coverage = Coverage::default();

    // The document and the router list the same operations.
    let documented = spec.operations();
    let routed = server_routes();
    let not_api: BTreeSet<Operation> = NOT_API.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = routed.difference(&documented).filter(|route| !not_api.contains(*route)).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes of {ROUTES_SOURCE} missing from {DOCUMENT}: {undocumented:#?}");
    assert!(unrouted.is_empty(), "operations of {DOCUMENT} that {ROUTES_SOURCE} does not route: {unrouted:#?}");

    let server = Server::start("basic");
    let s = Session { server: &server, spec: &spec, coverage: &coverage };
    session(&s).await;
    drop(server);

    // With --api-token, every control route answers 401 without the token.
    let persist = tempfile::tempdir().expect("create a persistence dir");
    let guarded = Server::start_with("basic", persist.path(), &["--api-token", "local-secret"]);
    let s = Session { server: &guarded, spec: &spec, coverage: &coverage };
    s.fails(Method::GET, &format!("/client/v4/accounts/{ACCOUNT}/workflows"), None, 401, 10000).await;
    s.fails(Method::GET, "/cdn-cgi/local/explorer/api/workflows", None, 401, 10000).await;
    drop(guarded);

    let seen = coverage.0.into_inner().unwrap();
    let never: Vec<_> = documented.iter().filter(|op| !seen.contains_key(*op)).collect();
    assert!(never.is_empty(), "operations of {DOCUMENT} the session never called: {never:#?}");
    let never_ok: Vec<_> = seen.iter().filter(|(_, statuses)| !statuses.contains(&200)).collect();
    assert!(never_ok.is_empty(), "operations that never answered 200 (their 200 schema is unchecked): {never_ok:#?}");

    // The same answers, against Cloudflare's own document.
    cloudflare::check(&coverage.1.into_inner().unwrap());
}

/// Calls every operation of the document on a server of the `basic` fixture.
async fn session(s: &Session<'_>) {
    use Method as M;
    let server = s.server;
    let v4 = format!("/client/v4/accounts/{ACCOUNT}/workflows");
    let ex = "/cdn-cgi/local/explorer/api/workflows";
    let instances = |wf: &str| format!("{v4}/{wf}/instances");
    let instance = |wf: &str, id: &str| format!("{v4}/{wf}/instances/{id}");

    // Workflows and settings.
    let all = s.ok(M::GET, &format!("{v4}?per_page=100"), None).await;
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"event-info") && names.contains(&"slow"), "{all:#}");
    let some = s.ok(M::GET, &format!("{v4}/?search=wait&page=1&per_page=5"), None).await;
    assert!(!some.as_array().unwrap().is_empty(), "{some:#}");
    s.fails(M::GET, &format!("{v4}?per_page=0"), None, 400, 10002).await;
    s.ok(M::GET, &format!("{v4}/settings"), None).await;
    let retention = json!({ "default_retention": { "error_retention": "7 days", "success_retention": 86_400_000 } });
    let settings = s.ok(M::PATCH, &format!("{v4}/settings"), Some(retention)).await;
    assert_eq!(settings["default_retention"]["success_retention"], 86_400_000, "{settings:#}");
    let bad_retention = json!({ "default_retention": { "error_retention": true } });
    s.fails(M::PATCH, &format!("{v4}/settings"), Some(bad_retention), 400, 10002).await;
    let workflow = s.ok(M::GET, &format!("{v4}/event-info"), None).await;
    s.fails(M::GET, &format!("{v4}/no-such-workflow"), None, 404, 10200).await;
    let binding = json!({ "class_name": workflow["class_name"], "script_name": workflow["script_name"] });
    let put = s.ok(M::PUT, &format!("{v4}/event-info"), Some(binding.clone())).await;
    assert_eq!(put["id"], workflow["id"], "{put:#}");
    let rebind = json!({ "class_name": "Other", "script_name": workflow["script_name"] });
    s.fails(M::PUT, &format!("{v4}/event-info"), Some(rebind), 400, 10002).await;
    s.fails(M::PUT, &format!("{v4}/no-such-workflow"), Some(binding), 404, 10200).await;

    // An instance that completes at once, described every way; the `/step` output.
    let body = json!({ "instance_id": "oa-info", "params": { "n": 1 } });
    let created = s.ok(M::POST, &instances("event-info"), Some(body)).await;
    assert_eq!(created["status"], "queued", "{created:#}");
    let again = json!({ "instance_id": "oa-info" });
    s.fails(M::POST, &instances("event-info"), Some(again), 409, 10405).await;
    let generated = s.ok(M::POST, &format!("{}/", instances("event-info")), None).await;
    let generated = generated["id"].as_str().unwrap().to_owned();
    server.wait_for_status("event-info", "oa-info", &["complete"]).await;
    server.wait_for_status("event-info", &generated, &["complete"]).await;
    let info = instance("event-info", "oa-info");
    let d = s.ok(M::GET, &info, None).await;
    assert_eq!(d["output"]["payload"], json!({ "n": 1 }), "{d:#}");
    let simple = s.ok(M::GET, &format!("{info}?simple=true"), None).await;
    assert!(simple.get("steps").is_none(), "simple=true leaves the steps out: {simple:#}");
    s.ok(M::GET, &format!("{info}?order=desc&simple=false"), None).await;
    s.fails(M::GET, &format!("{info}?order=sideways"), None, 400, 10002).await;
    s.fails(M::GET, &instance("event-info", "oa-missing"), None, 404, 10400).await;
    let step = s.ok(M::GET, &format!("{info}/step?name=info-1&type=step"), None).await;
    assert_eq!(step["status"], "complete", "{step:#}");
    s.ok(M::GET, &format!("{info}/step?name=info-1&type=do&attempt=1"), None).await;
    s.fails(M::GET, &format!("{info}/step?name=nope-1&type=step"), None, 404, 10401).await;
    // Its events, as a stream that ends with the terminal one.
    let (code, stream) = s.call(M::GET, &format!("{info}/subscribe?cursor=0&filter=workflow_completed"), None).await;
    assert_eq!(code, 200, "{stream:#}");
    assert!(stream.as_str().is_some_and(|text| text.contains("\"type\":\"workflow_completed\"")), "{stream:#}");
    s.fails(M::GET, &format!("{info}/subscribe?cursor=-1"), None, 400, 10002).await;
    s.fails(M::GET, &format!("{}/subscribe", instance("event-info", "oa-missing")), None, 404, 10400).await;

    // A waiting instance, before and after its event.
    s.ok(M::POST, &instances("wait-event"), Some(json!({ "instance_id": "oa-wait", "params": {} }))).await;
    server.wait_for_status("wait-event", "oa-wait", &["waiting"]).await;
    let wait = instance("wait-event", "oa-wait");
    let d = s.ok(M::GET, &wait, None).await;
    assert!(d["steps"].as_array().unwrap().iter().any(|st| st["type"] == "waitForEvent"), "{d:#}");
    let waiting = s.ok(M::GET, &format!("{wait}/step?name=approval-1&type=waitForEvent"), None).await;
    assert_eq!(waiting["status"], "waiting", "{waiting:#}");
    s.ok(M::POST, &format!("{wait}/events/approve"), Some(json!({ "ok": true }))).await;
    let lost = format!("{}/events/approve", instance("wait-event", "oa-missing"));
    s.fails(M::POST, &lost, Some(json!({})), 404, 10400).await;
    s.fails(M::POST, &format!("{wait}/events/-bad"), Some(json!({})), 400, 10002).await;
    server.wait_for_status("wait-event", "oa-wait", &["complete"]).await;
    s.ok(M::GET, &wait, None).await;
    let received = s.ok(M::GET, &format!("{wait}/step?name=approval-1&type=waitForEvent"), None).await;
    assert_eq!(received["output"], json!({ "ok": true }), "{received:#}");

    // A sleeping instance.
    s.ok(M::POST, &instances("replay"), Some(json!({ "instance_id": "oa-nap", "params": { "sleepMs": 600_000 } })))
        .await;
    server.wait_for_status("replay", "oa-nap", &["waiting"]).await;
    let d = s.ok(M::GET, &instance("replay", "oa-nap"), None).await;
    assert!(d["steps"].as_array().unwrap().iter().any(|st| st["type"] == "sleep"), "{d:#}");

    // Paused, resumed, terminated, restarted.
    let slow = instance("slow", "oa-slow");
    let params = json!({ "steps": 40, "stepMs": 150 });
    s.ok(M::POST, &instances("slow"), Some(json!({ "instance_id": "oa-slow", "params": params }))).await;
    server
        .wait_for("slow", "oa-slow", "a finished step", |d| {
            d["steps"].as_array().is_some_and(|st| st.iter().any(|st| st["success"] == true))
        })
        .await;
    let paused = s.ok(M::PATCH, &format!("{slow}/status"), Some(json!({ "status": "pause" }))).await;
    assert!(["paused", "waitingForPause"].contains(&status(&paused)), "{paused:#}");
    server.wait_for_status("slow", "oa-slow", &["paused"]).await;
    s.ok(M::GET, &slow, None).await;
    s.ok(M::PATCH, &format!("{slow}/status"), Some(json!({ "status": "pause" }))).await;
    s.ok(M::PATCH, &format!("{slow}/status"), Some(json!({ "status": "resume" }))).await;
    let ended = json!({ "status": "terminate", "rollback": false });
    let terminated = s.ok(M::PATCH, &format!("{slow}/status"), Some(ended.clone())).await;
    assert_eq!(terminated["status"], "terminated", "{terminated:#}");
    s.fails(M::PATCH, &format!("{slow}/status"), Some(ended), 409, 10403).await;
    s.fails(M::PATCH, &format!("{slow}/status"), Some(json!({ "status": "explode" })), 400, 10002).await;
    let d = s.ok(M::GET, &slow, None).await;
    assert_eq!(d["steps"].as_array().unwrap().last().unwrap()["type"], "termination", "{d:#}");
    let missing_step = json!({ "status": "restart", "from": { "name": "no-such-step" } });
    s.fails(M::PATCH, &format!("{slow}/status"), Some(missing_step), 409, 10403).await;
    let from = json!({ "status": "restart", "from": { "name": "work0", "count": 1, "type": "do" } });
    let restarted = s.ok(M::PATCH, &format!("{slow}/status"), Some(from)).await;
    assert_eq!(restarted["status"], "queued", "{restarted:#}");

    // An errored instance.
    s.ok(M::POST, &instances("boom"), Some(json!({ "instance_id": "oa-boom" }))).await;
    server.wait_for_status("boom", "oa-boom", &["errored"]).await;
    let d = s.ok(M::GET, &instance("boom", "oa-boom"), None).await;
    assert_eq!(d["error"]["message"], "boom", "{d:#}");
    s.ok(M::GET, &format!("{}/step?name=fine-1&type=step", instance("boom", "oa-boom")), None).await;

    // A batch, the list in every form, and terminating many at once.
    let long = json!({ "steps": 100, "stepMs": 200 });
    let batch = json!([
        { "instance_id": "oa-b1", "params": long },
        { "instance_id": "oa-b2", "params": long },
        { "instance_id": "oa-b3", "params": { "steps": 1, "stepMs": 1 } },
    ]);
    let made = s.ok(M::POST, &format!("{}/batch", instances("slow")), Some(batch)).await;
    assert_eq!(ids(&made), ["oa-b1", "oa-b2", "oa-b3"], "{made:#}");
    let batch = json!([{ "instance_id": "oa-b1" }, { "instance_id": "oa-b4", "params": long }]);
    let made = s.ok(M::POST, &format!("{}/batch", instances("slow")), Some(batch)).await;
    assert_eq!(ids(&made), ["oa-b4"], "ids that exist are skipped: {made:#}");
    s.fails(M::POST, &format!("{}/batch", instances("slow")), Some(json!([])), 400, 10002).await;
    let (status, first) = s.call(M::GET, &format!("{}?per_page=2", instances("slow")), None).await;
    assert_eq!(status, 200, "{first:#}");
    let cursor = first["result_info"]["cursor"].as_str().unwrap().to_owned();
    assert!(!cursor.is_empty(), "five instances, two a page: {first:#}");
    s.ok(M::GET, &format!("{}?per_page=2&cursor={cursor}", instances("slow")), None).await;
    let window = "date_start=2000-01-01T00:00:00Z&date_end=2999-01-01T00:00:00.000Z";
    s.ok(M::GET, &format!("{}/?status=running&direction=asc&{window}", instances("slow")), None).await;
    s.ok(M::GET, &format!("{}?page=2&per_page=3", instances("slow")), None).await;
    s.fails(M::GET, &format!("{}?status=sleepy", instances("slow")), None, 400, 10002).await;
    let some = json!(["oa-b1", "oa-missing"]);
    let terminated = s.ok(M::POST, &format!("{}/batch/terminate", instances("slow")), Some(some)).await;
    assert_eq!(terminated["instancesTerminated"], 1, "{terminated:#}");
    s.fails(M::POST, &format!("{}/batch/terminate", instances("slow")), Some(json!([])), 400, 10002).await;
    s.ok(M::GET, &format!("{}/terminate", instances("slow")), None).await;
    s.ok(M::PUT, &format!("{}/terminate?status=running", instances("slow")), None).await;
    s.fails(M::PUT, &format!("{}/terminate?status=complete", instances("slow")), None, 400, 10002).await;
    s.ok(M::PUT, &format!("{}/terminate", instances("slow")), None).await;
    s.ok(M::PUT, &format!("{}/terminate", instances("replay")), None).await;
    server.wait_for_status("replay", "oa-nap", &["terminated"]).await;
    s.fails(M::GET, &format!("{}/terminate", instances("no-such-workflow")), None, 404, 10200).await;

    // Deleting one and many.
    s.ok(M::DELETE, &info, None).await;
    s.fails(M::DELETE, &info, None, 404, 10400).await;
    let doomed = json!({ "instances": ["oa-b1", "oa-b2", "oa-missing"] });
    let deleted = s.ok(M::POST, &format!("{}/batch/delete", instances("slow")), Some(doomed)).await;
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 2, "{deleted:#}");
    assert_eq!(deleted["errors"][0]["code"], 10400, "{deleted:#}");
    let none = json!({ "instances": [] });
    s.fails(M::POST, &format!("{}/batch/delete", instances("slow")), Some(none), 400, 10002).await;

    // Versions.
    let versions = s.ok(M::GET, &format!("{v4}/event-info/versions?per_page=5&page=1"), None).await;
    let version = versions[0]["id"].as_str().unwrap_or_else(|| panic!("no version: {versions:#}")).to_owned();
    let version = format!("{v4}/event-info/versions/{version}");
    s.ok(M::GET, &version, None).await;
    let dag = s.ok(M::GET, &format!("{version}/dag"), None).await;
    assert_eq!(dag["dag"], Value::Null, "{dag:#}");
    let graph = s.ok(M::GET, &format!("{version}/graph"), None).await;
    assert_eq!(graph["graph"], Value::Null, "{graph:#}");
    let unknown = format!("{v4}/event-info/versions/00000000-0000-4000-8000-000000000000");
    s.fails(M::GET, &unknown, None, 404, 10300).await;
    s.fails(M::GET, &format!("{unknown}/dag"), None, 404, 10300).await;

    // The Local Explorer API.
    let explored = format!("{ex}/wait-event/instances");
    s.ok(M::GET, ex, None).await;
    s.ok(M::GET, &format!("{ex}/wait-event"), None).await;
    s.fails(M::GET, &format!("{ex}/no-such-workflow"), None, 404, 10200).await;
    let x = s.ok(M::POST, &explored, Some(json!({ "id": "oa-x", "params": { "from": "explorer" } }))).await;
    assert_eq!(x, json!({ "id": "oa-x" }));
    let other = s.ok(M::POST, &explored, Some(json!({}))).await["id"].as_str().unwrap().to_owned();
    s.fails(M::POST, &explored, Some(json!({ "id": "oa-x" })), 409, 10405).await;
    server.wait_for_status("wait-event", "oa-x", &["waiting"]).await;
    s.ok(M::GET, &format!("{explored}?per_page=10&page=1&status=waiting"), None).await;
    let one = format!("{explored}/oa-x");
    let d = s.ok(M::GET, &one, None).await;
    assert_eq!(d["id"], "oa-x", "{d:#}");
    s.ok(M::PATCH, &format!("{one}/status"), Some(json!({ "action": "pause" }))).await;
    s.ok(M::PATCH, &format!("{one}/status"), Some(json!({ "status": "resume" }))).await;
    s.ok(M::POST, &format!("{one}/events/approve"), Some(json!({ "via": "explorer" }))).await;
    server.wait_for_status("wait-event", "oa-x", &["complete"]).await;
    s.ok(M::GET, &one, None).await;
    let deleted = s.ok(M::POST, &format!("{explored}/batch/delete"), Some(json!({ "instances": [other] }))).await;
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 1, "{deleted:#}");
    s.ok(M::DELETE, &one, None).await;
    s.fails(M::DELETE, &one, None, 404, 10400).await;
    s.ok(M::DELETE, &format!("{ex}/boom"), None).await;

    // Deleting a workflow's instances over v4.
    s.ok(M::DELETE, &format!("{v4}/wait-event"), None).await;
    s.fails(M::DELETE, &format!("{v4}/no-such-workflow"), None, 404, 10200).await;
    let left = s.ok(M::GET, &instances("wait-event"), None).await;
    assert_eq!(left, json!([]), "{left:#}");
}
