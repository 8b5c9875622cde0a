//! The supervisor: owns the config, starts enabled connectors, answers Start/Stop/Test/
//! GetStatus, and applies config updates (validate, save atomically, restart what changed).

use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use parachute_core::config::{
    BotsConfig, ConfigError, apply_patch, check_api_update, load_file, masked_json, refuse_program_brain,
    save_keeping_comments,
};
use parachute_core::ids::Platform;
use serde_json::Value;
use tokio::sync::watch;

use crate::connector::Identity;
use crate::messages::{
    ControlError, GetConfig, GetStatus, ReloadConfig, ReloadFromFile, SignIn, Start, Stop, Test, UpdateConfig,
};
use crate::router::Router;
use crate::status::ConfigReload;
use crate::store::now_ms;
use crate::types::SignedIn;

/// The root actor.
pub struct Supervisor {
    config_path: PathBuf,
    config: watch::Sender<Arc<BotsConfig>>,
    router: Router,
    autostart: bool,
    allow_api_programs: bool,
    reloads: watch::Sender<Option<ConfigReload>>,
}

impl Supervisor {
    /// A supervisor over the harnesses in `router`; `autostart` starts enabled connectors.
    pub fn new(config_path: PathBuf, config: watch::Sender<Arc<BotsConfig>>, router: Router, autostart: bool) -> Self {
        Self { config_path, config, router, autostart, allow_api_programs: false, reloads: watch::Sender::new(None) }
    }

    /// The outcome of the latest reload from the file, for the status view.
    pub fn reloads(&self) -> watch::Receiver<Option<ConfigReload>> {
        self.reloads.subscribe()
    }

    /// Makes `config` the running config: the brain and the gate follow it, each harness
    /// restarts, starts or stops its connector as its section asks.
    fn apply(&mut self, config: Arc<BotsConfig>) {
        self.config.send_replace(config.clone());
        for platform in Platform::ALL {
            if let Some(harness) = self.router.harness(platform) {
                harness.do_send(ReloadConfig(config.clone()));
            }
        }
    }

    /// Lets config updates set the keys that start programs (`serve --allow-api-programs`).
    pub fn allowing_api_programs(mut self, allow: bool) -> Self {
        self.allow_api_programs = allow;
        self
    }

    fn forward<M>(&self, platform: Platform, msg: M) -> ResponseFuture<Result<M::Result, ControlError>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        crate::harness::ConnectorHarness: Handler<M>,
    {
        let harness = self.router.harness(platform).cloned();
        Box::pin(async move {
            let harness = harness.ok_or(ControlError::NotBuiltIn(platform))?;
            harness.send(msg).await.map_err(|_| ControlError::Unavailable)
        })
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if !self.autostart {
            return;
        }
        let config = self.config.borrow().clone();
        for platform in Platform::ALL {
            if !config.policy(platform).enabled {
                continue;
            }
            if let Some(harness) = self.router.harness(platform).cloned() {
                actix::spawn(async move {
                    match harness.send(Start(platform)).await {
                        Ok(Ok(())) => tracing::info!(%platform, "connector starting"),
                        Ok(Err(err)) => tracing::warn!(%platform, error = %err, "enabled connector not started"),
                        Err(_) => {}
                    }
                });
            }
        }
    }
}

impl Handler<Start> for Supervisor {
    type Result = ResponseFuture<Result<(), ControlError>>;

    fn handle(&mut self, msg: Start, _: &mut Context<Self>) -> Self::Result {
        let fut = self.forward(msg.0, msg);
        Box::pin(async move { fut.await? })
    }
}

impl Handler<Stop> for Supervisor {
    type Result = ResponseFuture<Result<(), ControlError>>;

    fn handle(&mut self, msg: Stop, _: &mut Context<Self>) -> Self::Result {
        let fut = self.forward(msg.0, msg);
        Box::pin(async move { fut.await? })
    }
}

impl Handler<SignIn> for Supervisor {
    type Result = ResponseFuture<Result<SignedIn, ControlError>>;

    fn handle(&mut self, msg: SignIn, _: &mut Context<Self>) -> Self::Result {
        let fut = self.forward(msg.0, msg);
        Box::pin(async move { fut.await? })
    }
}

