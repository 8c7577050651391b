//! Loading the project's modules into QuickJS: ES modules from bytecode compiled once per
//! version; CommonJS, JSON and text files and the `node:*` built-ins as small ES modules (facades)
//! over the `require` cache of `modules.js`; and stepflare's own `cloudflare:*` and
//! `stepflare:*` modules. Where an import leads is `resolve.rs`'s answer; what a file is,
//! `source.rs`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rquickjs::loader::{Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Function, Module, Value};

use super::bytecode::BytecodeCache;
use super::commonjs;
use super::resolve::{ImportKind, ModuleResolver, PackageType, ResolveFailure, Resolved};
use super::source::{self, ModuleFormat, ModuleSource, SourceError};
use crate::config::NodeCompat;

/// The JavaScript half of the workflow API, evaluated first in every context.
pub(super) const PRELUDE: &str = "stepflare:prelude";
const PRELUDE_SOURCE: &str = include_str!("prelude.js");
/// Structured clone as text, for queue bodies and step results; the prelude and queues import it.
const CLONE: &str = "stepflare:clone";
const CLONE_SOURCE: &str = include_str!("clone.js");
/// Cloudflare Queues' producer binding and message batches, evaluated after the prelude where
/// `env` has a producer, and before a consumer's `queue` handler.
pub(super) const QUEUES: &str = "stepflare:queues";
const QUEUES_SOURCE: &str = include_str!("queues.js");
/// KV, D1 and R2 bindings, evaluated after the prelude where `env` has one of them.
pub(super) const STORAGE: &str = "stepflare:storage";
const STORAGE_SOURCE: &str = include_str!("storage.js");
/// Calls into another runtime: the stubs of Durable Objects and service bindings, and the
/// callee's side; imported by those modules, and by the host for a service binding's RPC call.
pub(super) const RPC: &str = "stepflare:rpc";
const RPC_SOURCE: &str = include_str!("rpc.js");
/// Service bindings, evaluated after the prelude where `env` has one.
pub(super) const SERVICES: &str = "stepflare:services";
const SERVICES_SOURCE: &str = include_str!("services.js");
/// Durable Objects: namespaces, ids, stubs, and an object's `ctx` and storage; loaded only in
/// contexts whose `env` binds a namespace and in an object's own runtime.
pub(super) const DURABLE: &str = "stepflare:durable";
const DURABLE_SOURCE: &str = include_str!("durable.js");
/// The web streams, evaluated on first use of one of their globals.
pub(super) const STREAMS: &str = "stepflare:streams";
const STREAMS_SOURCE: &str = include_str!("streams.js");
/// The Fetch API, evaluated when a context first uses one of its globals.
pub(super) const WEB: &str = "stepflare:web";
const WEB_SOURCE: &str = include_str!("web.js");
const CLOUDFLARE_WORKERS: &str = "cloudflare:workers";
const CLOUDFLARE_WORKFLOWS: &str = "cloudflare:workflows";

/// The classes are created once per context by the prelude; the modules only re-export them, so
/// `instanceof` agrees whichever module a file imports them from.
const CLOUDFLARE_WORKERS_SOURCE: &str = r#"
const sf = globalThis.__stepflare;
export const WorkflowEntrypoint = sf.WorkflowEntrypoint;
export const WorkerEntrypoint = sf.WorkerEntrypoint;
export const DurableObject = sf.DurableObject;
export const RpcTarget = sf.RpcTarget;
export const WorkflowStep = sf.WorkflowStep;
export const WorkflowEvent = sf.WorkflowEvent;
export const env = sf.env;
export default { WorkflowEntrypoint, WorkerEntrypoint, DurableObject, RpcTarget, env };
"#;
const CLOUDFLARE_WORKFLOWS_SOURCE: &str = r#"
export const NonRetryableError = globalThis.__stepflare.NonRetryableError;
export const NonRetryableDelayError = globalThis.__stepflare.NonRetryableDelayError;
export default { NonRetryableError, NonRetryableDelayError };
"#;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Unresolved(#[from] ResolveFailure),
}

/// The code of one version of a project: where its entry module is, how its imports resolve,
/// and every module loaded so far.
#[derive(Debug)]
pub struct ProjectCode {
    main: PathBuf,
    resolver: ModuleResolver,
    sources: Mutex<HashMap<PathBuf, ModuleSource>>,
    bytecode: BytecodeCache,
    /// Whether async functions are rewritten so that `AsyncLocalStorage` follows `await`.
    async_context: bool,
    /// The CPU one invocation (a Worker handler call, or a workflow step) may use.
    cpu_limit: Duration,
}

/// stepflare's own modules are the same for every project and version.
fn builtin_bytecode() -> &'static BytecodeCache {
    static CACHE: OnceLock<BytecodeCache> = OnceLock::new();
    CACHE.get_or_init(BytecodeCache::default)
}

