//! The orchestrator: answers authorized messages one at a time per chat (chats in parallel),
//! runs commands, keeps session history and asks the brain. Waiting messages are bounded per
//! chat and in all; past a bound the oldest waiting message of the chat is skipped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use parachute_core::commands::{Command, help_text, parse_command};
use parachute_core::config::{BotsConfig, StreamMode};
use parachute_core::ids::{ChatKey, EventId, Platform};
use parachute_core::media::{over_limit, too_large_text_for};
use parachute_core::sanitize::sanitize_display_name;
use parachute_core::trust::TrustLevel;
use tokio::sync::watch;

use crate::brain::{Brain, BrainRequest, BrainSlot};
use crate::companion::{McpSlot, PersonaFile, Toolbox, memory};
use crate::connector::MediaError;
use crate::image_input::{self, ImageInput};
use crate::journal::{JOURNAL_USAGE_TEXT, JournalEntry, append_entry};
use crate::messages::{Authorized, Content, Drain, MediaRef, Reply, SentPart, VoiceNote};
use crate::metrics::Metrics;
use crate::notice::{self, NOTICE_DELAY};
use crate::preview::{AnswerSigns, Preview, PreviewTarget};
use crate::router::Router;
use crate::store::{HistoryEntry, HistoryRole, Store, StoreError, now_ms};
use crate::transcriber::{TranscribeError, TranscriberSlot};

/// What `!new` answers.
pub const NEW_SESSION_TEXT: &str = "Starting fresh! Previous conversation archived.";
/// What a voice message gets while no transcriber is configured.
pub const NO_TRANSCRIBER_TEXT: &str =
    "I can't listen to voice messages yet: no transcriber is configured. Please send text.";
/// What a voice message gets when the transcription service failed.
pub const TRANSCRIPTION_FAILED_TEXT: &str =
    "Sorry, I couldn't transcribe that voice message just now. Please try again or send text.";
/// What a voice message gets when its file could not be downloaded from the platform.
pub const DOWNLOAD_FAILED_TEXT: &str =
    "Sorry, I couldn't fetch that voice message just now. Please try again or send text.";
/// What an image gets when its file could not be downloaded from the platform.
pub const IMAGE_DOWNLOAD_FAILED_TEXT: &str =
    "Sorry, I couldn't fetch that image just now. Please try again, or describe it in words.";
/// What an image gets when it is not a picture that can be read.
pub const IMAGE_UNREADABLE_TEXT: &str = "Sorry, I couldn't read that image (JPEG, PNG, WebP and GIF work).";
/// What a voice message gets when no words were recognized in it.
pub const NOTHING_HEARD_TEXT: &str = "I couldn't make out any words in that voice message. Could you try again?";
/// Longest transcript excerpt quoted back above the answer to a voice message, in characters.
const QUOTE_CHARS: usize = 160;

/// What `!journal` answers when the file cannot be written.
pub const JOURNAL_FAILED_TEXT: &str = "Sorry, I couldn't write to the journal. The error is in the server log.";

/// The name answers are stored under in history.
const BOT_NAME: &str = "parachute";

/// Messages a chat may have waiting behind the one being answered. Past it the oldest waiting
/// message is skipped (recorded as handled, never answered) and the chat is told once.
pub const CHAT_BACKLOG_LIMIT: usize = 100;
/// Messages all chats together may have waiting. Past it a new message is skipped.
pub const TOTAL_BACKLOG_LIMIT: usize = 5_000;
/// What a chat is told (once per backlog) when its oldest waiting messages are skipped.
pub const BACKLOG_SKIPPED_TEXT: &str =
    "I'm getting messages here faster than I can answer them, so I skipped some of the older ones.";

/// How one message ended, in its `message handled` log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The brain's answer was delivered.
    Answered,
    /// A command (`!new`, `!help`, `!journal`) was answered.
    Command,
    /// An apology or refusal was delivered instead of an answer (the brain failed, a voice
    /// message could not be used).
    Apologized,
    /// Kept as group context, not addressed to the bot.
    Context,
    /// Already handled before; dropped.
    AlreadyHandled,
    /// The answer was not delivered; the message waits in the inbox for the next connection.
    NotDelivered,
    /// Skipped because a backlog was full.
    Skipped,
    /// A store error stopped it; it is handed on again from the inbox.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Command => "command",
            Self::Apologized => "apologized",
            Self::Context => "context",
            Self::AlreadyHandled => "already_handled",
            Self::NotDelivered => "not_delivered",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// The one INFO line per handled message: ids, outcome and duration, never its text.
