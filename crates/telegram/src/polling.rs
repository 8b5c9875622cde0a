//! The receive side: `getMe`, command registration, the long-polling loop and the stored
//! update offset, which moves past a batch only together with the batch entering the
//! durable inbox.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::gating::InviteAction;
use parachute_core::ids::Platform;
use parachute_runtime::connector::{ConnectorError, ConnectorLink, Identity};
use parachute_runtime::messages::{Content, Inbound, MediaRef, RoomInvite};
use parachute_runtime::tasks::AbortOnDrop;
use teloxide_core::prelude::Requester;
use teloxide_core::types::{BotCommand, ChatId};

use crate::Shared;
use crate::api::POLL_TIMEOUT_SECS;
use crate::errors::classify_request_error;
use crate::translate::{self, AddedToGroup, Body, BotIdentity, Incoming, Translated};

/// How much longer than its timeout a long poll may take to come back before the run counts
/// as stalled (the HTTP client gives up 5 s later still).
const POLL_GRACE: Duration = Duration::from_secs(10);

/// The store cursor holding the next update id to fetch.
pub const OFFSET_CURSOR: &str = "update_offset";

/// `getMe`: who the bot is.
pub async fn get_me(shared: &Shared) -> Result<(Identity, BotIdentity), ConnectorError> {
    let me = shared.bot.get_me().await.map_err(|e| classify_request_error(&e))?;
    let username = me.user.username.clone().unwrap_or_default();
    let identity = Identity {
        user_id: me.user.id.0.to_string(),
        username: Some(username.clone()),
        display_name: Some(me.user.full_name()),
    };
    Ok((identity, BotIdentity { id: me.user.id.0, username }))
}

/// Registers `/new`, `/help` and `/journal` with Telegram; a failure is logged only.
/// Runs beside polling: teloxide-core waits 10 s after a 5xx, which must not delay connecting.
async fn register_commands(shared: Arc<Shared>) {
    let commands = [
        BotCommand::new("new", "Start a new conversation"),
        BotCommand::new("help", "What I can do"),
        BotCommand::new("journal", "Write to the journal"),
    ];
    if let Err(err) = shared.bot.set_my_commands(commands).await {
        tracing::warn!(error = %classify_request_error(&err), "setMyCommands failed; commands are still understood");
    }
}

async fn load_offset(shared: &Shared) -> Result<Option<i64>, ConnectorError> {
    let stored = shared
        .store
        .call(|db| db.cursor(Platform::Telegram, OFFSET_CURSOR))
        .await
        .map_err(|e| ConnectorError::Transient(format!("cannot read the update offset: {e}")))?;
    Ok(stored.and_then(|s| s.parse().ok()))
}

async fn save_offset(shared: &Shared, offset: i64) -> Result<(), ConnectorError> {
    shared
        .store
        .call(move |db| db.set_cursor(Platform::Telegram, OFFSET_CURSOR, &offset.to_string()))
        .await
        .map_err(|e| ConnectorError::Transient(format!("cannot store the update offset: {e}")))
}

/// On the very first start, skips whatever was pending (like `drop_pending_updates`).
async fn drop_pending(shared: &Shared) -> Result<i64, ConnectorError> {
    let mut offset = 0;
    loop {
        let updates = shared.raw.get_updates(offset, 0).await?;
        let Some(last) = updates.iter().filter_map(translate::update_id).max() else {
            return Ok(offset);
        };
        offset = last + 1;
    }
}