impl ProjectCode {
    /// `config` is the file that set `node_compat`, named in errors about built-ins. With
    /// `async_context`, every module's async functions are rewritten so that an
    /// `AsyncLocalStorage` store follows `await` (which costs load time and some speed, so it is
    /// done only for projects that import `node:async_hooks`). `cpu_limit` is the config's
    /// `limits.cpu_ms`.
    pub fn new(
        main: PathBuf,
        node_compat: NodeCompat,
        config: PathBuf,
        async_context: bool,
        cpu_limit: Duration,
    ) -> Arc<Self> {
        let folders: Vec<&Path> = [config.parent(), main.parent()].into_iter().flatten().collect();
        let resolver = ModuleResolver::new(node_compat, config.clone(), &folders);
        Arc::new(ProjectCode {
            main,
            resolver,
            sources: Mutex::new(HashMap::new()),
            bytecode: BytecodeCache::with_disk(),
            async_context,
            cpu_limit,
        })
    }

    /// Whether this version rewrites async functions for `AsyncLocalStorage`.
    pub fn async_context(&self) -> bool {
        self.async_context
    }

    /// Whether a module loaded so far imports `node:async_hooks`, so that the project needs
    /// [`ProjectCode::async_context`].
    pub fn needs_async_context(&self) -> bool {
        self.resolver.async_hooks_resolved()
    }

    pub fn main(&self) -> &Path {
        &self.main
    }

    pub fn cpu_limit(&self) -> Duration {
        self.cpu_limit
    }

    pub fn node_compat(&self) -> NodeCompat {
        self.resolver.node_compat()
    }

    pub(super) fn bytecode(&self) -> &BytecodeCache {
        &self.bytecode
    }

    pub(super) fn resolver(&self) -> &ModuleResolver {
        &self.resolver
    }

    /// The file `path` as a module: its format and text; read once per version.
    pub(super) fn module_source(&self, path: &Path) -> Result<ModuleSource, SourceError> {
        self.module_source_in(path, PackageType::Other)
    }

    /// [`ProjectCode::module_source`] of a file whose package type is known.
    pub(super) fn module_source_in(&self, path: &Path, package_type: PackageType) -> Result<ModuleSource, SourceError> {
        if let Some(source) = self.lock().get(path) {
            return Ok(source.clone());
        }
        let source = source::read(path, self.async_context, package_type == PackageType::Module)?;
        self.lock().insert(path.to_owned(), source.clone());
        Ok(source)
    }

    /// Every module loaded so far, sorted by path, with its text.
    pub fn loaded_sources(&self) -> Vec<(PathBuf, Arc<str>)> {
        let mut sources: Vec<_> = self.lock().iter().map(|(p, s)| (p.clone(), s.text.clone())).collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        sources
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, ModuleSource>> {
        self.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The suffix of a CommonJS module's name when its importer follows Node's rules for the default
/// import (an `.mjs` file or a `"type": "module"` package): the default is `module.exports` even
/// when it is marked `__esModule`, as esbuild does.
const NODE_MODE: &str = "?node-default";

/// The stepflare modules that are written in JavaScript and compiled in.
fn builtin_source(name: &str) -> Option<&'static str> {
    Some(match name {
        PRELUDE => PRELUDE_SOURCE,
        CLONE => CLONE_SOURCE,
        QUEUES => QUEUES_SOURCE,
        RPC => RPC_SOURCE,
        SERVICES => SERVICES_SOURCE,
        STORAGE => STORAGE_SOURCE,
        DURABLE => DURABLE_SOURCE,
        STREAMS => STREAMS_SOURCE,
        WEB => WEB_SOURCE,
        CLOUDFLARE_WORKERS => CLOUDFLARE_WORKERS_SOURCE,
        CLOUDFLARE_WORKFLOWS => CLOUDFLARE_WORKFLOWS_SOURCE,
        _ => return None,
    })
}

/// Resolves `specifier` imported from the module named `importer`: an absolute path (maybe with
/// [`NODE_MODE`]), a `node:` built-in, or one of stepflare's own modules.
pub(super) fn resolve(code: &ProjectCode, importer: &str, specifier: &str) -> Result<String, LoadError> {
    if builtin_source(specifier).is_some() {
        return Ok(specifier.to_owned());
    }
    // The entry module is imported by no module: it resolves against itself.
    let importer = if importer.is_empty() { specifier } else { importer };
    let importer_path = Path::new(importer.strip_suffix(NODE_MODE).unwrap_or(importer));
    match code.resolver.resolve(importer_path, specifier, ImportKind::Import)? {
        Resolved::NodeBuiltin(name) => Ok(name),
        Resolved::File { path, package_type } => {
            let name = path.display().to_string();
            let format = code.module_source_in(&path, package_type)?.format;
            let node_mode =
                format == ModuleFormat::CommonJs && code.resolver.package_type_of(importer_path) == PackageType::Module;
            Ok(if node_mode { format!("{name}{NODE_MODE}") } else { name })
        }
    }
}

pub(super) struct ProjectResolver {
    pub code: Arc<ProjectCode>,
}

impl Resolver for ProjectResolver {
    fn resolve<'js>(&mut self, ctx: &Ctx<'js>, base: &str, name: &str) -> rquickjs::Result<String> {
        // QuickJS cuts the messages of its own resolving errors at 255 bytes; ours name what was
        // tried, which takes more.
        resolve(&self.code, base, name).map_err(|error| Exception::throw_message(ctx, &error.to_string()))
    }
}

pub(super) struct ProjectLoader {
    pub code: Arc<ProjectCode>,
}

impl Loader for ProjectLoader {
    fn load<'js>(&mut self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>> {
        if let Some(source) = builtin_source(name) {
            return builtin_bytecode().module(ctx, name, || Ok(source.into()));
        }
        let loading_error = |error: &dyn std::fmt::Display| Exception::throw_message(ctx, &error.to_string());
        if name.starts_with("node:") {
            return facade(ctx, &self.code, "builtin", name, name, Interop::Plain);
        }
        let (path, interop) = match name.strip_suffix(NODE_MODE) {
            Some(path) => (path, Interop::Node),
            None => (name, Interop::EsModuleMarker),
        };
        let source = self.code.module_source(Path::new(path)).map_err(|e| loading_error(&e))?;
        match source.format {
            ModuleFormat::Esm => {
                let module = self.code.bytecode.module(ctx, name, || Ok(source.text.clone()))?;
                // As in Node: `new URL("./data.bin", import.meta.url)`, `createRequire(import.meta.url)`.
                if let Ok(url) = reqwest::Url::from_file_path(path) {
                    module.meta()?.set("url", url.as_str())?;
                }
                Ok(module)
            }
            format @ ModuleFormat::CommonJs => facade(ctx, &self.code, commonjs::kind_of(format), path, name, interop),
            format @ (ModuleFormat::Json | ModuleFormat::Text) => {
                facade(ctx, &self.code, commonjs::kind_of(format), path, name, Interop::Plain)
            }
        }
    }
}

