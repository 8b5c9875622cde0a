//! The send side: replies as Discord markdown in chunks of at most 2,000 characters (the
//! first one a reply to the answered message), the typing indicator renewed while the brain
//! works, and the ack reaction of a message being answered.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::format::discord_chunks;
use parachute_core::ids::{ChatId, EventId};
use parachute_runtime::ack::ACK_WAIT;
use parachute_runtime::connector::ConnectorError;
use parachute_runtime::messages::{Delivered, Reply, SentPart};
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

use crate::Shared;
use crate::errors::classify_http;
use twilight_http::error::ErrorType;

/// How often the typing indicator is triggered again (Discord shows it for about 10 s).
pub const TYPING_RENEWAL: Duration = Duration::from_secs(8);

fn channel_id(chat: &ChatId) -> Result<Id<ChannelMarker>, ConnectorError> {
    chat.as_str()
        .parse()
        .map_err(|_| ConnectorError::Config(format!("`{}` is not a Discord channel id", chat.as_str())))
}

/// Sends a reply: the formatter's Discord chunks, the first one replying to the answered
/// message; no mention in the text pings anyone (only the replied-to author is notified). A
/// chunk that falls on a message already showing an earlier version of the answer
/// (`reply.shown`) edits it when its text changed (one deleted meanwhile is sent anew);
/// messages of the earlier version past the new text are deleted once the text is final.
/// Then removes the ack reaction from the answered message, once it was sent (waiting for it
/// if need be).
pub async fn deliver(shared: &Shared, reply: Reply) -> Result<Delivered, ConnectorError> {
    let channel = channel_id(&reply.chat)?;
    let answered: Option<Id<MessageMarker>> = reply.in_reply_to.as_ref().and_then(|e| e.as_str().parse().ok());
    let chunks = discord_chunks(&reply.text);
    let mut delivered = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        let shown = reply.shown.get(index).and_then(|part| Some((part, part.id.parse::<Id<MessageMarker>>().ok()?)));
        let id = match shown {
            Some((part, _)) if part.shows(chunk) => part.id.clone(),
            Some((part, message)) => match edit(shared, channel, message, chunk).await? {
                true => part.id.clone(),
                false => send(shared, channel, chunk, None).await?.to_string(),
            },
            None => send(shared, channel, chunk, answered.filter(|_| index == 0)).await?.to_string(),
        };
        delivered.push(SentPart::new(id, chunk));
    }
    if reply.partial {
        delivered.extend(reply.shown.iter().skip(delivered.len()).cloned());
        return Ok(delivered);
    }
    for stale in reply.shown.iter().skip(delivered.len()) {
        delete_stale(shared, channel, &stale.id).await;
    }
    if let (Some(message), Some(event)) = (answered, &reply.in_reply_to)
        && shared.acks.settle(event.as_str(), ACK_WAIT).await.is_some()
    {
        clear_ack(shared, channel, message).await;
    }
    Ok(delivered)
}

/// Who a message of the bot may notify: only the author of the message it replies to.
fn only_the_replied_user() -> AllowedMentions {
    AllowedMentions { replied_user: true, ..AllowedMentions::default() }
}

/// Sends one chunk (a reply to `replying_to` when given); the new message's id.
async fn send(
    shared: &Shared,
    channel: Id<ChannelMarker>,
    chunk: &str,
    replying_to: Option<Id<MessageMarker>>,
) -> Result<Id<MessageMarker>, ConnectorError> {
    let mentions = only_the_replied_user();
    let mut request = shared.http.create_message(channel).content(chunk).allowed_mentions(Some(&mentions));
    if let Some(message) = replying_to {
        request = request.reply(message).fail_if_not_exists(false);
    }
    let response = request.await.map_err(|e| classify_http(&e))?;
    let message = response
        .model()
        .await
        .map_err(|_| ConnectorError::Transient("the Discord REST API sent an unreadable message".into()))?;
    Ok(message.id)
}

