//! A Durable Object's runtime: one long-lived QuickJS runtime and context per live object, on a
//! JS thread, with the Worker's module loaded and the class constructed once with `(ctx, env)`.
//! It serves the object's mailbox strictly one call at a time, in arrival order (the input
//! gate), so its fields stay as the last call left them; it ends when its mailbox closes (the
//! host evicts it, or a reload brings new code) or after it has been idle a while. Storage is
//! the host's ([`ObjectStorage`]), asked synchronously from the object's thread, as workerd's
//! SQLite is; this side never touches SQLite.

use std::sync::Arc;
use std::time::Duration;

use rquickjs::prelude::Func;
use rquickjs::{CatchResultExt, Ctx, Exception, Function, Module, Object, Promise, Value, async_with};
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};

use super::bindings::{BindingHost, EnvBinding};
use super::loader::{DURABLE, ProjectCode};
use super::runtime::{self, NoSteps, error_info, prepare_context};
use super::threads;
use super::watchdog::Watchdog;
use crate::model::ErrorInfo;

/// What one object runs: its class in a Worker's code, the Worker's `env`, and its id.
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    pub code: Arc<ProjectCode>,
    pub class_name: String,
    pub vars: Json,
    pub bindings: Vec<EnvBinding>,
    /// 64 hex digits.
    pub id: String,
    /// The name the id was made from, when the first call knew it.
    pub name: Option<String>,
    /// Whether `ctx.storage.sql` is there (a class of `new_sqlite_classes`).
    pub sqlite: bool,
}

/// One object's storage. Requests and answers are JSON text (`durable.js` says their shapes); an
/// `Err` is thrown to the code as an `Error` with that message.
pub trait ObjectStorage: Send + Sync + 'static {
    fn storage(&self, request: &str) -> Result<String, String>;
    /// A call has been answered: a transaction it left open is rolled back.
    fn call_ended(&self);
}

/// A call in an object's mailbox: `{kind: "fetch" | "rpc" | "alarm", …}` as `durable.js` reads
/// it, and where its answer goes (`{ok}` or `{threw}`, or an error of the runtime itself).
pub struct ObjectCall {
    pub call: Json,
    pub reply: oneshot::Sender<Result<Json, ErrorInfo>>,
}

/// What a call gets when the object used more CPU than `limits.cpu_ms` in it.
const EXCEEDED_CPU: &str = "Durable Object reset because its code exceeded the CPU time limit of one call.";

/// Starts the object on a JS thread; it serves `calls` until the sender side is dropped or it
/// has had none for `idle`. Code over the CPU limit in one call stops the whole object (its
/// pending calls get no answer), as production resets an object that exceeded it. `ended` is
/// dropped once the runtime is gone, so that the host starts no second runtime of the object
/// before then.
pub fn start_object(
    spec: ObjectSpec,
    storage: Arc<dyn ObjectStorage>,
    bindings: Arc<dyn BindingHost>,
    calls: mpsc::Receiver<ObjectCall>,
    idle: Duration,
    ended: oneshot::Sender<()>,
) {
    let watchdog = Watchdog::new(spec.code.cpu_limit());
    let stopped = watchdog.clone();
    threads::spawn_on_js_thread(&watchdog, async move {
        let _ended = ended;
        let mut calls = calls;
        let (_runtime, context) = match runtime::fresh_context(&spec.code, &stopped).await {
            Ok(fresh) => fresh,
            Err(error) => return refuse_all(&mut calls, ErrorInfo::new("Error", error.to_string())).await,
        };
        let serving = stopped.clone();
        let served = async_with!(context => |ctx| {
            serve(&ctx, &spec, storage, bindings, &serving, &mut calls, idle).await;
        });
        let _ = stopped.unless_interrupted(served).await;
    });
}

async fn refuse_all(calls: &mut mpsc::Receiver<ObjectCall>, error: ErrorInfo) {
    calls.close();
    while let Some(call) = calls.recv().await {
        let _ = call.reply.send(Err(error.clone()));
    }
}

