//! `stepflare d1 migrations apply <database>`: applies a D1 database's `migrations_dir` to its
//! local copy in the state folder, as `wrangler d1 migrations apply --local` does. It works on
//! the file directly, with or without a `stepflare dev` running.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;

#[derive(Debug, Args)]
pub struct D1Args {
    #[command(subcommand)]
    pub command: D1Command,
}

#[derive(Debug, Subcommand)]
pub enum D1Command {
    /// D1 migrations.
    Migrations(MigrationsArgs),
}

#[derive(Debug, Args)]
pub struct MigrationsArgs {
    #[command(subcommand)]
    pub command: MigrationsCommand,
}

#[derive(Debug, Subcommand)]
pub enum MigrationsCommand {
    /// Apply the migrations of `migrations_dir` that the local database has not had yet, in order.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The database: its binding or its `database_name`.
    pub database: String,
    /// The wrangler config file, or a directory to look for one in.
    #[arg(short, long, default_value = ".")]
    pub config: PathBuf,
    /// The state directory `stepflare dev` uses (default: .stepflare beside the config).
    #[arg(long)]
    pub persist_to: Option<PathBuf>,
    /// The environment of the config whose database this is (`env.<name>`).
    #[arg(short, long, env = "CLOUDFLARE_ENV")]
    pub env: Option<String>,
}

pub fn run(args: D1Args) -> Result<(), CliError> {
    let D1Command::Migrations(MigrationsArgs { command: MigrationsCommand::Apply(args) }) = args.command;
    let config = crate::config::load_env(&args.config, args.env.as_deref())?;
    let database = config
        .d1_databases
        .iter()
        .find(|db| db.binding == args.database || db.name == args.database)
        .ok_or_else(|| CliError::NoSuchDatabase { database: args.database.clone(), config: config.path.clone() })?;
    let state = args.persist_to.clone().unwrap_or_else(|| super::dev::project_root(&args.config).join(".stepflare"));
    let applied = crate::d1::apply_migrations(Some(&state), &database.id, &database.migrations_dir)?;
    if applied.is_empty() {
        println!("No migrations to apply to {} ({}).", database.name, database.migrations_dir.display());
    }
    for name in applied {
        println!("Applied {name} to {}.", database.name);
    }
    Ok(())
}
