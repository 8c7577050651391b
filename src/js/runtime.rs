//! One run of a workflow instance: a fresh QuickJS runtime and context, the prelude, the user's
//! module, `new Class(ctx, env).run(event, step)`, and the settled result. The runtime lives only
//! as long as the run; suspending an instance means dropping this future, which frees the
//! context with everything it held.

use std::sync::Arc;

use rquickjs::function::Constructor;
use rquickjs::prelude::{Func, Rest};
use rquickjs::{
    AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Module, Object, Value, async_with,
};
use serde_json::Value as Json;

use super::bindings::{BindingHost, EnvBinding};
use super::commonjs;
use super::host::{HostRequest, LogLevel, StepHost};
use super::host_calls;
use super::loader::{PRELUDE, ProjectCode, ProjectLoader, ProjectResolver, QUEUES, SERVICES, STORAGE, STREAMS, WEB};
use super::memory::{LimitedAllocator, MEMORY_LIMIT};
use super::threads;
use super::timers;
use super::watchdog::{Interruption, Watchdog};
use crate::config::NodeCompat;
use crate::model::ErrorInfo;

/// Everything a run needs to know about the instance.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub code: Arc<ProjectCode>,
    pub class_name: String,
    /// The event payload as JSON text.
    pub payload: String,
    pub created_on: i64,
    pub instance_id: String,
    pub workflow_name: String,
    /// `{"cron", "scheduledTime"}` as JSON text, for cron-created instances.
    pub schedule: Option<String>,
    /// The Worker's vars as a JSON object; `env` is these plus `bindings`.
    pub env: Json,
    pub bindings: Vec<EnvBinding>,
    /// The instance's rollback is under way: `run()` is replayed only to register its rollback
    /// handlers again, which then run.
    pub replay_for_rollback: bool,
}

/// How `run()` settled.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// `run()` returned this value, as JSON text (`None` for `undefined`).
    Complete(Option<String>),
    Errored(ErrorInfo),
    /// The watchdog stopped the code (a step past its timeout in code that never yields, or the
    /// CPU limit); the host decides what that means.
    Interrupted(Interruption),
}

/// Runs `run()` to completion. The host's replies drive the steps; when the host decides to stop
/// the run it never replies, and the caller drops this future.
///
/// The run goes on a JS thread; dropping this future stops it there, even inside code that never
/// yields.
pub async fn run_workflow<H: StepHost>(request: RunRequest, host: Arc<H>) -> RunOutcome {
    let cpu_limit = request.code.cpu_limit();
    let ran = threads::on_js_thread(cpu_limit, |watchdog| run_in_fresh_context(request, host, watchdog)).await;
    match ran {
        Some(Ok(outcome)) => outcome,
        Some(Err(error)) => RunOutcome::Errored(ErrorInfo::new("Error", error.to_string())),
        None => RunOutcome::Errored(ErrorInfo::new("Error", "the run failed inside stepflare")),
    }
}

async fn run_in_fresh_context<H: StepHost>(
    request: RunRequest,
    host: Arc<H>,
    watchdog: Watchdog,
) -> rquickjs::Result<RunOutcome> {
    let (_runtime, context) = fresh_context(&request.code, &watchdog).await?;
    let steps_watchdog = watchdog.clone();
    let run = async_with!(context => |ctx| {
        match call_run(&ctx, &request, host, &steps_watchdog).await.catch(&ctx) {
            Ok(outcome) => Ok(outcome),
            Err(caught) => Ok(RunOutcome::Errored(error_info(&ctx, caught))),
        }
    });
    watchdog.unless_interrupted(run).await.unwrap_or_else(|interruption| Ok(RunOutcome::Interrupted(interruption)))
}