impl Handler<Test> for Supervisor {
    type Result = ResponseFuture<Result<Identity, ControlError>>;

    fn handle(&mut self, msg: Test, _: &mut Context<Self>) -> Self::Result {
        let fut = self.forward(msg.0, msg);
        Box::pin(async move { fut.await? })
    }
}

impl Handler<GetStatus> for Supervisor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.router.statuses())
    }
}

impl Handler<GetConfig> for Supervisor {
    type Result = MessageResult<GetConfig>;

    fn handle(&mut self, _: GetConfig, _: &mut Context<Self>) -> Self::Result {
        MessageResult(masked_json(&self.config.borrow()))
    }
}

/// Validates, saves and applies an update. The save (write, fsync, rename) runs on a blocking
/// thread, not on the actors' thread; the supervisor takes no other message meanwhile
/// (`AtomicResponse`), so updates apply one after another on the config they were checked
/// against.
impl Handler<UpdateConfig> for Supervisor {
    type Result = AtomicResponse<Self, Result<Value, ControlError>>;

    fn handle(&mut self, msg: UpdateConfig, _: &mut Context<Self>) -> Self::Result {
        let current = self.config.borrow().clone();
        let checked = refuse_program_brain(&current, &msg.0, self.allow_api_programs)
            .and_then(|()| apply_patch(&current, &msg.0))
            .and_then(|merged| check_api_update(&current, &merged, &msg.0, self.allow_api_programs).map(|()| merged));
        let merged = match checked {
            Ok(merged) => Arc::new(merged),
            Err(err) => return AtomicResponse::new(Box::pin(fut::ready(Err(err.into())))),
        };
        let (path, to_save) = (self.config_path.clone(), merged.clone());
        let saved = async move {
            tokio::task::spawn_blocking(move || save_keeping_comments(&path, &current, &to_save).map(drop)).await
        };
        AtomicResponse::new(Box::pin(saved.into_actor(self).map(move |saved, act, _| {
            saved.map_err(|_| ControlError::Unavailable)??;
            act.apply(merged.clone());
            tracing::info!(path = %act.config_path.display(), "config updated");
            Ok(masked_json(&merged))
        })))
    }
}

/// Reads the file on a blocking thread; applies it only if it is valid. `server.*` (the
/// listening socket and its token) and `log.*` are read at start only: a change there is
/// logged as waiting for the next start.
impl Handler<ReloadFromFile> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), ConfigError>>;

    fn handle(&mut self, _: ReloadFromFile, _: &mut Context<Self>) -> Self::Result {
        let path = self.config_path.clone();
        // A missing file is refused, not read as the defaults: it is being replaced or was
        // moved away, and the defaults would stop every connector.
        let loaded = async move {
            tokio::task::spawn_blocking(move || match path.try_exists() {
                Ok(true) => load_file(&path),
                Ok(false) => Err(ConfigError::Io { path: path.display().to_string(), message: "no such file".into() }),
                Err(err) => Err(ConfigError::Io { path: path.display().to_string(), message: err.to_string() }),
            })
            .await
        };
        AtomicResponse::new(Box::pin(loaded.into_actor(self).map(|loaded, act, _| {
            let path = act.config_path.display().to_string();
            let loaded =
                loaded.unwrap_or_else(|err| Err(ConfigError::Io { path: path.clone(), message: err.to_string() }));
            let current = act.config.borrow().clone();
            let error = loaded.as_ref().err().map(|err| current.redacted(&err.to_string(), &[]));
            act.reloads.send_replace(Some(ConfigReload { time: now_ms(), error: error.clone() }));
            let config = match loaded {
                Ok(config) => config,
                Err(err) => {
                    let shown = error.unwrap_or_default();
                    tracing::error!(path, error = %shown, "bots.yaml not reloaded; the running config stays");
                    return Err(err);
                }
            };
            let at_start_only = |c: &BotsConfig| serde_json::to_value((&c.server, &c.log)).ok();
            if at_start_only(&current) != at_start_only(&config) {
                tracing::warn!(path, "server and log settings changed in bots.yaml apply at the next start");
            }
            act.apply(Arc::new(config));
            tracing::info!(path, "bots.yaml reloaded");
            Ok(())
        })))
    }
}
