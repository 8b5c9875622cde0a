//! The receive side: one twilight gateway session per run (HELLO → IDENTIFY → READY,
//! heartbeats, RESUME after a dropped connection), fatal close codes ending the run, and a
//! worker that turns `MESSAGE_CREATE` events into `Inbound`s in arrival order.
//!
//! Between runs the session id, sequence and resume URL are kept in [`Shared`], so a run
//! that follows a lost connection resumes the session and Discord replays what was missed.
//! What Discord does not replay (anything sent while the process was not running, or when
//! the session could not be resumed) is read back per channel on every new session (each
//! READY) and at the start of a run that resumes: each taken-up message moves its channel's
//! cursor in the store, in the same transaction that puts it into the durable inbox. A
//! message that cannot be stored is not passed on and ends the run (see [`handle`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parachute_core::ids::Platform;
use parachute_runtime::connector::{ConnectorError, ConnectorLink, Identity};
use parachute_runtime::messages::{Content, Inbound, MediaRef};
use parachute_runtime::store::now_ms;
use parachute_runtime::tasks::AbortOnDrop;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, mpsc};
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Session, Shard, ShardId, StreamExt as _};
use twilight_model::channel::Message;
use twilight_model::gateway::payload::outgoing::identify::IdentifyProperties;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, RoleMarker};

use crate::errors::{classify_close, classify_http};
use crate::translate::{self, Body, BotIdentity, Incoming};
use crate::{Shared, rest};

/// What the bot asks the gateway for: guild and DM messages with their text. MESSAGE_CONTENT
/// is privileged: it must be enabled in the developer portal or the gateway closes with 4014.
pub fn intents() -> Intents {
    Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES | Intents::MESSAGE_CONTENT
}

/// Gateway connections in a row that may end before READY/RESUMED until the run gives up
/// and the harness backs off.
const MAX_UNREADY_CONNECTIONS: u32 = 3;
/// Added to two heartbeat intervals before a session without any event counts as stalled.
const HEARTBEAT_GRACE: Duration = Duration::from_secs(5);

/// Messages received from the gateway and not yet taken up. The gateway must be read on (its
/// heartbeats travel on the same connection), so past this a message is dropped with a
/// warning instead of waiting: a flood costs a bounded amount of memory.
const INTAKE_LIMIT: usize = 1_000;

/// Prefix of a channel's cursor in the store (`channel:<id>` = newest message taken up).
const CHANNEL_CURSOR: &str = "channel:";
/// Channels read back at the start of a run: the most recently active ones.
const CATCH_UP_CHANNELS: usize = 50;
/// Messages read back per channel (one page of Discord's history API).
const CATCH_UP_MESSAGES: u16 = 100;

/// A session to resume: what RESUME needs, and where to send it.
#[derive(Debug, Clone)]
pub struct ResumeState {
    /// Session id and last sequence number.
    pub session: Session,
    /// READY's `resume_gateway_url`, if still valid.
    pub url: Option<String>,
}

/// A gateway message for the worker, with the session and sequence it came in, so a run
/// ended by a message that could not be stored can resume the session from just before it.
struct Received {
    session_id: Option<String>,
    sequence: u64,
    message: Message,
}

/// Why the worker stopped early: a message could not be stored in the inbox.
struct NotStored {
    error: ConnectorError,
    /// Session id and sequence of that message, when it came from the gateway.
    at: Option<(String, u64)>,
}

