//! Where an import or a `require` leads, decided as wrangler's bundler (esbuild) decides it:
//! relative and absolute paths with added extensions and `.js` meaning `.ts`, bare specifiers
//! from `node_modules` (walking up, through pnpm's and workspaces' symlinks to real paths),
//! `package.json` `exports`/`imports` under Workers' conditions, the `browser`, `module` and `main`
//! fields, `tsconfig.json` `paths`, and the `node:*` built-ins that the Worker's Node.js
//! compatibility allows. Resolution is pure lookup: nothing is read but directories and
//! `package.json`/`tsconfig.json` files, and answers are cached per project version.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use oxc_resolver::{ModuleType, ResolveError, ResolveOptions, Resolver, TsconfigDiscovery};

use crate::config::NodeCompat;

/// The conditions wrangler gives esbuild; esbuild adds `import` or `require`, and `default`.
/// (With custom conditions set, esbuild leaves out webpack's `module`.)
const WORKER_CONDITIONS: [&str; 3] = ["workerd", "worker", "browser"];

/// Node's built-in modules, without the `node:` prefix.
const NODE_BUILTINS: &[&str] = &[
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// Node's built-ins that exist only with the `node:` prefix.
const NODE_PREFIX_ONLY_BUILTINS: &[&str] = &["sea", "sqlite", "test", "test/reporters"];

/// Node's built-in modules that may be named without `node:`, as `module.builtinModules` lists
/// them.
pub fn node_builtin_names() -> &'static [&'static str] {
    NODE_BUILTINS
}

/// Whether `name` (without `node:`) is one of Node's built-in modules that may be named without
/// the prefix.
pub fn is_node_builtin(name: &str) -> bool {
    NODE_BUILTINS.contains(&name)
}

/// Whether `node:<name>` is one of Node's built-in modules.
fn is_prefixed_node_builtin(name: &str) -> bool {
    is_node_builtin(name) || NODE_PREFIX_ONLY_BUILTINS.contains(&name)
}

/// How a module is imported: the conditions of `exports` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// An `import` statement or `import()`.
    Import,
    /// A `require()` call.
    Require,
}

/// What a specifier resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A Node.js built-in, always named with its `node:` prefix.
    NodeBuiltin(String),
    /// A file, by its real path (symlinks followed).
    File { path: PathBuf, package_type: PackageType },
}

/// What the nearest `package.json` (or the extension) says a file is, which esbuild uses to
/// pick Node's rules for a default import of CommonJS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageType {
    /// `.mjs`/`.mts`, or `.js`/`.ts` under `"type": "module"`.
    Module,
    /// Anything else.
    Other,
}

/// Why a specifier did not resolve. The message names the importer, the specifier and what was
/// tried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot resolve {specifier:?} from {importer}: {reason}")]
pub struct ResolveFailure {
    pub specifier: String,
    pub importer: String,
    pub reason: String,
}

/// Resolves imports for one version of a project.
pub struct ModuleResolver {
    imports: Resolver,
    requires: Resolver,
    node_compat: NodeCompat,
    /// The config that sets the compatibility flags, for error messages.
    config: PathBuf,
    /// Set once anything resolved `node:async_hooks`.
    async_hooks_resolved: AtomicBool,
    /// The folders a relative or absolute import may lead into: the project's (the config's and
    /// the entry module's), and the root of every package a bare import found.
    allowed: Mutex<Vec<PathBuf>>,
}

/// The files a module can be: code, JSON, and wrangler's default text rule. (WebAssembly is
/// refused when it is read, with its own reason.)
const MODULE_EXTENSIONS: [&str; 11] = ["js", "mjs", "cjs", "ts", "mts", "cts", "json", "txt", "html", "sql", "wasm"];

impl std::fmt::Debug for ModuleResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleResolver").field("node_compat", &self.node_compat).finish_non_exhaustive()
    }
}

impl ModuleResolver {
    /// `project_folders` are where the project's own modules are (the config's folder and the
    /// entry module's); `config` is the file that set `node_compat`, named in errors.
    pub fn new(node_compat: NodeCompat, config: PathBuf, project_folders: &[&Path]) -> Self {
        let imports = Resolver::new(options(ImportKind::Import));
        let requires = imports.clone_with_options(options(ImportKind::Require));
        let allowed = project_folders.iter().map(|folder| real_path(folder)).collect();
        ModuleResolver {
            imports,
            requires,
            node_compat,
            config,
            async_hooks_resolved: AtomicBool::new(false),
            allowed: Mutex::new(allowed),
        }
    }

