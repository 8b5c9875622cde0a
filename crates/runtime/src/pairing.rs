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
use parachute_core::pairing::{PairingKind, PairingStatus, texts};
use parachute_core::sanitize::sanitize_display_name;
use parachute_core::trust::TrustLevel;
use tokio::sync::watch;

use crate::messages::{
    Approve, Authorized, Content, CountPending, Deny, Inbound, ListPairing, Reply, Revoke, RoomInvite,
};
use crate::metrics::Metrics;
use crate::router::Router;
pub use crate::store::pairing::PairingError;
use crate::store::{Db, NewPairingRequest, OpenedRequest, PairingRecord, Store, StoreError, now_ms};

/// The actor between connectors and the orchestrator. Its work waits on the store thread,
/// never on SQLite: each message's handling is a future over a clone of [`Gate`].
pub struct Pairing {
    gate: Gate,
}

/// What deciding a message needs; cheap to clone into each message's future.
#[derive(Clone)]
struct Gate {
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
        Self { gate: Gate { store, config, orchestrator, router, metrics } }
    }
}

/// Sends a short text of the pairing workflow (not awaited; a failure is logged).
fn tell(router: &Router, platform: Platform, chat: &str, text: &str, in_reply_to: Option<EventId>) {
    let reply = Reply { platform, chat: ChatId::from(chat), text: text.to_owned(), in_reply_to };
    let router = router.clone();
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

impl Gate {
    fn config(&self) -> Arc<BotsConfig> {
        self.config.borrow().clone()
    }

    /// Opens a pairing request unless `pairing.max_pending` requests already wait (expired
    /// ones are forgotten first). Returns the record when it is new; `None` when it existed
    /// or the cap turned it away (logged and counted, nobody is told).
    async fn open_request(&self, request: NewPairingRequest) -> Result<Option<PairingRecord>, StoreError> {
        let config = self.config();
        let (cutoff, max_pending) = (expired_before(&config), config.pairing.max_pending);
        let (platform, kind) = (request.platform, request.kind);
        match self.store.call(move |db| db.open_pairing(&request, cutoff, max_pending)).await? {
            OpenedRequest::New(record) => Ok(Some(record)),
            OpenedRequest::Existing(_) => Ok(None),
            OpenedRequest::TurnedAway => {
                self.metrics.stranger_turned_away(platform);
                tracing::info!(
                    %platform,
                    ?kind,
                    max_pending,
                    "pairing request not opened: pairing.max_pending requests already wait"
                );
                Ok(None)
            }
        }
    }

    /// Puts one message through the gate and, when it passes, waits until the orchestrator
    /// took it up. A dropped message, or one that pairing took, is recorded as handled.
    async fn pass(self, mut inbound: Inbound) {
        inbound.sender_display = sanitize_display_name(&inbound.sender_display, inbound.sender.as_str());
        let (platform, event) = (inbound.platform, inbound.event_id.clone());
        match self.decide_message(inbound).await {
            Ok(Some(authorized)) => {
                let _ = self.orchestrator.send(authorized).await;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(%platform, event = %event, error = %err, "pairing check failed; message left unhandled");
            }
        }
    }

    /// The gate's verdict on a message, acted on: `Some` to pass on, `None` when it was a
    /// duplicate, dropped or taken by pairing.
    async fn decide_message(&self, inbound: Inbound) -> Result<Option<Authorized>, StoreError> {
        let config = self.config();
        let rules = config.gate_rules(inbound.platform);
        let (kind, subject) = match inbound.chat_kind {
            ChatKind::Direct => (PairingKind::User, inbound.sender.0.clone()),
            ChatKind::Group => (PairingKind::Room, inbound.chat.0.clone()),
        };
        let (platform, event) = (inbound.platform, inbound.event_id.clone());
        // One job: whether the event was handled, and what the owner decided about its
        // sender (a DM) or room (a group).
        let looked_up = self
            .store
            .call(move |db| {
                if db.is_event_done(platform, &event)? {
                    return Ok(None);
                }
                Ok(Some(db.find_pairing(platform, kind, &subject)?.as_ref().map(PairingRecord::as_known)))
            })
            .await?;
        let Some(known) = looked_up else {
            self.metrics.duplicate(platform);
            return Ok(None);
        };
        let verdict = decide(&rules, &inbound.facts(), known, expired_before(&config));
        tracing::debug!(%platform, chat = %inbound.chat, event = %inbound.event_id, ?verdict, "gate");
        match verdict {
            Verdict::Answer(trust_level) => return Ok(Some(Authorized { inbound, trust_level, answer: true })),
            Verdict::Context => {
                let trust_level = rules.group_trust_level;
                return Ok(Some(Authorized { inbound, trust_level, answer: false }));
            }
            Verdict::AskOwnerForUser => self.ask_owner_for_user(&inbound).await?,
            Verdict::AskOwnerForRoom => {
                let name = inbound.chat_name.clone().unwrap_or_else(|| inbound.chat.to_string());
                let invited_by = format!("a message from {}", inbound.sender_display);
                self.ask_owner_for_room(platform, inbound.chat.as_str(), &name, &invited_by).await?;
            }
            Verdict::Drop(reason) => {
                tracing::debug!(%platform, chat = %inbound.chat, ?reason, "message not answered");
            }
        }
        let event = inbound.event_id;
        self.store.call(move |db| db.finish_event(platform, &event)).await?;
        Ok(None)
    }

    /// An unknown DM sender: a request, and the pairing text once per request.
    async fn ask_owner_for_user(&self, inbound: &Inbound) -> Result<(), StoreError> {
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
        if let Some(record) = self.open_request(request).await? {
            tracing::info!(platform = %inbound.platform, request = record.id, "new pairing request");
            let chat = inbound.chat.as_str();
            tell(&self.router, inbound.platform, chat, texts::REQUEST_SENT, Some(inbound.event_id.clone()));
        }
        Ok(())
    }

    /// A room the owner has not decided on: a room request, nobody in the room is told.
    async fn ask_owner_for_room(
        &self,
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
        if let Some(record) = self.open_request(request).await? {
            tracing::info!(%platform, request = record.id, "new room pairing request");
        }
        Ok(())
    }

    /// The gate's answer to an invite (or the bot being added to a group).
    async fn invite(self, msg: RoomInvite) -> InviteAction {
        let config = self.config();
        let rules = config.gate_rules(msg.platform);
        let (platform, room) = (msg.platform, msg.room_id.clone());
        let known = self
            .store
            .call(move |db| {
                Ok(db.find_pairing(platform, PairingKind::Room, &room)?.as_ref().map(PairingRecord::as_known))
            })
            .await;
        let known = match known {
            Ok(known) => known,
            Err(err) => {
                tracing::error!(error = %err, "cannot read room decisions; invite left alone");
                return InviteAction::Ignore;
            }
        };
        let facts = InviteFacts {
            chat: &msg.room_id,
            chat_aliases: &msg.room_aliases,
            is_direct: msg.is_direct,
            is_public: msg.is_public,
        };
        let action = decide_invite(&rules, &facts, known, expired_before(&config));
        tracing::info!(platform = %msg.platform, room = %msg.room_id, ?action, "invite");
        if action == InviteAction::JoinAndAskOwner {
            let invited_by = format!("invited by {}", sanitize_display_name(&msg.inviter, "someone"));
            if let Err(err) = self.ask_owner_for_room(msg.platform, &msg.room_id, &msg.room_name, &invited_by).await {
                tracing::error!(error = %err, "room pairing request not stored");
            }
        }
        action
    }

    /// Records the owner's decision (an approval without a level gets the platform's DM or
    /// group trust level) and tells the user, or hands a room decision to its connector.
    async fn resolve(
        self,
        id: i64,
        status: PairingStatus,
        level: Option<TrustLevel>,
    ) -> Result<PairingRecord, PairingError> {
        let config = self.config();
        let record = self
            .store
            .call(move |db| {
                let level = match (status, level) {
                    (PairingStatus::Approved, None) => {
                        let Some(request) = db.pairing_by_id(id)? else { return Ok(Err(PairingError::NotFound(id))) };
                        let policy = config.policy(request.platform);
                        Some(match request.kind {
                            PairingKind::User => policy.dm_trust_level,
                            PairingKind::Room => policy.group_trust_level,
                        })
                    }
                    (PairingStatus::Approved, level) => level,
                    _ => None,
                };
                match db.resolve_pairing(id, status, level) {
                    Err(PairingError::Store(err)) => Err(err),
                    other => Ok(other),
                }
            })
            .await??;
        tracing::info!(request = id, status = record.status.as_str(), "pairing decided");
        match record.kind {
            PairingKind::User => {
                let text = if status == PairingStatus::Approved { texts::APPROVED } else { texts::DENIED };
                tell(&self.router, record.platform, &record.platform_chat_id, text, None);
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
/// down instead of filling the actors' mailboxes. One message at a time (`AtomicResponse`):
/// messages reach the orchestrator in the order they arrived, which keeps each chat's order.
impl Handler<Inbound> for Pairing {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, inbound: Inbound, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(fut::wrap_future(self.gate.clone().pass(inbound))))
    }
}

impl Handler<RoomInvite> for Pairing {
    type Result = ResponseFuture<InviteAction>;

    fn handle(&mut self, msg: RoomInvite, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.gate.clone().invite(msg))
    }
}

impl Pairing {
    /// Reads the pairing table after forgetting expired requests, in one job.
    fn read_unexpired<R: Send + 'static>(
        &self,
        read: fn(&Db) -> Result<R, StoreError>,
    ) -> ResponseFuture<Result<R, PairingError>> {
        let cutoff = expired_before(&self.gate.config());
        let store = self.gate.store.clone();
        Box::pin(async move {
            Ok(store
                .call(move |db| {
                    db.expire_pairing(cutoff)?;
                    read(db)
                })
                .await?)
        })
    }
}

impl Handler<ListPairing> for Pairing {
    type Result = ResponseFuture<Result<Vec<PairingRecord>, PairingError>>;

    fn handle(&mut self, _: ListPairing, _: &mut Context<Self>) -> Self::Result {
        self.read_unexpired(Db::list_pairing)
    }
}

impl Handler<CountPending> for Pairing {
    type Result = ResponseFuture<Result<usize, PairingError>>;

    fn handle(&mut self, _: CountPending, _: &mut Context<Self>) -> Self::Result {
        self.read_unexpired(Db::pending_pairing_count)
    }
}

impl Handler<Approve> for Pairing {
    type Result = ResponseFuture<Result<PairingRecord, PairingError>>;

    fn handle(&mut self, msg: Approve, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.gate.clone().resolve(msg.id, PairingStatus::Approved, msg.trust_level))
    }
}

impl Handler<Deny> for Pairing {
    type Result = ResponseFuture<Result<PairingRecord, PairingError>>;

    fn handle(&mut self, msg: Deny, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.gate.clone().resolve(msg.id, PairingStatus::Denied, None))
    }
}

impl Handler<Revoke> for Pairing {
    type Result = ResponseFuture<Result<bool, PairingError>>;

    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) -> Self::Result {
        let store = self.gate.store.clone();
        Box::pin(async move { Ok(store.call(move |db| db.revoke_user(msg.platform, &msg.user_id)).await?) })
    }
}