/// Connects and polls until an error ends the run.
pub async fn run(shared: &Arc<Shared>, link: &ConnectorLink) -> Result<(), ConnectorError> {
    let (identity, me) = get_me(shared).await?;
    let mut offset = match load_offset(shared).await? {
        Some(offset) => offset,
        None => {
            let offset = drop_pending(shared).await?;
            save_offset(shared, offset).await?;
            offset
        }
    };
    let _commands = AbortOnDrop::new(tokio::spawn(register_commands(shared.clone())));
    link.expect_answers_within(Duration::from_secs(POLL_TIMEOUT_SECS) + POLL_GRACE);
    // The first poll returns at once: "connected" means a poll came back, not only `getMe`
    // (a held long poll would otherwise read as connected until it times out).
    let mut poll_timeout = 0;
    loop {
        let updates = link.awaiting(shared.raw.get_updates(offset, poll_timeout)).await?;
        if poll_timeout == 0 {
            link.connected(identity.clone());
            tracing::info!(bot = %me.username, offset, "telegram connected");
            poll_timeout = POLL_TIMEOUT_SECS;
        }
        let mut next = offset;
        let mut batch = Vec::new();
        let mut added = Vec::new();
        for raw in updates {
            let Some(id) = translate::update_id(&raw) else {
                tracing::warn!("skipping an update without update_id");
                continue;
            };
            next = next.max(id + 1);
            match translate::translate_raw(raw, &me) {
                Some(Translated::Message(incoming)) => batch.push(take_up(incoming)),
                Some(Translated::AddedToGroup(group)) => added.push(group),
                None => {}
            }
        }
        if next != offset {
            // The batch and the offset that moves past it are stored together: after a crash
            // the runtime answers the batch from its inbox, and Telegram is not asked again.
            batch = shared
                .store
                .call(move |db| {
                    db.accept_inbound(Platform::Telegram, &batch, Some((OFFSET_CURSOR, &next.to_string())))
                        .map(|()| batch)
                })
                .await
                .map_err(|e| ConnectorError::Transient(format!("cannot store the received messages: {e}")))?;
            offset = next;
        }
        // Not kept in the inbox: if a crash loses it, the group's first message asks the
        // owner just the same.
        for group in added {
            added_to_group(shared, link, group).await;
        }
        for inbound in batch {
            link.inbound(inbound).await;
        }
    }
}

/// The bot was added to a group: the gate decides (a listed group is joined, another one
/// becomes a room pairing request, a denied one is left at once).
async fn added_to_group(shared: &Shared, link: &ConnectorLink, group: AddedToGroup) {
    let invite = RoomInvite {
        platform: Platform::Telegram,
        room_id: group.chat_id.to_string(),
        room_aliases: Vec::new(),
        room_name: group.title,
        inviter: group.added_by,
        is_direct: false,
        is_public: false,
    };
    if link.room_invite(invite).await == InviteAction::Ignore {
        leave_group(shared, group.chat_id).await;
    }
}

/// Leaves a group the owner denied; a failure is logged only.
pub async fn leave_group(shared: &Shared, chat_id: i64) {
    match shared.bot.leave_chat(ChatId(chat_id)).await {
        Ok(_) => tracing::info!(chat = chat_id, "left a telegram group the owner denied"),
        Err(err) => tracing::warn!(chat = chat_id, error = %classify_request_error(&err), "could not leave a group"),
    }
}

/// The message as the runtime takes it. A voice note's audio and an image stay with Telegram
/// (their `file_id`): they are fetched only when the message is answered.
fn take_up(incoming: Incoming) -> Inbound {
    let event_id = incoming.event_id();
    let content = match incoming.body {
        Body::Text(text) => Content::Text(text),
        Body::Audio { file_id, mime_type, file_name, size } => {
            Content::Voice(MediaRef { mime_type, file_name, size, source: file_id })
        }
        Body::Image { file_id, mime_type, file_name, size, caption } => {
            Content::image(MediaRef { mime_type, file_name, size, source: file_id }, caption)
        }
    };
    Inbound {
        platform: Platform::Telegram,
        chat: incoming.chat_id.to_string().into(),
        chat_kind: incoming.chat_kind,
        chat_name: incoming.chat_title,
        chat_aliases: Vec::new(),
        guild: None,
        sender: incoming.sender_id.to_string().into(),
        sender_username: incoming.sender_username,
        sender_display: incoming.sender_display,
        content,
        addressed: incoming.addressed,
        event_id: event_id.into(),
        timestamp_ms: incoming.timestamp_ms,
    }
}
