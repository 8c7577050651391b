//! TypeScript → JavaScript transpilation for user Worker modules.
//!
//! Workers may be written in TypeScript, but the embedded JavaScript engine only
//! understands JavaScript. This module owns the in-process conversion: it parses
//! the module, strips the TypeScript-only syntax (annotations, interfaces, type
//! aliases, type-only imports, ...), compiles the TypeScript constructs that have
//! runtime meaning (`enum`, `namespace`, parameter properties) and prints the
//! result back out as an ES module.
//!
//! Nothing else is lowered: the engine supports modern ECMAScript, so async
//! functions, optional chaining, class fields and the like are emitted as
//! written. Keeping the output close to the input also keeps runtime stack
//! traces readable.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use oxc::{
    allocator::Allocator,
    codegen::Codegen,
    diagnostics::{LabeledSpan, OxcDiagnostic},
    parser::Parser,
    semantic::SemanticBuilder,
    span::SourceType,
    transformer::{HelperLoaderMode, Module, TransformOptions, Transformer},
};

/// Failure to turn a TypeScript module into JavaScript.
#[derive(Debug, thiserror::Error)]
pub enum TranspileError {
    /// The source is not valid TypeScript. `line` and `column` are 1-based and
    /// point at the first problem; `message` lists every problem found.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
}

/// File extensions treated as TypeScript. JSX flavours are deliberately absent:
/// Workers run no JSX, and compiling it would need a JSX runtime we don't have.
const TYPESCRIPT_EXTENSIONS: [&str; 3] = ["ts", "mts", "cts"];

/// Whether `path` names a TypeScript module that must go through
/// [`to_javascript`] before the engine can load it.
pub fn is_typescript(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| TYPESCRIPT_EXTENSIONS.iter().any(|ts| ext.eq_ignore_ascii_case(ts)))
}

/// Returns JavaScript for `source`. `.ts`, `.mts`, `.cts` are stripped of
/// types; `.js`/`.mjs`/`.cjs` (and any other extension) are returned unchanged
/// without being parsed, so plain JavaScript costs nothing here.
pub fn to_javascript(path: &Path, source: &str) -> Result<String, TranspileError> {
    if !is_typescript(path) {
        return Ok(source.to_owned());
    }
    // The compiler is expected never to panic, but a panic here would take
    // down the whole emulator because of one user file; report it as a failure
    // of that file instead. All state touched inside is local to the call, so
    // nothing is left half-updated if it unwinds.
    match catch_unwind(AssertUnwindSafe(|| transpile_typescript(path, source))) {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_owned());
            Err(TranspileError::Syntax {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("TypeScript compiler failed unexpectedly: {reason}"),
            })
        }
    }
}

fn transpile_typescript(path: &Path, source: &str) -> Result<String, TranspileError> {
    let allocator = Allocator::default();

    // Always parse as a module, whatever the extension says: the engine loads
    // every Worker file as an ES module, so `.cts` or a `.ts` file with no
    // imports must still get module semantics (strict mode, top-level await).
    let mut program = parse(&allocator, path, source, SourceType::ts().with_module(true))?;

    // Syntax checking catches errors the parser defers (redeclared bindings,
    // misplaced `break`, ...) so they surface here with a location rather than
    // later as an opaque engine error. Enum evaluation is required by the enum
    // transform to emit correct reverse mappings.
    let semantic = SemanticBuilder::new().with_check_syntax_error(true).with_enum_eval(true).build(&program);
    if semantic.diagnostics.has_errors() {
        return Err(syntax_error(path, source, semantic.diagnostics.errors()));
    }
    let scoping = semantic.semantic.into_scoping();

    // The default options strip TypeScript and lower nothing else: no target is
    // set, so no ECMAScript transform is enabled, and `import`/`export` stay as
    // written. Declaring the output to be an ES module makes the CommonJS-only
    // forms (`import x = require(...)`, `export = x`) errors here; otherwise
    // they would become `require`/`module.exports`, which the engine lacks.
    let mut options = TransformOptions::default();
    options.env.module = Module::Esm;
    transform(&allocator, path, source, &mut program, scoping, &options)?;
    Ok(Codegen::new().build(&program).code)
}