async fn call_run<'js, H: StepHost>(
    ctx: &Ctx<'js>,
    request: &RunRequest,
    host: Arc<H>,
    watchdog: &Watchdog,
) -> rquickjs::Result<RunOutcome> {
    let (stepflare, env) = prepare_context(ctx, &request.code, host, watchdog, &request.env, &request.bindings).await?;
    let main = request.code.main().display().to_string();
    let namespace: Object = Module::import(ctx, main.clone())?.into_future().await?;
    let class: Value = namespace.get(request.class_name.as_str())?;
    let Some(class) = class.into_constructor() else {
        return Err(rquickjs::Exception::throw_reference(
            ctx,
            &format!("{main} does not export a class named {}", request.class_name),
        ));
    };
    let workflow: Object = class.construct((execution_context(ctx)?, env))?;
    let _: Function = workflow.get("run").map_err(|_| {
        rquickjs::Exception::throw_type(ctx, &format!("class {} has no run() method", request.class_name))
    })?;

    let event = build_event(ctx, request)?;
    let new_step: Function = stepflare.get("newStep")?;
    let step: Object = new_step.call(())?;
    // The prelude calls `run()`, and the rollback handlers when it fails.
    let run_workflow: Function = stepflare.get("runWorkflow")?;
    let returned: Value = run_workflow.call((workflow, event, step, request.replay_for_rollback))?;
    let settled: Value = match returned.as_promise() {
        Some(promise) => promise.clone().into_future().await?,
        None => returned,
    };
    let encode_output: Function = stepflare.get("encodeOutput")?;
    let output: Value = encode_output.call((settled,))?;
    if output.is_bool() {
        return Ok(RunOutcome::Errored(ErrorInfo::new("Error", "The value returned by run() is not serialisable")));
    }
    Ok(RunOutcome::Complete(output.as_string().map(|text| text.to_string()).transpose()?))
}

/// A new runtime, loading modules from `code`, and a context in it. The runtime must outlive
/// the context, so both are returned. The runtime stops whatever it runs when `watchdog` says
/// so.
pub(super) async fn fresh_context(
    code: &Arc<ProjectCode>,
    watchdog: &Watchdog,
) -> rquickjs::Result<(AsyncRuntime, AsyncContext)> {
    // Going over the memory limit throws `InternalError: out of memory` in the code that
    // allocated.
    let runtime = AsyncRuntime::new_with_alloc(LimitedAllocator::new(MEMORY_LIMIT))?;
    let watchdog = watchdog.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || watchdog.should_interrupt()))).await;
    runtime.set_loader(ProjectResolver { code: code.clone() }, ProjectLoader { code: code.clone() }).await;
    let context = AsyncContext::full(&runtime).await?;
    Ok((runtime, context))
}

/// Everything a fresh context needs before user code loads: the host functions, timers, `URL`,
/// the prelude, and `env` (vars plus workflow bindings). Returns the prelude's exports and `env`.
pub(super) async fn prepare_context<'js, H: StepHost>(
    ctx: &Ctx<'js>,
    code: &Arc<ProjectCode>,
    host: Arc<H>,
    watchdog: &Watchdog,
    vars: &Json,
    bindings: &[EnvBinding],
) -> rquickjs::Result<(Object<'js>, Value<'js>)> {
    super::bindings::install(ctx, host.bindings(), watchdog.clone())?;
    install_host(ctx, host, watchdog.clone())?;
    timers::install(ctx)?;
    let define = lazy_global_definer(ctx)?;
    install_web_platform(code, &define)?;
    install_node_globals(ctx, code, &define)?;
    if code.async_context() {
        // Installs what carries AsyncLocalStorage across `await` before any user code runs.
        commonjs::require_builtin(ctx, code, "node:async_hooks")?;
    }
    Module::import(ctx, PRELUDE)?.into_future::<Value>().await?;
    for module in binding_modules(bindings) {
        Module::import(ctx, module)?.into_future::<Value>().await?;
    }
    if bindings.iter().any(|binding| matches!(binding, EnvBinding::DurableObject { .. })) {
        super::durable::load_module(ctx).await?;
    }
    let stepflare: Object = ctx.globals().get("__stepflare")?;
    let make_env: Function = stepflare.get("makeEnv")?;
    let bindings = ctx.json_parse(serde_json::to_string(bindings).unwrap_or_else(|_| "[]".into()))?;
    let env: Value = make_env.call((ctx.json_parse(vars.to_string())?, bindings))?;
    stepflare.set("env", env.clone())?;
    stepflare.set("vars", ctx.json_parse(vars.to_string())?)?;
    Ok((stepflare, env))
}