async fn serve<'js>(
    ctx: &Ctx<'js>,
    spec: &ObjectSpec,
    storage: Arc<dyn ObjectStorage>,
    bindings: Arc<dyn BindingHost>,
    watchdog: &Watchdog,
    calls: &mut mpsc::Receiver<ObjectCall>,
    idle: Duration,
) {
    let dispatch = match construct(ctx, spec, storage.clone(), bindings, watchdog).await.catch(ctx) {
        Ok(dispatch) => dispatch,
        Err(caught) => return refuse_all(calls, error_info(ctx, caught)).await,
    };
    loop {
        let call = match tokio::time::timeout(idle, calls.recv()).await {
            Ok(Some(call)) => call,
            Ok(None) => return,
            // Idle: no new calls get in; those already sent are still answered.
            Err(_) => {
                calls.close();
                continue;
            }
        };
        watchdog.step_boundary();
        let answered = async {
            let promise: Promise = dispatch.call((call.call.to_string(),))?;
            promise.into_future::<String>().await
        };
        let reply = match answered.await.catch(ctx) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| ErrorInfo::new("Error", e.to_string())),
            // Stopped over its CPU limit: nothing of this runtime may run again.
            Err(_) if watchdog.interruption().is_some() => {
                storage.call_ended();
                let _ = call.reply.send(Err(ErrorInfo::new("Error", EXCEEDED_CPU)));
                return;
            }
            Err(caught) => Err(error_info(ctx, caught)),
        };
        storage.call_ended();
        let _ = call.reply.send(reply);
    }
}

/// Prepares the context, constructs the class and returns `durable.js`'s dispatcher for it.
async fn construct<'js>(
    ctx: &Ctx<'js>,
    spec: &ObjectSpec,
    storage: Arc<dyn ObjectStorage>,
    bindings: Arc<dyn BindingHost>,
    watchdog: &Watchdog,
) -> rquickjs::Result<Function<'js>> {
    let host = Arc::new(NoSteps(Some(bindings)));
    let (stepflare, env) = prepare_context(ctx, &spec.code, host, watchdog, &spec.vars, &spec.bindings).await?;
    load_module(ctx).await?;
    let main = spec.code.main().display().to_string();
    let namespace: Object = Module::import(ctx, main.clone())?.into_future().await?;
    let class: Value = namespace.get(spec.class_name.as_str())?;
    if !class.is_constructor() {
        let message = format!("{main} does not export a class named {}", spec.class_name);
        return Err(Exception::throw_reference(ctx, &message));
    }
    let storage_host = Func::from(move |ctx: Ctx<'js>, request: String| -> rquickjs::Result<String> {
        // SQLite runs here, on the object's thread; the other tasks of this thread move on.
        let answered = tokio::task::block_in_place(|| storage.storage(&request));
        answered.map_err(|message| Exception::throw_message(&ctx, &message))
    });
    let durable: Object = stepflare.get("durable")?;
    let serve: Function = durable.get("serve")?;
    let name = spec.name.clone();
    serve.call((class, env, spec.id.as_str(), name, spec.sqlite, storage_host))
}

/// Loads `stepflare:durable` into a context whose prelude is loaded, once.
pub(super) async fn load_module(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let stepflare: Object = ctx.globals().get("__stepflare")?;
    if stepflare.contains_key("durable")? {
        return Ok(());
    }
    let ids = Object::new(ctx.clone())?;
    ids.set("idFromName", Func::from(|namespace: String, name: String| id_from_name(&namespace, &name)))?;
    ids.set("uniqueId", Func::from(unique_id))?;
    ctx.globals().set("__stepflare_durable_ids", ids)?;
    Module::import(ctx, DURABLE)?.into_future::<Value>().await?;
    Ok(())
}

/// The id of the object named `name` in `namespace`: the same name always gives the same id.
pub fn id_from_name(namespace: &str, name: &str) -> String {
    let mut input = namespace.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(name.as_bytes());
    hex(ring::digest::digest(&ring::digest::SHA256, &input).as_ref())
}

