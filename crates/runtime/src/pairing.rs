//! The pairing actor: the one gate every message and invite passes. It applies the pure
//! decision of [`parachute_core::gating`] to each `Inbound` (allowed users and groups, the
//! owner's pairing decisions, mention mode, trust level), runs the owner's approve/deny
//! workflow for unknown DM users and rooms (at most `pairing.max_pending` waiting, each
//! forgotten after `pairing.expire_after`), and passes what is allowed on.
//!
//! Messages are decided in batches: everything that arrived while the previous batch was
//! decided is looked up in one store job, then passed on in arrival order (one batch at a
//! time, which keeps each chat's order).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use parachute_core::chat_settings::ChatSettings;
use parachute_core::config::BotsConfig;
use parachute_core::gating::{GateRules, InviteAction, InviteFacts, Verdict, decide, decide_invite};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform};
use parachute_core::pairing::{KnownSender, PairingKind, PairingStatus, texts};
use parachute_core::sanitize::sanitize_display_name;
use parachute_core::trust::TrustLevel;
use tokio::sync::{oneshot, watch};

use crate::messages::{
    Approve, Authorized, Content, CountPending, Deny, Inbound, ListChatSettings, ListPairing, Reply, Revoke,
    RevokeApproval, RoomInvite, UpdateChatSettings,
};
use crate::metrics::Metrics;
use crate::router::Router;
pub use crate::store::pairing::PairingError;
use crate::store::{
    ChatSettingsRecord, Db, NewPairingRequest, OpenedRequest, PairingRecord, Store, StoreError, now_ms,
};

/// Most messages decided in one batch (one store job looks them all up).
const GATE_BATCH: usize = 512;

/// The actor between connectors and the orchestrator. Its work waits on the store thread,
/// never on SQLite: each batch's handling is a future over a clone of [`Gate`].
pub struct Pairing {
    gate: Gate,
    /// Messages waiting for the next batch, in arrival order, each with the wait of the
    /// connector that handed it over. Bounded by the connectors: each hands over one message
    /// at a time and waits until it is taken up (`ConnectorLink::inbound`).
    waiting: VecDeque<(Inbound, oneshot::Sender<()>)>,
    /// Whether a batch is being decided; the next starts when it is done.
    deciding: bool,
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
        Self { gate: Gate { store, config, orchestrator, router, metrics }, waiting: VecDeque::new(), deciding: false }
    }

    /// Starts deciding the waiting messages unless a batch is being decided.
    fn decide_next(&mut self, ctx: &mut Context<Self>) {
        if self.deciding || self.waiting.is_empty() {
            return;
        }
        let take = self.waiting.len().min(GATE_BATCH);
        let batch: Vec<_> = self.waiting.drain(..take).collect();
        self.deciding = true;
        ctx.spawn(self.gate.clone().pass_batch(batch).into_actor(self).map(|(), act, ctx| {
            act.deciding = false;
            act.decide_next(ctx);
        }));
    }
}

/// What the gate looks up for one message: where it comes from, and whose pairing decides it.
struct LookupKey {
    platform: Platform,
    event: EventId,
    kind: PairingKind,
    subject: String,
    chat: String,
}

impl LookupKey {
    fn of(inbound: &Inbound) -> Self {
        let (kind, subject) = match inbound.chat_kind {
            ChatKind::Direct => (PairingKind::User, inbound.sender.0.clone()),
            ChatKind::Group => (PairingKind::Room, inbound.chat.0.clone()),
        };
        let chat = inbound.chat.0.clone();
        Self { platform: inbound.platform, event: inbound.event_id.clone(), kind, subject, chat }
    }
}

/// The gate rules of each platform met in a batch, built once per batch from one config.
struct RulesByPlatform<'a> {
    config: &'a BotsConfig,
    built: Vec<(Platform, GateRules)>,
}

impl<'a> RulesByPlatform<'a> {
    fn new(config: &'a BotsConfig) -> Self {
        Self { config, built: Vec::with_capacity(3) }
    }