/// Parses `source`, failing with the first problem's location.
fn parse<'a>(
    allocator: &'a Allocator,
    path: &Path,
    source: &'a str,
    source_type: SourceType,
) -> Result<oxc::ast::ast::Program<'a>, TranspileError> {
    let parsed = Parser::new(allocator, source, source_type).parse();
    if parsed.panicked || parsed.diagnostics.has_errors() {
        return Err(syntax_error(path, source, parsed.diagnostics.errors()));
    }
    Ok(parsed.program)
}

/// Runs the transforms `options` enable over `program`. The transformer reports constructs it
/// cannot compile faithfully (the CommonJS forms of TypeScript, mutable namespace exports, ...)
/// as warnings while still emitting code that would misbehave at runtime, so any report at all
/// fails the file with a location instead.
fn transform<'a>(
    allocator: &'a Allocator,
    path: &Path,
    source: &str,
    program: &mut oxc::ast::ast::Program<'a>,
    scoping: oxc::semantic::Scoping,
    options: &TransformOptions,
) -> Result<(), TranspileError> {
    let transformed = Transformer::new(allocator, path, options).build_with_scoping(scoping, program);
    let reports = transformed.diagnostics.into_vec();
    if !reports.is_empty() {
        return Err(syntax_error(path, source, reports.iter()));
    }
    Ok(())
}

/// Rewrites every `async` function of `javascript` (an ES module when `module`, else script code)
/// into a generator driven by `babelHelpers.asyncToGenerator`, so that each `await` resumes
/// through a `then` callback: that is where `node:async_hooks` carries an
/// `AsyncLocalStorage` store across it, since QuickJS's own `await` offers no hook. Nothing else
/// is changed. Code that does not say `async` is returned as it is.
pub fn lower_async_functions(path: &Path, javascript: &str, module: bool) -> Result<String, TranspileError> {
    if !javascript.contains("async") {
        return Ok(javascript.to_owned());
    }
    let allocator = Allocator::default();
    let source_type = if module { SourceType::mjs() } else { SourceType::cjs() };
    let mut program = parse(&allocator, path, javascript, source_type)?;
    let scoping = SemanticBuilder::new().build(&program).semantic.into_scoping();
    let mut options = TransformOptions::default();
    options.env.es2017.async_to_generator = true;
    // `for await` and async generators must be rewritten too: a generator cannot hold them.
    options.env.es2018.async_generator_functions = true;
    options.helper_loader.mode = HelperLoaderMode::External;
    transform(&allocator, path, javascript, &mut program, scoping, &options)?;
    Ok(Codegen::new().build(&program).code)
}

/// Builds the error for a failed stage, located at the first diagnostic and
/// carrying every diagnostic's message so a user can fix them in one pass.
fn syntax_error<'d>(path: &Path, source: &str, diagnostics: impl Iterator<Item = &'d OxcDiagnostic>) -> TranspileError {
    let mut first: Option<(usize, usize)> = None;
    let mut message = String::new();
    for diagnostic in diagnostics {
        let location = location_label(diagnostic);
        let (line, column) = location.map_or((1, 1), |label| line_column(source, label.offset() as usize));
        if first.is_some() {
            message.push_str(&format!("\n{}:{line}:{column}: ", path.display()));
        } else {
            first = Some((line, column));
        }
        message.push_str(&describe(source, diagnostic, location));
    }
    let (line, column) = first.unwrap_or((1, 1));
    if message.is_empty() {
        message.push_str("invalid TypeScript");
    }
    TranspileError::Syntax { path: path.to_path_buf(), line, column, message }
}

/// The label a diagnostic is reported at: its primary label if it marks one,
/// otherwise its first.
fn location_label(diagnostic: &OxcDiagnostic) -> Option<&LabeledSpan> {
    diagnostic.labels.iter().find(|label| label.primary()).or_else(|| diagnostic.labels.first())
}

