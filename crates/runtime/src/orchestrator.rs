//! The orchestrator: answers authorized messages one at a time per chat (chats in parallel),
//! runs commands, keeps session history and asks the brain.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use parachute_core::commands::{Command, help_text, parse_command};
use parachute_core::config::BotsConfig;
use parachute_core::gating::should_answer;
use parachute_core::ids::{ChatKey, EventId, Platform};
use tokio::sync::watch;

use crate::brain::{Brain, BrainRequest};
use crate::messages::{Authorized, Content, Reply};
use crate::metrics::Metrics;
use crate::router::Router;
use crate::store::{EventClaim, HistoryEntry, HistoryRole, Store, StoreError};

/// What `!new` answers.
pub const NEW_SESSION_TEXT: &str = "Starting fresh! Previous conversation archived.";
/// What a voice message gets while no transcriber is configured.
pub const NO_TRANSCRIBER_TEXT: &str =
    "I can't listen to voice messages yet: no transcriber is configured. Please send text.";

/// The name answers are stored under in history.
const BOT_NAME: &str = "parachute";

/// The actor that turns authorized messages into replies.
pub struct Orchestrator {
    shared: Shared,
    queues: HashMap<ChatKey, VecDeque<Authorized>>,
    busy: HashSet<ChatKey>,
    in_flight: HashSet<(Platform, EventId)>,
}

/// What one message's processing needs, cloned into its future.
#[derive(Clone)]
struct Shared {
    store: Store,
    brain: Arc<dyn Brain>,
    router: Router,
    config: watch::Receiver<Arc<BotsConfig>>,
    metrics: Arc<Metrics>,
}

impl Orchestrator {
    /// An orchestrator answering through `brain` and replying through `router`.
    pub fn new(
        store: Store,
        brain: Arc<dyn Brain>,
        router: Router,
        config: watch::Receiver<Arc<BotsConfig>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            shared: Shared { store, brain, router, config, metrics },
            queues: HashMap::new(),
            busy: HashSet::new(),
            in_flight: HashSet::new(),
        }
    }

    /// Starts the next message of a chat if the chat is idle.
    fn run_next(&mut self, chat: ChatKey, ctx: &mut Context<Self>) {
        if self.busy.contains(&chat) {
            return;
        }
        let Some(next) = self.queues.get_mut(&chat).and_then(VecDeque::pop_front) else {
            self.queues.remove(&chat);
            return;
        };
        self.busy.insert(chat.clone());
        let shared = self.shared.clone();
        let event = (next.inbound.platform, next.inbound.event_id.clone());
        ctx.spawn(async move { process(shared, next).await }.into_actor(self).map(move |result, act, ctx| {
            if let Err(err) = result {
                tracing::error!(chat = %chat, error = %err, "message not processed; it will be retried if the platform replays it");
            }
            act.in_flight.remove(&event);
            act.busy.remove(&chat);
            act.run_next(chat, ctx);
        }));
    }
}

impl Actor for Orchestrator {
    type Context = Context<Self>;
}

impl Handler<Authorized> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: Authorized, ctx: &mut Context<Self>) {
        let platform = msg.inbound.platform;
        let event = (platform, msg.inbound.event_id.clone());
        if self.in_flight.contains(&event) {
            self.shared.metrics.duplicate(platform);
            return;
        }
        match self.shared.store.claim_event(platform, &event.1) {
            Ok(EventClaim::Done) => {
                self.shared.metrics.duplicate(platform);
                tracing::debug!(%platform, event = %event.1, "already handled, dropped");
                return;
            }
            Ok(EventClaim::New | EventClaim::Unfinished) => {}
            Err(err) => {
                tracing::error!(error = %err, "cannot record event; dropping it rather than risking a double answer");
                return;
            }
        }
        self.in_flight.insert(event);
        let chat = ChatKey { platform, chat: msg.inbound.chat.clone() };
        self.queues.entry(chat.clone()).or_default().push_back(msg);
        self.run_next(chat, ctx);
    }
}

