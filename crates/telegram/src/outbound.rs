//! The send side: replies in HTML parse mode with a plain-text fallback, the typing
//! indicator renewed every few seconds, and the ack reaction of a message being answered.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::format::telegram_chunks;
use parachute_core::ids::{ChatId, EventId};
use parachute_runtime::ack::ACK_WAIT;
use parachute_runtime::connector::ConnectorError;
use parachute_runtime::messages::{Delivered, Reply, SentPart};
use teloxide_core::payloads::{EditMessageTextSetters, SendMessageSetters, SetMessageReactionSetters};
use teloxide_core::prelude::Requester;
use teloxide_core::types::{ChatAction, MessageId, ParseMode, ReactionType, ReplyParameters};
use teloxide_core::{ApiError, RequestError};

use crate::Shared;
use crate::errors::{classify_request_error, is_markup_rejected};
use crate::translate::parse_event_id;

/// How often `sendChatAction typing` is repeated (Telegram shows it for about 5 s).
pub const TYPING_RENEWAL: Duration = Duration::from_secs(4);

fn chat_id(chat: &ChatId) -> Result<teloxide_core::types::ChatId, ConnectorError> {
    chat.as_str()
        .parse::<i64>()
        .map(teloxide_core::types::ChatId)
        .map_err(|_| ConnectorError::Config(format!("`{}` is not a Telegram chat id", chat.as_str())))
}

/// Sends a reply: chunks of the formatter's HTML, the first one replying to the answered
/// message; a chunk whose markup Telegram rejects is resent as plain text. A chunk that
/// falls on a message already showing an earlier version of the answer (`reply.shown`)
/// edits it (`editMessageText`) when its text changed; messages of the earlier version past
/// the new text are deleted once the text is final. Then clears the ack reaction of the
/// answered message, once it was sent (waiting for it if need be).
pub async fn deliver(shared: &Shared, reply: Reply) -> Result<Delivered, ConnectorError> {
    let chat = chat_id(&reply.chat)?;
    let answered = reply.in_reply_to.as_ref().and_then(|e| parse_event_id(e.as_str())).filter(|(c, _)| *c == chat.0);
    let chunks = telegram_chunks(&reply.text);
    let mut delivered = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.into_iter().enumerate() {
        let shown = reply.shown.get(index).and_then(|part| Some((part, part.id.parse::<i32>().ok()?)));
        let id = match shown {
            Some((part, _)) if part.shows(&chunk) => part.id.clone(),
            Some((part, message)) => match edit(shared, chat, MessageId(message), &chunk).await? {
                Edited::Yes => part.id.clone(),
                Edited::Gone => send(shared, chat, &chunk, None).await?.to_string(),
            },
            None => {
                let replying_to = answered.filter(|_| index == 0).map(|(_, message)| MessageId(message));
                send(shared, chat, &chunk, replying_to).await?.to_string()
            }
        };
        delivered.push(SentPart::new(id, &chunk));
    }
    if reply.partial {
        delivered.extend(reply.shown.iter().skip(delivered.len()).cloned());
        return Ok(delivered);
    }
    for stale in reply.shown.iter().skip(delivered.len()) {
        delete_stale(shared, chat, &stale.id).await;
    }
    if let (Some((_, message_id)), Some(event)) = (answered, &reply.in_reply_to)
        && shared.acks.settle(event.as_str(), ACK_WAIT).await.is_some()
    {
        clear_ack(shared, chat, message_id).await;
    }
    Ok(delivered)
}

/// Sends one chunk (a reply to `replying_to` when given) as HTML, or as plain text when
/// Telegram rejects its markup; the new message's id.
async fn send(
    shared: &Shared,
    chat: teloxide_core::types::ChatId,
    chunk: &str,
    replying_to: Option<MessageId>,
) -> Result<i32, ConnectorError> {
    let reply_to = |message| ReplyParameters::new(message).allow_sending_without_reply();
    let mut request = shared.bot.send_message(chat, chunk).parse_mode(ParseMode::Html);
    if let Some(message) = replying_to {
        request = request.reply_parameters(reply_to(message));
    }
    match request.await {
        Ok(sent) => Ok(sent.id.0),
        Err(err) if is_markup_rejected(&err) => {
            tracing::warn!("Telegram rejected the HTML of a reply chunk; sending it as plain text");
            let mut plain = shared.bot.send_message(chat, html_to_plain(chunk));
            if let Some(message) = replying_to {
                plain = plain.reply_parameters(reply_to(message));
            }
            plain.await.map(|sent| sent.id.0).map_err(|e| classify_request_error(&e))
        }
        Err(err) => Err(classify_request_error(&err)),
    }
}

