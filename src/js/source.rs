//! A file as a module: what kind of module it is (an ES module, CommonJS, JSON or text, decided
//! as esbuild decides it) and its JavaScript text, with TypeScript stripped and
//! `process.env.NODE_ENV` replaced by `"development"` as `wrangler dev` defines it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxc::allocator::Allocator;
use oxc::ast::ast::Expression;
use oxc::ast_visit::{Visit, walk};
use oxc::parser::Parser;
use oxc::span::{GetSpan, SourceType};

use super::transpile::{self, TranspileError};

/// How a file is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleFormat {
    /// An ES module, evaluated by QuickJS as one.
    Esm,
    /// A CommonJS module: wrapped in a function of `exports`, `require` and `module`, and run
    /// when first required (imported from an ES module, it is required as it loads).
    CommonJs,
    /// A JSON file: its value is the default export (and `module.exports` when required).
    Json,
    /// Wrangler's default `Text` rule (`.txt`, `.html`, `.sql`): the file's text as a string.
    Text,
}

/// A module's format and its text (JavaScript for code, the file's own text for JSON and text).
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub format: ModuleFormat,
    pub text: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Transpile(#[from] TranspileError),
    #[error("{path}: {what} cannot be imported here: {why}")]
    Unsupported { path: PathBuf, what: &'static str, why: &'static str },
}

/// What `process.env.NODE_ENV` reads as, as in `wrangler dev` (unless NODE_ENV is set).
fn node_env() -> String {
    std::env::var("NODE_ENV").unwrap_or_else(|_| "development".to_owned())
}

/// Reads `path` and prepares it as a module; with `lower_async`, its async functions are
/// rewritten for `AsyncLocalStorage` (see [`transpile::lower_async_functions`]). `in_module_package`
/// says that its `package.json` has `"type": "module"`, which spares parsing a `.js` file to
/// learn that it is an ES module.
pub fn read(path: &Path, lower_async: bool, in_module_package: bool) -> Result<ModuleSource, SourceError> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if extension == "wasm" {
        let why = "QuickJS, which runs Workers here, has no WebAssembly";
        return Err(SourceError::Unsupported { path: path.to_owned(), what: "a WebAssembly module", why });
    }
    let source = std::fs::read_to_string(path).map_err(|source| SourceError::Read { path: path.to_owned(), source })?;
    // The format the name tells, if it does; else the code's own syntax tells it.
    let (known, text) = match extension.as_str() {
        "json" => return Ok(ModuleSource { format: ModuleFormat::Json, text: source.into() }),
        "txt" | "html" | "sql" => return Ok(ModuleSource { format: ModuleFormat::Text, text: source.into() }),
        "mts" => (Some(ModuleFormat::Esm), transpile::to_javascript(path, &source)?),
        "ts" | "cts" => (None, transpile::to_javascript(path, &source)?),
        "mjs" => (Some(ModuleFormat::Esm), source),
        "js" if in_module_package => (Some(ModuleFormat::Esm), source),
        "cjs" => (Some(ModuleFormat::CommonJs), source),
        _ => (None, source),
    };
    let scanned = scan(&text, known.is_none());
    let format = known.unwrap_or(if scanned.module_syntax { ModuleFormat::Esm } else { ModuleFormat::CommonJs });
    let text = define_node_env(text, &scanned.node_env_reads);
    let text =
        if lower_async { transpile::lower_async_functions(path, &text, format == ModuleFormat::Esm)? } else { text };
    Ok(ModuleSource { format, text: text.into() })
}

/// What one parse (at most) of a module's JavaScript tells: whether it has ES module syntax
/// (esbuild's rule for a file whose name does not say: `import`, `export` or `import.meta` make
/// an ES module, anything else is CommonJS), and where it reads `process.env.NODE_ENV`.
#[derive(Debug, Default)]
struct Scan {
    module_syntax: bool,
    /// Byte spans, in source order.
    node_env_reads: Vec<(usize, usize)>,
}

