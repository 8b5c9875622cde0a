//! The runtime's plain data, below every actor and the store: what a connector hands in
//! (`Inbound`, `RoomInvite`), what goes out (`Reply`), media references, the bot's identity
//! and the errors a connector reports. It uses nothing else of this crate, so the store,
//! the connector API and the actor messages can all build on it without import cycles.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix::Message;
use parachute_core::gating::{Addressed, InviteAction, MessageFacts};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};
use serde::Serialize;

/// What a user sent.
#[derive(Debug, Clone)]
pub enum Content {
    /// A text message.
    Text(String),
    /// A voice note or audio file, not downloaded yet: fetched through its connector only
    /// when it is about to be transcribed.
    Voice(MediaRef),
    /// A photo or image, not downloaded yet: fetched only when a brain that sees images is
    /// about to answer it (boxed: most messages are text).
    Image(Box<ImageMessage>),
}

impl Content {
    /// An image message.
    pub fn image(media: MediaRef, caption: Option<String>) -> Self {
        Content::Image(Box::new(ImageMessage { media, caption }))
    }
}

/// An image and the text sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMessage {
    /// Where the image is.
    pub media: MediaRef,
    /// The text sent with it, if any.
    pub caption: Option<String>,
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
    /// The messages that already show an earlier version of this answer (a streamed
    /// preview, also one a crashed run left behind), in order: the connector edits them
    /// instead of sending the text again, and sends only the chunks past them.
    pub shown: Vec<SentPart>,
    /// More text follows (a streamed preview): the ack reaction stays until the final text.
    pub partial: bool,
}

impl Reply {
    /// A complete answer to send as new messages.
    pub fn new(platform: Platform, chat: ChatId, text: String, in_reply_to: Option<EventId>) -> Self {
        Self { platform, chat, text, in_reply_to, shown: Vec::new(), partial: false }
    }
}

/// One message a connector sent for a reply: the platform's id of it (Matrix event id,
/// Telegram message id, Discord message id) and a fingerprint of the text it shows, so a
/// later version of the same answer edits only the messages whose text changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SentPart {
    /// The platform's id of the message.
    pub id: String,
    /// A hash of what the message shows (its rendered chunk). Only compared with the hash of
    /// a new rendering by the same binary: a differing hash costs one edit, nothing more.
    pub shown: u64,
}

impl SentPart {
    /// The part for message `id` showing `rendered`.
    pub fn new(id: impl Into<String>, rendered: &str) -> Self {
        Self { id: id.into(), shown: fingerprint(rendered) }
    }

    /// Whether the message already shows `rendered`.
    pub fn shows(&self, rendered: &str) -> bool {
        self.shown == fingerprint(rendered)
    }
}

/// The hash [`SentPart`] keeps of a rendered chunk.
fn fingerprint(rendered: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    rendered.hash(&mut hasher);
    hasher.finish()
}

/// What a connector's send of one [`Reply`] left in the chat: the messages showing it, in
/// order (empty where the platform does not say).
pub type Delivered = Vec<SentPart>;

/// Why a connector could not connect, run or send. The harness decides from the kind what
/// happens next: auth and config errors fail fast, the others reconnect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The platform rejected the credentials (401/403, `M_UNKNOWN_TOKEN`, close code 4004).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The settings cannot work (missing homeserver URL, disallowed intents).
    #[error("configuration problem: {0}")]
    Config(String),
    /// The platform asked to slow down; retry after this long.
    #[error("rate limited, retry after {} ms", .0.as_millis())]
    RateLimited(Duration),
    /// Network errors, 5xx, timeouts, dropped connections: worth retrying.
    #[error("{0}")]
    Transient(String),
}

impl ConnectorError {
    /// Whether retrying cannot help.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ConnectorError::Auth(_) | ConnectorError::Config(_))
    }
}

/// Why a media file was not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The file is over the limit: announced so (nothing was downloaded), or found so while
    /// it streamed in (the download was cut off).
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Its size when announced; `None` when the download was cut off.
        size: Option<u64>,
        /// The limit in bytes.
        limit: u64,
    },
    /// The platform refused, the network failed, or the file could not be decrypted. The text
    /// names no secret (no token, no signed URL).
    #[error("the file could not be fetched: {0}")]
    Failed(String),
}

/// Signing the bot in with its password once (Matrix): where, who, and the password, which is
/// sent to the server and dropped.
#[derive(Debug)]
pub struct SignInRequest {
    /// The server's URL (Matrix: the homeserver).
    pub server_url: String,
    /// The account (a full id or a localpart).
    pub user: String,
    /// The password.
    pub password: secrecy::SecretString,
}

/// The session a sign-in made: the account as the server spells it and the new token.
#[derive(Debug)]
pub struct SignedIn {
    /// The account.
    pub user_id: String,
    /// The new device's access token.
    pub access_token: secrecy::SecretString,
}

/// Who the bot is on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Identity {
    /// The platform's id of the bot (Matrix user id, Telegram/Discord numeric id).
    pub user_id: String,
    /// The bot's username (Telegram `@name`, Discord `name`), if any.
    pub username: Option<String>,
    /// The bot's display name, if any.
    pub display_name: Option<String>,
}