/// The modules of the binding kinds in `bindings` that have one (most contexts, a workflow's
/// runs above all, have none of them, and do not pay for evaluating them).
fn binding_modules(bindings: &[EnvBinding]) -> Vec<&'static str> {
    let has = |kind: fn(&EnvBinding) -> bool| bindings.iter().any(kind);
    let mut modules = Vec::new();
    if has(|b| matches!(b, EnvBinding::Queue { .. })) {
        modules.push(QUEUES);
    }
    if has(|b| matches!(b, EnvBinding::Kv { .. } | EnvBinding::D1 { .. } | EnvBinding::R2 { .. })) {
        modules.push(STORAGE);
    }
    if has(|b| matches!(b, EnvBinding::Service { .. })) {
        modules.push(SERVICES);
    }
    modules
}

/// The globals the LLRT modules define, set up together: `URL`, `URLSearchParams`,
/// `TextEncoder`, `TextDecoder`, `atob`, `btoa`, `Blob`, `File`, `Buffer`, `crypto` (with
/// `subtle`), `AbortController`.
const WEB_PLATFORM_GLOBALS: [&str; 15] = [
    "URL",
    "URLSearchParams",
    "TextEncoder",
    "TextDecoder",
    "atob",
    "btoa",
    "Blob",
    "File",
    "Buffer",
    "crypto",
    "Crypto",
    "CryptoKey",
    "SubtleCrypto",
    "AbortController",
    "AbortSignal",
];

/// The globals of `stepflare:streams`.
const STREAM_GLOBALS: [&str; 9] = [
    "ReadableStream",
    "ReadableStreamDefaultReader",
    "ReadableStreamDefaultController",
    "WritableStream",
    "WritableStreamDefaultWriter",
    "WritableStreamDefaultController",
    "TransformStream",
    "CountQueuingStrategy",
    "ByteLengthQueuingStrategy",
];

/// Makes the web APIs of the LLRT modules for rquickjs, and stepflare's streams, available.
/// Setting them up costs more than a short workflow run takes, so each global starts as an
/// accessor that sets up its whole group on first use. Timers, `console`, streams and `fetch`
/// are stepflare's own (see `timers.rs`, `fetch.rs`, the prelude, `streams.js` and `web.js`),
/// since they must end with the run that started them.
fn install_web_platform<'js>(code: &Arc<ProjectCode>, define: &Function<'js>) -> rquickjs::Result<()> {
    let code = code.clone();
    define_lazily(define, &WEB_PLATFORM_GLOBALS, move |ctx| {
        llrt_url::init(ctx)?;
        llrt_util::init(ctx)?;
        llrt_buffer::init(ctx)?;
        llrt_crypto::init(ctx)?;
        llrt_abort::init(ctx)?;
        accept_url_objects_as_bases(ctx)?;
        complete_buffer_on_first_use(ctx, &code)
    })?;
    define_lazily(define, &["DOMException"], |ctx| llrt_exceptions::init(ctx))?;
    // A module without top-level await is evaluated before `import` returns.
    define_lazily(define, &STREAM_GLOBALS, |ctx| Module::import(ctx, STREAMS).map(|_| ()))?;
    // Most workflow runs never fetch: the Fetch API is evaluated when first used too.
    define_lazily(define, &WEB_GLOBALS, |ctx| Module::import(ctx, WEB).map(|_| ()))
}

/// The globals of `stepflare:web` (`__stepflare_web` is how the host reads a response's body).
const WEB_GLOBALS: [&str; 5] = ["Headers", "Request", "Response", "fetch", "__stepflare_web"];

/// Node's globals, which Workers have under the second version of `nodejs_compat`: `process`,
/// `global`, `setImmediate` and `clearImmediate`, each set up (by loading its built-in) on
/// first use. (`Buffer` is there in every Worker, with the other LLRT globals.)
fn install_node_globals<'js>(ctx: &Ctx<'js>, code: &Arc<ProjectCode>, define: &Function<'js>) -> rquickjs::Result<()> {
    if !matches!(code.node_compat(), NodeCompat::V2 { .. }) {
        return Ok(());
    }
    let globals = ctx.globals();
    globals.set("global", globals.clone())?;
    let process_code = code.clone();
    define_lazily(define, &["process"], move |ctx| {
        ctx.globals().set("process", commonjs::require_builtin(ctx, &process_code, "node:process")?)
    })?;
    let timers_code = code.clone();
    define_lazily(define, &["setImmediate", "clearImmediate"], move |ctx| {
        let timers: Object = commonjs::require_builtin(ctx, &timers_code, "node:timers")?.get()?;
        for name in ["setImmediate", "clearImmediate"] {
            ctx.globals().set(name, timers.get::<_, Value>(name)?)?;
        }
        Ok(())
    })
}

