//! The one trait the supervisor knows about platforms. Each connector crate implements it.

use std::path::PathBuf;
use std::sync::Arc;

use actix::{Message, Recipient};
use futures_util::future::BoxFuture;
use parachute_core::config::BotsConfig;
use parachute_core::gating::InviteAction;
use parachute_core::ids::{ChatId, EventId, Platform};

use crate::store::{PairingRecord, Store};
pub use crate::types::{ConnectorError, Identity, MediaError};
use crate::types::{Inbound, MediaRef, Reply, RoomInvite};

/// What a connector reports to its harness while it runs.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// The connection is up; events will follow.
    Connected(Identity),
    /// An event from the platform.
    Inbound(Inbound),
    /// The bot was invited to (or added to) a room: the gate decides what it does.
    RoomInvite(RoomInvite),
    /// Something the owner should see on the status page.
    Warning(String),
}

/// A [`LinkEvent`] tagged with the run it belongs to, so events of a stopped run are dropped.
/// Answered with the gate's decision for a room invite, `None` for everything else.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<InviteAction>")]
pub struct LinkMessage {
    /// The harness's run counter when the run began.
    pub generation: u64,
    /// What happened.
    pub event: LinkEvent,
}

/// The connector's line back to its harness during one run.
#[derive(Clone)]
pub struct ConnectorLink {
    generation: u64,
    harness: Recipient<LinkMessage>,
}

impl ConnectorLink {
    /// A link for run `generation` of the harness behind `harness`.
    pub fn new(generation: u64, harness: Recipient<LinkMessage>) -> Self {
        Self { generation, harness }
    }

    fn send(&self, event: LinkEvent) {
        self.harness.do_send(LinkMessage { generation: self.generation, event });
    }

    /// Reports that the connection is established.
    pub fn connected(&self, identity: Identity) {
        self.send(LinkEvent::Connected(identity));
    }

    /// Hands over one platform event and waits until the runtime took it up (pairing decided
    /// it and, when it is to be answered, it is queued for its chat). A connector that reads
    /// faster than that is slowed down here rather than filling the actors' mailboxes.
    /// Connectors with a cursor should first store the batch with `Store::accept_inbound`
    /// (atomically with the cursor), so a crash loses nothing.
    pub async fn inbound(&self, inbound: Inbound) {
        let message = LinkMessage { generation: self.generation, event: LinkEvent::Inbound(inbound) };
        let _ = self.harness.send(message).await;
    }

    /// Hands over one platform event without waiting (for events injected by tests and the
    /// benchmark's fake platform, which are not read from a network).
    pub fn inbound_now(&self, inbound: Inbound) {
        self.send(LinkEvent::Inbound(inbound));
    }

    /// Reports an invite into a room (or the bot being added to a group) and waits for the
    /// gate's decision: join, join and ask the owner (the request is open once this
    /// returns), or stay away. `Ignore` when the run is over or the runtime is gone.
    pub async fn room_invite(&self, invite: RoomInvite) -> InviteAction {
        let message = LinkMessage { generation: self.generation, event: LinkEvent::RoomInvite(invite) };
        self.harness.send(message).await.ok().flatten().unwrap_or(InviteAction::Ignore)
    }

    /// Shows a warning on the connector's status.
    pub fn warn(&self, warning: impl Into<String>) {
        self.send(LinkEvent::Warning(warning.into()));
    }
}

/// A platform connector. Futures are `'static`: implementations clone what they need.
pub trait Connector: Send + Sync + 'static {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// Checks the credentials and says who the bot is (Matrix `whoami`, `getMe`, `/users/@me`).
    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>>;

    /// Connects and pumps events into `link` until the connection ends. Calls
    /// `link.connected` once it is live. Returning `Ok` means the connection closed and
    /// should be re-established; an error says why it ended.
    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>>;

    /// Formats, splits and sends a reply; removes the ack reaction of the answered event (see
    /// [`acknowledge`](Self::acknowledge)).
    fn deliver(&self, reply: Reply) -> BoxFuture<'static, Result<(), ConnectorError>>;

    /// Fetches a media file this connector referenced in an inbound message, refusing one
    /// over `limit` bytes: by the size the platform announces before downloading, and while
    /// the body streams in (reading stops once it passes the limit).
    fn fetch_media(&self, media: MediaRef, limit: u64) -> BoxFuture<'static, Result<Vec<u8>, MediaError>> {
        let _ = (media, limit);
        Box::pin(async { Err(MediaError::Failed("this platform has no media".into())) })
    }

    /// Marks a message as being answered (the ack reaction), best effort. Called after pairing
    /// and the group rules let it through, before its reply is delivered; `deliver` removes
    /// the reaction. Whatever `deliver` must wait for (a reaction still being sent) is
    /// registered before this returns, not when the future first runs.
    fn acknowledge(&self, chat: ChatId, event: EventId) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = (chat, event);
        Box::pin(async { Ok(()) })
    }

    /// Shows or hides the typing indicator.
    fn set_typing(&self, chat: ChatId, typing: bool) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = (chat, typing);
        Box::pin(async { Ok(()) })
    }

    /// Acts on the owner's decision about a room request (join and stay, or leave).
    fn pairing_decided(&self, record: PairingRecord) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = record;
        Box::pin(async { Ok(()) })
    }
}

/// What connectors get from the runtime when they are built.
#[derive(Clone)]
pub struct ConnectorEnv {
    /// The shared database (cursors, handled events).
    pub store: Store,
    /// `vault/.parachute`: connectors keep their own state below it (e.g. `matrix/`).
    pub data_dir: PathBuf,
}

/// Builds a platform's connector from the config. One per platform compiled in.
pub trait ConnectorFactory: Send + Sync + 'static {
    /// Which platform it builds.
    fn platform(&self) -> Platform;

    /// A connector for the current settings.
    fn build(&self, config: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError>;
}
