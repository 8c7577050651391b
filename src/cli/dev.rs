//! `stepflare dev`: load the project, recover what a previous run left, run the engine and the
//! cron task, and serve the API until SIGINT or SIGTERM, then stop cleanly.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::CliError;
use crate::engine::clock::{Clock, ShiftedClock, SystemClock};
use crate::engine::{Engine, EngineConfig};
use crate::reload::{Reloader, watch};
use crate::store::Store;
use crate::workers::Workers;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The wrangler config file, or a directory to look for one in (and in its parents). Give it
    /// more than once to run several Workers; the first one serves HTTP.
    #[arg(short = 'c', long = "config", default_value = ".")]
    pub config: Vec<PathBuf>,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to listen on. Any address but a loopback one needs `--api-token`.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// A host name the control routes (the REST API, the explorer API, `/cdn-cgi/…`) answer
    /// beside `localhost`, `*.localhost`, 127.0.0.1 and [::1]; give it more than once for more.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Directory for the state database (default: .stepflare beside the config).
    #[arg(long)]
    pub persist_to: Option<PathBuf>,
    /// Keep all state in memory; it is gone when stepflare stops.
    #[arg(long, conflicts_with = "persist_to")]
    pub in_memory: bool,
    /// How many instances may run at once; more wait in `queued`.
    #[arg(long, default_value_t = EngineConfig::default().max_concurrent)]
    pub max_concurrent: usize,
    /// The environment of the config to run: its `env.<name>` section over the top level, and
    /// `.dev.vars.<name>` / `.env.<name>` (as `wrangler dev --env`).
    #[arg(short, long, env = "CLOUDFLARE_ENV")]
    pub env: Option<String>,
    /// Production parity: enforce Cloudflare's account limits that are off by default (the
    /// creation rate, queued instances per workflow, the account's 7-day default retention),
    /// and list at start what stepflare does not reproduce of production.
    #[arg(long)]
    pub strict: bool,
    /// Require this bearer token on every control route: the REST API, the explorer API and
    /// `/cdn-cgi/…` (without it, any request from this machine is accepted).
    #[arg(long, env = "STEPFLARE_API_TOKEN")]
    pub api_token: Option<String>,
    /// Do not watch the config and the sources; changes are picked up at the next start only.
    #[arg(long)]
    pub no_watch: bool,
    /// Start the clock at this RFC 3339 time instead of now, e.g. `2030-01-01T00:00:59.5Z`; it
    /// runs on from there at normal speed. For tests: a cron firing comes without waiting.
    #[arg(long, value_parser = parse_rfc3339_ms, value_name = "TIME", help_heading = "Testing")]
    pub clock_start: Option<i64>,
    /// On SIGINT or SIGTERM, how long step callbacks that are running may take to finish (their
    /// results are kept) before stepflare exits anyway. A second signal exits at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// How long a client may take to send a request's headers, in milliseconds. Hidden: only
    /// tests change it, so that they need not wait out the real timeout.
    #[arg(long, hide = true, value_name = "MS")]
    pub http_header_timeout_ms: Option<u64>,
    /// How long a request body may send nothing, in milliseconds. Hidden, for tests.
    #[arg(long, hide = true, value_name = "MS")]
    pub http_body_timeout_ms: Option<u64>,
}

/// An RFC 3339 time as milliseconds since the epoch.
fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time like 2030-01-01T00:00:00Z: {e}"))?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).map_err(|_| "out of range".to_owned())
}

