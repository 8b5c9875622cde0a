//! The typed messages the actors exchange. Every lifecycle operation is one of these.

use std::fmt;
use std::sync::Arc;

use actix::Message;
use parachute_core::config::{BotsConfig, ConfigError};
use parachute_core::gating::{Addressed, InviteAction, MessageFacts};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};
use parachute_core::trust::TrustLevel;
use serde_json::Value;

use crate::connector::{ConnectorError, Identity, MediaError};
use crate::status::ConnectorStatus;
use crate::store::PairingRecord;
use crate::store::pairing::PairingError;

/// What a user sent.
#[derive(Debug, Clone)]
pub enum Content {
    /// A text message.
    Text(String),
    /// A voice note or audio file, not downloaded yet: fetched through its connector only
    /// when it is about to be transcribed.
    Voice(MediaRef),
}

/// A media file as the platform announced it: what it is and where to fetch it, never its
/// bytes. The connector that made it fetches it ([`Connector::fetch_media`]) only when the
/// message is about to be transcribed, after pairing and the group rules.
///
/// [`Connector::fetch_media`]: crate::connector::Connector::fetch_media
#[derive(Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// e.g. `audio/ogg`.
    pub mime_type: String,
    /// The name the platform gave the file.
    pub file_name: String,
    /// The size the platform announced, in bytes, if it did.
    pub size: Option<u64>,
    /// Where the file is, as its connector reads it: Matrix the media source (JSON: the
    /// `mxc://` URI, or the encrypted file with its key), Telegram the `file_id`, Discord the
    /// attachment URL.
    pub source: String,
}

impl fmt::Debug for MediaRef {
    /// Without the source: it may hold a decryption key or a signed URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaRef")
            .field("mime_type", &self.mime_type)
            .field("file_name", &self.file_name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Audio to transcribe: a [`MediaRef`] once fetched.
#[derive(Clone)]
pub struct VoiceNote {
    /// e.g. `audio/ogg`.
    pub mime_type: String,
    /// The name the platform gave the file.
    pub file_name: String,
    /// The audio bytes.
    pub data: Arc<[u8]>,
}

impl fmt::Debug for VoiceNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceNote")
            .field("mime_type", &self.mime_type)
            .field("file_name", &self.file_name)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// One platform event, translated by a connector: facts only (where, who, what, whether
/// the bot is addressed). The one way in; the gate decides what happens to it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Inbound {
    /// Where it came from.
    pub platform: Platform,
    /// The chat it was sent in.
    pub chat: ChatId,
    /// Direct conversation or group.
    pub chat_kind: ChatKind,
    /// The chat's name, where it has one (a room or group title), for pairing requests.
    pub chat_name: Option<String>,
    /// Other names of the chat the connector knows (Matrix room aliases).
    pub chat_aliases: Vec<String>,
    /// The server the chat belongs to: a Discord guild.
    pub guild: Option<String>,
    /// Who sent it.
    pub sender: UserId,
    /// The sender's username, where the platform has one (Telegram `@name`).
    pub sender_username: Option<String>,
    /// The sender's display name as the platform gives it (sanitized by the pairing actor).
    pub sender_display: String,
    /// What was sent.
    pub content: Content,
    /// Whether it addresses the bot (mention, reply to the bot, command), and how.
    pub addressed: Addressed,
    /// The platform's id of the event, used to never answer it twice.
    pub event_id: EventId,
    /// When it was sent (milliseconds since the epoch).
    pub timestamp_ms: i64,
}

impl Inbound {
    /// What the gate needs to know of it.
    pub fn facts(&self) -> MessageFacts<'_> {
        MessageFacts {
            chat_kind: self.chat_kind,
            chat: self.chat.as_str(),
            chat_aliases: &self.chat_aliases,
            guild: self.guild.as_deref(),
            sender: self.sender.as_str(),
            sender_username: self.sender_username.as_deref(),
            addressed: self.addressed,
            sent_at_ms: self.timestamp_ms,
        }
    }
}

/// An inbound message the gate let through, with the sender's trust level.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Authorized {
    /// The message, its display name sanitized.
    pub inbound: Inbound,
    /// How far the brain may act for this sender.
    pub trust_level: TrustLevel,
    /// Whether it is answered; `false` for an allowed group's message that does not address
    /// the bot, which is kept as context for later answers.
    pub answer: bool,
}

