//! The pairing actor: decides whether a sender may talk to the bot, runs the owner's
//! approve/deny workflow for unknown DM users and invited rooms (at most
//! `pairing.max_pending` waiting, each forgotten after `pairing.expire_after`), and passes
//! the rest on.

use std::sync::Arc;

use actix::prelude::*;
use parachute_core::config::{BotsConfig, is_listed};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform};
use parachute_core::pairing::{DmAccess, PairingKind, PairingStatus, decide_dm, texts};
use parachute_core::sanitize::sanitize_display_name;
use parachute_core::trust::TrustLevel;
use tokio::sync::watch;

use crate::messages::{Authorized, Content, Inbound, Reply};
use crate::metrics::Metrics;
use crate::router::Router;
pub use crate::store::pairing::PairingError;
use crate::store::{NewPairingRequest, PairingRecord, Store, StoreError, now_ms};

/// The bot was invited to a room outside `allowed_rooms`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RoomInvite {
    /// Which platform.
    pub platform: Platform,
    /// The room id.
    pub room_id: String,
    /// Its name.
    pub room_name: String,
    /// Who invited the bot.
    pub inviter: String,
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
    /// The level to grant; the platform's DM default when absent.
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

/// The actor between connectors and the orchestrator.
pub struct Pairing {
    store: Store,
    config: watch::Receiver<Arc<BotsConfig>>,
    orchestrator: Recipient<Authorized>,
    router: Router,
    metrics: Arc<Metrics>,
}

impl Pairing {
    /// A pairing actor passing authorized messages to `orchestrator`.
    pub fn new(
        store: Store,
        config: watch::Receiver<Arc<BotsConfig>>,
        orchestrator: Recipient<Authorized>,
        router: Router,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { store, config, orchestrator, router, metrics }
    }

    fn tell(&self, platform: Platform, chat: &str, text: &str, in_reply_to: Option<EventId>) {
        let reply = Reply { platform, chat: ChatId::from(chat), text: text.to_owned(), in_reply_to };
        let router = self.router.clone();
        actix::spawn(async move {
            if let Err(err) = router.deliver(reply).await {
                tracing::warn!(%platform, error = %err, "pairing message not delivered");
            }
        });
    }

    /// The time before which an undecided request has expired.
    fn expired_before(config: &BotsConfig) -> i64 {
        let ttl = i64::try_from(config.pairing.expire_after.0.as_millis()).unwrap_or(i64::MAX);
        now_ms().saturating_sub(ttl)
    }

    /// Opens a pairing request unless `pairing.max_pending` requests already wait (expired
    /// ones are forgotten first). Returns the record and whether it is new; `None` when the
    /// cap turned it away (logged and counted, nobody is told).
    fn open_request(
        &mut self,
        config: &BotsConfig,
        request: &NewPairingRequest,
    ) -> Result<Option<(PairingRecord, bool)>, StoreError> {
        self.store.expire_pairing(Self::expired_before(config))?;
        let existing = self.store.find_pairing(request.platform, request.kind, &request.platform_user_id)?;
        if existing.is_none() && self.store.pending_pairing_count()? >= config.pairing.max_pending {
            self.metrics.stranger_turned_away(request.platform);
            tracing::info!(
                platform = %request.platform,
                kind = ?request.kind,
                max_pending = config.pairing.max_pending,
                "pairing request not opened: pairing.max_pending requests already wait"
            );
            return Ok(None);
        }
        self.store.create_pairing(request).map(Some)
    }

    /// Decides a direct message; returns it authorized, or `None` when pairing handled it.
    fn handle_dm(&mut self, inbound: Inbound) -> Result<Option<Authorized>, StoreError> {
        let config = self.config.borrow().clone();
        let policy = config.policy(inbound.platform);
        let listed = is_listed(&policy.allowed_users, inbound.sender.as_str(), inbound.sender_username.as_deref());
        let known = self.store.find_pairing(inbound.platform, PairingKind::User, inbound.sender.as_str())?;
        let expired_before = Self::expired_before(&config);
        match decide_dm(listed, known.as_ref().map(PairingRecord::as_known), policy.dm_trust_level, expired_before) {
            DmAccess::Allowed(trust_level) => return Ok(Some(Authorized { inbound, trust_level })),
            DmAccess::RequestApproval => {
                let first_message = match &inbound.content {
                    Content::Text(text) => text.chars().take(500).collect(),
                    Content::Voice(_) => "(voice message)".to_owned(),
                };
                let request = NewPairingRequest {
                    platform: inbound.platform,
                    kind: PairingKind::User,
                    platform_user_id: inbound.sender.0.clone(),
                    platform_user_display: inbound.sender_display.clone(),
                    platform_chat_id: inbound.chat.0.clone(),
                    first_message,
                };
                if let Some((record, true)) = self.open_request(&config, &request)? {
                    tracing::info!(platform = %inbound.platform, request = record.id, "new pairing request");
                    self.tell(
                        inbound.platform,
                        inbound.chat.as_str(),
                        texts::REQUEST_SENT,
                        Some(inbound.event_id.clone()),
                    );
                }
            }
            DmAccess::StillPending | DmAccess::Ignore => {}
        }
        self.store.finish_event(inbound.platform, &inbound.event_id)?;
        Ok(None)
    }