    pub fn node_compat(&self) -> NodeCompat {
        self.node_compat
    }

    /// Whether any module resolved `node:async_hooks` so far.
    pub fn async_hooks_resolved(&self) -> bool {
        self.async_hooks_resolved.load(Ordering::Relaxed)
    }

    /// Resolves `specifier` imported (or required) by the file `importer`.
    pub fn resolve(&self, importer: &Path, specifier: &str, kind: ImportKind) -> Result<Resolved, ResolveFailure> {
        let fail = |reason: String| ResolveFailure {
            specifier: specifier.to_owned(),
            importer: importer.display().to_string(),
            reason,
        };
        if let Some(name) = specifier.strip_prefix("node:") {
            return self.node_builtin(name).map_err(fail);
        }
        // Node's rule, which wrangler's Node.js compatibility follows: a bare built-in name is
        // the built-in, whatever node_modules holds.
        if is_node_builtin(specifier) && matches!(self.node_compat, NodeCompat::V2 { .. }) {
            return self.node_builtin(specifier).map_err(fail);
        }
        let resolver = match kind {
            ImportKind::Import => &self.imports,
            ImportKind::Require => &self.requires,
        };
        match resolver.resolve_file(importer, specifier) {
            Ok(resolution) => {
                let package_type = match resolution.module_type() {
                    Some(ModuleType::Module) => PackageType::Module,
                    _ => PackageType::Other,
                };
                // The real folder: a workspace package is named through a symlink.
                let package_root =
                    resolution.package_json().and_then(|json| json.realpath().parent().map(Path::to_path_buf));
                let path = resolution.into_path_buf();
                self.admit(specifier, &path, package_root).map_err(fail)?;
                Ok(Resolved::File { path, package_type })
            }
            Err(error) => Err(fail(self.explain(importer, specifier, error))),
        }
    }

    /// Keeps loading inside the project: a bare import (a package, `#imports`, a tsconfig path)
    /// may lead anywhere its resolution found, and opens its package's folder to the package's
    /// own relative imports; a relative or absolute import must stay inside a folder opened so
    /// far. Only files a module can be are loaded; a refusal never shows what the file holds.
    fn admit(&self, specifier: &str, path: &Path, package_root: Option<PathBuf>) -> Result<(), String> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        if !MODULE_EXTENSIONS.contains(&extension.as_str()) {
            return Err(format!(
                "{} is not a module: stepflare loads .js, .mjs, .cjs, .ts, .mts, .cts, .json, .txt, .html and .sql files",
                path.display()
            ));
        }
        let mut allowed = self.allowed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if is_bare(specifier) || specifier.starts_with('#') {
            let root = package_root.unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
            if !allowed.iter().any(|folder| root.starts_with(folder)) {
                allowed.push(root);
            }
            return Ok(());
        }
        if allowed.iter().any(|folder| path.starts_with(folder)) {
            return Ok(());
        }
        Err(format!(
            "{} is outside the project ({}); modules load from the project's folder and the packages it imports",
            path.display(),
            allowed.first().map(|folder| folder.display().to_string()).unwrap_or_default()
        ))
    }

    /// The package type of the entry module, which nothing imports.
    pub fn package_type_of(&self, file: &Path) -> PackageType {
        let name = file.file_name().map(|n| format!("./{}", n.to_string_lossy())).unwrap_or_default();
        match self.resolve(file, &name, ImportKind::Import) {
            Ok(Resolved::File { package_type, .. }) => package_type,
            _ => PackageType::Other,
        }
    }

    fn node_builtin(&self, name: &str) -> Result<Resolved, String> {
        if !is_prefixed_node_builtin(name) {
            return Err(format!("node:{name} is not one of Node.js's built-in modules"));
        }
        let config = self.config.display();
        match self.node_compat {
            NodeCompat::None => Err(format!(
                "node:{name} is a Node.js built-in, which Workers offer only with Node.js compatibility: add \"nodejs_compat\" to compatibility_flags in {config}"
            )),
            NodeCompat::Als if name != "async_hooks" => Err(format!(
                "the nodejs_als flag only offers node:async_hooks; for node:{name} add \"nodejs_compat\" to compatibility_flags in {config}"
            )),
            _ if !super::node::is_emulated(name) => Err(super::node::not_emulated(name)),
            _ => {
                if name == "async_hooks" {
                    self.async_hooks_resolved.store(true, Ordering::Relaxed);
                }
                Ok(Resolved::NodeBuiltin(format!("node:{name}")))
            }
        }
    }

    /// The resolver's error, with what was tried for the common case of a missing package or
    /// file.
    fn explain(&self, importer: &Path, specifier: &str, error: ResolveError) -> String {
        match error {
            ResolveError::NotFound(_) if is_bare(specifier) => {
                let package = package_name(specifier);
                let folders: Vec<String> = importer
                    .ancestors()
                    .skip(1)
                    .filter(|dir| dir.file_name().is_none_or(|name| name != "node_modules"))
                    .map(|dir| dir.join("node_modules").display().to_string())
                    .collect();
                let mut reason = format!(
                    "no package {package:?} (or no file for it) in {}; is it installed (npm install)?",
                    folders.join(", ")
                );
                if is_node_builtin(specifier) {
                    reason.push_str(&match self.node_compat {
                        NodeCompat::V1 => format!(" It is also a Node.js built-in: import it as \"node:{specifier}\""),
                        _ => format!(
                            " It is also a Node.js built-in, which Workers offer with Node.js compatibility: add \"nodejs_compat\" to compatibility_flags in {}",
                            self.config.display()
                        ),
                    });
                }
                reason
            }
            ResolveError::NotFound(_) => {
                let base = importer.parent().map(|dir| dir.join(specifier)).unwrap_or_else(|| PathBuf::from(specifier));
                format!(
                    "no file {} (tried the extensions .ts, .js, .mts, .mjs, .json, .js as .ts, and index files)",
                    base.display()
                )
            }
            other => other.to_string(),
        }
    }
}