/// The bot was invited to (or added to) a room or group: the gate decides whether it joins,
/// joins and asks the owner (a room pairing request), or stays away.
#[derive(Debug, Clone, Message)]
#[rtype(result = "InviteAction")]
pub struct RoomInvite {
    /// Which platform.
    pub platform: Platform,
    /// The room id.
    pub room_id: String,
    /// Other names of the room (aliases).
    pub room_aliases: Vec<String>,
    /// Its name.
    pub room_name: String,
    /// Who invited the bot.
    pub inviter: String,
    /// The inviter marked it as a direct chat.
    pub is_direct: bool,
    /// Anyone may join the room.
    pub is_public: bool,
}

/// Every pairing request, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<PairingRecord>, PairingError>")]
pub struct ListPairing;

/// How many requests wait for the owner.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<usize, PairingError>")]
pub struct CountPending;

/// The owner approves a request, optionally at a chosen trust level.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<PairingRecord, PairingError>")]
pub struct Approve {
    /// The request.
    pub id: i64,
    /// The level to grant; the platform's DM (or group, for rooms) default when absent.
    pub trust_level: Option<TrustLevel>,
}

/// The owner denies a request.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<PairingRecord, PairingError>")]
pub struct Deny {
    /// The request.
    pub id: i64,
}

/// The owner withdraws a user's approval; the user has to pair again.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool, PairingError>")]
pub struct Revoke {
    /// Which platform.
    pub platform: Platform,
    /// The user.
    pub user_id: String,
}

/// An answer. The one way out: the connector formats and splits it for its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Where to send it.
    pub platform: Platform,
    /// The chat to send it to.
    pub chat: ChatId,
    /// Markdown text.
    pub text: String,
    /// The event it answers, for reply relations and removing the ack reaction.
    pub in_reply_to: Option<EventId>,
}

/// Why a reply was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The connector is stopped or failed.
    #[error("the {0} connector is not running")]
    NotRunning(Platform),
    /// The platform refused or kept failing.
    #[error("delivery failed: {0}")]
    Failed(String),
}

/// Asks a connector to send a reply (queued while it reconnects).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DeliveryError>")]
pub struct Deliver(pub Reply);

/// Asks a connector to show or stop the typing indicator in a chat.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SetTyping {
    /// The chat.
    pub chat: ChatId,
    /// On or off.
    pub typing: bool,
}

/// Asks a connector to mark a message as being answered (the ack reaction), best effort.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Acknowledge {
    /// The chat of the message.
    pub chat: ChatId,
    /// The message.
    pub event: EventId,
}

/// Asks a connector to fetch a media file it referenced, refusing more than `limit` bytes.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<u8>, MediaError>")]
pub struct FetchMedia {
    /// The file.
    pub media: MediaRef,
    /// The most bytes to download.
    pub limit: u64,
}

/// Why a lifecycle operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Start while already running.
    #[error("the {0} connector is already running")]
    AlreadyRunning(Platform),
    /// No credential configured.
    #[error("no {0} token is configured")]
    NoToken(Platform),
    /// The binary was built without this platform.
    #[error("this parachute was built without {0} support")]
    NotBuiltIn(Platform),
    /// The connector refused (test failed, bad settings).
    #[error("{0}")]
    Connector(String),
    /// The config update was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The runtime is shutting down.
    #[error("the runtime is not available")]
    Unavailable,
}

impl From<ConnectorError> for ControlError {
    fn from(err: ConnectorError) -> Self {
        ControlError::Connector(err.to_string())
    }
}

/// Starts a platform's connector.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ControlError>")]
pub struct Start(pub Platform);

/// Stops a platform's connector, at once, even during a backoff wait.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ControlError>")]
pub struct Stop(pub Platform);

/// Checks a platform's credentials (e.g. Matrix `whoami`) without starting it.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Identity, ControlError>")]
pub struct Test(pub Platform);

/// The status of every platform's connector.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<ConnectorStatus>")]
pub struct GetStatus;

/// Hands a harness the new config; a running connector whose section changed restarts.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ReloadConfig(pub Arc<BotsConfig>);

/// The config as the API shows it (no secrets).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Value")]
pub struct GetConfig;

/// Applies a partial config document, validates, saves atomically and reloads.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Value, ControlError>")]
pub struct UpdateConfig(pub Value);
