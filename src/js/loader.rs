//! Finding and loading the project's modules: resolution of relative imports (with the
//! extension-less and `.js`-for-`.ts` forms bundlers accept), TypeScript stripping, the
//! `cloudflare:*` built-in modules, and a per-version cache of the JavaScript text so a run does
//! not read or transpile a file twice.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rquickjs::loader::{Loader, Resolver};
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Error, Module};

use super::transpile;

/// The JavaScript half of the workflow API, evaluated first in every context.
pub(super) const PRELUDE: &str = "stepflare:prelude";
const PRELUDE_SOURCE: &str = include_str!("prelude.js");
/// Cloudflare Queues' producer binding and message batches; the prelude imports it.
const QUEUES: &str = "stepflare:queues";
const QUEUES_SOURCE: &str = include_str!("queues.js");
/// The web streams, evaluated on first use of one of their globals.
pub(super) const STREAMS: &str = "stepflare:streams";
const STREAMS_SOURCE: &str = include_str!("streams.js");
/// The Fetch API, evaluated before the prelude.
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
export default { NonRetryableError };
"#;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Transpile(#[from] transpile::TranspileError),
    #[error("cannot resolve import {specifier:?} from {importer}")]
    Unresolved { specifier: String, importer: String },
}

/// The code of one version of a project: where its entry module is, and the JavaScript text of
/// every module loaded so far.
#[derive(Debug)]
pub struct ProjectCode {
    main: PathBuf,
    sources: Mutex<HashMap<PathBuf, Arc<str>>>,
    bytecode: BytecodeCache,
}

/// Compiled modules by name, so that a run loads bytecode instead of parsing source again.
#[derive(Debug, Default)]
struct BytecodeCache(Mutex<HashMap<String, Arc<[u8]>>>);

impl BytecodeCache {
    /// The module `name`, from bytecode when it was compiled before, else compiled from
    /// `source()` and remembered.
    fn load<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: impl FnOnce() -> rquickjs::Result<Arc<str>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let cached = self.lock().get(name).cloned();
        if let Some(bytes) = cached {
            // SAFETY: the bytes were written by `Module::write` of this same QuickJS build. QuickJS
            // reads them in place, so they must outlive the module: the cache never drops an
            // entry, and it lives as long as the loader of every runtime that uses it.
            return unsafe { Module::load(ctx.clone(), &bytes) };
        }
        let module = Module::declare(ctx.clone(), name, source()?.as_bytes())?;
        if let Ok(bytes) = module.write(WriteOptions::default()) {
            self.lock().insert(name.to_owned(), bytes.into());
        }
        Ok(module)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The built-in modules are the same for every project and version.
fn builtin_bytecode() -> &'static BytecodeCache {
    static CACHE: OnceLock<BytecodeCache> = OnceLock::new();
    CACHE.get_or_init(BytecodeCache::default)
}

impl ProjectCode {
    pub fn new(main: PathBuf) -> Arc<Self> {
        Arc::new(ProjectCode { main, sources: Mutex::new(HashMap::new()), bytecode: BytecodeCache::default() })
    }

    pub fn main(&self) -> &Path {
        &self.main
    }

    /// The JavaScript text of `path`, transpiled if it is TypeScript; cached.
    pub fn javascript(&self, path: &Path) -> Result<Arc<str>, LoadError> {
        if let Some(text) = self.lock().get(path) {
            return Ok(text.clone());
        }
        let source =
            std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let text: Arc<str> = transpile::to_javascript(path, &source)?.into();
        self.lock().insert(path.to_owned(), text.clone());
        Ok(text)
    }

