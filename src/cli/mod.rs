//! The `stepflare` command line: argument parsing with clap, one file per command group.
//!
//! `dev` runs the server; `workflows` (with `client.rs`, `instances.rs`, `schedules.rs` and
//! `output.rs`) is a client of a running server's REST API, mirroring `wrangler workflows`.

mod client;
mod d1;
mod dev;
mod instances;
mod output;
mod schedules;
mod workflows;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use client::ClientError;
pub use dev::DevArgs;
pub use workflows::WorkflowsArgs;

#[derive(Debug, Parser)]
#[command(name = "stepflare", version, about = "Cloudflare Workflows on your machine: durable, fast, and faithful.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the project's workflows and serve Cloudflare's Workflows REST API.
    Dev(DevArgs),
    /// Manage the workflows and instances of a running `stepflare dev`, as `wrangler workflows` does.
    Workflows(WorkflowsArgs),
    /// Local D1 databases: `d1 migrations apply <database>`.
    D1(d1::D1Args),
}

/// The runtime the commands run on. Its blocking threads are the ones that call the store
/// ([`crate::store::Store::on_blocking_thread`]), so there are no more of them than
/// [`crate::store::BLOCKING_CALLERS`]: with tokio's default of 512, a burst of 100 instances
/// started about twenty more threads that could only wait for a connection or the writer.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(crate::store::BLOCKING_CALLERS)
        .build()
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Workflows(args) => Ok(workflows::run(args).await?),
        Command::D1(args) => d1::run(args),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(
        "--ip {ip} would let anyone who reaches this machine drive its workflows and read their data; give --api-token <token> (or STEPFLARE_API_TOKEN) to serve an address other than a loopback one"
    )]
    Unprotected { ip: std::net::IpAddr },
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no D1 database {database:?} (a binding or database_name) in {}", config.display())]
    NoSuchDatabase { database: String, config: PathBuf },
    #[error(transparent)]
    D1(#[from] crate::d1::D1Error),
}

/// Everything a `stepflare workflows` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("params are not valid JSON")]
    ParamsNotJson(#[source] serde_json::Error),
    #[error("--payload is not valid JSON")]
    PayloadNotJson(#[source] serde_json::Error),
    #[error("cannot read --filename {}", path.display())]
    ReadIdsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--filename {} must hold a JSON array of instance ids (strings)", path.display())]
    IdsFileNotIds {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no instances to delete: give their ids or --filename")]
    NoIds,
    #[error("at most {max} instances can be deleted at once, not {count}")]
    TooManyIds { count: usize, max: usize },
    #[error("workflow {workflow:?} has no instances, so there is no latest one")]
    NoLatestInstance { workflow: String },
    #[error("a malformed response: {0}")]
    UnexpectedResult(String),
    #[error("could not delete {} instance(s) of {workflow:?}:\n{}", failures.len(), failures.join("\n"))]
    DeleteFailed { workflow: String, failures: Vec<String> },
}