fn options(kind: ImportKind) -> ResolveOptions {
    let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut conditions = strings(&WORKER_CONDITIONS);
    conditions.push(match kind {
        ImportKind::Import => "import".to_owned(),
        ImportKind::Require => "require".to_owned(),
    });
    conditions.push("default".to_owned());
    ResolveOptions {
        tsconfig: Some(TsconfigDiscovery::Auto),
        condition_names: conditions,
        // esbuild's order for its default platform, `browser`.
        main_fields: strings(&["browser", "module", "main"]),
        alias_fields: vec![strings(&["browser"])],
        extensions: strings(&[".ts", ".js", ".mts", ".mjs", ".json"]),
        // As esbuild does, `./x.js` finds `./x.ts` when there is no `./x.js`.
        extension_alias: vec![
            (".js".to_owned(), strings(&[".js", ".ts"])),
            (".mjs".to_owned(), strings(&[".mjs", ".mts"])),
            (".cjs".to_owned(), strings(&[".cjs", ".cts"])),
        ],
        module_type: true,
        // A machine's NODE_PATH is no part of the project.
        node_path: false,
        ..ResolveOptions::default()
    }
}

fn is_bare(specifier: &str) -> bool {
    !(specifier.starts_with('.') || specifier.starts_with('/') || specifier.starts_with('#'))
}

/// `folder` with symlinks followed, as the resolver gives paths; as it is when it cannot be.
fn real_path(folder: &Path) -> PathBuf {
    folder.canonicalize().unwrap_or_else(|_| folder.to_path_buf())
}