/// One run: checks the token, connects the gateway (resuming a kept session), and pumps
/// events until the connection cannot be kept. Messages already received are handled before
/// the run ends: the kept session counts them as seen, so a resume would not replay them.
/// A message the worker cannot store ends the run (transient: the harness reconnects).
pub async fn run(shared: &Arc<Shared>, link: &ConnectorLink) -> Result<(), ConnectorError> {
    let (identity, me) = rest::current_user(&shared.http).await?;
    let (events, inbox) = mpsc::channel(INTAKE_LIMIT);
    let new_session = Arc::new(Notify::new());
    // A run that resumes gets what the gateway missed replayed, but not what was received
    // and never taken up (dropped at the intake bound, or not stored): read back first. A run
    // that identifies reads back on its READY instead, which covers the whole time away.
    let resuming = shared.resume.lock().ok().is_some_and(|kept| kept.is_some());
    let work = worker(shared.clone(), link.clone(), me.clone(), inbox, new_session.clone(), resuming);
    let mut worker = AbortOnDrop::new(tokio::spawn(work));
    let Some(handle) = worker.handle() else { return Ok(()) };
    let result = tokio::select! {
        result = pump(shared, link, &identity, &me, events, &new_session) => result,
        ended = handle => return not_stored(shared, ended),
    };
    // The pump has ended and dropped its sender: the worker finishes what was received.
    match worker.take() {
        Some(handle) => match not_stored(shared, handle.await) {
            Err(err) => Err(err),
            Ok(()) => result,
        },
        None => result,
    }
}

/// The run's end after the worker stopped: a message it could not store rewinds the kept
/// session to just before that message, so the next run's RESUME replays it and what came
/// after (the worker drops the ones it had taken up already).
fn not_stored(
    shared: &Shared,
    ended: Result<Result<(), NotStored>, tokio::task::JoinError>,
) -> Result<(), ConnectorError> {
    let failure = match ended {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(failure)) => failure,
        Err(_) => return Err(ConnectorError::Transient("the discord message worker stopped".into())),
    };
    if let (Some((session_id, sequence)), Ok(mut kept)) = (failure.at, shared.resume.lock())
        && let Some(state) = kept.as_mut()
        && state.session.id() == session_id
    {
        state.session = Session::new(sequence.saturating_sub(1), session_id);
    }
    Err(failure.error)
}

/// Reads the gateway until the run has to end; hands messages to the worker.
async fn pump(
    shared: &Shared,
    link: &ConnectorLink,
    identity: &Identity,
    me: &BotIdentity,
    events: mpsc::Sender<Received>,
    new_session: &Notify,
) -> Result<(), ConnectorError> {
    let mut dropped = 0u64;
    let mut shard = new_shard(shared);
    // Heartbeat ACKs are wanted as proof of life: without them a quiet session answers
    // nothing between heartbeats.
    let wanted = EventTypeFlags::READY
        | EventTypeFlags::RESUMED
        | EventTypeFlags::MESSAGE_CREATE
        | EventTypeFlags::GATEWAY_HELLO
        | EventTypeFlags::GATEWAY_HEARTBEAT_ACK;
    let mut unready_connections = 0;
    loop {
        let item = link.awaiting(shard.next_event(wanted)).await;
        keep_session(shared, &shard);
        let event = match item {
            None => return Err(ConnectorError::Transient("the gateway session ended".into())),
            Some(Err(err)) => match err.kind() {
                ReceiveMessageErrorType::Reconnect => {
                    return Err(ConnectorError::Transient("cannot connect to the Discord gateway".into()));
                }
                ReceiveMessageErrorType::Deserializing { .. } => {
                    tracing::warn!("skipping a gateway event that does not parse");
                    continue;
                }
                _ => {
                    tracing::warn!("skipping a gateway message that could not be read");
                    continue;
                }
            },
            Some(Ok(event)) => event,
        };
        match event {
            Event::GatewayHello(hello) => {
                // The shard sends a heartbeat every interval and counts a connection whose
                // heartbeat went unacknowledged until the next one as dead; past two
                // intervals without any event, the shard itself is stuck.
                link.expect_answers_within(Duration::from_millis(hello.heartbeat_interval) * 2 + HEARTBEAT_GRACE);
                unready_connections += 1;
                if unready_connections > MAX_UNREADY_CONNECTIONS {
                    return Err(ConnectorError::Transient(
                        "the Discord gateway keeps closing the connection before the session is ready".into(),
                    ));
                }
            }
            Event::GatewayClose(frame) => {
                let code = frame.as_ref().map(|f| f.code);
                if let Some(fatal) = code.and_then(classify_close) {
                    return Err(fatal);
                }
                tracing::info!(code, "discord gateway connection closed; reconnecting");
                link.reconnecting(match code {
                    Some(code) => format!("the Discord gateway connection closed (code {code}); resuming"),
                    None => "the Discord gateway connection was lost (heartbeats unacknowledged or the socket \
                             closed); resuming"
                        .to_owned(),
                });
            }
            Event::Ready(_) => {
                unready_connections = 0;
                tracing::info!(bot = %me.username, "discord connected");
                // A new session (the first, or one after Discord refused a RESUME): it replays
                // nothing, so the worker reads back what was written meanwhile before it takes
                // up the messages that follow.
                new_session.notify_one();
                link.connected(identity.clone());
            }
            Event::Resumed => {
                unready_connections = 0;
                tracing::info!(bot = %me.username, "discord session resumed");
                link.connected(identity.clone());
            }
            Event::MessageCreate(message) => match events.try_send(Received {
                session_id: shard.session().map(|session| session.id().to_owned()),
                sequence: shard.session().map_or(0, Session::sequence),
                message: message.message,
            }) {
                Ok(()) if dropped > 0 => {
                    tracing::warn!(
                        dropped,
                        limit = INTAKE_LIMIT,
                        "discord intake full: messages were dropped unanswered"
                    );
                    dropped = 0;
                }
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if dropped == 0 {
                        tracing::warn!(limit = INTAKE_LIMIT, "discord intake full: dropping messages until it drains");
                    }
                    dropped += 1;
                }
            },
            _ => {}
        }
    }
}