/// A fresh random id.
pub fn unique_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeCompat;
    use crate::js::BindingRequest;

    /// Storage that answers every request with an empty object.
    struct NoStorage;

    impl ObjectStorage for NoStorage {
        fn storage(&self, _request: &str) -> Result<String, String> {
            Ok("{}".into())
        }
        fn call_ended(&self) {}
    }

    struct NoBindings;

    impl BindingHost for NoBindings {
        fn call(&self, _request: BindingRequest) -> crate::js::BindingFuture<'_> {
            Box::pin(async { Err(crate::js::BindingError("no bindings here".into())) })
        }
    }

    /// A project whose `Counter` counts its calls in a field, and whose `Broken` throws when
    /// constructed.
    fn project(dir: &std::path::Path) -> ObjectSpec {
        std::fs::write(dir.join("wrangler.json"), "{}").unwrap();
        std::fs::write(
            dir.join("index.js"),
            "export class Counter { constructor(ctx) { this.n = 0; this.id = ctx.id.toString(); } bump() { return ++this.n; } }\n\
             export class Broken { constructor() { throw new RangeError('no way'); } }\n",
        )
        .unwrap();
        let code = ProjectCode::new(
            dir.join("index.js"),
            NodeCompat::None,
            dir.join("wrangler.json"),
            false,
            Duration::from_secs(30),
        );
        ObjectSpec {
            code,
            class_name: "Counter".into(),
            vars: Json::Object(Default::default()),
            bindings: Vec::new(),
            id: "a".repeat(64),
            name: None,
            sqlite: false,
        }
    }

    async fn bump(mailbox: &mpsc::Sender<ObjectCall>) -> Result<Json, ErrorInfo> {
        let (reply, answer) = oneshot::channel();
        let args = r#"["a",[]]"#;
        let call = serde_json::json!({ "kind": "rpc", "method": "bump", "args": args });
        mailbox.send(ObjectCall { call, reply }).await.expect("the object is alive");
        answer.await.expect("an answer")
    }

    #[tokio::test]
    async fn an_object_keeps_its_fields_between_calls_and_goes_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (mailbox, calls) = mpsc::channel(8);
        let (ended, gone) = oneshot::channel();
        let idle = Duration::from_millis(300);
        start_object(project(dir.path()), Arc::new(NoStorage), Arc::new(NoBindings), calls, idle, ended);
        assert_eq!(bump(&mailbox).await.unwrap(), serde_json::json!({ "ok": "1" }));
        assert_eq!(bump(&mailbox).await.unwrap(), serde_json::json!({ "ok": "2" }));
        // With no calls for longer than its idle time, the object ends and its mailbox closes.
        let closed = tokio::time::timeout(Duration::from_secs(20), mailbox.closed()).await;
        assert!(closed.is_ok(), "the idle object did not go");
        let gone = tokio::time::timeout(Duration::from_secs(20), gone).await;
        assert!(gone.is_ok(), "the idle object's runtime is still there");
    }

    #[tokio::test]
    async fn a_constructor_that_throws_fails_the_calls_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ObjectSpec { class_name: "Broken".into(), ..project(dir.path()) };
        let (mailbox, calls) = mpsc::channel(8);
        let (ended, _gone) = oneshot::channel();
        start_object(spec, Arc::new(NoStorage), Arc::new(NoBindings), calls, Duration::from_secs(60), ended);
        let error = bump(&mailbox).await.expect_err("the constructor threw");
        assert_eq!((error.name.as_str(), error.message.as_str()), ("RangeError", "no way"));
        assert!(mailbox.is_closed(), "an object that cannot be constructed takes no more calls");
    }

    #[test]
    fn ids_are_64_hex_digits_and_names_give_the_same_id() {
        let id = id_from_name("w/Counter", "a");
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, id_from_name("w/Counter", "a"));
        assert_ne!(id, id_from_name("w/Counter", "b"));
        assert_ne!(id, id_from_name("w/Other", "a"));
        let unique = unique_id();
        assert_eq!(unique.len(), 64);
        assert_ne!(unique, unique_id());
    }
}
