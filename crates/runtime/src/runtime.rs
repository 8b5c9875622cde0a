//! Wiring: builds the store-backed actors and connects them. Call inside an actix system.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use parachute_core::config::BotsConfig;
use parachute_core::ids::Platform;
use tokio::sync::watch;

use crate::backoff_policy::BackoffPolicy;
use crate::brain::{Brain, BrainSlot};
use crate::companion::McpSlot;
use crate::connector::{ConnectorEnv, ConnectorFactory};
use crate::harness::{ConnectorHarness, HarnessTargets};
use crate::metrics::Metrics;
use crate::orchestrator::Orchestrator;
use crate::pairing::Pairing;
use crate::router::Router;
use crate::status::ConnectorStatus;
use crate::store::Store;
use crate::supervisor::Supervisor;

/// How to assemble a runtime.
pub struct RuntimeOptions {
    /// The loaded config.
    pub config: BotsConfig,
    /// Where config updates are saved.
    pub config_path: PathBuf,
    /// `vault/.parachute`, for connector state.
    pub data_dir: PathBuf,
    /// The opened store.
    pub store: Store,
    /// One factory per platform compiled in.
    pub factories: Vec<Arc<dyn ConnectorFactory>>,
    /// Reconnect policy (tests use short delays).
    pub backoff: BackoffPolicy,
    /// A brain to use instead of the configured one (tests).
    pub brain: Option<Arc<dyn Brain>>,
    /// Start connectors marked `enabled` right away.
    pub autostart: bool,
    /// Let config updates through the API set the keys that start programs
    /// (`serve --allow-api-programs`).
    pub allow_api_programs: bool,
}

/// Handles on a running runtime, for the HTTP API, the CLI and tests.
#[derive(Clone)]
pub struct RuntimeHandle {
    /// Lifecycle and config.
    pub supervisor: Addr<Supervisor>,
    /// Pairing workflow.
    pub pairing: Addr<Pairing>,
    /// Message processing.
    pub orchestrator: Addr<Orchestrator>,
    /// Harness addresses and statuses.
    pub router: Router,
    /// The database.
    pub store: Store,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The current config (never shown as is: use the masked view).
    pub config: watch::Receiver<Arc<BotsConfig>>,
    /// The latest reload of `bots.yaml` from disk (SIGHUP), if any.
    pub config_reload: watch::Receiver<Option<crate::status::ConfigReload>>,
    /// When the runtime started.
    pub started_at: Instant,
    /// The MCP servers of `tools.mcp`, for the status view.
    pub mcp: Arc<McpSlot>,
}

/// Starts the actors. Must run inside an actix `System`.
pub fn start_runtime(options: RuntimeOptions) -> RuntimeHandle {
    let config = Arc::new(options.config);
    let (config_tx, config_rx) = watch::channel(config.clone());
    let metrics = Arc::new(Metrics::default());
    let env = ConnectorEnv { store: options.store.clone(), data_dir: options.data_dir.clone() };
    let factories: HashMap<Platform, Arc<dyn ConnectorFactory>> =
        options.factories.into_iter().map(|f| (f.platform(), f)).collect();

    // Harness addresses are needed by the router before the harnesses can be given the
    // pairing actor's address, so their contexts are made first and run last.
    let mut contexts = Vec::new();
    let mut addrs = HashMap::new();
    let mut status_rx = HashMap::new();
    for platform in Platform::ALL {
        let ctx: Context<ConnectorHarness> = Context::new();
        addrs.insert(platform, ctx.address());
        let (tx, rx) = watch::channel(ConnectorStatus::new(platform, factories.contains_key(&platform)));
        status_rx.insert(platform, rx);
        contexts.push((platform, ctx, tx));
    }
    let router = Router::new(addrs, status_rx);

    let brain = options.brain.map_or_else(BrainSlot::from_config, BrainSlot::fixed);
    let mcp = Arc::new(McpSlot::default());
    // A changed `tools.mcp` stops the old servers at once (new ones start when an answer
    // needs them), so a removed server's program does not outlive the change.
    let mut changes = config_rx.clone();
    let watched = mcp.clone();
    actix::spawn(async move {
        while changes.changed().await.is_ok() {
            let config = changes.borrow_and_update().clone();
            watched.retire_unless(&config.tools.mcp);
        }
    });
    let orchestrator = Orchestrator::new(
        options.store.clone(),
        brain,
        router.clone(),
        config_rx.clone(),
        metrics.clone(),
        options.data_dir.clone(),
        mcp.clone(),
    )
    .start();
    let pairing = Pairing::new(
        options.store.clone(),
        config_rx.clone(),
        orchestrator.clone().recipient(),
        router.clone(),
        metrics.clone(),
    )
    .start();
    let targets = HarnessTargets { inbound: pairing.clone().recipient(), room_invites: pairing.clone().recipient() };
    for (platform, ctx, tx) in contexts {
        let harness = ConnectorHarness::new(
            platform,
            factories.get(&platform).cloned(),
            env.clone(),
            config.clone(),
            targets.clone(),
            metrics.clone(),
            options.backoff.clone(),
            tx,
        );
        ctx.run(harness);
    }
    let supervisor = Supervisor::new(options.config_path, config_tx, router.clone(), options.autostart)
        .allowing_api_programs(options.allow_api_programs);
    let config_reload = supervisor.reloads();
    let supervisor = supervisor.start();
    RuntimeHandle {
        supervisor,
        pairing,
        orchestrator,
        router,
        store: options.store,
        metrics,
        config: config_rx,
        config_reload,
        started_at: Instant::now(),
        mcp,
    }
}