    fn decide(
        &mut self,
        id: i64,
        status: PairingStatus,
        level: Option<TrustLevel>,
    ) -> Result<PairingRecord, PairingError> {
        let level = match (status, level) {
            (PairingStatus::Approved, None) => {
                let platform = self.store.pairing_by_id(id)?.ok_or(PairingError::NotFound(id))?.platform;
                Some(self.config.borrow().policy(platform).dm_trust_level)
            }
            (PairingStatus::Approved, level) => level,
            _ => None,
        };
        let record = self.store.resolve_pairing(id, status, level)?;
        tracing::info!(request = id, status = record.status.as_str(), "pairing decided");
        match record.kind {
            PairingKind::User => {
                let text = if status == PairingStatus::Approved { texts::APPROVED } else { texts::DENIED };
                self.tell(record.platform, &record.platform_chat_id, text, None);
            }
            PairingKind::Room => self.router.pairing_decided(record.clone()),
        }
        Ok(record)
    }
}

impl Actor for Pairing {
    type Context = Context<Self>;
}

/// Answers once the message is decided and, when it is to be answered, taken up by the
/// orchestrator: the connector that sent it waits for that, so a flood slows the connector
/// down instead of filling the actors' mailboxes.
impl Handler<Inbound> for Pairing {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, mut inbound: Inbound, _: &mut Context<Self>) -> Self::Result {
        inbound.sender_display = sanitize_display_name(&inbound.sender_display, inbound.sender.as_str());
        let result = match inbound.chat_kind {
            ChatKind::Group => {
                let trust_level = self.config.borrow().policy(inbound.platform).group_trust_level;
                Ok(Some(Authorized { inbound, trust_level }))
            }
            ChatKind::Direct => match self.store.is_event_done(inbound.platform, &inbound.event_id) {
                Ok(true) => {
                    self.metrics.duplicate(inbound.platform);
                    Ok(None)
                }
                Ok(false) => self.handle_dm(inbound),
                Err(err) => Err(err),
            },
        };
        match result {
            Ok(Some(authorized)) => {
                let taken_up = self.orchestrator.send(authorized);
                Box::pin(async move {
                    let _ = taken_up.await;
                })
            }
            Ok(None) => Box::pin(async {}),
            Err(err) => {
                tracing::error!(error = %err, "pairing check failed; message left unhandled");
                Box::pin(async {})
            }
        }
    }
}

impl Handler<RoomInvite> for Pairing {
    type Result = ();

    fn handle(&mut self, msg: RoomInvite, _: &mut Context<Self>) {
        let config = self.config.borrow().clone();
        let request = NewPairingRequest {
            platform: msg.platform,
            kind: PairingKind::Room,
            platform_user_id: msg.room_id.clone(),
            platform_user_display: sanitize_display_name(&msg.room_name, &msg.room_id),
            platform_chat_id: msg.room_id,
            first_message: format!("invited by {}", sanitize_display_name(&msg.inviter, "someone")),
        };
        match self.open_request(&config, &request) {
            Ok(Some((record, true))) => {
                tracing::info!(platform = %record.platform, request = record.id, "new room pairing request")
            }
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "room pairing request not stored"),
        }
    }
}

impl Handler<ListPairing> for Pairing {
    type Result = Result<Vec<PairingRecord>, PairingError>;

    fn handle(&mut self, _: ListPairing, _: &mut Context<Self>) -> Self::Result {
        self.store.expire_pairing(Self::expired_before(&self.config.borrow()))?;
        Ok(self.store.list_pairing()?)
    }
}

impl Handler<CountPending> for Pairing {
    type Result = Result<usize, PairingError>;

    fn handle(&mut self, _: CountPending, _: &mut Context<Self>) -> Self::Result {
        self.store.expire_pairing(Self::expired_before(&self.config.borrow()))?;
        Ok(self.store.pending_pairing_count()?)
    }
}

impl Handler<Approve> for Pairing {
    type Result = Result<PairingRecord, PairingError>;

    fn handle(&mut self, msg: Approve, _: &mut Context<Self>) -> Self::Result {
        self.decide(msg.id, PairingStatus::Approved, msg.trust_level)
    }
}

impl Handler<Deny> for Pairing {
    type Result = Result<PairingRecord, PairingError>;

    fn handle(&mut self, msg: Deny, _: &mut Context<Self>) -> Self::Result {
        self.decide(msg.id, PairingStatus::Denied, None)
    }
}

impl Handler<Revoke> for Pairing {
    type Result = Result<bool, PairingError>;

    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) -> Self::Result {
        Ok(self.store.revoke_user(msg.platform, &msg.user_id)?)
    }
}