/// LLRT's `URL` takes its base only as a string; `new URL(path, someUrl)` is common.
fn accept_url_objects_as_bases<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    ctx.eval::<(), _>(
        r#"{
            const NativeURL = globalThis.URL;
            const base = (value) => (value === undefined ? [] : [String(value)]);
            globalThis.URL = new Proxy(NativeURL, {
                construct: (target, [url, ...rest], newTarget) =>
                    Reflect.construct(target, [url, ...base(rest[0])], newTarget === globalThis.URL ? target : newTarget),
                get: (target, key) =>
                    key === "canParse" ? (url, b) => target.canParse(url, ...base(b)) : Reflect.get(target, key),
            });
        }"#,
    )
}

/// The `Buffer` global is LLRT's class, which `node:buffer` completes (encodings, bounds,
/// 64-bit reads) in place; the first use of the global loads `node:buffer`, so the global and
/// the module's export are the same, complete class, in every Worker.
fn complete_buffer_on_first_use<'js>(ctx: &Ctx<'js>, code: &Arc<ProjectCode>) -> rquickjs::Result<()> {
    let native: Value = ctx.globals().get("Buffer")?;
    let install: Function = ctx.eval(
        r#"(native, complete) => {
            Object.defineProperty(globalThis, "Buffer", {
                configurable: true,
                get() {
                    // node:buffer reads the global while it loads: it must be the class by then.
                    Object.defineProperty(globalThis, "Buffer", { value: native, writable: true, configurable: true });
                    complete();
                    return globalThis.Buffer;
                },
                set(value) {
                    Object.defineProperty(globalThis, "Buffer", { value, writable: true, configurable: true });
                },
            });
        }"#,
    )?;
    let code = code.clone();
    let complete = Func::from(move |ctx: Ctx<'js>| commonjs::require_builtin(&ctx, &code, "node:buffer").map(|_| ()));
    install.call((native, complete))
}

/// The JavaScript half of [`define_lazily`]: `(names, setUp)` makes each name an accessor that
/// calls `setUp` (which defines the names for real) and then reads or writes the real value.
fn lazy_global_definer<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
    ctx.eval(
        r#"(names, setUp) => {
            for (const name of names) {
                Object.defineProperty(globalThis, name, {
                    configurable: true,
                    get() { setUp(); return globalThis[name]; },
                    set(value) { setUp(); globalThis[name] = value; },
                });
            }
        }"#,
    )
}

/// Defines each of `names` (through `define`) as an accessor that removes them all and calls
/// `set_up`, which defines them for real, the first time any of them is read or written.
fn define_lazily<'js>(
    define: &Function<'js>,
    names: &'static [&'static str],
    set_up: impl Fn(&Ctx<'js>) -> rquickjs::Result<()> + 'js,
) -> rquickjs::Result<()> {
    let set_up = Func::from(move |ctx: Ctx<'js>| -> rquickjs::Result<()> {
        let globals = ctx.globals();
        for name in names {
            globals.remove(*name)?;
        }
        set_up(&ctx)
    });
    define.call((names.to_vec(), set_up))
}

/// The `ctx` a Worker or workflow class is constructed with (from the prelude, after
/// `prepare_context`).
pub(super) fn execution_context<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let stepflare: Object = ctx.globals().get("__stepflare")?;
    let new_context: Function = stepflare.get("newExecutionContext")?;
    new_context.call(())
}

/// Settles once every promise passed to `ctx.waitUntil` has.
pub(super) async fn drain_wait_until<'js>(execution_context: &Object<'js>) -> rquickjs::Result<()> {
    let drain: Function = execution_context.get("__stepflare_drain")?;
    let all: rquickjs::Promise = drain.call(())?;
    all.into_future::<Value>().await.map(|_| ())
}

