//! The pairing decision: may this direct-message sender talk to the bot?

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
    /// Whether the sender was already reminded that the request is pending.
    pub reminded: bool,
}

/// What to do with a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmAccess {
    /// Answer at this level.
    Allowed(TrustLevel),
    /// Unknown sender: create a request and tell them the owner must approve.
    RequestApproval,
    /// Request pending: tell them once that it still is, then stay quiet.
    StillPending {
        /// Whether to send the "still pending" reminder now.
        remind: bool,
    },
    /// Denied: stay silent.
    Ignore,
}

/// Decides a direct message. A sender listed in the config's `allowed_users` is answered at
/// the DM default; an approved sender at the level the owner chose (which wins over the
/// default); anyone else goes through pairing.
pub fn decide_dm(listed_in_config: bool, known: Option<KnownSender>, dm_default: TrustLevel) -> DmAccess {
    match known {
        Some(KnownSender { status: PairingStatus::Approved, approved_trust_level, .. }) => {
            DmAccess::Allowed(approved_trust_level.unwrap_or(dm_default))
        }
        _ if listed_in_config => DmAccess::Allowed(dm_default),
        None => DmAccess::RequestApproval,
        Some(KnownSender { status: PairingStatus::Pending, reminded, .. }) => {
            DmAccess::StillPending { remind: !reminded }
        }
        Some(KnownSender { status: PairingStatus::Denied, .. }) => DmAccess::Ignore,
    }
}

/// Texts the pairing workflow sends, word for word those of the original server.
pub mod texts {
    /// First message of an unknown sender.
    pub const REQUEST_SENT: &str = "Hi! I need approval before we can chat. Your request has been sent to the owner.";
    /// A further message while the request is pending.
    pub const STILL_PENDING: &str = "Your request is still pending.";
    /// Sent when the owner approves.
    pub const APPROVED: &str = "You've been approved! Send me a message to start chatting.";
    /// Sent when the owner denies.
    pub const DENIED: &str = "Your request was not approved.";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(status: PairingStatus, level: Option<TrustLevel>, reminded: bool) -> Option<KnownSender> {
        Some(KnownSender { status, approved_trust_level: level, reminded })
    }

    #[test]
    fn approved_level_wins_over_the_default() {
        let k = known(PairingStatus::Approved, Some(TrustLevel::Direct), false);
        assert_eq!(decide_dm(false, k, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Direct));
        let k = known(PairingStatus::Approved, None, false);
        assert_eq!(decide_dm(true, k, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Sandboxed));
    }

    #[test]
    fn unknown_senders_pair_once_and_are_reminded_once() {
        assert_eq!(decide_dm(false, None, TrustLevel::Sandboxed), DmAccess::RequestApproval);
        let pending = known(PairingStatus::Pending, None, false);
        assert_eq!(decide_dm(false, pending, TrustLevel::Sandboxed), DmAccess::StillPending { remind: true });
        let reminded = known(PairingStatus::Pending, None, true);
        assert_eq!(decide_dm(false, reminded, TrustLevel::Sandboxed), DmAccess::StillPending { remind: false });
        let denied = known(PairingStatus::Denied, None, false);
        assert_eq!(decide_dm(false, denied, TrustLevel::Sandboxed), DmAccess::Ignore);
    }

    #[test]
    fn configured_users_need_no_pairing() {
        assert_eq!(decide_dm(true, None, TrustLevel::Direct), DmAccess::Allowed(TrustLevel::Direct));
        let pending = known(PairingStatus::Pending, None, false);
        assert_eq!(decide_dm(true, pending, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Sandboxed));
    }
}
