//! The typed messages the actors exchange. Every lifecycle operation is one of these.

use std::sync::Arc;

use actix::Message;
use parachute_core::chat_settings::{ChatSettings, ChatSettingsUpdate};
use parachute_core::config::{BotsConfig, ConfigError};

use parachute_core::ids::{ChatId, EventId, Platform};
use parachute_core::trust::TrustLevel;
use serde_json::Value;

use crate::status::ConnectorStatus;
use crate::store::pairing::PairingError;
use crate::store::{ChatSettingsRecord, PairingRecord};
use crate::types::{ConnectorError, Identity, MediaError, SignInRequest, SignedIn};
pub use crate::types::{Content, Delivered, ImageMessage, Inbound, MediaRef, Reply, RoomInvite, SentPart, VoiceNote};

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
    /// What the owner set for the message's chat (prompt addition, model).
    pub settings: ChatSettings,
}

/// Every pairing request, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<PairingRecord>, PairingError>")]
pub struct ListPairing;

/// Every chat the owner set something for (prompt addition, mention mode, model).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<ChatSettingsRecord>, PairingError>")]
pub struct ListChatSettings;

/// The owner changes one chat's settings: keys left out are kept, `null` clears; the change
/// is checked (the chat's id included) and a refused one changes nothing.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<ChatSettingsRecord, PairingError>")]
pub struct UpdateChatSettings {
    /// The chat's platform.
    pub platform: Platform,
    /// The chat's id there.
    pub chat: String,
    /// What changes.
    pub update: ChatSettingsUpdate,
}

/// To the orchestrator, at shutdown: start no further message, and answer once the messages
/// being answered are finished (recorded). What still waits stays in the connectors' inboxes.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Drain;

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

/// The owner withdraws one approval by its request id (a person's or a room's).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<bool, PairingError>")]
pub struct RevokeApproval {
    /// The approved request.
    pub id: i64,
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

/// Asks a connector to send a reply (queued while it reconnects); answered with the
/// messages that show it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Delivered, DeliveryError>")]
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

/// Signs a platform's bot in with its password (forwarded to its harness and factory); the
/// caller saves the token it gets.
#[derive(Debug, Message)]
#[rtype(result = "Result<SignedIn, ControlError>")]
pub struct SignIn(pub Platform, pub SignInRequest);

/// Reads `bots.yaml` again (SIGHUP) and applies it like an update; an invalid file leaves the
/// running config as it is. The outcome is also kept in [`crate::status::ConfigReload`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ConfigError>")]
pub struct ReloadFromFile;

/// The config as the API shows it (no secrets).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Value")]
pub struct GetConfig;

/// Applies a partial config document, validates, saves atomically and reloads.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Value, ControlError>")]
pub struct UpdateConfig(pub Value);

/// Tells a harness (and through it its connector) about the owner's decision on one of its
/// room requests.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PairingDecided(pub PairingRecord);
