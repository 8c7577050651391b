//! Running the user's workflow code: QuickJS through `rquickjs`, TypeScript stripped in process,
//! the `cloudflare:workers` and `cloudflare:workflows` modules, and the `WorkflowStep` bound to a
//! [`StepHost`]. Nothing here touches SQLite: every durable decision goes through the host.

mod fetch;
mod host;
mod loader;
mod runtime;
mod timers;
pub mod transpile;

pub use host::{AttemptOutcome, HostReply, HostRequest, LogLevel, StepHost};
pub use loader::{LoadError, ProjectCode};
pub use runtime::{RunOutcome, RunRequest, exported_classes, run_workflow};
