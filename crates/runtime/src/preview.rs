//! A streamed answer shown while the brain writes it: the first text goes out as a real
//! message (one notification), later text edits that message, at most once per the
//! platform's `stream_edit_interval`; the final answer is the last edit, sent by the
//! orchestrator with the messages this left ([`Preview::follow`] returns them). Text past the
//! platform's message limit continues in further messages (the connector splits). The
//! messages are recorded per answered event, so a run that dies mid-answer leaves them for
//! the next run to complete in place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::ids::{ChatId, EventId, Platform};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::brain::BrainError;
use crate::messages::{Reply, SentPart};
use crate::router::Router;
use crate::store::Store;
use crate::tasks::AbortOnDrop;

/// What the signs of a slow answer and its preview tell each other (both run on the
/// orchestrator's thread): the typing notice is not started once text is visible, and the
/// preview ends a typing notice that was started.
#[derive(Debug, Default)]
pub struct AnswerSigns {
    /// The ack reaction and the typing notice were shown.
    noticed: AtomicBool,
    /// Some of the answer is visible in the chat.
    visible: AtomicBool,
}

impl AnswerSigns {
    /// Records that the ack reaction and the typing notice are shown; `false` (showing
    /// nothing) once the answer is visible already.
    pub fn notice(&self) -> bool {
        if self.visible.load(Ordering::Relaxed) {
            return false;
        }
        self.noticed.store(true, Ordering::Relaxed);
        true
    }

    /// Whether a typing notice is still on: shown, and not yet ended by visible text.
    pub fn typing_on(&self) -> bool {
        self.noticed.load(Ordering::Relaxed) && !self.visible.load(Ordering::Relaxed)
    }

    /// Records that text is visible; `true` when a typing notice has to be ended for it.
    fn now_visible(&self) -> bool {
        let was_typing = self.typing_on();
        self.visible.store(true, Ordering::Relaxed);
        was_typing
    }
}

/// The chat, the answered event and the platform's edit interval a preview is shown with.
pub struct Preview {
    router: Router,
    store: Store,
    platform: Platform,
    chat: ChatId,
    event: EventId,
    interval: Duration,
    /// Text shown above the answer (the quote of a voice message).
    prefix: Option<String>,
    signs: Arc<AnswerSigns>,
    /// The messages showing the answer so far.
    shown: Vec<SentPart>,
}

/// Who shows a preview, where and how often.
pub struct PreviewTarget {
    /// The router to the connectors.
    pub router: Router,
    /// The store the messages are recorded in.
    pub store: Store,
    /// The platform.
    pub platform: Platform,
    /// The chat.
    pub chat: ChatId,
    /// The event answered.
    pub event: EventId,
    /// The shortest time between two edits.
    pub interval: Duration,
}

impl Preview {
    /// A preview in `target` that goes on from the messages in `shown` (those a crashed run
    /// left; empty for a new answer).
    pub fn new(target: PreviewTarget, prefix: Option<String>, signs: Arc<AnswerSigns>, shown: Vec<SentPart>) -> Self {
        let PreviewTarget { router, store, platform, chat, event, interval } = target;
        Self { router, store, platform, chat, event, interval, prefix, signs, shown }
    }

    /// Runs the brain's `answer` (as a task of its own, so it keeps reading while an edit is
    /// on its way) and shows its text from `partial` as it grows: the first text at once,
    /// then at most one edit per interval, always the latest text. Returns the answer and the
    /// messages now showing it, which the final reply edits.
    pub async fn follow(
        mut self,
        answer: BoxFuture<'static, Result<String, BrainError>>,
        mut partial: watch::Receiver<String>,
    ) -> (Result<String, BrainError>, Vec<SentPart>) {
        let mut task = AbortOnDrop::new(tokio::spawn(answer));
        let mut next_at = Instant::now();
        let (mut updates, mut sender_gone) = (0u32, false);
        let answered = loop {
            let Some(handle) = task.handle() else {
                break Ok(Err(BrainError::Unavailable("the brain's task was lost".to_owned())));
            };
            if sender_gone {
                // The brain dropped its sender: its answer is on the way.
                break handle.await;
            }
            tokio::select! {
                biased;
                answered = &mut *handle => break answered,
                text = next_text(&mut partial, next_at) => match text {
                    Some(text) => {
                        self.show(text).await;
                        updates += 1;
                        next_at = Instant::now() + self.interval;
                    }
                    None => sender_gone = true,
                },
            }
        };
        task.take();
        tracing::debug!(platform = %self.platform, chat = %self.chat, updates, "preview done");
        let answered = answered.unwrap_or_else(|err| Err(BrainError::Unavailable(format!("the brain failed: {err}"))));
        (answered, self.shown)
    }

    /// Sends the text so far as a partial reply (editing what is shown) and records new
    /// messages. A preview that fails is logged only: the final answer still goes out.
    async fn show(&mut self, text: String) {
        let text = match &self.prefix {
            Some(prefix) => format!("{prefix}\n\n{text}"),
            None => text,
        };
        let mut reply = Reply::new(self.platform, self.chat.clone(), text, Some(self.event.clone()));
        reply.shown = self.shown.clone();
        reply.partial = true;
        match self.router.deliver(reply).await {
            Ok(parts) => {
                let new_messages = parts.iter().map(|p| &p.id).ne(self.shown.iter().map(|p| &p.id));
                self.shown = parts;
                if new_messages {
                    let (platform, event, parts) = (self.platform, self.event.clone(), self.shown.clone());
                    let saved = self.store.call(move |db| db.save_preview(platform, &event, &parts)).await;
                    if let Err(err) = saved {
                        tracing::warn!(platform = %self.platform, chat = %self.chat, error = %err, "preview messages not recorded");
                    }
                }
                if self.signs.now_visible() {
                    self.router.typing(self.platform, &self.chat, false);
                }
            }
            Err(err) => {
                tracing::debug!(platform = %self.platform, chat = %self.chat, error = %err, "preview not shown");
            }
        }
    }
}

/// Waits for text newer than what was shown, then until `not_before`; the latest text then
/// (`None` once the sender is gone and everything was seen). Whitespace-only text is skipped.
async fn next_text(partial: &mut watch::Receiver<String>, not_before: Instant) -> Option<String> {
    loop {
        partial.changed().await.ok()?;
        tokio::time::sleep_until(not_before).await;
        let text = partial.borrow_and_update().clone();
        if !text.trim().is_empty() {
            return Some(text);
        }
    }
}