    fn of(&mut self, platform: Platform) -> &GateRules {
        let index = match self.built.iter().position(|(built, _)| *built == platform) {
            Some(index) => index,
            None => {
                self.built.push((platform, self.config.gate_rules(platform)));
                self.built.len() - 1
            }
        };
        &self.built[index].1
    }
}

/// What the store knows about one message: `None` when it was handled before, else the
/// owner's decision about its sender (a DM) or room (a group), if any, and the owner's
/// settings for its chat.
type LookedUp = Option<(Option<KnownSender>, ChatSettings)>;

/// The lookups of a batch, in one job.
fn look_up(db: &mut Db, keys: &[LookupKey]) -> Result<Vec<LookedUp>, StoreError> {
    keys.iter()
        .map(|key| {
            if db.is_event_done(key.platform, &key.event)? {
                return Ok(None);
            }
            let known = db.find_pairing(key.platform, key.kind, &key.subject)?.as_ref().map(PairingRecord::as_known);
            Ok(Some((known, db.chat_settings(key.platform, &key.chat)?)))
        })
        .collect()
}

/// Sends a short text of the pairing workflow (not awaited; a failure is logged).
fn tell(router: &Router, platform: Platform, chat: &str, text: &str, in_reply_to: Option<EventId>) {
    let reply = Reply::new(platform, ChatId::from(chat), text.to_owned(), in_reply_to);
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

    /// Puts a batch through the gate: one store job looks every message up, then each is
    /// decided and, when it passes, handed to the orchestrator, in arrival order. A message's
    /// connector hears back once it was taken up (passed on, or its drop recorded).
    async fn pass_batch(self, mut batch: Vec<(Inbound, oneshot::Sender<()>)>) {
        for (inbound, _) in &mut batch {
            inbound.sender_display = sanitize_display_name(&inbound.sender_display, inbound.sender.as_str());
        }
        let keys: Vec<LookupKey> = batch.iter().map(|(inbound, _)| LookupKey::of(inbound)).collect();
        let looked_up = match self.store.call(move |db| look_up(db, &keys)).await {
            Ok(looked_up) => looked_up,
            Err(err) => {
                tracing::error!(messages = batch.len(), error = %err, "pairing check failed; messages left unhandled");
                return;
            }
        };
        let config = self.config();
        let (mut rules, mut finished, mut taken) = (RulesByPlatform::new(&config), Vec::new(), Vec::new());
        for ((inbound, taken_up), known) in batch.into_iter().zip(looked_up) {
            let Some((known, settings)) = known else {
                self.metrics.duplicate(inbound.platform);
                let _ = taken_up.send(());
                continue;
            };
            let (platform, event) = (inbound.platform, inbound.event_id.clone());
            let rules = rules.of(platform);
            match self.decide_message(&config, rules, inbound, known, settings).await {
                Ok(Some(authorized)) => {
                    let _ = self.orchestrator.send(authorized).await;
                    let _ = taken_up.send(());
                }
                Ok(None) => {
                    finished.push((platform, event));
                    taken.push(taken_up);
                }
                Err(err) => {
                    tracing::error!(%platform, event = %event, error = %err, "pairing check failed; message left unhandled");
                }
            }
        }
        if finished.is_empty() {
            return;
        }
        let recorded = self
            .store
            .call(move |db| finished.iter().try_for_each(|(platform, event)| db.finish_event(*platform, event)))
            .await;
        if let Err(err) = recorded {
            tracing::error!(messages = taken.len(), error = %err, "messages not answered could not be recorded as handled");
        }
        for taken_up in taken {
            let _ = taken_up.send(());
        }
    }

    /// The gate's verdict on a message, acted on: `Some` to pass on, `None` when it was
    /// dropped or taken by pairing (then it is to be recorded as handled).
    async fn decide_message(
        &self,
        config: &BotsConfig,
        rules: &GateRules,
        inbound: Inbound,
        known: Option<KnownSender>,
        settings: ChatSettings,
    ) -> Result<Option<Authorized>, StoreError> {
        let platform = inbound.platform;
        // The owner's mention mode for this chat replaces the platform's.
        let rules = match settings.mention_mode {
            Some(mode) if mode != rules.group_mention_mode => {
                Cow::Owned(GateRules { group_mention_mode: mode, ..rules.clone() })
            }
            _ => Cow::Borrowed(rules),
        };
        let verdict = decide(&rules, &inbound.facts(), known, expired_before(config));
        tracing::debug!(%platform, chat = %inbound.chat, event = %inbound.event_id, ?verdict, "gate");
        match verdict {
            Verdict::Answer(trust_level) => {
                return Ok(Some(Authorized { inbound, trust_level, answer: true, settings }));
            }
            Verdict::Context => {
                let trust_level = rules.group_trust_level;
                return Ok(Some(Authorized { inbound, trust_level, answer: false, settings }));
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
        Ok(None)
    }

    /// An unknown DM sender: a request, and the pairing text once per request.
    async fn ask_owner_for_user(&self, inbound: &Inbound) -> Result<(), StoreError> {
        let first_message = match &inbound.content {
            Content::Text(text) => text.chars().take(500).collect(),
            Content::Voice(_) => "(voice message)".to_owned(),
            Content::Image(image) => {
                format!("(image) {}", image.caption.as_deref().unwrap_or_default()).trim().chars().take(500).collect()
            }
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
/// down instead of filling the actors' mailboxes. Batches are decided one at a time, each in
/// arrival order: messages reach the orchestrator in the order they arrived, which keeps each
/// chat's order.
impl Handler<Inbound> for Pairing {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, inbound: Inbound, ctx: &mut Context<Self>) -> Self::Result {
        let (taken_up, taken) = oneshot::channel();
        self.waiting.push_back((inbound, taken_up));
        self.decide_next(ctx);
        Box::pin(async move {
            let _ = taken.await;
        })
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

impl Handler<ListChatSettings> for Pairing {
    type Result = ResponseFuture<Result<Vec<ChatSettingsRecord>, PairingError>>;

    fn handle(&mut self, _: ListChatSettings, _: &mut Context<Self>) -> Self::Result {
        let store = self.gate.store.clone();
        Box::pin(async move { Ok(store.call(|db| db.list_chat_settings()).await?) })
    }
}

impl Handler<UpdateChatSettings> for Pairing {
    type Result = ResponseFuture<Result<ChatSettingsRecord, PairingError>>;

    fn handle(&mut self, msg: UpdateChatSettings, _: &mut Context<Self>) -> Self::Result {
        let store = self.gate.store.clone();
        Box::pin(async move {
            let UpdateChatSettings { platform, chat, update } = msg;
            let record = store.call(move |db| db.update_chat_settings(platform, &chat, &update)).await??;
            tracing::info!(
                %platform,
                chat = %record.chat_id,
                system_prompt = record.settings.system_prompt.is_some(),
                mention_mode = record.settings.mention_mode.map(|m| m.as_str()),
                model = record.settings.model.as_deref(),
                "chat settings changed"
            );
            Ok(record)
        })
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

impl Handler<RevokeApproval> for Pairing {
    type Result = ResponseFuture<Result<bool, PairingError>>;

    fn handle(&mut self, msg: RevokeApproval, _: &mut Context<Self>) -> Self::Result {
        let store = self.gate.store.clone();
        Box::pin(async move { Ok(store.call(move |db| db.revoke_approval(msg.id)).await?) })
    }
}

impl Handler<Revoke> for Pairing {
    type Result = ResponseFuture<Result<bool, PairingError>>;

    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) -> Self::Result {
        let store = self.gate.store.clone();
        Box::pin(async move { Ok(store.call(move |db| db.revoke_user(msg.platform, &msg.user_id)).await?) })
    }
}