/// What the default import of a CommonJS module is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interop {
    /// `module.exports` itself (JSON, text, built-ins).
    Plain,
    /// esbuild's rule: `module.exports.default` when `module.exports.__esModule` is set, else
    /// `module.exports`.
    EsModuleMarker,
    /// Node's rule, for importers that are Node ES modules: always `module.exports`.
    Node,
}

/// An ES module standing for the CommonJS-style module `id` (of `kind`, see `modules.js`): it is
/// loaded now, through the `require` cache, so that its export names are known; the module
/// named `name` exports each of them and a default.
fn facade<'js>(
    ctx: &Ctx<'js>,
    code: &Arc<ProjectCode>,
    kind: &str,
    id: &str,
    name: &str,
    interop: Interop,
) -> rquickjs::Result<Module<'js, Declared>> {
    let system = commonjs::system(ctx, code)?;
    let load: Function = system.get("load")?;
    // What a CommonJS module throws while it runs is the import's error, as it was thrown.
    let exports: Value = load.call((kind, id))?;
    let export_names: Function = system.get("exportNames")?;
    let names: Vec<String> = export_names.call((exports,))?;
    let id_literal = serde_json::to_string(id).unwrap_or_default();
    let mut text = format!("const m = globalThis.{}.exportsOf({id_literal});\n", commonjs::SYSTEM_GLOBAL);
    text.push_str(match interop {
        Interop::Plain | Interop::Node => "export default m;\n",
        Interop::EsModuleMarker => "export default m !== null && m !== undefined && m.__esModule ? m.default : m;\n",
    });
    if !names.is_empty() {
        let bindings: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("v{i} = m.{n}")).collect();
        let exports: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("v{i} as {n}")).collect();
        text.push_str(&format!("const {};\nexport {{ {} }};\n", bindings.join(", "), exports.join(", ")));
    }
    Module::declare(ctx.clone(), name, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_imports_with_bundler_conventions() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(dir.join("src/lib")).unwrap();
        std::fs::write(dir.join("src/index.ts"), "export {}").unwrap();
        std::fs::write(dir.join("src/lib/greet.ts"), "export {}").unwrap();
        std::fs::write(dir.join("src/lib/index.js"), "export {}").unwrap();
        let code = ProjectCode::new(
            dir.join("src/index.ts"),
            NodeCompat::None,
            dir.join("wrangler.jsonc"),
            false,
            crate::config::DEFAULT_CPU_LIMIT,
        );
        let importer = dir.join("src/index.ts").display().to_string();
        let expect = |rel: &str| dir.join(rel).display().to_string();
        let resolve = |specifier: &str| resolve(&code, &importer, specifier);
        assert_eq!(resolve("./lib/greet").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve("./lib/greet.js").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve("./lib").unwrap(), expect("src/lib/index.js"));
        assert_eq!(resolve("../src/lib/greet.ts").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve("cloudflare:workers").unwrap(), "cloudflare:workers");
        assert!(resolve("./missing").unwrap_err().to_string().contains("no file"));
        let missing_package = resolve("lodash").unwrap_err().to_string();
        assert!(missing_package.contains("no package \"lodash\""), "{missing_package}");
        assert!(missing_package.contains(&importer), "{missing_package}");
        let builtin = resolve("node:buffer").unwrap_err().to_string();
        assert!(builtin.contains("nodejs_compat"), "{builtin}");
    }
}