    /// Every module loaded so far, sorted by path.
    pub fn loaded_sources(&self) -> Vec<(PathBuf, Arc<str>)> {
        let mut sources: Vec<_> = self.lock().iter().map(|(p, t)| (p.clone(), t.clone())).collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        sources
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<str>>> {
        self.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Resolves `specifier` imported from the module named `importer` (an absolute path).
pub fn resolve(importer: &str, specifier: &str) -> Result<String, LoadError> {
    if [PRELUDE, QUEUES, STREAMS, WEB, CLOUDFLARE_WORKERS, CLOUDFLARE_WORKFLOWS].contains(&specifier) {
        return Ok(specifier.to_owned());
    }
    let unresolved = || LoadError::Unresolved { specifier: specifier.to_owned(), importer: importer.to_owned() };
    let base = if specifier.starts_with("./") || specifier.starts_with("../") {
        Path::new(importer).parent().ok_or_else(unresolved)?.join(specifier)
    } else if Path::new(specifier).is_absolute() {
        PathBuf::from(specifier)
    } else {
        // Bare specifiers (npm packages) need a bundler's resolution, which is not done yet.
        return Err(unresolved());
    };
    let base = normalize(&base);
    candidates(&base)
        .into_iter()
        .find(|path| path.is_file())
        .map(|path| path.display().to_string())
        .ok_or_else(unresolved)
}

/// What bundlers try for an import: the exact file, added extensions, `.js` meaning `.ts`, and a
/// directory's index.
fn candidates(base: &Path) -> Vec<PathBuf> {
    let mut list = vec![base.to_owned()];
    let text = base.display().to_string();
    for ext in ["ts", "js", "mts", "mjs"] {
        list.push(PathBuf::from(format!("{text}.{ext}")));
    }
    for (from, to) in [(".js", ".ts"), (".mjs", ".mts")] {
        if let Some(stem) = text.strip_suffix(from) {
            list.push(PathBuf::from(format!("{stem}{to}")));
        }
    }
    for index in ["index.ts", "index.js"] {
        list.push(base.join(index));
    }
    list
}

/// Removes `.` and `..` without touching the file system, so module names are canonical.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub(super) struct ProjectResolver;

impl Resolver for ProjectResolver {
    fn resolve<'js>(&mut self, _ctx: &Ctx<'js>, base: &str, name: &str) -> rquickjs::Result<String> {
        resolve(base, name).map_err(|error| Error::new_resolving_message(base, name, error.to_string()))
    }
}

pub(super) struct ProjectLoader {
    pub code: Arc<ProjectCode>,
}

impl Loader for ProjectLoader {
    fn load<'js>(&mut self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>> {
        let builtin = match name {
            PRELUDE => PRELUDE_SOURCE,
            QUEUES => QUEUES_SOURCE,
            STREAMS => STREAMS_SOURCE,
            WEB => WEB_SOURCE,
            CLOUDFLARE_WORKERS => CLOUDFLARE_WORKERS_SOURCE,
            CLOUDFLARE_WORKFLOWS => CLOUDFLARE_WORKFLOWS_SOURCE,
            path => {
                let javascript = || {
                    self.code
                        .javascript(Path::new(path))
                        .map_err(|error| Error::new_loading_message(name, error.to_string()))
                };
                return self.code.bytecode.load(ctx, name, javascript);
            }
        };
        builtin_bytecode().load(ctx, name, || Ok(builtin.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_imports_with_bundler_conventions() {
        let dir = std::env::temp_dir().join(format!("stepflare-loader-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/lib")).unwrap();
        std::fs::write(dir.join("src/index.ts"), "").unwrap();
        std::fs::write(dir.join("src/lib/greet.ts"), "").unwrap();
        std::fs::write(dir.join("src/lib/index.js"), "").unwrap();
        let importer = dir.join("src/index.ts").display().to_string();
        let expect = |rel: &str| dir.join(rel).display().to_string();
        assert_eq!(resolve(&importer, "./lib/greet").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve(&importer, "./lib/greet.js").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve(&importer, "./lib").unwrap(), expect("src/lib/index.js"));
        assert_eq!(resolve(&importer, "../src/lib/greet.ts").unwrap(), expect("src/lib/greet.ts"));
        assert_eq!(resolve(&importer, "cloudflare:workers").unwrap(), "cloudflare:workers");
        assert!(resolve(&importer, "./missing").is_err());
        assert!(resolve(&importer, "lodash").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