pub async fn run(args: DevArgs) -> Result<(), CliError> {
    if !args.ip.is_loopback() && args.api_token.is_none() {
        return Err(CliError::Unprotected { ip: args.ip });
    }
    let clock: Arc<dyn Clock> = match args.clock_start {
        Some(start) => Arc::new(ShiftedClock::starting_at(start)),
        None => Arc::new(SystemClock),
    };
    let started = clock.now_ms();
    let config_paths: Vec<PathBuf> =
        args.config.iter().map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone())).collect();
    let state_dir = (!args.in_memory).then(|| {
        let first = config_paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
        let dir = args.persist_to.clone().unwrap_or_else(|| project_root(&first).join(".stepflare"));
        std::path::absolute(&dir).unwrap_or(dir)
    });
    let store = Arc::new(match &state_dir {
        Some(dir) => Store::open_in_dir(dir)?,
        None => Store::open_in_memory()?,
    });
    let projects = crate::project::load_all(&config_paths, args.env.as_deref(), &store, clock.now_ms()).await?;
    for warning in projects.iter().flat_map(|project| &project.config.warnings) {
        tracing::warn!("{warning}");
    }
    let engine = Engine::new(
        store.clone(),
        clock,
        EngineConfig { max_concurrent: args.max_concurrent.max(1), strict: args.strict },
    );
    let workflows: Vec<_> = projects.iter().flat_map(|project| project.workflows.iter().cloned()).collect();
    let names: Vec<String> = workflows.iter().map(|w| w.name.to_string()).collect();
    engine.set_workflows(workflows);
    engine.start().await?;
    let workers = Workers::default();
    let durable = crate::durable::DurableObjects::new(state_dir.as_deref(), store.clone(), engine.clone());
    let _watching = if args.no_watch {
        None
    } else {
        let reloader = Reloader {
            config_paths: config_paths.clone(),
            env: args.env.clone(),
            engine: engine.clone(),
            store: store.clone(),
            workers: workers.clone(),
            durable: durable.clone(),
        };
        watch(&projects, state_dir.iter().cloned().collect(), reloader)
            .inspect_err(|error| tracing::warn!("{error}; changes are not reloaded"))
            .ok()
    };
    durable.replace(crate::project::durable_classes(&projects));
    workers.replace(crate::project::worker_codes(projects));
    if workers.served().is_some() {
        tracing::info!("the Worker's fetch handler serves every other route");
    }
    let queues = crate::queues::Queues::new(engine.clone(), store.clone(), workers.clone());
    let kv = crate::kv::Kv::new(store.clone(), engine.clone());
    let d1 = crate::d1::D1::new(state_dir.as_deref());
    let r2 = crate::r2::R2::new(store.clone(), engine.clone(), state_dir.as_deref());
    engine.forward_other_bindings(std::sync::Arc::new(crate::services::Services {
        queues: queues.clone(),
        kv,
        d1,
        r2,
        workers: workers.clone(),
        bindings: std::sync::Arc::new(engine.clone()),
        durable: durable.clone(),
    }));
    durable.start_alarms();
    queues.start().await?;
    tokio::spawn(crate::schedule::run(engine.clone(), store.clone(), workers.clone(), started));

    let address = std::net::SocketAddr::new(args.ip, args.port);
    let listener =
        TcpListener::bind(address).await.map_err(|source| CliError::Listen { address: address.to_string(), source })?;
    let bound = listener.local_addr().map_err(CliError::Serve)?;
    tracing::info!("workflows: {}", if names.is_empty() { "(none)".to_owned() } else { names.join(", ") });
    if args.strict {
        tracing::info!("--strict: production's creation rate, queued limit and 7-day default retention are enforced");
        for line in crate::parity::NOT_REPRODUCED {
            tracing::warn!("not reproduced: {line}");
        }
    }
    // Tests and scripts wait for this exact line on stdout.
    println!("stepflare ready on http://{bound}");
    let options = crate::api::ApiOptions {
        guard: crate::api::ControlGuard {
            api_token: args.api_token.clone(),
            allowed_hosts: args.allowed_hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
            listen_ip: Some(args.ip),
        },
        timeouts: http_timeouts(&args),
    };
    let stopping = CancellationToken::new();
    let server =
        tokio::spawn(crate::api::serve(listener, engine.clone(), options, workers, stopping.clone().cancelled_owned()));
    stop_requested().await;
    let grace = Duration::from_secs(args.shutdown_grace);
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!("stopping; press Ctrl-C again to stop at once");
    tokio::spawn(async {
        stop_requested().await;
        tracing::warn!("stopped at once; steps that were running run again at the next start");
        std::process::exit(130);
    });
    stopping.cancel();
    engine.shutdown(grace).await;
    // Requests still being answered get what is left of the grace period.
    let _ = tokio::time::timeout_at(deadline, server).await;
    // Tasks and JS threads may still hold the store when the process exits, so it is never
    // dropped: empty the log here, or a clean stop leaves it full beside the database.
    if let Err(error) = store.close() {
        tracing::warn!("{error}");
    }
    Ok(())
}

/// Settles at the first SIGINT (Ctrl-C) or SIGTERM.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn http_timeouts(args: &DevArgs) -> crate::api::HttpTimeouts {
    let defaults = crate::api::HttpTimeouts::default();
    crate::api::HttpTimeouts {
        header_read: args.http_header_timeout_ms.map_or(defaults.header_read, Duration::from_millis),
        body_idle: args.http_body_timeout_ms.map_or(defaults.body_idle, Duration::from_millis),
    }
}

/// The folder of the config found from `path` (a file or a folder to search from).
pub(super) fn project_root(path: &std::path::Path) -> PathBuf {
    crate::config::find_config(path)
        .ok()
        .or_else(|| path.is_file().then(|| path.to_path_buf()))
        .and_then(|file| file.parent().map(PathBuf::from))
        .unwrap_or_else(|| path.to_path_buf())
}
