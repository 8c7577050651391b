//! The Rust half of CommonJS (`modules.js` is the other): resolving a `require`, compiling a
//! CommonJS file or a built-in into its wrapper function, reading JSON and text files, and
//! handing out LLRT's native modules to the built-ins. The module system is set up in a context
//! the first time something needs it, and kept in the global [`SYSTEM_GLOBAL`].

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rquickjs::context::EvalOptions;
use rquickjs::module::ModuleDef;
use rquickjs::prelude::Func;
use rquickjs::{Array, Ctx, Exception, Function, Module, Object, Value};

use super::bytecode::BytecodeCache;
use super::loader::ProjectCode;
use super::node;
use super::resolve::{self, ImportKind, Resolved};
use super::source::ModuleFormat;
use crate::config::NodeCompat;

/// Where a context keeps its module system (the object `modules.js` returns).
pub(super) const SYSTEM_GLOBAL: &str = "__stepflare_modules";
const MODULES_SOURCE: &str = include_str!("modules.js");

/// The module system of the context, set up on first use.
pub(super) fn system<'js>(ctx: &Ctx<'js>, code: &Arc<ProjectCode>) -> rquickjs::Result<Object<'js>> {
    let globals = ctx.globals();
    if let Some(system) = globals.get::<_, Option<Object>>(SYSTEM_GLOBAL)? {
        return Ok(system);
    }
    let make: Function = ctx.eval_with_options(MODULES_SOURCE, script_options("stepflare:modules", true))?;
    let system: Object = make.call((host(ctx, code)?,))?;
    let define: Function = ctx.eval("(o, k, v) => Object.defineProperty(o, k, { value: v })")?;
    define.call::<_, Value>((globals, SYSTEM_GLOBAL, system.clone()))?;
    Ok(system)
}

/// `require(name)` of a built-in (`"node:buffer"`), for stepflare's own set-up of Node's globals.
pub(super) fn require_builtin<'js>(
    ctx: &Ctx<'js>,
    code: &Arc<ProjectCode>,
    name: &str,
) -> rquickjs::Result<Value<'js>> {
    let require: Function = system(ctx, code)?.get("requireBuiltin")?;
    require.call((name,))
}

fn script_options(filename: &str, strict: bool) -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = strict;
    options.filename = Some(filename.to_owned());
    options
}

/// The `host` object of `modules.js`.
fn host<'js>(ctx: &Ctx<'js>, code: &Arc<ProjectCode>) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    let resolving = code.clone();
    host.set(
        "resolve",
        Func::from(move |ctx: Ctx<'js>, from: String, specifier: String| {
            resolve_require(&ctx, &resolving, &from, &specifier)
        }),
    )?;
    let compiling = code.clone();
    host.set("compile", Func::from(move |ctx: Ctx<'js>, id: String| compile_commonjs(&ctx, &compiling, &id)))?;
    let reading = code.clone();
    host.set(
        "text",
        Func::from(move |ctx: Ctx<'js>, id: String| -> rquickjs::Result<String> {
            let source =
                reading.module_source(Path::new(&id)).map_err(|e| Exception::throw_message(&ctx, &e.to_string()))?;
            Ok(source.text.to_string())
        }),
    )?;
    host.set("builtin", Func::from(compile_builtin))?;
    host.set("native", Func::from(native_module))?;
    let options = Object::new(ctx.clone())?;
    let populate = matches!(code.node_compat(), NodeCompat::V2 { populate_process_env: true });
    options.set("populateProcessEnv", populate)?;
    options.set("builtinModules", resolve::node_builtin_names().to_vec())?;
    host.set("options", options)?;
    Ok(host)
}

/// The name `modules.js` knows a file's format by (`"builtin"` is the built-ins').
pub(super) fn kind_of(format: ModuleFormat) -> &'static str {
    match format {
        ModuleFormat::Esm => "esm",
        ModuleFormat::CommonJs => "commonjs",
        ModuleFormat::Json => "json",
        ModuleFormat::Text => "text",
    }
}

