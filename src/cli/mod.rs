//! The `stepflare` command line: argument parsing with clap, one file per command group.

mod dev;

use clap::{Parser, Subcommand};

pub use dev::DevArgs;

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
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
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
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}