/// `{payload, timestamp: Date, instanceId, workflowName, schedule?}`, frozen: the event is
/// immutable in production too.
fn build_event<'js>(ctx: &Ctx<'js>, request: &RunRequest) -> rquickjs::Result<Object<'js>> {
    let event = Object::new(ctx.clone())?;
    event.set("payload", ctx.json_parse(request.payload.as_str())?)?;
    let date: Constructor = ctx.globals().get("Date")?;
    event.set("timestamp", date.construct::<_, Value>((request.created_on as f64,))?)?;
    event.set("instanceId", request.instance_id.as_str())?;
    event.set("workflowName", request.workflow_name.as_str())?;
    if let Some(schedule) = &request.schedule {
        event.set("schedule", ctx.json_parse(schedule.as_str())?)?;
    }
    let object: Object = ctx.globals().get("Object")?;
    let freeze: Function = object.get("freeze")?;
    freeze.call::<_, Value>((event.clone(),))?;
    Ok(event)
}

/// `__stepflare_host` (see `host_calls.rs`) and `__stepflare_log(level, text)`, which the prelude
/// captures and removes from the global scope.
fn install_host<'js, H: StepHost>(ctx: &Ctx<'js>, host: Arc<H>, watchdog: Watchdog) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    host_calls::install(ctx, host.clone(), watchdog)?;
    super::fetch::install(ctx)?;
    globals.set(
        "__stepflare_log",
        Func::from(move |level: String, text: Rest<String>| {
            let level = match level.as_str() {
                "debug" => LogLevel::Debug,
                "warn" => LogLevel::Warn,
                "error" => LogLevel::Error,
                _ => LogLevel::Info,
            };
            host.log(level, &text.0.join(" "));
        }),
    )?;
    Ok(())
}

/// The `{name, message}` of whatever a run threw.
pub(super) fn error_info<'js>(ctx: &Ctx<'js>, caught: CaughtError<'js>) -> ErrorInfo {
    match caught {
        CaughtError::Exception(exception) => {
            let object = exception.as_object();
            let name = object.get::<_, Option<String>>("name").ok().flatten().unwrap_or_else(|| "Error".into());
            ErrorInfo::new(name, exception.message().unwrap_or_default())
        }
        CaughtError::Value(value) => {
            let described = ctx
                .globals()
                .get::<_, Object>("__stepflare")
                .and_then(|sf| sf.get::<_, Function>("describeError"))
                .and_then(|describe| describe.call::<_, Object>((value.clone(),)));
            match described {
                Ok(info) => ErrorInfo::new(
                    info.get::<_, String>("name").unwrap_or_else(|_| "Error".into()),
                    info.get::<_, String>("message").unwrap_or_default(),
                ),
                Err(_) => ErrorInfo::new("Error", format!("{value:?}")),
            }
        }
        CaughtError::Error(error) => ErrorInfo::new("Error", error.to_string()),
    }
}

/// A host for code that never runs a step: checking a module's exports, a Worker's handlers.
pub(super) struct NoSteps(pub Option<Arc<dyn BindingHost>>);

impl StepHost for NoSteps {
    async fn handle(&self, _request: HostRequest) -> Option<super::HostReply> {
        None
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => tracing::debug!(target: "worker", "{message}"),
            LogLevel::Info => tracing::info!(target: "worker", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "worker", "{message}"),
            LogLevel::Error => tracing::error!(target: "worker", "{message}"),
        }
    }

    fn bindings(&self) -> Option<Arc<dyn BindingHost>> {
        self.0.clone()
    }
}

/// What the entry module exports: its classes, and the handlers of its default export.
#[derive(Debug, Clone, Default)]
pub struct ModuleExports {
    /// Exports that are classes (constructors), by name.
    pub classes: Vec<String>,
    /// Which of `fetch`, `scheduled` and `queue` the default export (an object, or a
    /// `WorkerEntrypoint` class) has.
    pub handlers: Vec<String>,
}

