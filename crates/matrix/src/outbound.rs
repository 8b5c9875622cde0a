//! The way out on Matrix: replies (formatted, split, threaded to the triggering event,
//! idempotent across retries), the typing notice while the brain works, and the ack reaction
//! added to a message being answered and redacted after the reply.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::{Annotation, InReplyTo, Reply as ReplyRelation};
use matrix_sdk::ruma::events::room::message::{
    Relation, ReplacementMetadata, RoomMessageEventContent, RoomMessageEventContentWithoutRelation,
};
use matrix_sdk::ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedTransactionId, RoomId};
use matrix_sdk::{Client, Room};
use parachute_core::format::{MatrixText, matrix_chunks};
use parachute_runtime::ack::ACK_WAIT;
use parachute_runtime::connector::ConnectorError;
use parachute_runtime::messages::{Delivered, Reply, SentPart};

use crate::Shared;
use crate::session::classify_sdk;

/// How often the typing notice is renewed while the brain works (matrix-sdk's notice lasts 4 s).
const TYPING_RENEW: Duration = Duration::from_secs(3);

/// A sent ack reaction: its room and its own event id, which the redaction names.
pub type SentAck = (OwnedRoomId, OwnedEventId);

fn room_of(client: &Client, chat: &str) -> Result<Room, ConnectorError> {
    let room_id = RoomId::parse(chat).map_err(|e| ConnectorError::Config(format!("`{chat}` is not a room id: {e}")))?;
    client.get_room(&room_id).ok_or_else(|| ConnectorError::Transient(format!("room {chat} is not known (yet)")))
}

/// A transaction id the homeserver deduplicates a repeated send by. An answer's id is derived
/// from the message it answers and the chunk's position, not from its text: a message answered
/// again after a crash (its reply sent, its turn not yet recorded) gets a new text from the
/// model but the same ids, so the homeserver returns the first reply instead of posting a
/// second one. A message that answers nothing (a notice) is told apart by its text.
fn transaction_id(reply: &Reply, index: usize, chunk: &str) -> OwnedTransactionId {
    let mut hasher = DefaultHasher::new();
    match &reply.in_reply_to {
        Some(answered) => (reply.chat.as_str(), answered.as_str(), index).hash(&mut hasher),
        None => return text_transaction_id(reply.chat.as_str(), index, chunk),
    }
    OwnedTransactionId::from(format!("parachute.{:016x}.{index}", hasher.finish()))
}

/// The transaction id of a message that answers nothing: told apart by its room, position
/// and text.
fn text_transaction_id(chat: &str, index: usize, text: &str) -> OwnedTransactionId {
    let mut hasher = DefaultHasher::new();
    (chat, index, text).hash(&mut hasher);
    OwnedTransactionId::from(format!("parachute.{:016x}.{index}", hasher.finish()))
}

/// Sends a reply: each chunk an m.text with HTML, the first one a reply to the trigger. A
/// chunk that falls on a message already showing an earlier version of the answer
/// (`reply.shown`) replaces that message's content (`m.replace`) when its text changed;
/// messages of the earlier version past the new text are redacted once the text is final.
pub async fn deliver(shared: Arc<Shared>, reply: Reply) -> Result<Delivered, ConnectorError> {
    let client = shared.client().await?;
    let room = room_of(&client, reply.chat.as_str())?;
    let chunks = matrix_chunks(&reply.text);
    let mut delivered = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.into_iter().enumerate() {
        let rendered = chunk.formatted_body.clone();
        match reply.shown.get(index) {
            Some(part) if part.shows(&rendered) => delivered.push(part.clone()),
            Some(part) => {
                edit(&room, &part.id, chunk).await?;
                delivered.push(SentPart::new(part.id.clone(), &rendered));
            }
            None => {
                let txn = transaction_id(&reply, index, &chunk.body);
                let mut content = RoomMessageEventContent::text_html(chunk.body, chunk.formatted_body);
                if index == 0 {
                    content.relates_to = reply_relation(reply.in_reply_to.as_ref().map(|event| event.as_str()));
                }
                let sent = room.send(content).with_transaction_id(txn).await.map_err(|e| classify_sdk(&e))?;
                delivered.push(SentPart::new(sent.response.event_id.to_string(), &rendered));
            }
        }
    }
    if reply.partial {
        delivered.extend(reply.shown.iter().skip(delivered.len()).cloned());
        return Ok(delivered);
    }
    for stale in reply.shown.iter().skip(delivered.len()) {
        redact_stale(&room, &stale.id).await;
    }
    // The reply is out: the runtime records the message as answered at once, and the ack
    // reaction is redacted beside that (it may still be on its way out itself).
    if let Some(event) = reply.in_reply_to {
        tokio::spawn(async move { remove_ack(&shared, &client, event.as_str()).await });
    }
    Ok(delivered)
}