/// Edits the bot's message to show `chunk`; `false` when the message is gone (deleted in
/// the channel), so the chunk has to be sent anew.
async fn edit(
    shared: &Shared,
    channel: Id<ChannelMarker>,
    message: Id<MessageMarker>,
    chunk: &str,
) -> Result<bool, ConnectorError> {
    let mentions = only_the_replied_user();
    let request = shared.http.update_message(channel, message).content(Some(chunk)).allowed_mentions(Some(&mentions));
    match request.await {
        Ok(_) => Ok(true),
        Err(err) if is_unknown_message(&err) => Ok(false),
        Err(err) => Err(classify_http(&err)),
    }
}

/// Whether Discord answered 404 "Unknown Message" (code 10008).
fn is_unknown_message(err: &twilight_http::Error) -> bool {
    use twilight_http::api_error::ApiError;
    match err.kind() {
        ErrorType::Response { error: ApiError::General(general), .. } => general.code == 10008,
        _ => false,
    }
}

/// Deletes a message of an earlier, longer version of an answer, best effort.
async fn delete_stale(shared: &Shared, channel: Id<ChannelMarker>, message: &str) {
    let Ok(message) = message.parse::<Id<MessageMarker>>() else { return };
    if let Err(err) = shared.http.delete_message(channel, message).await {
        tracing::debug!(error = %classify_http(&err), "a message of an earlier version of the answer was not deleted");
    }
}

/// Adds the ack reaction to a message that will be answered (when one is configured). The
/// reaction is registered at once, so the reply waits for it before removing it.
pub fn acknowledge(
    shared: &Arc<Shared>,
    chat: &ChatId,
    event: &EventId,
) -> BoxFuture<'static, Result<(), ConnectorError>> {
    let message: Option<Id<MessageMarker>> = event.as_str().parse().ok();
    let (Ok(channel), Some(message), false) = (channel_id(chat), message, shared.config.ack_emoji.is_empty()) else {
        return Box::pin(async { Ok(()) });
    };
    let Some(pending) = shared.acks.begin(event.as_str()) else {
        return Box::pin(async { Ok(()) });
    };
    let shared = shared.clone();
    Box::pin(async move {
        let reaction = RequestReactionType::Unicode { name: shared.config.ack_emoji.as_str() };
        shared.http.create_reaction(channel, message, &reaction).await.map_err(|err| classify_http(&err))?;
        pending.sent(());
        Ok(())
    })
}

async fn clear_ack(shared: &Shared, channel: Id<ChannelMarker>, message: Id<MessageMarker>) {
    let emoji = shared.config.ack_emoji.as_str();
    let reaction = RequestReactionType::Unicode { name: emoji };
    if let Err(err) = shared.http.delete_current_user_reaction(channel, message, &reaction).await {
        tracing::debug!(error = %classify_http(&err), "could not remove the ack reaction");
    }
}

/// Triggers the typing indicator now and every [`TYPING_RENEWAL`] until turned off. A failed
/// trigger is logged only.
pub async fn set_typing(shared: Arc<Shared>, chat: ChatId, typing: bool) -> Result<(), ConnectorError> {
    let key = chat.as_str().to_owned();
    let channel = channel_id(&chat)?;
    if !typing {
        shared.typing.stop(&key);
        return Ok(());
    }
    let renewing = shared.clone();
    shared.typing.renew(&key, TYPING_RENEWAL, move || {
        let renewing = renewing.clone();
        async move { trigger_typing(&renewing, channel).await }
    });
    trigger_typing(&shared, channel).await;
    Ok(())
}

async fn trigger_typing(shared: &Shared, channel: Id<ChannelMarker>) {
    if let Err(err) = shared.http.create_typing_trigger(channel).await {
        tracing::debug!(error = %classify_http(&err), "triggering typing failed");
    }
}
