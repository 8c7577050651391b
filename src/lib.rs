//! stepflare: Cloudflare Workflows on your machine.
//!
//! It reads a Workers project's `wrangler.jsonc`/`wrangler.json`/`wrangler.toml`, runs its
//! workflow classes in an embedded JavaScript engine, keeps every instance durable in SQLite,
//! and serves Cloudflare's REST API for Workflows on loopback.
//!
//! # Layout
//! - [`config`]: finds and validates the project's wrangler config; errors carry file:line:col.
//! - [`cron`]: Cloudflare's cron syntax (1 is Sunday; `L`, `W`, `#`) and when an expression fires.
//! - [`ids`]: validated identifiers (workflow names, instance ids, event types, step keys).
//! - [`model`]: the statuses, errors, instances and steps every part speaks in.
//! - [`outputs`]: step results and outputs as stored (structured clone or plain JSON), and
//!   the readable JSON REST and the journal show of them.
//! - [`store`]: every durable fact, in one SQLite file; commits before callers are told.
//! - [`engine`]: the instance lifecycle, concurrency slots, timers, events, replay decisions.
//! - [`js`]: runs workflow code in QuickJS; the `cloudflare:*` modules; `WorkflowStep`.
//! - [`api`]: the Cloudflare v4 REST API for Workflows over HTTP.
//! - [`queues`]: local Cloudflare Queues: producers store messages, batches go to consumers.
//! - [`project`]: turns a loaded config into the workflows the engine runs.
//! - [`workers`]: the Workers loaded now, swapped whole by a reload.
//! - [`reload`]: watches the project's files and reloads it on a change, keeping the last good
//!   version when a change does not load.
//! - [`schedule`]: the cron task: fires `schedules` and `triggers.crons` on time, durably.
//! - [`cli`]: the `stepflare` command line.

pub mod api;
pub mod cli;
pub mod config;
pub mod cron;
pub mod d1;
pub mod durable;
pub mod engine;
pub mod ids;
pub mod js;
pub mod kv;
pub mod model;
pub mod outputs;
pub mod parity;
pub mod project;
pub mod queues;
pub mod r2;
pub mod reload;
pub mod schedule;
pub mod services;
pub mod sql_values;
pub mod store;
pub mod workers;
