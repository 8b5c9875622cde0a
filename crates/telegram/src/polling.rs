//! The receive side: `getMe`, command registration, the long-polling loop and the stored
//! update offset, which moves past a batch only together with the batch entering the
//! durable inbox.

use std::sync::Arc;

use parachute_core::ids::Platform;
use parachute_runtime::connector::{ConnectorError, ConnectorLink, Identity};
use parachute_runtime::messages::{Content, Inbound, MediaRef};
use teloxide_core::prelude::Requester;
use teloxide_core::types::BotCommand;

use crate::Shared;
use crate::api::POLL_TIMEOUT_SECS;
use crate::errors::classify_request_error;
use crate::translate::{self, Body, BotIdentity, Incoming};

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

fn load_offset(shared: &Shared) -> Result<Option<i64>, ConnectorError> {
    let stored = shared
        .store
        .cursor(Platform::Telegram, OFFSET_CURSOR)
        .map_err(|e| ConnectorError::Transient(format!("cannot read the update offset: {e}")))?;
    Ok(stored.and_then(|s| s.parse().ok()))
}

fn save_offset(shared: &Shared, offset: i64) -> Result<(), ConnectorError> {
    shared
        .store
        .set_cursor(Platform::Telegram, OFFSET_CURSOR, &offset.to_string())
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
    let mut offset = match load_offset(shared)? {
        Some(offset) => offset,
        None => {
            let offset = drop_pending(shared).await?;
            save_offset(shared, offset)?;
            offset
        }
    };
    let _commands = AbortOnDrop(tokio::spawn(register_commands(shared.clone())));
    link.connected(identity);
    tracing::info!(bot = %me.username, offset, "telegram connected");
    loop {
        let updates = shared.raw.get_updates(offset, POLL_TIMEOUT_SECS).await?;
        let mut next = offset;
        let mut batch = Vec::new();
        for raw in updates {
            let Some(id) = translate::update_id(&raw) else {
                tracing::warn!("skipping an update without update_id");
                continue;
            };
            next = next.max(id + 1);
            if let Some(incoming) = translate::translate_raw(raw, &me) {
                batch.push(take_up(incoming));
            }
        }
        if next != offset {
            // The batch and the offset that moves past it are stored together: after a crash
            // the runtime answers the batch from its inbox, and Telegram is not asked again.
            shared
                .store
                .accept_inbound(Platform::Telegram, &batch, Some((OFFSET_CURSOR, &next.to_string())))
                .map_err(|e| ConnectorError::Transient(format!("cannot store the received messages: {e}")))?;
            offset = next;
        }
        for inbound in batch {
            link.inbound(inbound).await;
        }
    }
}

/// Aborts a background task when the run ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The message as the runtime takes it. A voice note's audio stays with Telegram (its
/// `file_id`): it is fetched only when the message is answered.
fn take_up(incoming: Incoming) -> Inbound {
    let event_id = incoming.event_id();
    let content = match incoming.body {
        Body::Text(text) => Content::Text(text),
        Body::Audio { file_id, mime_type, file_name, size } => {
            Content::Voice(MediaRef { mime_type, file_name, size, source: file_id })
        }
    };
    Inbound {
        platform: Platform::Telegram,
        chat: incoming.chat_id.to_string().into(),
        chat_kind: incoming.chat_kind,
        sender: incoming.sender_id.to_string().into(),
        sender_username: incoming.sender_username,
        sender_display: incoming.sender_display,
        content,
        addresses_bot: incoming.addresses_bot,
        event_id: event_id.into(),
        timestamp_ms: incoming.timestamp_ms,
    }
}