/// `@scope/name` or `name`, the first part of a bare specifier.
fn package_name(specifier: &str) -> &str {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next().unwrap_or(specifier);
    match (first.starts_with('@'), parts.next()) {
        (true, Some(second)) => &specifier[..first.len() + 1 + second.len()],
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_keep_their_scope() {
        assert_eq!(package_name("hono"), "hono");
        assert_eq!(package_name("hono/cors"), "hono");
        assert_eq!(package_name("@scope/pkg/sub/path"), "@scope/pkg");
        assert_eq!(package_name("@scope/pkg"), "@scope/pkg");
    }

    /// A project folder with `files` (relative path, content), canonical so symlinks compare.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().canonicalize().expect("canonical");
        for (file, text) in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create a folder");
            std::fs::write(path, text).expect("write a file");
        }
        (dir, root)
    }

    fn resolved(resolver: &ModuleResolver, importer: &Path, specifier: &str, kind: ImportKind) -> String {
        match resolver.resolve(importer, specifier, kind) {
            Ok(Resolved::File { path, .. }) => path.display().to_string(),
            Ok(Resolved::NodeBuiltin(name)) => name,
            Err(failure) => panic!("{failure}"),
        }
    }

    #[test]
    fn exports_follow_workers_conditions_and_the_kind_of_import() {
        let (_dir, root) = project(&[
            ("src/index.ts", ""),
            (
                "node_modules/pkg/package.json",
                r#"{ "name": "pkg", "exports": {
                    ".": { "node": "./node.js", "workerd": { "import": "./workerd.mjs", "require": "./workerd.cjs" }, "default": "./default.js" },
                    "./feature": { "browser": "./feature-browser.js", "default": "./feature.js" },
                    "./module-only": { "module": "./module.js", "default": "./plain.js" }
                } }"#,
            ),
            ("node_modules/pkg/workerd.mjs", ""),
            ("node_modules/pkg/workerd.cjs", ""),
            ("node_modules/pkg/feature-browser.js", ""),
            ("node_modules/pkg/module.js", ""),
            ("node_modules/pkg/plain.js", ""),
        ]);
        let resolver = ModuleResolver::new(NodeCompat::None, root.join("wrangler.jsonc"), &[&root]);
        let importer = root.join("src/index.ts");
        let at = |file: &str| root.join(file).display().to_string();
        assert_eq!(resolved(&resolver, &importer, "pkg", ImportKind::Import), at("node_modules/pkg/workerd.mjs"));
        assert_eq!(resolved(&resolver, &importer, "pkg", ImportKind::Require), at("node_modules/pkg/workerd.cjs"));
        assert_eq!(
            resolved(&resolver, &importer, "pkg/feature", ImportKind::Import),
            at("node_modules/pkg/feature-browser.js")
        );
        // wrangler sets custom conditions, so esbuild leaves webpack's `module` out.
        assert_eq!(
            resolved(&resolver, &importer, "pkg/module-only", ImportKind::Import),
            at("node_modules/pkg/plain.js")
        );
        let hidden = resolver.resolve(&importer, "pkg/workerd.mjs", ImportKind::Import).unwrap_err();
        assert!(hidden.reason.contains("not exported"), "{hidden}");
    }

    #[test]
    fn main_fields_the_browser_map_imports_and_tsconfig_paths() {
        let (_dir, root) = project(&[
            ("src/index.ts", ""),
            ("src/lib/util.ts", ""),
            ("tsconfig.json", r#"{ "compilerOptions": { "baseUrl": ".", "paths": { "@lib/*": ["src/lib/*"] } } }"#),
            ("package.json", r##"{ "name": "app", "imports": { "#config": "./src/config.js" } }"##),
            ("src/config.js", ""),
            (
                "node_modules/old/package.json",
                r#"{ "name": "old", "main": "main.js", "module": "module.js", "browser": { "./main.js": "./browser.js", "fs": false } }"#,
            ),
            ("node_modules/old/main.js", ""),
            ("node_modules/old/module.js", ""),
            ("node_modules/old/browser.js", ""),
        ]);
        let resolver = ModuleResolver::new(NodeCompat::None, root.join("wrangler.jsonc"), &[&root]);
        let importer = root.join("src/index.ts");
        let at = |file: &str| root.join(file).display().to_string();
        assert_eq!(resolved(&resolver, &importer, "old", ImportKind::Import), at("node_modules/old/module.js"));
        assert_eq!(resolved(&resolver, &importer, "@lib/util", ImportKind::Import), at("src/lib/util.ts"));
        assert_eq!(resolved(&resolver, &importer, "#config", ImportKind::Import), at("src/config.js"));
    }

    #[test]
    fn symlinked_packages_resolve_to_real_paths_and_their_own_dependencies() {
        let (_dir, root) = project(&[
            ("src/index.ts", ""),
            ("node_modules/.pnpm/a@1.0.0/node_modules/a/package.json", r#"{ "name": "a", "main": "index.js" }"#),
            ("node_modules/.pnpm/a@1.0.0/node_modules/a/index.js", ""),
            ("node_modules/.pnpm/b@1.0.0/node_modules/b/package.json", r#"{ "name": "b", "main": "index.js" }"#),
            ("node_modules/.pnpm/b@1.0.0/node_modules/b/index.js", ""),
        ]);
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).expect("a symlink");
        link(".pnpm/a@1.0.0/node_modules/a", "node_modules/a");
        link("../../b@1.0.0/node_modules/b", "node_modules/.pnpm/a@1.0.0/node_modules/b");
        let resolver = ModuleResolver::new(NodeCompat::None, root.join("wrangler.jsonc"), &[&root]);
        let a = resolved(&resolver, &root.join("src/index.ts"), "a", ImportKind::Import);
        assert_eq!(a, root.join("node_modules/.pnpm/a@1.0.0/node_modules/a/index.js").display().to_string());
        let b = resolved(&resolver, Path::new(&a), "b", ImportKind::Require);
        assert_eq!(b, root.join("node_modules/.pnpm/b@1.0.0/node_modules/b/index.js").display().to_string());
        let unreachable = resolver.resolve(&root.join("src/index.ts"), "b", ImportKind::Import).unwrap_err();
        assert!(unreachable.reason.contains("no package \"b\""), "{unreachable}");
    }

    #[test]
    fn imports_stay_inside_the_project_and_the_packages_it_imports() {
        let (_dir, base) = project(&[
            ("app/src/index.ts", ""),
            ("app/src/.env", "SECRET=1"),
            ("app/src/notes.md", ""),
            ("app/node_modules/pkg/package.json", r#"{ "name": "pkg", "main": "index.js" }"#),
            ("app/node_modules/pkg/index.js", ""),
            ("app/node_modules/pkg/lib/inner.js", ""),
            ("shared/package.json", r#"{ "name": "shared", "main": "index.js" }"#),
            ("shared/index.js", ""),
            ("shared/util.js", ""),
            ("secret.js", ""),
        ]);
        std::os::unix::fs::symlink("../../shared", base.join("app/node_modules/shared")).expect("a workspace link");
        let root = base.join("app");
        let resolver = ModuleResolver::new(NodeCompat::None, root.join("wrangler.jsonc"), &[&root]);
        let entry = root.join("src/index.ts");
        let refused = |importer: &Path, specifier: &str| {
            resolver.resolve(importer, specifier, ImportKind::Import).unwrap_err().reason
        };

        let outside = refused(&entry, "../../secret.js");
        assert!(outside.contains("outside the project"), "{outside}");
        assert!(refused(&entry, &base.join("secret.js").display().to_string()).contains("outside the project"));
        assert!(refused(&entry, "./.env").contains("is not a module"));
        assert!(refused(&entry, "./notes.md").contains("is not a module"));

        // A package's own relative imports stay inside it; a workspace package opens its folder.
        let pkg = PathBuf::from(resolved(&resolver, &entry, "pkg", ImportKind::Import));
        resolved(&resolver, &pkg, "./lib/inner.js", ImportKind::Import);
        assert!(refused(&pkg, "../../../secret.js").contains("outside the project"));
        let shared = PathBuf::from(resolved(&resolver, &entry, "shared", ImportKind::Import));
        assert_eq!(shared, base.join("shared/index.js"), "the link is followed to the real path");
        resolved(&resolver, &shared, "./util.js", ImportKind::Require);
    }

    #[test]
    fn node_builtins_follow_the_compatibility_flags() {
        let (_dir, root) = project(&[
            ("src/index.ts", ""),
            ("node_modules/events/package.json", r#"{ "main": "e.js" }"#),
            ("node_modules/events/e.js", ""),
        ]);
        let importer = root.join("src/index.ts");
        let config = root.join("wrangler.jsonc");
        let v2 = ModuleResolver::new(NodeCompat::V2 { populate_process_env: true }, config.clone(), &[&root]);
        assert_eq!(resolved(&v2, &importer, "node:buffer", ImportKind::Import), "node:buffer");
        assert_eq!(
            resolved(&v2, &importer, "events", ImportKind::Import),
            "node:events",
            "a built-in wins over node_modules"
        );
        let missing = v2.resolve(&importer, "node:fs", ImportKind::Import).unwrap_err().to_string();
        assert!(
            missing.contains("node:fs is not emulated by stepflare") && missing.contains("src/index.ts"),
            "{missing}"
        );

        let v1 = ModuleResolver::new(NodeCompat::V1, config.clone(), &[&root]);
        assert_eq!(resolved(&v1, &importer, "node:buffer", ImportKind::Import), "node:buffer");
        assert_eq!(
            resolved(&v1, &importer, "events", ImportKind::Import),
            root.join("node_modules/events/e.js").display().to_string()
        );

        let none = ModuleResolver::new(NodeCompat::None, config.clone(), &[&root]);
        let refused = none.resolve(&importer, "node:buffer", ImportKind::Import).unwrap_err().to_string();
        assert!(refused.contains("nodejs_compat") && refused.contains("wrangler.jsonc"), "{refused}");

        let als = ModuleResolver::new(NodeCompat::Als, config, &[&root]);
        assert_eq!(resolved(&als, &importer, "node:async_hooks", ImportKind::Import), "node:async_hooks");
        assert!(als.resolve(&importer, "node:buffer", ImportKind::Import).is_err());
        assert!(als.async_hooks_resolved());
    }
}