/// Why the entry module (or a module it imports) did not load.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ModuleError {
    /// `file:line:column` of the problem, when QuickJS reports one (syntax errors and errors
    /// thrown while a module evaluates do).
    pub location: Option<String>,
    /// The error's name and message, e.g. `SyntaxError: unexpected token in expression: ';'`.
    pub message: String,
}

/// Loads the project's entry module in a fresh context and reports its exports.
pub async fn inspect_module(code: Arc<ProjectCode>) -> Result<ModuleExports, ModuleError> {
    let cpu_limit = code.cpu_limit();
    let inspected = threads::on_js_thread(cpu_limit, |watchdog| inspect_in_fresh_context(code, watchdog)).await;
    inspected.unwrap_or_else(|| {
        Err(ModuleError { location: None, message: "loading the module failed inside stepflare".into() })
    })
}

async fn inspect_in_fresh_context(code: Arc<ProjectCode>, watchdog: Watchdog) -> Result<ModuleExports, ModuleError> {
    let (_runtime, context) =
        fresh_context(&code, &watchdog).await.map_err(|e| ModuleError { location: None, message: e.to_string() })?;
    let host_watchdog = watchdog.clone();
    let inspected = async_with!(context => |ctx| {
        let result: rquickjs::Result<ModuleExports> = async {
            prepare_context(&ctx, &code, Arc::new(NoSteps(None)), &host_watchdog, &Json::Null, &[]).await?;
            let main = code.main().display().to_string();
            let namespace: Object = Module::import(&ctx, main)?.into_future().await?;
            let mut exports = ModuleExports::default();
            for key in namespace.keys::<String>() {
                let key = key?;
                let value: Value = namespace.get(key.as_str())?;
                if value.is_constructor() {
                    exports.classes.push(key);
                }
            }
            let default: Value = namespace.get("default")?;
            let holder = match default.as_constructor() {
                Some(class) => class.get::<_, Option<Object>>("prototype")?,
                None => default.into_object(),
            };
            if let Some(holder) = holder {
                for handler in ["fetch", "scheduled", "queue"] {
                    if holder.get::<_, Value>(handler)?.is_function() {
                        exports.handlers.push(handler.to_owned());
                    }
                }
            }
            Ok(exports)
        }
        .await;
        result.catch(&ctx).map_err(|caught| {
            let location = match &caught {
                CaughtError::Exception(exception) => exception.stack().as_deref().and_then(first_frame_location),
                _ => None,
            };
            let info = error_info(&ctx, caught);
            ModuleError { location, message: format!("{}: {}", info.name, info.message) }
        })
    });
    watchdog.unless_interrupted(inspected).await.unwrap_or_else(|_| {
        Err(ModuleError {
            location: None,
            // Cloudflare's words when a Worker's top level runs too long at deploy.
            message: "Error: Script startup exceeded CPU time limit.".into(),
        })
    })
}

/// `file:line:column` of the innermost frame of a QuickJS stack (`    at f (/a.js:3:9)` or
/// `    at /a.js:3:9`).
pub(super) fn first_frame_location(stack: &str) -> Option<String> {
    let frame = stack.lines().map(str::trim).find_map(|line| line.strip_prefix("at "))?;
    let location = match frame.rsplit_once(" (") {
        Some((_, inner)) => inner.strip_suffix(')')?,
        None => frame,
    };
    let mut parts = location.rsplitn(3, ':');
    let numbers_follow = parts.next()?.parse::<u32>().is_ok() && parts.next()?.parse::<u32>().is_ok();
    (numbers_follow && parts.next().is_some_and(|file| !file.is_empty())).then(|| location.to_owned())
}

#[cfg(test)]
mod tests {
    use super::first_frame_location;

    #[test]
    fn the_innermost_frame_names_file_line_and_column() {
        assert_eq!(first_frame_location("    at /p/src/msg.js:3:23\n").as_deref(), Some("/p/src/msg.js:3:23"));
        assert_eq!(
            first_frame_location("    at run (/p/src/index.js:6:9)\n    at <anonymous>\n").as_deref(),
            Some("/p/src/index.js:6:9")
        );
        assert_eq!(first_frame_location("    at <anonymous>\n"), None);
        assert_eq!(first_frame_location(""), None);
    }
}