/// A shard for the configured gateway, resuming the kept session if there is one.
fn new_shard(shared: &Shared) -> Shard {
    let mut config = ConfigBuilder::new(shared.token.expose_secret().to_owned(), intents())
        .proxy_url(shared.gateway_url.clone())
        .queue(shared.identify_queue.clone())
        .identify_properties(IdentifyProperties::new("parachute", "parachute", std::env::consts::OS));
    let kept = shared.resume.lock().ok().and_then(|state| state.clone());
    if let Some(kept) = kept {
        tracing::debug!(sequence = kept.session.sequence(), "resuming the discord gateway session");
        config = config.session(kept.session);
        if let Some(url) = kept.url {
            config = config.resume_url(url);
        }
    }
    Shard::with_config(ShardId::ONE, config.build())
}

fn keep_session(shared: &Shared, shard: &Shard) {
    let state = shard
        .session()
        .map(|session| ResumeState { session: session.clone(), url: shard.resume_url().map(str::to_owned) });
    if let Ok(mut kept) = shared.resume.lock() {
        *kept = state;
    }
}

/// Handles messages one at a time, so the shard keeps heartbeating while the bot's roles of
/// a guild are fetched or a message is stored: what was missed while away (read back per
/// channel: at the start of a resuming run, and on every new session), then the gateway's
/// messages in arrival order. Stops at the first message that cannot be stored.
async fn worker(
    shared: Arc<Shared>,
    link: ConnectorLink,
    me: BotIdentity,
    mut inbox: mpsc::Receiver<Received>,
    new_session: Arc<Notify>,
    read_back_first: bool,
) -> Result<(), NotStored> {
    let mut newest = NewestTaken::load(&shared).await;
    if read_back_first {
        catch_up(&shared, &link, &me, &mut newest).await?;
    }
    loop {
        tokio::select! {
            // A new session's read back comes before the messages received after its READY:
            // one of those would move its channel's cursor past what was written meanwhile.
            biased;
            () = new_session.notified() => catch_up(&shared, &link, &me, &mut newest).await?,
            received = inbox.recv() => {
                let Some(Received { session_id, sequence, message }) = received else { return Ok(()) };
                take_up(&shared, &link, &me, &mut newest, message)
                    .await
                    .map_err(|error| NotStored { error, at: session_id.map(|id| (id, sequence)) })?;
            }
        }
    }
}

