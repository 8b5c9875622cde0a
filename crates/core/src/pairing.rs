//! The pairing decision: may this direct-message sender talk to the bot? A stranger gets the
//! pairing text once per request; a request nobody decided expires.

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
}

/// What to do with a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmAccess {
    /// Answer at this level.
    Allowed(TrustLevel),
    /// Unknown sender, or one whose request expired undecided: (re)create the request and
    /// tell them once that the owner must approve.
    RequestApproval,
    /// Request pending: they were told when it was made; stay quiet.
    StillPending,
    /// Denied: stay silent.
    Ignore,
}

/// Decides a direct message. A sender listed in the config's `allowed_users` is answered at
/// the DM default; an approved sender at the level the owner chose (which wins over the
/// default); anyone else goes through pairing. A pending request made before
/// `expired_before_ms` counts as none (the owner did not decide within `pairing.expire_after`).
pub fn decide_dm(
    listed_in_config: bool,
    known: Option<KnownSender>,
    dm_default: TrustLevel,
    expired_before_ms: i64,
) -> DmAccess {
    match known {
        Some(KnownSender { status: PairingStatus::Approved, approved_trust_level, .. }) => {
            DmAccess::Allowed(approved_trust_level.unwrap_or(dm_default))
        }
        _ if listed_in_config => DmAccess::Allowed(dm_default),
        None => DmAccess::RequestApproval,
        Some(KnownSender { status: PairingStatus::Pending, created_at_ms, .. })
            if created_at_ms < expired_before_ms =>
        {
            DmAccess::RequestApproval
        }
        Some(KnownSender { status: PairingStatus::Pending, .. }) => DmAccess::StillPending,
        Some(KnownSender { status: PairingStatus::Denied, .. }) => DmAccess::Ignore,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const EXPIRED_BEFORE: i64 = NOW - 7 * 86_400_000;

    fn known(status: PairingStatus, level: Option<TrustLevel>, created_at_ms: i64) -> Option<KnownSender> {
        Some(KnownSender { status, approved_trust_level: level, created_at_ms })
    }

    fn decide(listed: bool, known: Option<KnownSender>, default: TrustLevel) -> DmAccess {
        decide_dm(listed, known, default, EXPIRED_BEFORE)
    }

    #[test]
    fn approved_level_wins_over_the_default() {
        let k = known(PairingStatus::Approved, Some(TrustLevel::Direct), NOW);
        assert_eq!(decide(false, k, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Direct));
        let k = known(PairingStatus::Approved, None, EXPIRED_BEFORE - 1);
        assert_eq!(decide(true, k, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Sandboxed), "never expires");
    }

    #[test]
    fn unknown_senders_are_told_once_per_request() {
        assert_eq!(decide(false, None, TrustLevel::Sandboxed), DmAccess::RequestApproval);
        let pending = known(PairingStatus::Pending, None, NOW);
        assert_eq!(decide(false, pending, TrustLevel::Sandboxed), DmAccess::StillPending);
        let denied = known(PairingStatus::Denied, None, EXPIRED_BEFORE - 1);
        assert_eq!(decide(false, denied, TrustLevel::Sandboxed), DmAccess::Ignore, "a denial does not expire");
    }

    #[test]
    fn an_undecided_request_expires() {
        let at_the_edge = known(PairingStatus::Pending, None, EXPIRED_BEFORE);
        assert_eq!(decide(false, at_the_edge, TrustLevel::Sandboxed), DmAccess::StillPending);
        let expired = known(PairingStatus::Pending, None, EXPIRED_BEFORE - 1);
        assert_eq!(decide(false, expired, TrustLevel::Sandboxed), DmAccess::RequestApproval);
    }

    #[test]
    fn configured_users_need_no_pairing() {
        assert_eq!(decide(true, None, TrustLevel::Direct), DmAccess::Allowed(TrustLevel::Direct));
        let pending = known(PairingStatus::Pending, None, NOW);
        assert_eq!(decide(true, pending, TrustLevel::Sandboxed), DmAccess::Allowed(TrustLevel::Sandboxed));
    }
}