/// Scans `text`, parsing it only when it can hold what is asked: module syntax (`for_format`)
/// needs the words `import` or `export`, a read of `NODE_ENV` needs that word.
fn scan(text: &str, for_format: bool) -> Scan {
    let may_be_module = for_format && (text.contains("import") || text.contains("export"));
    let reads_node_env = text.contains("NODE_ENV");
    if !may_be_module && !reads_node_env {
        return Scan::default();
    }
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, text, SourceType::unambiguous()).parse();
    let mut finder = NodeEnvReads(Vec::new());
    if reads_node_env && !parsed.panicked {
        finder.visit_program(&parsed.program);
    }
    Scan { module_syntax: parsed.module_record.has_module_syntax, node_env_reads: finder.0 }
}

/// The spellings of `process.env.NODE_ENV` that wrangler defines.
const NODE_ENV_PATHS: [&[&str]; 3] = [
    &["process", "env", "NODE_ENV"],
    &["global", "process", "env", "NODE_ENV"],
    &["globalThis", "process", "env", "NODE_ENV"],
];

/// Replaces the reads of `process.env.NODE_ENV` (and its `global`/`globalThis` forms) at
/// `reads` with a string literal, as esbuild's `define` does, leaving every other byte in place
/// so that line and column numbers stay true.
fn define_node_env(text: String, reads: &[(usize, usize)]) -> String {
    if reads.is_empty() {
        return text;
    }
    let literal = serde_json::to_string(&node_env()).unwrap_or_else(|_| "\"development\"".to_owned());
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in reads {
        out.push_str(&text[at..*start]);
        out.push_str(&literal);
        at = *end;
    }
    out.push_str(&text[at..]);
    out
}

/// Collects the spans of `process.env.NODE_ENV` reads, in source order.
struct NodeEnvReads(Vec<(usize, usize)>);

impl<'a> Visit<'a> for NodeEnvReads {
    fn visit_expression(&mut self, expression: &Expression<'a>) {
        if NODE_ENV_PATHS.iter().any(|path| is_member_path(expression, path)) {
            let span = expression.span();
            self.0.push((span.start as usize, span.end as usize));
            return;
        }
        walk::walk_expression(self, expression);
    }
}

/// Whether `expression` is exactly `a.b.c` for `path = [a, b, c]`, with `a` a plain identifier.
fn is_member_path(expression: &Expression, path: &[&str]) -> bool {
    match (expression, path.split_last()) {
        (Expression::StaticMemberExpression(member), Some((last, rest))) if !rest.is_empty() => {
            !member.optional && member.property.name == *last && is_member_path(&member.object, rest)
        }
        (Expression::Identifier(identifier), Some((only, []))) => identifier.name == *only,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_of(source: &str) -> ModuleFormat {
        if scan(source, true).module_syntax { ModuleFormat::Esm } else { ModuleFormat::CommonJs }
    }

    #[test]
    fn import_export_and_import_meta_make_an_es_module() {
        assert_eq!(format_of("export const a = 1;"), ModuleFormat::Esm);
        assert_eq!(format_of("import x from 'y';\nx();"), ModuleFormat::Esm);
        assert_eq!(format_of("console.log(import.meta.url)"), ModuleFormat::Esm);
        assert_eq!(format_of("module.exports = { a: 1 };"), ModuleFormat::CommonJs);
        assert_eq!(format_of("const x = require('x'); // import x from 'y'"), ModuleFormat::CommonJs);
        assert_eq!(format_of("const p = import('./lazy.js'); exports.p = p;"), ModuleFormat::CommonJs);
    }

    #[test]
    fn node_env_reads_are_defined_and_nothing_else_moves() {
        let text = "if (process.env.NODE_ENV !== 'production') x();\nprocess.env.NODE_ENV = 'a';\nconst s = 'process.env.NODE_ENV';\ny(globalThis.process.env.NODE_ENV, process.env.OTHER);";
        let defined = define_node_env(text.to_owned(), &scan(text, false).node_env_reads);
        assert_eq!(
            defined,
            "if (\"development\" !== 'production') x();\nprocess.env.NODE_ENV = 'a';\nconst s = 'process.env.NODE_ENV';\ny(\"development\", process.env.OTHER);"
        );
    }
}