/// The diagnostic's message, followed by what its other labels say (e.g. where
/// a clashing name is redeclared, or where an unclosed bracket opened) and its
/// hint, which often names exactly what to change. The label already used as
/// the location is left out: its text only restates the message.
fn describe(source: &str, diagnostic: &OxcDiagnostic, location: Option<&LabeledSpan>) -> String {
    let mut text = diagnostic.message.to_string();
    let notes: Vec<String> = diagnostic
        .labels
        .iter()
        .filter(|label| !location.is_some_and(|shown| std::ptr::eq(*label, shown)))
        .filter_map(|label| {
            let note = label.label()?;
            let (line, column) = line_column(source, label.offset() as usize);
            Some(format!("{note} at {line}:{column}"))
        })
        .collect();
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join("; ")));
    }
    if let Some(help) = &diagnostic.help {
        text.push_str(&format!(" (help: {help})"));
    }
    text
}

/// Converts a byte offset into a 1-based line and column, counting the column
/// in characters so it matches what an editor shows. Offsets past the end or
/// inside a multi-byte character are clamped rather than trusted.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(source: &str) -> String {
        match to_javascript(Path::new("worker.ts"), source) {
            Ok(js) => js,
            Err(err) => panic!("transpile failed: {err}"),
        }
    }

    #[test]
    fn detects_typescript_extensions() {
        for name in ["a.ts", "a.mts", "a.cts", "dir/A.TS", "a.d.ts"] {
            assert!(is_typescript(Path::new(name)), "{name}");
        }
        for name in ["a.js", "a.mjs", "a.cjs", "a.tsx", "a", "ts", "a.ts.js"] {
            assert!(!is_typescript(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn javascript_is_returned_unchanged_without_parsing() {
        // Deliberately invalid: a parse would fail, so success proves no parse.
        let source = "export const x = ; // not valid";
        for name in ["a.js", "a.mjs", "a.cjs"] {
            let out = to_javascript(Path::new(name), source).expect("js passes through");
            assert_eq!(out, source);
        }
    }

    #[test]
    fn strips_type_annotations_and_generics() {
        let out = ts("export function greet<T extends string>(name: T, times: number = 1): string {\n\
               const parts: Array<string> = [];\n\
               for (let i: number = 0; i < times; i++) parts.push(name);\n\
               return parts.join(\" \");\n\
             }\n\
             const id = <U,>(x: U): U => x;\n\
             export const n = id<number>(3);\n");
        assert!(!out.contains(": string"), "{out}");
        assert!(!out.contains(": number"), "{out}");
        assert!(!out.contains("<T"), "{out}");
        assert!(!out.contains("Array<string>"), "{out}");
        assert!(!out.contains("id<number>"), "{out}");
        assert!(out.contains("export function greet(name, times = 1)"), "{out}");
        assert!(out.contains("export const n = id(3)"), "{out}");
    }

    #[test]
    fn removes_interfaces_and_type_aliases() {
        let out = ts("interface Point { x: number; y: number }\n\
             type Pair<A> = [A, A];\n\
             export type Exported = { a: string };\n\
             export interface AlsoExported { b: number }\n\
             export const origin: Point = { x: 0, y: 0 };\n");
        assert!(!out.contains("interface"), "{out}");
        assert!(!out.contains("type "), "{out}");
        assert!(!out.contains("Pair"), "{out}");
        assert!(out.contains("export const origin = {"), "{out}");
    }

    #[test]
    fn removes_as_satisfies_and_non_null() {
        let out = ts("declare const input: unknown;\n\
             const a = input as string;\n\
             const b = { k: 1 } satisfies Record<string, number>;\n\
             const c = (globalThis as any).thing!.value!;\n\
             const d = <number>(input);\n\
             export { a, b, c, d };\n");
        assert!(!out.contains(" as "), "{out}");
        assert!(!out.contains("satisfies"), "{out}");
        assert!(!out.contains('!'), "{out}");
        assert!(!out.contains("declare"), "{out}");
        assert!(out.contains("globalThis.thing.value"), "{out}");
        assert!(out.contains("export {"), "{out}");
    }

    #[test]
    fn removes_type_only_imports_and_exports() {
        let out = ts("import type { Foo } from \"./foo\";\n\
             import { type Bar, baz } from \"./bar\";\n\
             export type { Foo };\n\
             export type { Qux } from \"./qux\";\n\
             export { type Bar };\n\
             export const v: Foo | Bar = baz();\n");
        assert!(!out.contains("./foo"), "{out}");
        assert!(!out.contains("./qux"), "{out}");
        assert!(!out.contains("Foo"), "{out}");
        assert!(!out.contains("Bar"), "{out}");
        assert!(out.contains("import { baz } from \"./bar\""), "{out}");
        assert!(out.contains("export const v = baz()"), "{out}");
    }

    #[test]
    fn drops_value_imports_used_only_as_types() {
        let out = ts("import { Used, OnlyType } from \"lib\";\n\
             import Default from \"other\";\n\
             import \"side-effect\";\n\
             export const x: OnlyType = new Used();\n\
             export function f(d: Default): void {}\n");
        assert!(out.contains("import { Used } from \"lib\""), "{out}");
        assert!(!out.contains("OnlyType"), "{out}");
        assert!(!out.contains("other"), "{out}");
        assert!(out.contains("import \"side-effect\""), "{out}");
    }

    #[test]
    fn compiles_enums() {
        let out = ts("export enum Color { Red, Green = 5, Blue }\n\
             enum Label { A = \"a\", B = \"b\" }\n\
             const enum Flag { On = 1, Off = 0 }\n\
             export const picked = [Color.Green, Label.A, Flag.On];\n");
        assert!(!out.contains("enum "), "{out}");
        assert!(out.contains("export let Color"), "{out}");
        assert!(out.contains("Color[Color[\"Red\"] = 0] = \"Red\""), "{out}");
        assert!(out.contains("Label[\"A\"] = \"a\""), "{out}");
        // Const enums stay as ordinary enum objects unless inlining is asked
        // for; either way the reference must keep working at runtime.
        assert!(out.contains("Flag"), "{out}");
        assert!(out.contains("export const picked"), "{out}");
    }

    #[test]
    fn compiles_namespaces_with_values() {
        let out = ts("export namespace Util {\n\
               export const version = 2;\n\
               export function twice(n: number): number { return n * 2; }\n\
               export interface Shape { n: number }\n\
             }\n\
             namespace TypesOnly { export type T = string }\n\
             export const v = Util.twice(Util.version);\n");
        assert!(!out.contains("namespace"), "{out}");
        assert!(out.contains("Util.twice = twice") || out.contains("_Util.twice"), "{out}");
        assert!(!out.contains("TypesOnly"), "{out}");
        assert!(out.contains("export let Util") || out.contains("export var Util"), "{out}");
    }

    #[test]
    fn rejects_mutable_namespace_exports() {
        // Compiled, `count` would stop tracking `Counter.count` after the first
        // reassignment, so refusing beats running subtly wrong code.
        let err = to_javascript(Path::new("ns.ts"), "export namespace Counter {\n  export let count = 0;\n}\n")
            .expect_err("mutable namespace export");
        assert!(err.to_string().starts_with("ns.ts:2:14: "), "{err}");
    }

    #[test]
    fn compiles_parameter_properties_and_keeps_class_fields() {
        let out = ts("export class Account {\n\
               static count: number = 0;\n\
               balance = 0;\n\
               #secret: string = \"s\";\n\
               declare readonly brand: string;\n\
               label?: string;\n\
               constructor(private readonly id: number, public owner: string, plain: boolean) {\n\
                 Account.count++;\n\
               }\n\
               get secret(): string { return this.#secret; }\n\
             }\n");
        assert!(out.contains("export class Account"), "{out}");
        assert!(out.contains("this.id = id"), "{out}");
        assert!(out.contains("this.owner = owner"), "{out}");
        assert!(out.contains("constructor(id, owner, plain)"), "{out}");
        // Class fields stay native rather than moving into the constructor.
        assert!(out.contains("static count = 0"), "{out}");
        assert!(out.contains("balance = 0"), "{out}");
        assert!(out.contains("#secret = \"s\""), "{out}");
        // `declare` fields have no runtime existence.
        assert!(!out.contains("brand"), "{out}");
        assert!(!out.contains("private"), "{out}");
        assert!(!out.contains("readonly"), "{out}");
    }

    #[test]
    fn handles_abstract_classes_and_implements() {
        let out = ts("interface Runner { run(): void }\n\
             export abstract class Base implements Runner {\n\
               abstract name: string;\n\
               abstract describe(): string;\n\
               protected helper(): number { return 1; }\n\
               run(): void { console.log(this.describe()); }\n\
             }\n\
             export class Impl extends Base { name = \"impl\"; describe() { return this.name; } }\n");
        assert!(!out.contains("abstract"), "{out}");
        assert!(!out.contains("implements"), "{out}");
        assert!(!out.contains("protected"), "{out}");
        assert!(!out.contains("describe();"), "{out}");
        assert!(out.contains("export class Base"), "{out}");
        assert!(out.contains("export class Impl extends Base"), "{out}");
    }

    #[test]
    fn accepts_valid_declaration_merging_and_overloads() {
        // Shapes that are legal TypeScript but would look like redeclarations
        // to a plain JavaScript checker; none may be reported as errors.
        let out = ts("interface Merged { a: number }\n\
             class Merged { b = 1 }\n\
             function over(a: string): string;\n\
             function over(a: number): number;\n\
             function over(a: any): any { return a; }\n\
             enum Twice { A = 1 }\n\
             enum Twice { B = 2 }\n\
             function withNs() { return withNs.extra; }\n\
             namespace withNs { export const extra = 1; }\n\
             declare function ambient(x: number): void;\n\
             declare namespace Ambient { const z: number; }\n\
             type Mapped<T> = { readonly [K in keyof T]?: T[K] extends string ? `s_${K & string}` : never };\n\
             abstract class Shape { abstract area(): number; [key: string]: unknown; }\n\
             let definite!: number;\n\
             function isNum(v: unknown): v is number { return typeof v === \"number\"; }\n\
             function assertStr(v: unknown): asserts v is string {}\n\
             const tuple: [a: number, b?: string, ...rest: boolean[]] = [1];\n\
             export { Merged, over, Twice, withNs, Shape, definite, isNum, assertStr, tuple };\n\
             export type { Mapped };\n");
        assert!(out.contains("class Merged {"), "{out}");
        assert_eq!(out.matches("function over(").count(), 1, "{out}");
        assert!(out.contains("Twice[Twice[\"B\"] = 2]"), "{out}");
        assert!(out.contains("_withNs.extra = 1"), "{out}");
        assert!(!out.contains("ambient"), "{out}");
        assert!(!out.contains("Ambient"), "{out}");
        assert!(!out.contains("Mapped"), "{out}");
        assert!(out.contains("export { Merged, over, Twice, withNs, Shape"), "{out}");
    }

    #[test]
    fn keeps_modern_javascript_as_is() {
        let out = ts("export class C {\n\
               static #n = 1;\n\
               field = globalThis?.x ?? 0;\n\
               static { C.#n++; }\n\
             }\n\
             export async function f(o?: { a?: { b: number } }) {\n\
               for await (const x of [Promise.resolve(1)]) {}\n\
               let y = o?.a?.b ?? 1;\n\
               y ||= 2; y **= 2;\n\
               const { a, ...rest } = { a: 1, b: 2 };\n\
               try { await null; } catch { }\n\
               return y + a + Object.keys(rest).length;\n\
             }\n\
             export const top = await f();\n");
        for kept in [
            "static #n = 1",
            "field = globalThis?.x ?? 0",
            "static {",
            "async function f(o)",
            "for await",
            "o?.a?.b ?? 1",
            "||=",
            "**=",
            "...rest",
            "catch {",
            "await f()",
        ] {
            assert!(out.contains(kept), "missing {kept:?} in:\n{out}");
        }
        assert!(!out.contains("require("), "{out}");
        assert!(!out.contains("_asyncToGenerator"), "{out}");
    }

    #[test]
    fn files_without_imports_are_still_modules() {
        // Top-level await is only legal in a module, so this proves the mode.
        let out = to_javascript(Path::new("script.cts"), "const x: number = await 1;\n").expect("parsed as module");
        assert!(out.contains("const x = await 1"), "{out}");
    }

    #[test]
    fn keeps_namespace_import_aliases() {
        let out = ts("namespace Outer { export const inner = 1; }\n\
             import alias = Outer.inner;\n\
             export const v = alias;\n");
        assert!(out.contains("var alias = Outer.inner"), "{out}");
    }

    #[test]
    fn rejects_commonjs_only_forms() {
        let err = to_javascript(Path::new("cjs.ts"), "import fs = require(\"fs\");\nexport const x = fs;\n")
            .expect_err("import-equals require is CommonJS");
        assert!(err.to_string().starts_with("cjs.ts:1:1: "), "{err}");

        let err = to_javascript(Path::new("cjs.cts"), "const x = 1;\n\nexport = x;\n")
            .expect_err("export assignment is CommonJS");
        assert!(err.to_string().starts_with("cjs.cts:3:1: "), "{err}");
    }

    #[test]
    fn transpiles_a_cloudflare_workflow() {
        let out = ts(r#"import { WorkflowEntrypoint, WorkflowStep, WorkflowEvent } from "cloudflare:workers";
type Env = { MY_WORKFLOW: Workflow };
type Params = { email: string; metadata: Record<string, string> };
export class MyWorkflow extends WorkflowEntrypoint<Env, Params> {
  async run(event: WorkflowEvent<Params>, step: WorkflowStep) {
    const files = await step.do("my first step", async () => ({ inputParams: event, files: ["a"] as string[] }));
    await step.sleep("wait on something", "1 minute");
    return files!;
  }
}
export default { async fetch(req: Request, env: Env): Promise<Response> { return new Response("ok"); } };
"#);
        assert!(out.contains("import { WorkflowEntrypoint } from \"cloudflare:workers\""), "{out}");
        assert!(!out.contains("WorkflowStep"), "{out}");
        assert!(!out.contains("WorkflowEvent"), "{out}");
        assert!(!out.contains("type "), "{out}");
        assert!(out.contains("export class MyWorkflow extends WorkflowEntrypoint {"), "{out}");
        assert!(out.contains("async run(event, step)"), "{out}");
        assert!(out.contains("files: [\"a\"]"), "{out}");
        assert!(out.contains("return files;"), "{out}");
        assert!(out.contains("export default {"), "{out}");
        assert!(out.contains("async fetch(req, env) {"), "{out}");
        assert!(!out.contains("Promise<Response>"), "{out}");
    }

    #[test]
    fn reports_parse_error_location() {
        let source = "const a = 1;\nexport function f(x: number) {\n  return x +* 2;\n}\n";
        let err = to_javascript(Path::new("src/bad.ts"), source).expect_err("syntax error");
        let TranspileError::Syntax { path, line, column, message } = &err;
        assert_eq!(path, Path::new("src/bad.ts"));
        assert_eq!((*line, *column), (3, 13), "{err}");
        assert!(!message.is_empty());
        assert!(err.to_string().starts_with("src/bad.ts:3:13: "), "{err}");
    }

    #[test]
    fn reports_semantic_error_location() {
        let source = "let a = 1;\n  let a: number = 2;\n";
        let err = to_javascript(Path::new("dup.ts"), source).expect_err("redeclaration");
        let TranspileError::Syntax { line, column, .. } = &err;
        // Located at the first label (the original declaration); the message
        // also points at the redeclaration.
        assert_eq!((*line, *column), (1, 5), "{err}");
        assert!(err.to_string().starts_with("dup.ts:1:5: "), "{err}");
        assert!(err.to_string().contains("at 2:7"), "{err}");
    }

    #[test]
    fn reports_every_error_message() {
        let source = "let a = 1;\nlet a = 2;\nlet b = 1;\nlet b = 2;\n";
        let err = to_javascript(Path::new("many.ts"), source).expect_err("two errors");
        let text = err.to_string();
        assert!(text.starts_with("many.ts:1:5: "), "{text}");
        assert!(text.contains("Identifier `a`"), "{text}");
        assert!(text.contains("many.ts:3:5: Identifier `b`"), "{text}");
        // The second location of each clash is named too.
        assert!(text.contains("at 2:5"), "{text}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_column("é = ;", 5), (1, 5));
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("a\r\nbc", 4), (2, 2));
        // Out-of-range and mid-character offsets are clamped, not trusted.
        assert_eq!(line_column("ab", 99), (1, 3));
        assert_eq!(line_column("é", 1), (1, 1));
    }

    #[test]
    fn garbage_input_is_an_error_not_a_panic() {
        for source in ["}{", "class {", "enum { A }", "\u{0}\u{feff}<<<", "type = ;"] {
            assert!(to_javascript(Path::new("x.ts"), source).is_err(), "{source:?}");
        }
    }
}