/// Handles one message from start to delivered reply.
async fn process(shared: Shared, msg: Authorized) -> Result<(), StoreError> {
    let inbound = &msg.inbound;
    let platform = inbound.platform;
    let chat = ChatKey { platform, chat: inbound.chat.clone() };
    let config = shared.config.borrow().clone();
    let policy = config.policy(platform);
    let text = match &inbound.content {
        Content::Text(text) => Some(text.as_str()),
        Content::Voice(_) => None,
    };
    let bot_username = shared.router.bot_username(platform);
    let command = text.and_then(|t| parse_command(t, platform, bot_username.as_deref()));
    if !should_answer(inbound.chat_kind, policy.group_mention_mode, inbound.addresses_bot, command.is_some()) {
        let context = text.map(|text| (HistoryRole::Context, inbound.sender_display.as_str(), text));
        return shared.store.finish_turn(&chat, &inbound.event_id, context);
    }

    // The answer, and whether it belongs in the conversation's history.
    let (answer, remember) = match (command, text) {
        (Some(Command::New), _) => {
            shared.store.archive_session(&chat)?;
            (NEW_SESSION_TEXT.to_owned(), false)
        }
        (Some(Command::Help), _) => (help_text(platform, shared.brain.name()), false),
        (None, None) => (NO_TRANSCRIBER_TEXT.to_owned(), false),
        (None, Some(text)) => {
            let (dialogue, context) = (config.brain.history_messages, config.brain.group_context_messages);
            let (session_id, history) =
                shared.store.begin_turn(&chat, &inbound.sender_display, text, dialogue + context)?;
            let request = BrainRequest {
                session_id,
                platform,
                chat: inbound.chat.clone(),
                chat_kind: inbound.chat_kind,
                sender_display: inbound.sender_display.clone(),
                trust_level: msg.trust_level,
                system_prompt: config.brain.system_prompt.clone(),
                history: bound_history(history, dialogue, context),
                message: text.to_owned(),
            };
            shared.router.typing(platform, &inbound.chat, true);
            let result = shared.brain.respond(request).await;
            shared.router.typing(platform, &inbound.chat, false);
            match result {
                Ok(answer) => (answer, true),
                Err(err) => {
                    shared.metrics.brain_error(platform);
                    tracing::warn!(chat = %chat, error = %err, "brain failed");
                    (format!("Sorry, I couldn't answer that just now ({err}). Please try again."), false)
                }
            }
        }
    };

    let reply =
        Reply { platform, chat: inbound.chat.clone(), text: answer, in_reply_to: Some(inbound.event_id.clone()) };
    match shared.router.deliver(reply.clone()).await {
        Ok(()) => {
            shared.metrics.answered(platform);
            let entry = remember.then_some((HistoryRole::Assistant, BOT_NAME, reply.text.as_str()));
            shared.store.finish_turn(&chat, &inbound.event_id, entry)
        }
        Err(err) => {
            tracing::warn!(chat = %chat, error = %err, "reply not delivered");
            Ok(())
        }
    }
}

/// Keeps the last `dialogue` user/assistant entries and the last `context` group-context
/// entries among them, in their original order.
fn bound_history(entries: Vec<HistoryEntry>, dialogue: usize, context: usize) -> Vec<HistoryEntry> {
    let (mut dialogue_left, mut context_left) = (dialogue, context);
    let mut kept: Vec<HistoryEntry> = entries
        .into_iter()
        .rev()
        .filter(|entry| {
            let left = if entry.role == HistoryRole::Context { &mut context_left } else { &mut dialogue_left };
            let keep = *left > 0;
            *left = left.saturating_sub(1);
            keep
        })
        .collect();
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: HistoryRole, text: &str) -> HistoryEntry {
        HistoryEntry { role, sender: "s".into(), text: text.into(), at_ms: 0 }
    }

    #[test]
    fn dialogue_and_context_are_bounded_separately() {
        use HistoryRole::*;
        let entries = vec![
            entry(User, "u1"),
            entry(Context, "c1"),
            entry(Assistant, "a1"),
            entry(Context, "c2"),
            entry(User, "u2"),
        ];
        let kept: Vec<_> = bound_history(entries.clone(), 2, 1).into_iter().map(|e| e.text).collect();
        assert_eq!(kept, ["a1", "c2", "u2"]);
        assert!(bound_history(entries.clone(), 0, 0).is_empty());
        assert_eq!(bound_history(entries, 10, 10).len(), 5);
    }
}
