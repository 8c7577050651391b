//! `stepflare dev`: load the project, recover what a previous run left, run the engine, and
//! serve the API until Ctrl-C.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use super::CliError;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::{Engine, EngineConfig};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The wrangler config file, or a directory to look for one in (and in its parents).
    #[arg(short = 'c', long = "config", default_value = ".")]
    pub config: PathBuf,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Directory for the state database (default: .stepflare beside the config).
    #[arg(long)]
    pub persist_to: Option<PathBuf>,
    /// Keep all state in memory; it is gone when stepflare stops.
    #[arg(long, conflicts_with = "persist_to")]
    pub in_memory: bool,
    /// How many instances may run at once; more wait in `queued`.
    #[arg(long, default_value_t = EngineConfig::default().max_concurrent)]
    pub max_concurrent: usize,
    /// Require this bearer token on the REST API (any token is accepted otherwise).
    #[arg(long, env = "STEPFLARE_API_TOKEN")]
    pub api_token: Option<String>,
}

pub async fn run(args: DevArgs) -> Result<(), CliError> {
    let clock = Arc::new(SystemClock);
    let config_path = std::path::absolute(&args.config).unwrap_or(args.config.clone());
    let project_root = crate::config::find_config(&config_path)
        .ok()
        .or_else(|| config_path.is_file().then(|| config_path.clone()))
        .and_then(|file| file.parent().map(PathBuf::from))
        .unwrap_or_else(|| config_path.clone());
    let store = if args.in_memory {
        Store::open_in_memory()?
    } else {
        Store::open_in_dir(&args.persist_to.clone().unwrap_or_else(|| project_root.join(".stepflare")))?
    };
    let project = crate::project::load(&config_path, &store, clock.now_ms()).await?;
    for warning in &project.config.warnings {
        tracing::warn!("{warning}");
    }
    let engine = Engine::new(store, clock, EngineConfig { max_concurrent: args.max_concurrent.max(1) });
    let names: Vec<String> = project.workflows.iter().map(|w| w.name.to_string()).collect();
    if project.worker.is_some() {
        tracing::info!("the Worker's fetch handler serves every other route");
    }
    engine.set_workflows(project.workflows);
    engine.start()?;

    let address = std::net::SocketAddr::new(args.ip, args.port);
    let listener =
        TcpListener::bind(address).await.map_err(|source| CliError::Listen { address: address.to_string(), source })?;
    let bound = listener.local_addr().map_err(CliError::Serve)?;
    tracing::info!("workflows: {}", if names.is_empty() { "(none)".to_owned() } else { names.join(", ") });
    // Tests and scripts wait for this exact line on stdout.
    println!("stepflare ready on http://{bound}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let options = crate::api::ApiOptions { api_token: args.api_token.clone() };
    crate::api::serve(listener, engine.clone(), options, project.worker, shutdown).await.map_err(CliError::Serve)?;
    engine.shutdown().await;
    Ok(())
}