fn log_handled(chat: &ChatKey, event: &EventId, outcome: Outcome, started: Instant) {
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        platform = %chat.platform,
        chat = %chat.chat,
        event = %event,
        outcome = outcome.as_str(),
        duration_ms,
        "message handled"
    );
}

/// The actor that turns authorized messages into replies.
pub struct Orchestrator {
    shared: Shared,
    queues: HashMap<ChatKey, VecDeque<Authorized>>,
    busy: HashSet<ChatKey>,
    in_flight: HashSet<(Platform, EventId)>,
    /// Messages waiting in `queues`, all chats together.
    waiting: usize,
    /// Chats told about skipped messages since their backlog last ran empty.
    told_skipping: HashSet<ChatKey>,
    /// Shutting down: no further message is started; these wait for the running ones.
    draining: Option<Vec<tokio::sync::oneshot::Sender<()>>>,
}

/// What one message's processing needs, cloned into its future.
#[derive(Clone)]
struct Shared {
    store: Store,
    brain: Arc<BrainSlot>,
    transcriber: Arc<TranscriberSlot>,
    router: Router,
    config: watch::Receiver<Arc<BotsConfig>>,
    metrics: Arc<Metrics>,
    data_dir: PathBuf,
    persona: Arc<PersonaFile>,
    mcp: Arc<McpSlot>,
}

impl Orchestrator {
    /// An orchestrator answering through `brain` (which follows config reloads unless fixed)
    /// and replying through `router`; `data_dir`
    /// (`vault/.parachute`) locates the vault when the config does not name one; `mcp` holds
    /// the MCP servers (shared with the status view).
    pub fn new(
        store: Store,
        brain: BrainSlot,
        router: Router,
        config: watch::Receiver<Arc<BotsConfig>>,
        metrics: Arc<Metrics>,
        data_dir: PathBuf,
        mcp: Arc<McpSlot>,
    ) -> Self {
        Self {
            shared: Shared {
                store,
                brain: Arc::new(brain),
                transcriber: Arc::default(),
                router,
                config,
                metrics,
                data_dir,
                persona: Arc::default(),
                mcp,
            },
            queues: HashMap::new(),
            busy: HashSet::new(),
            in_flight: HashSet::new(),
            waiting: 0,
            told_skipping: HashSet::new(),
            draining: None,
        }
    }

