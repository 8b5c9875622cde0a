//! Discord connector of parachute: a twilight gateway session (identify, heartbeats, resume)
//! receives messages, twilight's REST client answers. `discord.api_url` and
//! `discord.gateway_url` point both at Discord, a proxy, or a test server.

pub mod errors;
mod gateway;
mod media;
mod outbound;
mod rest;
pub mod translate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::{BotsConfig, DiscordConfig};
use parachute_core::ids::{ChatId, EventId, Platform};
use parachute_runtime::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity, MediaError,
};
use parachute_runtime::messages::{Delivered, MediaRef, Reply};
use parachute_runtime::store::Store;
use secrecy::SecretString;
use twilight_gateway::queue::InMemoryQueue;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker};

pub use gateway::intents;
pub use outbound::TYPING_RENEWAL;

/// Builds the Discord connector from `bots.yaml`.
pub struct DiscordFactory;

impl ConnectorFactory for DiscordFactory {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn build(&self, config: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(DiscordConnector::new(&config.discord, env.store.clone())?))
    }
}

/// State shared by the connector's futures, kept across runs.
pub(crate) struct Shared {
    pub(crate) config: DiscordConfig,
    pub(crate) token: SecretString,
    /// `discord.gateway_url` without a trailing `/` (twilight appends `/?v=10&encoding=json`).
    pub(crate) gateway_url: String,
    pub(crate) http: twilight_http::Client,
    /// For attachment downloads (CDN URLs need no token), fetched when a message is answered.
    pub(crate) downloads: reqwest::Client,
    /// One identify queue for every run, so re-identifying respects Discord's 5 s spacing.
    pub(crate) identify_queue: InMemoryQueue,
    /// The session the next run resumes.
    pub(crate) resume: Mutex<Option<gateway::ResumeState>>,
    /// The bot's managed roles by guild.
    pub(crate) roles: Mutex<HashMap<Id<GuildMarker>, Vec<Id<RoleMarker>>>>,
    /// Typing renewal tasks by channel id.
    pub(crate) typing: std::sync::Arc<parachute_runtime::typing::TypingRenewals>,
    /// Ack reactions being sent, by event id, for the reply to wait for before removing.
    pub(crate) acks: parachute_runtime::ack::PendingAcks<()>,
    /// Accepted messages and each channel's read-back cursor.
    pub(crate) store: Store,
}

/// The Discord connector.
pub struct DiscordConnector {
    shared: Arc<Shared>,
}

/// rustls needs one crypto provider per process; both of its providers are compiled into
/// the full binary (reqwest brings ring, matrix-sdk aws-lc-rs), so twilight's TLS setup
/// cannot pick one itself. Installs ring unless something else already chose.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl DiscordConnector {
    /// A connector for these settings, keeping what it takes up in `store`; fails with
    /// `Config` when the token or a URL is unusable.
    /// Must be called inside a tokio runtime (twilight starts its rate limiter task).
    pub fn new(config: &DiscordConfig, store: Store) -> Result<Self, ConnectorError> {
        install_crypto_provider();
        let token: SecretString =
            config.bot_token.clone().ok_or_else(|| ConnectorError::Config("discord.bot_token is not set".into()))?;
        let http = rest::client(&config.api_url, &token)?;
        let downloads = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|_| ConnectorError::Config("cannot build the HTTP client".into()))?;
        let gateway_url = config.gateway_url.trim_end_matches('/').to_owned();
        if !(gateway_url.starts_with("ws://") || gateway_url.starts_with("wss://")) {
            return Err(ConnectorError::Config("discord.gateway_url must be a ws(s) URL".into()));
        }
        Ok(Self {
            shared: Arc::new(Shared {
                config: config.clone(),
                token,
                gateway_url,
                http,
                downloads,
                identify_queue: InMemoryQueue::default(),
                resume: Mutex::new(None),
                roles: Mutex::new(HashMap::new()),
                typing: Default::default(),
                acks: Default::default(),
                store,
            }),
        })
    }
}

impl Connector for DiscordConnector {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move { rest::current_user(&shared.http).await.map(|(identity, _)| identity) })
    }

    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let _typing = shared.typing.stop_all_on_drop();
            gateway::run(&shared, &link).await
        })
    }

    fn deliver(&self, reply: Reply) -> BoxFuture<'static, Result<Delivered, ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move { outbound::deliver(&shared, reply).await })
    }

    fn fetch_media(&self, media: MediaRef, limit: u64) -> BoxFuture<'static, Result<Vec<u8>, MediaError>> {
        let shared = self.shared.clone();
        Box::pin(async move { media::fetch(&shared, media, limit).await })
    }

    fn acknowledge(&self, chat: ChatId, event: EventId) -> BoxFuture<'static, Result<(), ConnectorError>> {
        outbound::acknowledge(&self.shared, &chat, &event)
    }

    fn set_typing(&self, chat: ChatId, typing: bool) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(outbound::set_typing(self.shared.clone(), chat, typing))
    }
}
