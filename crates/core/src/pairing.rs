//! Pairing requests of people and rooms: their kinds and states, what the gate knows of a
//! sender or room, and the texts the workflow sends (the decision is in [`crate::gating`]).

use serde::{Deserialize, Serialize};

use crate::trust::TrustLevel;

/// Whether a pairing request is about a person (DM) or a room the bot was invited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairingKind {
    /// A person who wrote to the bot directly.
    User,
    /// A room the bot was invited to that is not in `allowed_rooms`.
    Room,
}

/// Where a pairing request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairingStatus {
    /// Waiting for the owner.
    Pending,
    /// The owner approved; the sender is answered.
    Approved,
    /// The owner denied; the sender is ignored.
    Denied,
}

impl PairingStatus {
    /// The lowercase name stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PairingStatus::Pending => "pending",
            PairingStatus::Approved => "approved",
            PairingStatus::Denied => "denied",
        }
    }
}

/// What the store knows about a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSender {
    /// The status of the sender's request.
    pub status: PairingStatus,
    /// The level the owner approved at, if any.
    pub approved_trust_level: Option<TrustLevel>,
    /// When the request was made (milliseconds since the epoch).
    pub created_at_ms: i64,
    /// When the owner decided, if they did (milliseconds since the epoch).
    pub resolved_at_ms: Option<i64>,
}

/// Texts the pairing workflow sends, word for word those of the original server.
pub mod texts {
    /// First message of an unknown sender.
    pub const REQUEST_SENT: &str = "Hi! I need approval before we can chat. Your request has been sent to the owner.";
    /// Sent when the owner approves.
    pub const APPROVED: &str = "You've been approved! Send me a message to start chatting.";
    /// Sent when the owner denies.
    pub const DENIED: &str = "Your request was not approved.";
}
