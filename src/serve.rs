//! `parachute serve`: loads the vault's config, opens the store, starts the actors and the
//! HTTP API, and shuts down cleanly on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context as _;
use parachute_core::config::{LogFormat, LogLevel, config_path, load_file};
use parachute_core::ids::Platform;
use parachute_runtime::backoff_policy::BackoffPolicy;
use parachute_runtime::messages::{Drain, ReloadFromFile, Stop};
use parachute_runtime::store::{Store, StoreError};
use parachute_runtime::{RuntimeOptions, start_runtime};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::ServeArgs;
use crate::connectors;

/// The commented example written as the config of a new vault.
const EXAMPLE_CONFIG: &str = include_str!("../config/bots.example.yaml");

/// How long a shutdown waits for the answers in progress.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Handled event ids older than this are forgotten at start (platforms never replay that far).
const EVENT_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // SIGHUP means "reload bots.yaml" (`systemctl reload`). Taken over first: until the reload
    // listener runs, one that arrives while the server starts is ignored instead of ending it
    // (a registered handler stays for the life of the process).
    let signals = tokio::runtime::Builder::new_current_thread().enable_io().build().context("cannot start Tokio")?;
    let hangup = signals
        .block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) })
        .context("cannot listen for SIGHUP")?;
    drop((hangup, signals));
    let data_dir = args.vault.join(".parachute");
    let path = config_path(&args.vault);
    let wrote_example = ensure_config(&data_dir, &path)?;
    let config = load_file(&path).with_context(|| format!("invalid config {}", path.display()))?;
    init_logging(args.log_format.map_or(config.log.format, Into::into), config.log.level);
    if wrote_example {
        tracing::info!(path = %path.display(), "wrote an example config; every connector is off until you enable it");
    }
    // Flags change where this process listens, never the saved config.
    let addr = SocketAddr::new(args.bind.unwrap_or(config.server.bind), args.port.unwrap_or(config.server.port));
    let store = Store::open(&data_dir.join("parachute.db")).map_err(|err| match err {
        StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => anyhow::anyhow!(
            "another parachute is already serving the vault {} (its database is locked)",
            args.vault.display()
        ),
        other => anyhow::anyhow!("cannot open the database: {other}"),
    })?;
    store.call_blocking(|db| db.prune_events(EVENT_RETENTION_MS)).context("cannot prune old events")?;
    store.call_blocking(|db| db.prune_previews(EVENT_RETENTION_MS)).context("cannot prune old previews")?;
    // The socket first: a refused address stops here, before any actor or connector starts.
    let listener = parachute_server::listen(addr, config.server.api_token.as_ref())?;

    actix_web::rt::System::new().block_on(async move {
        let api_token = config.server.api_token.clone();
        let runtime = start_runtime(RuntimeOptions {
            config,
            config_path: path,
            data_dir,
            store,
            factories: connectors::factories(),
            backoff: BackoffPolicy::default(),
            brain: None,
            autostart: true,
            allow_api_programs: args.allow_api_programs,
        });
        let bound = parachute_server::serve_on(runtime.clone(), listener, api_token)?;
        for addr in &bound.addrs {
            tracing::info!("parachute listening on http://{addr}");
        }
        let reloader = runtime.supervisor.clone();
        actix_web::rt::spawn(async move {
            if let Err(err) = reload_on_hangup(reloader).await {
                tracing::warn!(error = %err, "SIGHUP does not reload bots.yaml");
            }
        });
        let handle = bound.server.handle();
        let server = actix_web::rt::spawn(bound.server);
        shutdown_signal().await?;
        tracing::info!("shutting down");
        // Messages being answered finish (delivered and recorded) before the connectors stop,
        // within a bound; nothing new is started. One cut off is answered again at the next
        // start, and a send from a new device would not be deduplicated with the first.
        if tokio::time::timeout(SHUTDOWN_DRAIN, runtime.orchestrator.send(Drain)).await.is_err() {
            tracing::warn!("answers still running after {SHUTDOWN_DRAIN:?} are left to the next start");
        }
        for platform in Platform::ALL {
            let _ = runtime.supervisor.send(Stop(platform)).await;
        }
        handle.stop(true).await;
        let _ = server.await;
        Ok(())
    })
}

/// Log lines to stderr in `format`, at `level` unless `RUST_LOG` says otherwise.
///
/// The libraries' spans (matrix-sdk opens INFO spans around every sync step and store call)
/// are kept only when `RUST_LOG` is set or the level is `debug` or `trace`: at `info` they
/// would be built and formatted for every sync just to prefix the rare line inside them,
/// which was a few per cent of the server's CPU time under load (docs/benchmarks.md).
fn init_logging(format: LogFormat, level: LogLevel) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let keep_spans = from_env.is_some() || matches!(level, LogLevel::Debug | LogLevel::Trace);
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(format!("{},actix_server=warn,rmcp=warn", level.as_str())));
    let spans = tracing_subscriber::filter::filter_fn(move |metadata| keep_spans || !metadata.is_span());
    let lines = tracing_subscriber::fmt::layer().with_target(false).with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).boxed(),
        // The same fields as the text form, flattened next to `message`.
        LogFormat::Json => lines.json().flatten_event(true).with_current_span(false).boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(spans).with(lines);
    #[cfg(feature = "matrix")]
    let registry = registry.with(parachute_matrix::log_filter::ExpectedAbsences);
    registry.init();
}

/// Creates `vault/.parachute/` (mode 0700) and, for a new vault, the commented example
/// config (mode 0600), so the owner has a file to fill in; whether it wrote that example.
pub fn ensure_config(data_dir: &Path, path: &Path) -> anyhow::Result<bool> {
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if !path.exists() {
        write_new_file(path, EXAMPLE_CONFIG).with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(true);
    }
    Ok(false)
}

fn write_new_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Each SIGHUP reads bots.yaml again into the running server (an invalid file is refused and
/// the old config stays; the supervisor logs it and keeps it for the status view).
async fn reload_on_hangup(supervisor: actix::Addr<parachute_runtime::supervisor::Supervisor>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading bots.yaml");
        let _ = supervisor.send(ReloadFromFile).await;
    }
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