/// Reads back what was written after each channel's cursor and takes it up.
async fn catch_up(
    shared: &Shared,
    link: &ConnectorLink,
    me: &BotIdentity,
    newest: &mut NewestTaken,
) -> Result<(), NotStored> {
    for message in read_back(shared, newest).await {
        take_up(shared, link, me, newest, message).await.map_err(|error| NotStored { error, at: None })?;
    }
    Ok(())
}

/// The newest message taken up in each channel. Message ids grow with time within a
/// channel, so anything at or below it was handled already (replayed after a RESUME, or
/// read back as well as received from the gateway).
struct NewestTaken(HashMap<Id<ChannelMarker>, Id<MessageMarker>>);

impl NewestTaken {
    /// The channels' cursors from the store.
    async fn load(shared: &Shared) -> Self {
        let cursors = shared.store.call(|db| db.cursors_with_prefix(Platform::Discord, CHANNEL_CURSOR)).await;
        let cursors = cursors.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot read the discord channel cursors; nothing is read back");
            Vec::new()
        });
        let parse = |(name, value): (String, String)| {
            let channel = name.strip_prefix(CHANNEL_CURSOR)?.parse().ok().and_then(Id::new_checked)?;
            let message = value.parse().ok().and_then(Id::new_checked)?;
            Some((channel, message))
        };
        Self(cursors.into_iter().filter_map(parse).collect())
    }

    /// Whether `message` is newer than what was taken up in its channel.
    fn is_new(&self, channel: Id<ChannelMarker>, message: Id<MessageMarker>) -> bool {
        self.0.get(&channel).is_none_or(|newest| newest.get() < message.get())
    }

    /// Records `message` as taken up in its channel.
    fn advance(&mut self, channel: Id<ChannelMarker>, message: Id<MessageMarker>) {
        if self.is_new(channel, message) {
            self.0.insert(channel, message);
        }
    }
}

/// What was written in the bot's channels after the last message it took up there and is
/// younger than `catch_up_max_age`, oldest first. Unreadable channels (deleted, access
/// lost) are skipped.
async fn read_back(shared: &Shared, newest: &NewestTaken) -> Vec<Message> {
    let oldest_ms = now_ms() - shared.config.catch_up_max_age.0.as_millis() as i64;
    let mut channels: Vec<_> = newest.0.iter().map(|(channel, message)| (*channel, *message)).collect();
    // The most recently active channels first (ids carry their creation time).
    channels.sort_by_key(|(_, message)| std::cmp::Reverse(message.get()));
    let mut missed = Vec::new();
    for (channel, after) in channels.into_iter().take(CATCH_UP_CHANNELS) {
        let page = match shared.http.channel_messages(channel).after(after).limit(CATCH_UP_MESSAGES).await {
            Ok(response) => response.models().await.map_err(|_| "an unreadable message list".to_owned()),
            Err(err) => Err(classify_http(&err).to_string()),
        };
        match page {
            Ok(mut messages) => {
                messages.retain(|m| m.timestamp.as_micros() / 1000 >= oldest_ms);
                messages.sort_by_key(|m| m.id.get());
                missed.extend(messages);
            }
            Err(err) => tracing::debug!(%channel, error = %err, "cannot read back a discord channel"),
        }
    }
    if !missed.is_empty() {
        tracing::info!(messages = missed.len(), "discord messages sent while away are being answered");
    }
    missed
}

/// Translates one message and hands it on, unless it was taken up already. Its channel's
/// cursor moves past it only once it is stored (or is not for the bot); an error leaves the
/// cursor, so the message is read back (or replayed) later.
async fn take_up(
    shared: &Shared,
    link: &ConnectorLink,
    me: &BotIdentity,
    newest: &mut NewestTaken,
    message: Message,
) -> Result<(), ConnectorError> {
    if !newest.is_new(message.channel_id, message.id) {
        tracing::debug!(message = %message.id, "discord message already taken up");
        return Ok(());
    }
    let bot_roles = match message.guild_id {
        Some(guild) if !message.mention_roles.is_empty() => bot_roles(shared, guild, me).await,
        _ => Vec::new(),
    };
    if let Some(incoming) = translate::translate(&message, me, &bot_roles) {
        handle(shared, link, incoming).await?;
    }
    newest.advance(message.channel_id, message.id);
    Ok(())
}