/// What became of an edit.
enum Edited {
    /// The message shows the new text (also when it showed it already).
    Yes,
    /// The message is gone (deleted in the chat): the chunk has to be sent anew.
    Gone,
}

/// Edits the bot's message to show `chunk` (HTML, or plain text when its markup is rejected).
async fn edit(
    shared: &Shared,
    chat: teloxide_core::types::ChatId,
    message: MessageId,
    chunk: &str,
) -> Result<Edited, ConnectorError> {
    let outcome = match shared.bot.edit_message_text(chat, message, chunk).parse_mode(ParseMode::Html).await {
        Err(err) if is_markup_rejected(&err) => {
            tracing::warn!("Telegram rejected the HTML of an edited chunk; showing it as plain text");
            shared.bot.edit_message_text(chat, message, html_to_plain(chunk)).await
        }
        other => other,
    };
    match outcome {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(Edited::Yes),
        Err(RequestError::Api(ApiError::MessageToEditNotFound | ApiError::MessageIdInvalid)) => Ok(Edited::Gone),
        Err(err) => Err(classify_request_error(&err)),
    }
}

/// Deletes a message of an earlier, longer version of an answer, best effort.
async fn delete_stale(shared: &Shared, chat: teloxide_core::types::ChatId, message: &str) {
    let Ok(message) = message.parse::<i32>() else { return };
    if let Err(err) = shared.bot.delete_message(chat, MessageId(message)).await {
        tracing::debug!(error = %classify_request_error(&err), "a message of an earlier version of the answer was not deleted");
    }
}

/// Adds the ack reaction to a message that will be answered (when one is configured). The
/// reaction is registered at once, so the reply waits for it before clearing it.
pub fn acknowledge(
    shared: &Arc<Shared>,
    chat: &ChatId,
    event: &EventId,
) -> BoxFuture<'static, Result<(), ConnectorError>> {
    let emoji = shared.config.ack_emoji.clone();
    let target = chat_id(chat).ok().zip(parse_event_id(event.as_str())).filter(|(chat, (c, _))| chat.0 == *c);
    let (Some((chat, (_, message_id))), false) = (target, emoji.is_empty()) else {
        return Box::pin(async { Ok(()) });
    };
    let Some(pending) = shared.acks.begin(event.as_str()) else {
        return Box::pin(async { Ok(()) });
    };
    let bot = shared.bot.clone();
    Box::pin(async move {
        let request =
            bot.set_message_reaction(chat, MessageId(message_id)).reaction(vec![ReactionType::Emoji { emoji }]);
        request.await.map_err(|err| classify_request_error(&err))?;
        pending.sent(());
        Ok(())
    })
}

async fn clear_ack(shared: &Shared, chat: teloxide_core::types::ChatId, message_id: i32) {
    let request = shared.bot.set_message_reaction(chat, MessageId(message_id)).reaction(Vec::new());
    if let Err(err) = request.await {
        tracing::debug!(error = %classify_request_error(&err), "could not remove the ack reaction");
    }
}

/// Shows the typing indicator now and renews it every [`TYPING_RENEWAL`] until turned off
/// (or stops it). A failed `sendChatAction` is logged only.
pub async fn set_typing(shared: Arc<Shared>, chat: ChatId, typing: bool) -> Result<(), ConnectorError> {
    let key = chat.as_str().to_owned();
    let chat = chat_id(&chat)?;
    if !typing {
        shared.typing.stop(&key);
        return Ok(());
    }
    let bot = shared.bot.clone();
    shared.typing.renew(&key, TYPING_RENEWAL, move || {
        let bot = bot.clone();
        async move { send_typing(&bot, chat).await }
    });
    send_typing(&shared.bot, chat).await;
    Ok(())
}

async fn send_typing(bot: &teloxide_core::Bot, chat: teloxide_core::types::ChatId) {
    if let Err(err) = bot.send_chat_action(chat, ChatAction::Typing).await {
        tracing::debug!(error = %classify_request_error(&err), "sendChatAction failed");
    }
}

/// The visible text of Telegram HTML: tags removed, the five entities unescaped.
pub fn html_to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_of_html() {
        assert_eq!(html_to_plain("<b>a &lt;b&gt;</b> &amp;amp; <a href=\"x\">l</a>"), "a <b> &amp; l");
    }

    proptest! {
        #[test]
        fn plain_text_of_escaped_text_is_the_text(text in "[^<>&]{0,80}") {
            prop_assert_eq!(html_to_plain(&format!("<i>{text}</i>")), text);
        }
    }
}
