//! Starts a real runtime (real SQLite store in a temp vault, real actors) with fake
//! connectors for all three platforms and short reconnect delays.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::{BotsConfig, config_path, save_atomic};
use parachute_core::gating::Addressed;
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};
use parachute_runtime::backoff_policy::BackoffPolicy;
use parachute_runtime::brain::Brain;
use parachute_runtime::connector::ConnectorFactory;
use parachute_runtime::messages::{Content, Inbound};
use parachute_runtime::status::ConnectorStatus;
use parachute_runtime::store::{Store, now_ms};
use parachute_runtime::{RuntimeHandle, RuntimeOptions, start_runtime};
use secrecy::SecretString;

use crate::fake_connector::FakeConnector;

/// A running runtime with fakes, in a temporary vault removed on drop.
pub struct TestRuntime {
    /// Handles on the actors.
    pub handle: RuntimeHandle,
    /// The fakes, by platform.
    pub fakes: Vec<(Platform, FakeConnector)>,
    /// Where `bots.yaml` lives.
    pub config_path: PathBuf,
    /// The vault folder.
    pub vault: PathBuf,
    real: Vec<Arc<dyn ConnectorFactory>>,
    _dir: tempfile::TempDir,
}

/// A reconnect policy fast enough for tests: 20 ms doubling to 200 ms, healthy after 1 s.
pub fn fast_backoff() -> BackoffPolicy {
    BackoffPolicy {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        multiplier: 2.0,
        randomization: 0.0,
        healthy_after: Duration::from_secs(1),
    }
}

/// A config with every platform given a token (so it can start), none enabled.
pub fn config_with_tokens() -> BotsConfig {
    let mut config = BotsConfig::default();
    config.telegram.bot_token = Some(SecretString::from("123456:TEST-telegram-token-value"));
    config.discord.bot_token = Some(SecretString::from("TEST.discord.token-value-0123"));
    config.matrix.access_token = Some(SecretString::from("syt_TEST_matrix_token_value"));
    config.matrix.homeserver_url = "http://127.0.0.1:9".into();
    config.matrix.user_id = "@bot:localhost".into();
    config
}

impl TestRuntime {
    /// Starts a runtime over `config` (saved to the temp vault) with the given brain.
    /// Must be called inside an actix system (e.g. `#[actix::test]`).
    pub fn start(config: BotsConfig, brain: Option<Arc<dyn Brain>>) -> Self {
        Self::start_with(config, brain, Vec::new())
    }

    /// Starts a runtime the way a user configures one: `yaml` is written to the vault's
    /// `bots.yaml` and loaded (and validated) from there; every platform's fake connector
    /// is enabled with a token, on top of what `yaml` says. Panics if the file is refused.
    pub fn start_yaml(yaml: &str, brain: Option<Arc<dyn Brain>>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = config_path(dir.path());
        let mut config = parachute_core::config::parse_str(yaml).expect("bots.yaml is valid");
        let tokens = config_with_tokens();
        config.telegram.bot_token = tokens.telegram.bot_token;
        config.discord.bot_token = tokens.discord.bot_token;
        config.matrix.access_token = tokens.matrix.access_token;
        config.matrix.homeserver_url = tokens.matrix.homeserver_url;
        config.matrix.user_id = tokens.matrix.user_id;
        config.telegram.enabled = true;
        config.discord.enabled = true;
        config.matrix.enabled = true;
        save_atomic(&config_path, &config).expect("save config");
        let config = parachute_core::config::load_file(&config_path).expect("the saved bots.yaml loads");
        Self::start_in(dir, config, brain, Vec::new())
    }

    /// Like `start`, but the given real factories replace the fakes of their platforms
    /// (the fakes of the other platforms stay). The config goes through `bots.yaml` as a
    /// user's would: saved, then loaded and validated from the file; panics if it is refused.
    pub fn start_with(config: BotsConfig, brain: Option<Arc<dyn Brain>>, real: Vec<Arc<dyn ConnectorFactory>>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = config_path(dir.path());
        save_atomic(&config_path, &config).expect("save config");
        let config = match parachute_core::config::load_file(&config_path) {
            Ok(config) => config,
            Err(err) => panic!("the server would refuse this bots.yaml: {err}"),
        };
        Self::start_in(dir, config, brain, real)
    }

