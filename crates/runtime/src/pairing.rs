//! The pairing actor: the one gate every message and invite passes. It applies the pure
//! decision of [`parachute_core::gating`] to each `Inbound` (allowed users and groups, the
//! owner's pairing decisions, mention mode, trust level), runs the owner's approve/deny
//! workflow for unknown DM users and rooms (at most `pairing.max_pending` waiting, each
//! forgotten after `pairing.expire_after`), and passes what is allowed on.

use std::sync::Arc;

use actix::prelude::*;
use parachute_core::config::BotsConfig;
use parachute_core::gating::{InviteAction, InviteFacts, Verdict, decide, decide_invite};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform};
use parachute_core::pairing::{KnownSender, PairingKind, PairingStatus, texts};
use parachute_core::sanitize::sanitize_display_name;
use parachute_core::trust::TrustLevel;
use tokio::sync::watch;

use crate::messages::{
    Approve, Authorized, Content, CountPending, Deny, Inbound, ListPairing, Reply, Revoke, RoomInvite,
};
use crate::metrics::Metrics;
use crate::router::Router;
pub use crate::store::pairing::PairingError;
use crate::store::{NewPairingRequest, PairingRecord, Store, StoreError, now_ms};

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

    /// What the pairing table says about a sender or room.
    fn known(&self, platform: Platform, kind: PairingKind, id: &str) -> Result<Option<KnownSender>, StoreError> {
        Ok(self.store.find_pairing(platform, kind, id)?.as_ref().map(PairingRecord::as_known))
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

    /// Puts one message through the gate; returns it authorized, or `None` when the gate
    /// dropped it or pairing took it (recorded as handled then).
    fn gate(&mut self, inbound: Inbound) -> Result<Option<Authorized>, StoreError> {
        let config = self.config.borrow().clone();
        let rules = config.gate_rules(inbound.platform);
        let expired_before = Self::expired_before(&config);
        let (kind, subject) = match inbound.chat_kind {
            ChatKind::Direct => (PairingKind::User, inbound.sender.as_str()),
            ChatKind::Group => (PairingKind::Room, inbound.chat.as_str()),
        };
        let known = self.known(inbound.platform, kind, subject)?;
        let verdict = decide(&rules, &inbound.facts(), known, expired_before);
        tracing::debug!(platform = %inbound.platform, chat = %inbound.chat, event = %inbound.event_id, ?verdict, "gate");
        match verdict {
            Verdict::Answer(trust_level) => return Ok(Some(Authorized { inbound, trust_level, answer: true })),
            Verdict::Context => {
                let trust_level = rules.group_trust_level;
                return Ok(Some(Authorized { inbound, trust_level, answer: false }));
            }
            Verdict::AskOwnerForUser => self.ask_owner_for_user(&config, &inbound)?,
            Verdict::AskOwnerForRoom => {
                let name = inbound.chat_name.clone().unwrap_or_else(|| inbound.chat.to_string());
                let invited_by = format!("a message from {}", inbound.sender_display);
                self.ask_owner_for_room(&config, inbound.platform, inbound.chat.as_str(), &name, &invited_by)?;
            }
            Verdict::Drop(reason) => {
                tracing::debug!(platform = %inbound.platform, chat = %inbound.chat, ?reason, "message not answered");
            }
        }
        self.store.finish_event(inbound.platform, &inbound.event_id)?;
        Ok(None)
    }

    /// An unknown DM sender: a request, and the pairing text once per request.
    fn ask_owner_for_user(&mut self, config: &BotsConfig, inbound: &Inbound) -> Result<(), StoreError> {
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
        if let Some((record, true)) = self.open_request(config, &request)? {
            tracing::info!(platform = %inbound.platform, request = record.id, "new pairing request");
            self.tell(inbound.platform, inbound.chat.as_str(), texts::REQUEST_SENT, Some(inbound.event_id.clone()));
        }
        Ok(())
    }

    /// A room the owner has not decided on: a room request, nobody in the room is told.
    fn ask_owner_for_room(
        &mut self,
        config: &BotsConfig,
        platform: Platform,
        room_id: &str,
        room_name: &str,
        first_message: &str,
    ) -> Result<(), StoreError> {
        let request = NewPairingRequest {
            platform,
            kind: PairingKind::Room,
            platform_user_id: room_id.to_owned(),
            platform_user_display: sanitize_display_name(room_name, room_id),
            platform_chat_id: room_id.to_owned(),
            first_message: first_message.to_owned(),
        };
        if let Some((record, true)) = self.open_request(config, &request)? {
            tracing::info!(%platform, request = record.id, "new room pairing request");
        }
        Ok(())
    }

    fn decide(
        &mut self,
        id: i64,
        status: PairingStatus,
        level: Option<TrustLevel>,
    ) -> Result<PairingRecord, PairingError> {
        let level = match (status, level) {
            (PairingStatus::Approved, None) => {
                let request = self.store.pairing_by_id(id)?.ok_or(PairingError::NotFound(id))?;
                let policy = self.config.borrow().policy(request.platform);
                Some(match request.kind {
                    PairingKind::User => policy.dm_trust_level,
                    PairingKind::Room => policy.group_trust_level,
                })
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

/// Answers once the message is decided and, when it is passed on, taken up by the
/// orchestrator: the connector that sent it waits for that, so a flood slows the connector
/// down instead of filling the actors' mailboxes.
impl Handler<Inbound> for Pairing {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, mut inbound: Inbound, _: &mut Context<Self>) -> Self::Result {
        inbound.sender_display = sanitize_display_name(&inbound.sender_display, inbound.sender.as_str());
        let result = match self.store.is_event_done(inbound.platform, &inbound.event_id) {
            Ok(true) => {
                self.metrics.duplicate(inbound.platform);
                Ok(None)
            }
            Ok(false) => self.gate(inbound),
            Err(err) => Err(err),
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
    type Result = MessageResult<RoomInvite>;

    fn handle(&mut self, msg: RoomInvite, _: &mut Context<Self>) -> Self::Result {
        let config = self.config.borrow().clone();
        let rules = config.gate_rules(msg.platform);
        let facts = InviteFacts {
            chat: &msg.room_id,
            chat_aliases: &msg.room_aliases,
            is_direct: msg.is_direct,
            is_public: msg.is_public,
        };
        let known = match self.known(msg.platform, PairingKind::Room, &msg.room_id) {
            Ok(known) => known,
            Err(err) => {
                tracing::error!(error = %err, "cannot read room decisions; invite left alone");
                return MessageResult(InviteAction::Ignore);
            }
        };
        let action = decide_invite(&rules, &facts, known, Self::expired_before(&config));
        tracing::info!(platform = %msg.platform, room = %msg.room_id, ?action, "invite");
        if action == InviteAction::JoinAndAskOwner {
            let invited_by = format!("invited by {}", sanitize_display_name(&msg.inviter, "someone"));
            if let Err(err) = self.ask_owner_for_room(&config, msg.platform, &msg.room_id, &msg.room_name, &invited_by)
            {
                tracing::error!(error = %err, "room pairing request not stored");
            }
        }
        MessageResult(action)
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
