//! Integration tests for `stepflare dev`: each test starts the real binary on a fixture project
//! under `fixtures/` and drives it through the Cloudflare-compatible REST API, checking the
//! behaviour Cloudflare Workflows documents.

mod support;

mod api;
mod async_context;
mod bodies;
mod cli;
mod clients;
mod concurrency;
mod config_errors;
mod config_schema;
mod containment;
mod crash;
mod d1;
mod deletion;
mod dev_flags;
mod durable_objects;
mod env_vars;
mod events;
mod explorer;
mod exports;
mod guard;
mod handles;
mod http_input;
mod instance_control;
mod kv;
mod lifecycle;
mod limits;
mod node_builtins;
mod openapi;
mod packages;
mod queues;
mod r2;
mod reload;
mod replay;
mod retention;
mod retries;
mod rollbacks;
mod schedules;
mod services;
mod shutdown;
mod source_docs;
mod state_file;
mod step_context;
mod step_do;
mod step_results;
mod strict;
mod subscribe;
mod typescript;
mod waits;
mod worker;
