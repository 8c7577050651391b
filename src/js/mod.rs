//! Running the user's workflow code: QuickJS through `rquickjs`, TypeScript stripped in process,
//! the `cloudflare:workers` and `cloudflare:workflows` modules, and the `WorkflowStep` bound to a
//! [`StepHost`]. Nothing here touches SQLite: every durable decision goes through the host.

mod bindings;
mod bytecode;
mod commonjs;
mod consumer;
mod durable;
mod fetch;
mod host;
mod host_calls;
mod loader;
mod memory;
mod node;
mod resolve;
mod runtime;
mod source;
mod threads;
mod timers;
pub mod transpile;
mod watchdog;
mod worker;

pub use bindings::{
    BindingError, BindingFuture, BindingHost, BindingRequest, D1Statement, EnvBinding, QueueSendMessage,
};
pub use consumer::{DeliveredMessage, MessageDecision, QueueBatch, QueueOutcome, handle_queue};
pub use durable::{ObjectCall, ObjectSpec, ObjectStorage, id_from_name, start_object, unique_id};
pub use host::{
    AttemptOutcome, DELAY_FUNCTION_TIMEOUT_MS, DelayOutcome, HostReply, HostRequest, LogLevel, RegisteredRollback,
    StepHost, UserConfig,
};
pub use loader::{LoadError, ProjectCode};
pub use runtime::{ModuleError, ModuleExports, RunOutcome, RunRequest, inspect_module, run_workflow};
pub use watchdog::{InterruptCause, InterruptedAttempt, Interruption};
pub use worker::{
    BodyStreamError, EXCEEDED_CPU, FetchError, HttpRequest, HttpResponse, ResponseBody, WorkerCode, handle_fetch,
    handle_fetch_at, handle_rpc, handle_scheduled,
};