    /// Simulates a process restart: stops every connector of this runtime, then starts a
    /// new runtime (new actors, new fakes) on the same vault and database.
    pub async fn restart(self, brain: Option<Arc<dyn Brain>>) -> Self {
        for platform in Platform::ALL {
            let _ = self.handle.supervisor.send(parachute_runtime::messages::Stop(platform)).await;
        }
        let config = parachute_core::config::load_file(&self.config_path).expect("reload config");
        Self::start_in(self._dir, config, brain, self.real)
    }

    fn start_in(
        dir: tempfile::TempDir,
        config: BotsConfig,
        brain: Option<Arc<dyn Brain>>,
        real: Vec<Arc<dyn ConnectorFactory>>,
    ) -> Self {
        let vault = dir.path().to_path_buf();
        let config_path = config_path(&vault);
        let store = Store::open_with(&vault.join(".parachute").join("parachute.db"), false).expect("open store");
        let fakes: Vec<_> = Platform::ALL.iter().map(|p| (*p, FakeConnector::new(*p))).collect();
        let handle = start_runtime(RuntimeOptions {
            config,
            config_path: config_path.clone(),
            data_dir: vault.join(".parachute"),
            store,
            factories: fakes
                .iter()
                .filter(|(p, _)| !real.iter().any(|r| r.platform() == *p))
                .map(|(_, f)| f.factory())
                .chain(real.iter().cloned())
                .collect(),
            backoff: fast_backoff(),
            brain,
            autostart: true,
            allow_api_programs: false,
        });
        Self { handle, fakes, config_path, vault, real, _dir: dir }
    }

    /// The fake of a platform (platforms given a real factory have an idle fake).
    pub fn fake(&self, platform: Platform) -> &FakeConnector {
        &self.fakes.iter().find(|(p, _)| *p == platform).expect("every platform has a fake").1
    }

    /// The current status of a platform.
    pub fn status(&self, platform: Platform) -> ConnectorStatus {
        self.handle.router.watch_status(platform).expect("status").borrow().clone()
    }

    /// Waits until a platform's status satisfies `pred`; returns that status.
    pub async fn wait_status(
        &self,
        platform: Platform,
        timeout: Duration,
        pred: impl Fn(&ConnectorStatus) -> bool,
    ) -> ConnectorStatus {
        let mut rx = self.handle.router.watch_status(platform).expect("status");
        match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
            Ok(Ok(status)) => status.clone(),
            _ => panic!("status condition not reached within {timeout:?}; last: {:#?}", self.status(platform)),
        }
    }
}

/// Polls `check` every 5 ms until it returns true or `timeout` passes; for conditions that
/// have no event to await (e.g. a row in the store). Returns whether it became true.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn inbound(platform: Platform, kind: ChatKind, chat: &str, user: &str, text: &str, event: &str) -> Inbound {
    Inbound {
        platform,
        chat: ChatId::from(chat),
        chat_kind: kind,
        chat_name: None,
        chat_aliases: Vec::new(),
        guild: None,
        sender: UserId::from(user),
        sender_username: None,
        sender_display: format!("{user} name"),
        content: Content::Text(text.to_owned()),
        addressed: Addressed::No,
        event_id: EventId::from(event),
        timestamp_ms: now_ms(),
    }
}

/// A direct message from `user` in chat `dm-<user>`.
pub fn dm(platform: Platform, user: &str, text: &str, event: &str) -> Inbound {
    inbound(platform, ChatKind::Direct, &format!("dm-{user}"), user, text, event)
}

/// A group message in `chat`; `mentions_bot` marks a mention.
pub fn group(platform: Platform, chat: &str, user: &str, text: &str, event: &str, mentions_bot: bool) -> Inbound {
    let addressed = if mentions_bot { Addressed::Mention } else { Addressed::No };
    Inbound { addressed, ..inbound(platform, ChatKind::Group, chat, user, text, event) }
}