/// Replaces the content of the bot's message `original` with `chunk` (an `m.replace` edit:
/// `m.new_content` holds the new text, the edit's own body the `* ` fallback for clients
/// that do not show edits). An edit of a reply stays a reply: the relation is the
/// original's, which the edit leaves alone.
async fn edit(room: &Room, original: &str, chunk: MatrixText) -> Result<(), ConnectorError> {
    let original = EventId::parse(original)
        .map_err(|e| ConnectorError::Config(format!("`{original}` is not an event id: {e}")))?;
    let content = RoomMessageEventContent::text_html(chunk.body, chunk.formatted_body)
        .make_replacement(ReplacementMetadata::new(original, None));
    room.send(content).await.map_err(|e| classify_sdk(&e))?;
    Ok(())
}

/// Redacts a message of an earlier, longer version of an answer, best effort.
async fn redact_stale(room: &Room, event: &str) {
    let Ok(event) = EventId::parse(event) else { return };
    if let Err(err) = room.redact(&event, None, None).await {
        tracing::debug!(error = %err, "a message of an earlier version of the answer was not redacted");
    }
}

/// The relation that makes a message a reply to `event`. The answered event's id came from
/// the homeserver; one that does not parse (never seen) leaves the answer a plain message
/// rather than failing it.
fn reply_relation(event: Option<&str>) -> Option<Relation<RoomMessageEventContentWithoutRelation>> {
    let event_id = EventId::parse(event?).ok()?;
    Some(Relation::Reply(ReplyRelation::new(InReplyTo::new(event_id))))
}

/// Posts a notice of the bot's own (not an answer) into `room`, through the room's
/// encryption like every event of the bot. Its transaction id comes from the room and the
/// text, so a notice sent again (a retried approval) is posted once.
pub async fn send_notice(room: &Room, text: &str) -> Result<(), ConnectorError> {
    let txn = text_transaction_id(room.room_id().as_str(), 0, text);
    let content = RoomMessageEventContent::notice_plain(text);
    room.send(content).with_transaction_id(txn).await.map_err(|e| classify_sdk(&e))?;
    Ok(())
}

/// Reacts to a message being answered with the configured emoji. The reaction is registered
/// at once, so a reply that comes back quickly waits for it (up to [`ACK_WAIT`]) before
/// redacting it.
pub fn acknowledge(
    shared: &Arc<Shared>,
    room: String,
    event_id: String,
) -> BoxFuture<'static, Result<(), ConnectorError>> {
    let emoji = shared.config.ack_emoji.clone();
    if emoji.is_empty() {
        return Box::pin(async { Ok(()) });
    }
    let Some(pending) = shared.acks.begin(&event_id) else {
        return Box::pin(async { Ok(()) });
    };
    let shared = shared.clone();
    Box::pin(async move {
        let client = shared.client().await?;
        let room = room_of(&client, &room)?;
        let event_id = EventId::parse(&event_id)
            .map_err(|e| ConnectorError::Transient(format!("`{event_id}` is not an event id: {e}")))?;
        let content = ReactionEventContent::new(Annotation::new(event_id, emoji));
        let sent = room.send(content).await.map_err(|e| classify_sdk(&e))?;
        pending.sent((room.room_id().to_owned(), sent.response.event_id));
        Ok(())
    })
}

async fn remove_ack(shared: &Shared, client: &Client, event_id: &str) {
    let Some((room_id, reaction)) = shared.acks.settle(event_id, ACK_WAIT).await else { return };
    if let Some(room) = client.get_room(&room_id)
        && let Err(err) = room.redact(&reaction, None, None).await
    {
        tracing::debug!(error = %err, "ack reaction not removed");
    }
}

/// Turns the typing notice on (renewed until turned off) or off.
pub async fn set_typing(shared: Arc<Shared>, chat: String, typing: bool) -> Result<(), ConnectorError> {
    shared.typing.stop(&chat);
    let client = shared.client().await?;
    let room = room_of(&client, &chat)?;
    if !typing {
        return room.typing_notice(false).await.map_err(|e| classify_sdk(&e));
    }
    let renewing = room.clone();
    shared.typing.renew(&chat, TYPING_RENEW, move || {
        let room = renewing.clone();
        async move { notice_typing(&room).await }
    });
    notice_typing(&room).await;
    Ok(())
}

async fn notice_typing(room: &Room) {
    if let Err(err) = room.typing_notice(true).await {
        tracing::debug!(error = %err, "typing notice not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parachute_core::ids::{ChatId, EventId, Platform};

    fn reply(in_reply_to: Option<&str>, text: &str) -> Reply {
        Reply::new(Platform::Matrix, ChatId::from("!room"), text.to_owned(), in_reply_to.map(EventId::from))
    }

    #[test]
    fn an_answer_sent_again_with_new_text_keeps_its_transaction_ids() {
        let (first, again) = (reply(Some("$question"), "one answer"), reply(Some("$question"), "another answer"));
        assert_eq!(transaction_id(&first, 0, "one answer"), transaction_id(&again, 0, "another answer"));
        assert_ne!(transaction_id(&first, 0, "a"), transaction_id(&first, 1, "a"), "chunks differ");
        let other = reply(Some("$other question"), "one answer");
        assert_ne!(transaction_id(&first, 0, "one answer"), transaction_id(&other, 0, "one answer"));
        let (notice, another_notice) = (reply(None, "approved"), reply(None, "denied"));
        assert_ne!(transaction_id(&notice, 0, "approved"), transaction_id(&another_notice, 0, "denied"));
    }
}