/// `[kind, id]` for `require(specifier)` in the file `from`; throws Node's `MODULE_NOT_FOUND`.
fn resolve_require<'js>(
    ctx: &Ctx<'js>,
    code: &ProjectCode,
    from: &str,
    specifier: &str,
) -> rquickjs::Result<Array<'js>> {
    let (kind, id) = match code.resolver().resolve(Path::new(from), specifier, ImportKind::Require) {
        Ok(Resolved::NodeBuiltin(name)) => ("builtin", name),
        Ok(Resolved::File { path, package_type }) => {
            let format = code
                .module_source_in(&path, package_type)
                .map_err(|e| Exception::throw_message(ctx, &e.to_string()))?
                .format;
            (kind_of(format), path.display().to_string())
        }
        Err(failure) => {
            let error = Exception::from_message(ctx.clone(), &failure.to_string())?;
            error.set("code", "MODULE_NOT_FOUND")?;
            return Err(ctx.throw(error.into_value()));
        }
    };
    let pair = Array::new(ctx.clone())?;
    pair.set(0, kind)?;
    pair.set(1, id)?;
    Ok(pair)
}

/// The wrapper function of a CommonJS file: its text inside `function (exports, require,
/// module)`, compiled as sloppy-mode script code under the file's own name, so that stack traces
/// point into the file (the wrapper adds nothing before the file's first line).
fn compile_commonjs<'js>(ctx: &Ctx<'js>, code: &ProjectCode, id: &str) -> rquickjs::Result<Function<'js>> {
    code.bytecode().script_function(ctx, id, || {
        let source = code.module_source(Path::new(id)).map_err(|e| Exception::throw_message(ctx, &e.to_string()))?;
        Ok(wrapped(&source.text))
    })
}

/// `body` as the wrapper function of a CommonJS module; the first line stays the first line, and
/// a `#!` line (allowed in a file, not inside a function) becomes a comment.
fn wrapped(body: &str) -> String {
    let body = match body.strip_prefix("#!") {
        Some(rest) => std::borrow::Cow::Owned(format!("//{rest}")),
        None => std::borrow::Cow::Borrowed(body),
    };
    format!("(function (exports, require, module) {{{body}\n}})")
}

/// The wrapper function of the built-in `name` (`"node:events"`); throws when stepflare does not
/// emulate it.
fn compile_builtin<'js>(ctx: Ctx<'js>, name: String) -> rquickjs::Result<Function<'js>> {
    static BUILTINS: OnceLock<BytecodeCache> = OnceLock::new();
    let Some(source) = node::source(&name) else {
        return Err(Exception::throw_message(&ctx, &node::not_emulated(&name)));
    };
    let cache = BUILTINS.get_or_init(BytecodeCache::with_disk);
    cache.script_function(&ctx, &name, || Ok(wrapped(source)))
}

/// The exports of one of LLRT's native modules, which the built-ins build on.
fn native_module<'js>(ctx: Ctx<'js>, name: String) -> rquickjs::Result<Value<'js>> {
    fn evaluate<'js, D: ModuleDef>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Value<'js>> {
        let (module, _) = Module::evaluate_def::<D, _>(ctx.clone(), format!("stepflare:llrt/{name}"))?;
        let namespace = module.namespace()?;
        namespace.get("default")
    }
    match name.as_str() {
        "buffer" => evaluate::<llrt_buffer::BufferModule>(&ctx, &name),
        "crypto" => evaluate::<llrt_crypto::CryptoModule>(&ctx, &name),
        "path" => evaluate::<llrt_path::PathModule>(&ctx, &name),
        "string_decoder" => evaluate::<llrt_string_decoder::StringDecoderModule>(&ctx, &name),
        "util" => evaluate::<llrt_util::UtilModule>(&ctx, &name),
        _ => Err(Exception::throw_message(&ctx, &format!("no native module {name}"))),
    }
}