/// The bot's managed roles in a guild, fetched once per guild and kept.
async fn bot_roles(shared: &Shared, guild: Id<GuildMarker>, me: &BotIdentity) -> Vec<Id<RoleMarker>> {
    if let Some(known) = shared.roles.lock().ok().and_then(|cache| cache.get(&guild).cloned()) {
        return known;
    }
    let roles = match shared.http.roles(guild).await {
        Ok(response) => match response.models().await {
            Ok(roles) => roles,
            Err(_) => {
                tracing::debug!(%guild, "unreadable role list; role mentions not recognised");
                return Vec::new();
            }
        },
        Err(err) => {
            tracing::debug!(%guild, error = %classify_http(&err), "cannot list the guild's roles");
            return Vec::new();
        }
    };
    let managed = translate::managed_roles(&roles, me.id);
    if let Ok(mut cache) = shared.roles.lock() {
        cache.insert(guild, managed.clone());
    }
    managed
}

/// Hands one translated message on: stored in the durable inbox with its channel's cursor
/// first. An audio or image attachment stays on Discord's CDN (its URL): it is fetched only
/// when the message is answered. A message that cannot be stored is not passed on (see below).
async fn handle(shared: &Shared, link: &ConnectorLink, incoming: Incoming) -> Result<(), ConnectorError> {
    let event_id = incoming.event_id();
    let content = match incoming.body {
        Body::Text(text) => Content::Text(text),
        Body::Audio { url, mime_type, file_name, size } => {
            Content::Voice(MediaRef { mime_type, file_name, size: Some(size), source: url })
        }
        Body::Image { url, mime_type, file_name, size, caption } => {
            Content::image(MediaRef { mime_type, file_name, size: Some(size), source: url }, caption)
        }
    };
    let inbound = Inbound {
        platform: Platform::Discord,
        chat: incoming.channel_id.to_string().into(),
        chat_kind: incoming.chat_kind,
        chat_name: None,
        chat_aliases: Vec::new(),
        guild: incoming.guild_id.map(|guild| guild.to_string()),
        sender: incoming.sender_id.to_string().into(),
        sender_username: Some(incoming.sender_username),
        sender_display: incoming.sender_display,
        content,
        addressed: incoming.addressed,
        event_id: event_id.into(),
        timestamp_ms: incoming.timestamp_ms,
    };
    // Into the durable inbox together with the channel's cursor: after a crash the runtime
    // answers it from there, and reading back starts after it.
    let cursor = format!("{CHANNEL_CURSOR}{}", incoming.channel_id);
    let message_id = incoming.message_id.to_string();
    //
    // If that fails, the message is not passed on: answered without being stored, a crash
    // before its answer would lose it, and its cursor would not have moved, so it would be
    // read back and answered a second time. Instead the error ends the run (transient: the
    // harness reconnects with backoff, so a store that stays broken is not hammered), the
    // in-memory cursor stays before it (`take_up`), and the kept session is rewound to just
    // before it (`run`): the next run's RESUME replays it, or, when Discord refuses the
    // RESUME, the READY's read back finds it after the unchanged cursor.
    let event = inbound.event_id.clone();
    let stored = shared
        .store
        .call(move |db| {
            db.accept_inbound(Platform::Discord, std::slice::from_ref(&inbound), Some((&cursor, &message_id)))
                .map(|()| inbound)
        })
        .await;
    let inbound = match stored {
        Ok(inbound) => inbound,
        Err(err) => {
            tracing::warn!(event = %event, error = %err, "cannot store a discord message; not answering it until it can be");
            return Err(ConnectorError::Transient(format!("cannot store a discord message: {err}")));
        }
    };
    link.inbound(inbound).await;
    Ok(())
}
