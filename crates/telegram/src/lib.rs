//! Telegram connector of parachute: long polling `getUpdates` against the Bot API (or a
//! self-hosted/test server at `telegram.api_url`), replies in HTML parse mode.

mod api;
pub mod errors;
mod media;
mod outbound;
mod polling;
pub mod translate;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use parachute_core::config::{BotsConfig, TelegramConfig};
use parachute_core::ids::{ChatId, EventId, Platform};
use parachute_core::pairing::{PairingKind, PairingStatus};
use parachute_runtime::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity, MediaError,
};
use parachute_runtime::messages::{Delivered, MediaRef, Reply};
use parachute_runtime::store::{PairingRecord, Store};
use secrecy::SecretString;
use teloxide_core::Bot;

use crate::api::RawApi;

/// Builds the Telegram connector from `bots.yaml`.
pub struct TelegramFactory;

impl ConnectorFactory for TelegramFactory {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn build(&self, config: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(TelegramConnector::new(&config.telegram, env.store.clone())?))
    }
}

/// State shared by the connector's futures.
pub(crate) struct Shared {
    pub(crate) config: TelegramConfig,
    pub(crate) bot: Bot,
    pub(crate) raw: RawApi,
    pub(crate) store: Store,
    /// Typing renewal tasks by chat id.
    pub(crate) typing: std::sync::Arc<parachute_runtime::typing::TypingRenewals>,
    /// Ack reactions being sent, by event id, for the reply to wait for before clearing.
    pub(crate) acks: parachute_runtime::ack::PendingAcks<()>,
}

/// The Telegram connector.
pub struct TelegramConnector {
    shared: Arc<Shared>,
}

impl TelegramConnector {
    /// A connector for these settings; fails with `Config` when the token or URL is unusable.
    pub fn new(config: &TelegramConfig, store: Store) -> Result<Self, ConnectorError> {
        let token: SecretString =
            config.bot_token.clone().ok_or_else(|| ConnectorError::Config("telegram.bot_token is not set".into()))?;
        let api_url = reqwest::Url::parse(&config.api_url)
            .map_err(|_| ConnectorError::Config("telegram.api_url is not a URL".into()))?;
        let raw = RawApi::new(api_url.clone(), token)?;
        let bot = Bot::with_client(raw.token_for_client(), raw.client()).set_api_url(api_url);
        let shared =
            Shared { config: config.clone(), bot, raw, store, typing: Default::default(), acks: Default::default() };
        Ok(Self { shared: Arc::new(shared) })
    }
}

impl Connector for TelegramConnector {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move { polling::get_me(&shared).await.map(|(identity, _)| identity) })
    }

    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let _typing = shared.typing.stop_all_on_drop();
            polling::run(&shared, &link).await
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

    /// A group the owner denied is left.
    fn pairing_decided(&self, record: PairingRecord) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if record.kind == PairingKind::Room && record.status == PairingStatus::Denied {
                let chat = record.platform_chat_id.parse().map_err(|_| {
                    ConnectorError::Config(format!("`{}` is not a telegram chat id", record.platform_chat_id))
                })?;
                polling::leave_group(&shared, chat).await;
            }
            Ok(())
        })
    }
}