    /// Tells the drain's waiters once nothing runs any more.
    fn settle_drain(&mut self) {
        if self.busy.is_empty()
            && let Some(waiters) = &mut self.draining
        {
            for waiter in waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Records a message as handled without answering it (over a backlog limit).
    fn skip(&mut self, msg: &Authorized) {
        let (platform, event) = (msg.inbound.platform, &msg.inbound.event_id);
        self.in_flight.remove(&(platform, event.clone()));
        self.shared.metrics.skipped(platform);
        let chat = ChatKey { platform, chat: msg.inbound.chat.clone() };
        log_handled(&chat, event, Outcome::Skipped, Instant::now());
        let (store, event) = (self.shared.store.clone(), event.clone());
        actix::spawn(async move {
            if let Err(err) = store.call(move |db| db.finish_event(platform, &event)).await {
                tracing::error!(%platform, error = %err, "a skipped message could not be recorded");
            }
        });
    }

    /// Queues a message for its chat within the backlog limits (see [`CHAT_BACKLOG_LIMIT`]).
    fn enqueue(&mut self, chat: ChatKey, msg: Authorized) {
        if self.waiting >= TOTAL_BACKLOG_LIMIT {
            tracing::warn!(chat = %chat, "every chat's backlog together is full; message skipped");
            self.skip(&msg);
            return;
        }
        let queue = self.queues.entry(chat.clone()).or_default();
        queue.push_back(msg);
        self.waiting += 1;
        self.shared.metrics.queued(chat.platform);
        if queue.len() <= CHAT_BACKLOG_LIMIT {
            return;
        }
        let Some(oldest) = queue.pop_front() else { return };
        self.waiting -= 1;
        self.shared.metrics.dequeued(chat.platform);
        tracing::warn!(chat = %chat, limit = CHAT_BACKLOG_LIMIT, "chat backlog full; oldest waiting message skipped");
        self.skip(&oldest);
        if self.told_skipping.insert(chat.clone()) {
            let reply = Reply::new(chat.platform, chat.chat.clone(), BACKLOG_SKIPPED_TEXT.to_owned(), None);
            let router = self.shared.router.clone();
            actix::spawn(async move {
                if let Err(err) = router.deliver(reply).await {
                    tracing::warn!(error = %err, "backlog notice not delivered");
                }
            });
        }
    }

    /// Starts the next message of a chat if the chat is idle.
    fn run_next(&mut self, chat: ChatKey, ctx: &mut Context<Self>) {
        if self.busy.contains(&chat) || self.draining.is_some() {
            return;
        }
        let Some(next) = self.queues.get_mut(&chat).and_then(VecDeque::pop_front) else {
            self.queues.remove(&chat);
            self.told_skipping.remove(&chat);
            return;
        };
        self.waiting -= 1;
        self.shared.metrics.dequeued(chat.platform);
        self.busy.insert(chat.clone());
        let shared = self.shared.clone();
        let event = (next.inbound.platform, next.inbound.event_id.clone());
        let started = Instant::now();
        ctx.spawn(async move { process(shared, next).await }.into_actor(self).map(move |result, act, ctx| {
            let outcome = result.unwrap_or_else(|err| {
                tracing::error!(chat = %chat, error = %err, "message not processed; it is handed on again from its connector's inbox when the connector next connects");
                Outcome::Failed
            });
            log_handled(&chat, &event.1, outcome, started);
            act.in_flight.remove(&event);
            act.busy.remove(&chat);
            act.run_next(chat, ctx);
            act.settle_drain();
        }));
    }
}

impl Handler<Drain> for Orchestrator {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let (done, finished) = tokio::sync::oneshot::channel();
        self.draining.get_or_insert_with(Vec::new).push(done);
        self.settle_drain();
        Box::pin(async move {
            let _ = finished.await;
        })
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
        // Whether it was finished before is asked when its turn comes (see `process`).
        self.in_flight.insert(event);
        let chat = ChatKey { platform, chat: msg.inbound.chat.clone() };
        self.enqueue(chat.clone(), msg);
        self.run_next(chat, ctx);
    }
}

/// Handles one message from start to delivered reply.
async fn process(shared: Shared, msg: Authorized) -> Result<Outcome, StoreError> {
    let inbound = &msg.inbound;
    let platform = inbound.platform;
    let chat = ChatKey { platform, chat: inbound.chat.clone() };
    let config = shared.config.borrow().clone();
    let text = match &inbound.content {
        Content::Text(text) => Some(text.as_str()),
        Content::Voice(_) | Content::Image(_) => None,
    };
    let brain = shared.brain.get(&config.brain);
    let bot_username = shared.router.bot_username(platform);
    let command = text.and_then(|t| parse_command(t, platform, bot_username.as_deref()));
    if !msg.answer {
        // The gate let it in as group context only (not addressed to the bot); a picture is
        // kept as its caption, so a later question about it has the words.
        let context = match &inbound.content {
            Content::Text(text) => Some(text.clone()),
            Content::Image(image) => Some(image_history_text(image.caption.as_deref().map(str::trim))),
            Content::Voice(_) => None,
        };
        let context = context.map(|text| (HistoryRole::Context, inbound.sender_display.clone(), text));
        let finished = finish(&shared, &chat, &inbound.event_id, context).await?;
        if !finished {
            shared.metrics.duplicate(platform);
            return Ok(Outcome::AlreadyHandled);
        }
        return Ok(Outcome::Context);
    }
    // Only a finished event is recorded: one that was taken up but not finished when the
    // process stopped is handled again (its connector's inbox brings it back). One that was
    // finished while this copy waited in the queue is dropped here. A plain text message
    // begins its turn in the same job that asks.
    let begun = match (&command, text) {
        (None, Some(text)) => match begin_new_turn(&shared, &config, &msg, text).await? {
            Some(turn) => Some(turn),
            None => {
                dropped_as_done(&shared, inbound);
                return Ok(Outcome::AlreadyHandled);
            }
        },
        _ => {
            let event = inbound.event_id.clone();
            if shared.store.call(move |db| db.is_event_done(platform, &event)).await? {
                dropped_as_done(&shared, inbound);
                return Ok(Outcome::AlreadyHandled);
            }
            None
        }
    };
    // Answered: only now (after the gate) may the message get the ack reaction, and only when
    // the answer takes a while (see `notice`); the reply's delivery removes it.
    let is_command = command.is_some();
    // A streamed answer that is visible already needs neither; one that becomes visible ends
    // the typing notice.
    let signs = Arc::new(AnswerSigns::default());
    // The answer, and the part of it that belongs in the conversation's history.
    let work = async {
        let text_only = |text: String| Answer { text, remember: None, shown: Vec::new() };
        match command {
            Some(Command::New) => {
                let archived = chat.clone();
                let archived = shared.store.call(move |db| db.archive_session(&archived)).await;
                archived.map(|_| text_only(NEW_SESSION_TEXT.to_owned()))
            }
            Some(Command::Help) => Ok(text_only(help_text(platform, brain.name()))),
            Some(Command::Journal(text)) if text.is_empty() => Ok(text_only(JOURNAL_USAGE_TEXT.to_owned())),
            Some(Command::Journal(text)) => Ok(text_only(write_journal(&shared, &config, &msg, &chat, text).await)),
            None => converse(&shared, &config, &msg, brain.as_ref(), begun, &signs).await,
        }
    };
    let (answered, _) = notice::after_delay(NOTICE_DELAY, work, || {
        if signs.notice() {
            shared.router.acknowledge(platform, &inbound.chat, &inbound.event_id);
            if !is_command {
                shared.router.typing(platform, &inbound.chat, true);
            }
        }
    })
    .await;
    // Typing that was shown ends with the work, whether it answered or failed.
    if signs.typing_on() && !is_command {
        shared.router.typing(platform, &inbound.chat, false);
    }
    let Answer { text: answer, remember, shown } = answered?;

    // The final text; it edits the messages a preview (of this run or of one that died)
    // left, instead of sending the answer again.
    let mut reply = Reply::new(platform, inbound.chat.clone(), answer, Some(inbound.event_id.clone()));
    reply.shown = shown;
    match shared.router.deliver(reply).await {
        Ok(_) => {
            shared.metrics.answered(platform);
            let outcome = match (is_command, &remember) {
                (true, _) => Outcome::Command,
                (false, Some(_)) => Outcome::Answered,
                (false, None) => Outcome::Apologized,
            };
            let entry = remember.map(|text| (HistoryRole::Assistant, BOT_NAME.to_owned(), text));
            finish(&shared, &chat, &inbound.event_id, entry).await?;
            Ok(outcome)
        }
        Err(err) => {
            tracing::warn!(chat = %chat, error = %err, "reply not delivered; the message stays in the inbox until its connector next connects");
            Ok(Outcome::NotDelivered)
        }
    }
}

/// Counts a message that was handled before it came up here.
fn dropped_as_done(shared: &Shared, inbound: &crate::messages::Inbound) {
    shared.metrics.duplicate(inbound.platform);
    tracing::debug!(platform = %inbound.platform, event = %inbound.event_id, "already handled, dropped");
}

/// What a turn is answered in: the session, its history (without the message), and the
/// messages a run that died while answering it left showing part of an answer.
struct Turn {
    session_id: i64,
    history: Vec<HistoryEntry>,
    shown: Vec<SentPart>,
}

/// An answer: its text, what of it belongs in the conversation's history (nothing for an
/// apology or a command), and the messages already showing an earlier version of it.
struct Answer {
    text: String,
    remember: Option<String>,
    shown: Vec<SentPart>,
}

/// What a turn's job needs: the chat, the message's event, sender and text, and how much
/// history to read.
struct TurnStart {
    chat: ChatKey,
    event: EventId,
    sender: String,
    text: String,
    limit: usize,
}

impl TurnStart {
    fn new(config: &BotsConfig, msg: &Authorized, text: &str) -> Self {
        let inbound = &msg.inbound;
        Self {
            chat: ChatKey { platform: inbound.platform, chat: inbound.chat.clone() },
            event: inbound.event_id.clone(),
            sender: inbound.sender_display.clone(),
            text: text.to_owned(),
            limit: config.brain.history_messages + config.brain.group_context_messages,
        }
    }
}

/// Begins the turn of `msg` about `text` (its transcript, for a voice note): records it in
/// history and reads the history before it.
async fn begin_turn(shared: &Shared, config: &BotsConfig, msg: &Authorized, text: &str) -> Result<Turn, StoreError> {
    let t = TurnStart::new(config, msg, text);
    shared
        .store
        .call(move |db| {
            let (session_id, history) = db.begin_turn(&t.chat, &t.event, &t.sender, &t.text, t.limit)?;
            let shown = db.preview_parts(t.chat.platform, &t.event)?;
            Ok(Turn { session_id, history, shown })
        })
        .await
}

/// [`begin_turn`] in the same job that asks whether the message was handled before (`None`,
/// nothing recorded, when it was).
async fn begin_new_turn(
    shared: &Shared,
    config: &BotsConfig,
    msg: &Authorized,
    text: &str,
) -> Result<Option<Turn>, StoreError> {
    let t = TurnStart::new(config, msg, text);
    shared
        .store
        .call(move |db| {
            let Some((session_id, history)) = db.begin_new_turn(&t.chat, &t.event, &t.sender, &t.text, t.limit)? else {
                return Ok(None);
            };
            let shown = db.preview_parts(t.chat.platform, &t.event)?;
            Ok(Some(Turn { session_id, history, shown }))
        })
        .await
}

/// Records an event as finished, with its history entry if any, in one job; `false` when it
/// was finished before (nothing is recorded twice).
async fn finish(
    shared: &Shared,
    chat: &ChatKey,
    event: &EventId,
    entry: Option<(HistoryRole, String, String)>,
) -> Result<bool, StoreError> {
    let (chat, event) = (chat.clone(), event.clone());
    shared
        .store
        .call(move |db| {
            let entry = entry.as_ref().map(|(role, sender, text)| (*role, sender.as_str(), text.as_str()));
            db.finish_turn(&chat, &event, entry)
        })
        .await
}

/// Appends a `!journal` entry; returns the confirmation (or the failure notice).
async fn write_journal(shared: &Shared, config: &BotsConfig, msg: &Authorized, chat: &ChatKey, text: String) -> String {
    let inbound = &msg.inbound;
    let platform = inbound.platform;
    let vault = vault_dir(config, &shared.data_dir);
    let author = sanitize_display_name(&inbound.sender_display, inbound.sender.as_str());
    let written = tokio::task::spawn_blocking(move || {
        let entry = JournalEntry { at_ms: now_ms(), platform, author: &author, text: &text };
        append_entry(&vault, &entry).map(|_| entry.file_name())
    })
    .await;
    match written {
        Ok(Ok(file)) => format!("Noted in the journal (`journal/{file}`)."),
        Ok(Err(err)) => {
            tracing::error!(chat = %chat, error = %err, "journal entry not written");
            JOURNAL_FAILED_TEXT.to_owned()
        }
        Err(err) => {
            tracing::error!(chat = %chat, error = %err, "journal task failed");
            JOURNAL_FAILED_TEXT.to_owned()
        }
    }
}

/// Answers a conversational message: text as it is, a voice note through the transcriber
/// (its transcript quoted above the answer). Returns the reply and what to remember of it.
async fn converse(
    shared: &Shared,
    config: &BotsConfig,
    msg: &Authorized,
    brain: &dyn Brain,
    begun: Option<Turn>,
    signs: &Arc<AnswerSigns>,
) -> Result<Answer, StoreError> {
    let refusal = |text: &str| Answer { text: text.to_owned(), remember: None, shown: Vec::new() };
    let media = match &msg.inbound.content {
        Content::Text(text) => {
            let turn = match begun {
                Some(turn) => turn,
                None => begin_turn(shared, config, msg, text).await?,
            };
            return Ok(ask_brain(shared, config, msg, brain, text, turn, None, Vec::new(), signs).await);
        }
        Content::Image(image) => {
            return see_image(shared, config, msg, brain, &image.media, image.caption.as_deref(), signs).await;
        }
        Content::Voice(media) => media,
    };
    let chat = ChatKey { platform: msg.inbound.platform, chat: msg.inbound.chat.clone() };
    let Some(transcriber) = shared.transcriber.get(&config.transcriber) else {
        return Ok(refusal(NO_TRANSCRIBER_TEXT));
    };
    // Downloaded only now: the message passed pairing and the group rules, and it is about to
    // be transcribed.
    let note = match fetch_voice(shared, &chat, media, config.max_media_bytes).await {
        Ok(note) => note,
        Err(text) => return Ok(refusal(&text)),
    };
    match transcriber.transcribe(&note).await {
        Ok(transcript) => {
            let turn = begin_turn(shared, config, msg, &transcript).await?;
            let quote = quote_line(&transcript);
            let answer =
                ask_brain(shared, config, msg, brain, &transcript, turn, Some(&quote), Vec::new(), signs).await;
            Ok(Answer { text: format!("{quote}\n\n{}", answer.text), ..answer })
        }
        Err(TranscribeError::NothingHeard) => Ok(refusal(NOTHING_HEARD_TEXT)),
        Err(err) => {
            tracing::warn!(chat = %chat, voice = ?note, error = %err, "voice message not transcribed");
            Ok(refusal(TRANSCRIPTION_FAILED_TEXT))
        }
    }
}

/// Downloads a voice note through its connector, at most `limit` bytes; the reply to send
/// instead when it is too large (by its announced size: nothing is downloaded) or the
/// download failed.
async fn fetch_voice(shared: &Shared, chat: &ChatKey, media: &MediaRef, limit: u64) -> Result<VoiceNote, String> {
    let data = fetch_media(shared, chat, media, limit, "voice message").await.map_err(|failure| match failure {
        Fetched::TooLarge(text) => text,
        Fetched::Failed => DOWNLOAD_FAILED_TEXT.to_owned(),
    })?;
    Ok(VoiceNote { mime_type: media.mime_type.clone(), file_name: media.file_name.clone(), data: data.into() })
}

/// Why a media file was not fetched: too large (the reply naming the limit), or failed.
enum Fetched {
    TooLarge(String),
    Failed,
}

/// Downloads `media` through its connector within `limit` bytes, refused before anything is
/// downloaded when its announced size is over the limit.
async fn fetch_media(
    shared: &Shared,
    chat: &ChatKey,
    media: &MediaRef,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, Fetched> {
    if over_limit(media.size, limit) {
        tracing::info!(chat = %chat, ?media, limit, "{what} over the size limit, not downloaded");
        return Err(Fetched::TooLarge(too_large_text_for(what, media.size, limit)));
    }
    match shared.router.fetch_media(chat.platform, media.clone(), limit).await {
        Ok(data) => Ok(data),
        Err(MediaError::TooLarge { size, .. }) => {
            tracing::info!(chat = %chat, ?media, limit, "{what} over the size limit, download stopped");
            Err(Fetched::TooLarge(too_large_text_for(what, size, limit)))
        }
        Err(err) => {
            tracing::warn!(chat = %chat, ?media, error = %err, "{what} not downloaded");
            Err(Fetched::Failed)
        }
    }
}

/// Answers an image: with a brain that sees images it is fetched (only now: the sender passed
/// the gate), scaled to the model's limits and shown with its caption. When it cannot be shown
/// (a brain without image input, too large, not readable) a caption is still answered, below a
/// line saying why the picture was not seen; an image without one gets that sentence alone.
async fn see_image(
    shared: &Shared,
    config: &BotsConfig,
    msg: &Authorized,
    brain: &dyn Brain,
    media: &MediaRef,
    caption: Option<&str>,
    signs: &Arc<AnswerSigns>,
) -> Result<Answer, StoreError> {
    let caption = caption.map(str::trim).filter(|c| !c.is_empty());
    let unseen = match prepare_image(shared, config, msg, brain, media).await {
        Ok(image) => {
            let text = caption.unwrap_or("(an image, without a caption)");
            // History keeps the words only: later turns know an image was there, not its pixels.
            let turn = begin_turn(shared, config, msg, &image_history_text(caption)).await?;
            return Ok(ask_brain(shared, config, msg, brain, text, turn, None, vec![image], signs).await);
        }
        Err(why) => why,
    };
    let Some(caption) = caption else {
        return Ok(Answer { text: unseen.alone(), remember: None, shown: Vec::new() });
    };
    let note = unseen.note();
    let turn = begin_turn(shared, config, msg, &format!("[image, not seen] {caption}")).await?;
    let answer = ask_brain(shared, config, msg, brain, caption, turn, Some(&note), Vec::new(), signs).await;
    Ok(Answer { text: format!("{note}\n\n{}", answer.text), ..answer })
}

/// How an image is kept in the history and as group context: `[image]` and its caption.
fn image_history_text(caption: Option<&str>) -> String {
    format!("[image] {}", caption.unwrap_or_default()).trim_end().to_owned()
}

/// Why an image was not shown to the brain.
enum Unseen {
    /// The brain takes no images (its name).
    NoImageInput(String),
    /// Over `max_media_bytes` (the sentence naming the limit).
    TooLarge(String),
    /// The platform did not hand the file over.
    NotFetched,
    /// Not a picture that can be read.
    Unreadable,
}

impl Unseen {
    /// The reply to an image without a caption.
    fn alone(&self) -> String {
        match self {
            Unseen::NoImageInput(brain) => {
                format!("I can't see images with the {brain} brain; tell me in words what it shows.")
            }
            Unseen::TooLarge(text) => text.clone(),
            Unseen::NotFetched => IMAGE_DOWNLOAD_FAILED_TEXT.to_owned(),
            Unseen::Unreadable => IMAGE_UNREADABLE_TEXT.to_owned(),
        }
    }

    /// The line above the answer to a caption whose picture was not seen.
    fn note(&self) -> String {
        let only = "I read only its caption";
        match self {
            Unseen::NoImageInput(brain) => format!("_I can't see images with the {brain} brain, so {only}._"),
            Unseen::TooLarge(text) => format!("_{text} {only}._"),
            Unseen::NotFetched => format!("_I couldn't fetch the image, so {only}._"),
            Unseen::Unreadable => format!("_I couldn't read the image (JPEG, PNG, WebP and GIF work), so {only}._"),
        }
    }
}

/// The image ready for the model, or why it cannot be shown.
async fn prepare_image(
    shared: &Shared,
    config: &BotsConfig,
    msg: &Authorized,
    brain: &dyn Brain,
    media: &MediaRef,
) -> Result<ImageInput, Unseen> {
    if !brain.sees_images() {
        return Err(Unseen::NoImageInput(brain.name().to_owned()));
    }
    let chat = ChatKey { platform: msg.inbound.platform, chat: msg.inbound.chat.clone() };
    let bytes = match fetch_media(shared, &chat, media, config.max_media_bytes, "image").await {
        Ok(bytes) => bytes,
        Err(Fetched::TooLarge(text)) => return Err(Unseen::TooLarge(text)),
        Err(Fetched::Failed) => return Err(Unseen::NotFetched),
    };
    image_input::prepare_off_thread(bytes).await.map_err(|err| {
        tracing::info!(chat = %chat, ?media, error = %err, "image not readable");
        Unseen::Unreadable
    })
}

/// Asks the brain about `text` within the chat's session (`turn`, begun for it); a failure
/// becomes a short apology. Where the platform streams (`stream: edit`), the answer is shown
/// as it is written, below `prefix` (the quote of a voice message).
#[allow(clippy::too_many_arguments)]
async fn ask_brain(
    shared: &Shared,
    config: &BotsConfig,
    msg: &Authorized,
    brain: &dyn Brain,
    text: &str,
    Turn { session_id, history, shown }: Turn,
    prefix: Option<&str>,
    images: Vec<ImageInput>,
    signs: &Arc<AnswerSigns>,
) -> Answer {
    let inbound = &msg.inbound;
    let chat = ChatKey { platform: inbound.platform, chat: inbound.chat.clone() };
    let (dialogue, context) = (config.brain.history_messages, config.brain.group_context_messages);
    let vault = vault_dir(config, &shared.data_dir);
    let persona = shared.persona.text(&PersonaFile::path(config, &vault)).await;
    let direct = msg.trust_level == TrustLevel::Direct;
    let memory = if direct { read_memory(&vault).await } else { None };
    // The MCP servers' tools only for a direct sender (the toolbox checks again).
    let mcp = if direct { shared.mcp.get(&config.tools.mcp) } else { None };
    let tools = Toolbox::for_sender(&config.tools, msg.trust_level, vault, inbound.platform, mcp.as_ref()).await;
    let tools = tools.map(Arc::new);
    let request = BrainRequest {
        session_id,
        platform: inbound.platform,
        chat: inbound.chat.clone(),
        chat_kind: inbound.chat_kind,
        sender_display: inbound.sender_display.clone(),
        trust_level: msg.trust_level,
        persona,
        system_prompt: config.brain.system_prompt.clone(),
        chat_prompt: msg.settings.system_prompt.clone(),
        model: msg.settings.model.clone(),
        memory,
        tools,
        history: bound_history(history, dialogue, context),
        message: text.to_owned(),
        images,
    };
    let asked = Instant::now();
    let (answered, shown) = match config.streaming(inbound.platform) {
        (StreamMode::Edit, interval) if brain.streams() => {
            let target = PreviewTarget {
                router: shared.router.clone(),
                store: shared.store.clone(),
                platform: inbound.platform,
                chat: inbound.chat.clone(),
                event: inbound.event_id.clone(),
                interval,
            };
            let preview = Preview::new(target, prefix.map(str::to_owned), signs.clone(), shown);
            let (partial, written) = watch::channel(String::new());
            preview.follow(brain.respond_streaming(request, partial), written).await
        }
        _ => (brain.respond(request).await, shown),
    };
    shared.metrics.brain_took(inbound.platform, asked.elapsed());
    match answered {
        Ok(answer) => Answer { text: answer.clone(), remember: Some(answer), shown },
        Err(err) => {
            shared.metrics.brain_error(inbound.platform);
            tracing::warn!(chat = %chat, brain = brain.name(), error = %err, "brain failed");
            let text = format!("Sorry, I couldn't answer that just now ({err}). Please try again.");
            Answer { text, remember: None, shown }
        }
    }
}

/// The memory notes of the vault, read off the actor's thread.
async fn read_memory(vault: &std::path::Path) -> Option<String> {
    let vault = vault.to_path_buf();
    tokio::task::spawn_blocking(move || memory::context(&vault)).await.ok().flatten()
}

/// The first line of the answer to a voice message: what was heard, briefly.
fn quote_line(transcript: &str) -> String {
    let words = transcript.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = words.chars().take(QUOTE_CHARS).collect();
    if excerpt.len() < words.len() {
        excerpt = excerpt.trim_end().to_owned();
        excerpt.push('…');
    }
    format!("> 🎤 \"{excerpt}\"")
}

/// The vault folder: the config's `vault` key, else the parent of the data dir
/// (`vault/.parachute`).
fn vault_dir(config: &BotsConfig, data_dir: &std::path::Path) -> PathBuf {
    match &config.vault {
        Some(vault) if !vault.trim().is_empty() => PathBuf::from(vault),
        _ => data_dir.parent().map(PathBuf::from).unwrap_or_else(|| data_dir.to_path_buf()),
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
    fn the_quote_is_one_short_line() {
        assert_eq!(quote_line("  what\nwas   heard "), "> 🎤 \"what was heard\"");
        let long = quote_line(&"word ".repeat(100));
        assert!(long.ends_with("…\"") && long.chars().count() < QUOTE_CHARS + 10, "{long}");
        assert!(!long.contains('\n'));
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
