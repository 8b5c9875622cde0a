//! Pure translation of Bot API updates into what the runtime needs: who wrote what where,
//! whether and how it addresses the bot (mention, reply to the bot, command for the bot),
//! and the bot being added to a group. Facts only: the gate decides what is answered.

use parachute_core::commands::parse_command;
use parachute_core::gating::Addressed;
use parachute_core::ids::{ChatKind, Platform};
use serde_json::Value;
use teloxide_core::types::{ChatMemberUpdated, Message, MessageEntityKind, Update, UpdateKind};

/// Who the bot is, as `getMe` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's numeric user id.
    pub id: u64,
    /// The bot's username without `@`.
    pub username: String,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Text or a caption.
    Text(String),
    /// A voice note or audio file, downloaded only if it is answered.
    Audio {
        /// `file_id` for `getFile`.
        file_id: String,
        /// e.g. `audio/ogg`.
        mime_type: String,
        /// A name for the file.
        file_name: String,
        /// `file_size`, when Telegram sent it.
        size: Option<u64>,
    },
    /// A photo, or an image sent as a file, downloaded only if it is answered.
    Image {
        /// `file_id` for `getFile`: of the largest size Telegram keeps of a photo.
        file_id: String,
        /// e.g. `image/jpeg`.
        mime_type: String,
        /// A name for the file.
        file_name: String,
        /// `file_size`, when Telegram sent it.
        size: Option<u64>,
        /// The caption, if any (a command's caption without its command).
        caption: Option<String>,
    },
}

/// One incoming message, translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The chat's numeric id.
    pub chat_id: i64,
    /// The message id within the chat.
    pub message_id: i32,
    /// Private chat or group.
    pub chat_kind: ChatKind,
    /// The group's title.
    pub chat_title: Option<String>,
    /// The sender's numeric id.
    pub sender_id: u64,
    /// The sender's username, without `@`.
    pub sender_username: Option<String>,
    /// The sender's name as Telegram gives it.
    pub sender_display: String,
    /// What was sent.
    pub body: Body,
    /// Mention, reply to the bot or command for the bot.
    pub addressed: Addressed,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

impl Incoming {
    /// The stable event id: the same message redelivered gets the same id.
    pub fn event_id(&self) -> String {
        event_id(self.chat_id, self.message_id)
    }
}

/// The event id of message `message_id` in chat `chat_id`.
pub fn event_id(chat_id: i64, message_id: i32) -> String {
    format!("{chat_id}:{message_id}")
}

/// Splits an event id made by [`event_id`] back into chat and message id.
pub fn parse_event_id(event: &str) -> Option<(i64, i32)> {
    let (chat, message) = event.split_once(':')?;
    Some((chat.parse().ok()?, message.parse().ok()?))
}

/// The `update_id` of a raw update, if it has one.
pub fn update_id(raw: &Value) -> Option<i64> {
    raw.get("update_id")?.as_i64()
}

/// The bot was added to a group (a `my_chat_member` update that makes it a member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedToGroup {
    /// The group's chat id.
    pub chat_id: i64,
    /// Its title.
    pub title: String,
    /// Who added the bot.
    pub added_by: String,
}

/// What an update is, for the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translated {
    /// A message.
    Message(Incoming),
    /// The bot joined a group.
    AddedToGroup(AddedToGroup),
}

/// Parses and translates one raw update; `None` for updates that are malformed, not a new
/// message or membership change of the bot, from the bot itself, without content we handle,
/// or a command for another bot.
pub fn translate_raw(raw: Value, me: &BotIdentity) -> Option<Translated> {
    // teloxide-core's `Update` only deserializes from text (from a `Value` every kind ends up
    // as `UpdateKind::Error`), so the value is printed and parsed again.
    match serde_json::from_str::<Update>(&raw.to_string()) {
        Ok(update) => translate(&update, me),
        Err(err) => {
            tracing::warn!(error = %err, "skipping an update that does not parse");
            None
        }
    }
}

/// Translates a parsed update (see [`translate_raw`]).
pub fn translate(update: &Update, me: &BotIdentity) -> Option<Translated> {
    match &update.kind {
        UpdateKind::Message(message) => translate_message(message, me).map(Translated::Message),
        UpdateKind::MyChatMember(change) => added_to_group(change, me).map(Translated::AddedToGroup),
        _ => None,
    }
}

/// The bot's own membership turning from absent (left, kicked, never there) to present in a
/// group or supergroup.
fn added_to_group(change: &ChatMemberUpdated, me: &BotIdentity) -> Option<AddedToGroup> {
    let is_me = change.new_chat_member.user.id.0 == me.id;
    let joined = !change.old_chat_member.is_present() && change.new_chat_member.is_present();
    if !is_me || !joined || change.chat.is_private() || change.chat.is_channel() {
        return None;
    }
    Some(AddedToGroup {
        chat_id: change.chat.id.0,
        title: change.chat.title().unwrap_or_default().to_owned(),
        added_by: change.from.full_name(),
    })
}

fn translate_message(message: &Message, me: &BotIdentity) -> Option<Incoming> {
    let sender = message.from.as_ref()?;
    if sender.id.0 == me.id {
        return None;
    }
    let chat_kind = if message.chat.is_private() { ChatKind::Direct } else { ChatKind::Group };
    let mentioned = mentions_bot(message, me);
    let replied = message.reply_to_message().and_then(|m| m.from.as_ref()).is_some_and(|u| u.id.0 == me.id);
    let (text, command_for_bot) = match message.text().or(message.caption()) {
        None => (None, false),
        Some(text) => match command_target(text, &me.username) {
            CommandTarget::OtherBot => return None,
            CommandTarget::Bot(stripped) => (Some(stripped), true),
            CommandTarget::NotACommand => (Some(text.to_owned()), false),
        },
    };
    // A caption that is one of the bot's commands (`/new`) is the command: the picture is not
    // answered. Any other caption starting with `/` (`/r/aww`) stays the picture's caption.
    let caption_is_command = command_for_bot
        && text.as_deref().is_some_and(|t| parse_command(t, Platform::Telegram, Some(&me.username)).is_some());
    let body = if let Some(image) = image_of(message, text.as_deref()).filter(|_| !caption_is_command) {
        image
    } else if let Some(text) = text {
        Body::Text(text)
    } else if let Some(voice) = message.voice() {
        let mime_type = voice.mime_type.as_ref().map_or_else(|| "audio/ogg".to_owned(), |m| m.to_string());
        let (file_id, size) = (voice.file.id.to_string(), announced_size(voice.file.size));
        Body::Audio { file_id, mime_type, file_name: "voice.ogg".into(), size }
    } else if let Some(audio) = message.audio() {
        let mime_type = audio.mime_type.as_ref().map_or_else(|| "audio/mpeg".to_owned(), |m| m.to_string());
        let file_name = audio.file_name.clone().unwrap_or_else(|| "audio".into());
        let (file_id, size) = (audio.file.id.to_string(), announced_size(audio.file.size));
        Body::Audio { file_id, mime_type, file_name, size }
    } else {
        return None;
    };
    let addressed = Addressed::from_observed(command_for_bot, mentioned, replied);
    Some(Incoming {
        chat_id: message.chat.id.0,
        message_id: message.id.0,
        chat_kind,
        chat_title: message.chat.title().map(str::to_owned),
        sender_id: sender.id.0,
        sender_username: sender.username.clone(),
        sender_display: sender.full_name(),
        body,
        addressed,
        timestamp_ms: message.date.timestamp_millis(),
    })
}

/// The image a message carries, with `caption`: the largest size of a photo (Telegram sends
/// photos as JPEG), or a file whose MIME type is an image.
fn image_of(message: &Message, caption: Option<&str>) -> Option<Body> {
    let caption = caption.filter(|caption| !caption.trim().is_empty()).map(str::to_owned);
    if let Some(sizes) = message.photo() {
        let largest = sizes.iter().max_by_key(|size| u64::from(size.width) * u64::from(size.height))?;
        return Some(Body::Image {
            file_id: largest.file.id.to_string(),
            mime_type: "image/jpeg".into(),
            file_name: "photo.jpg".into(),
            size: announced_size(largest.file.size),
            caption,
        });
    }
    let document = message.document()?;
    let mime_type = document.mime_type.as_ref().map(ToString::to_string).filter(|m| m.starts_with("image/"))?;
    Some(Body::Image {
        file_id: document.file.id.to_string(),
        mime_type,
        file_name: document.file_name.clone().unwrap_or_else(|| "image".into()),
        size: announced_size(document.file.size),
        caption,
    })
}

/// A `file_size` as teloxide-core reads it: `u32::MAX` stands for a missing one.
pub fn announced_size(size: u32) -> Option<u64> {
    (size != u32::MAX).then_some(u64::from(size))
}

/// Whether the entities of a message mention the bot (`@username` or a text mention of its id).
pub fn mentions_bot(message: &Message, me: &BotIdentity) -> bool {
    let Some(text) = message.text().or(message.caption()) else {
        return false;
    };
    let entities = message.entities().or(message.caption_entities()).unwrap_or(&[]);
    let units: Vec<u16> = text.encode_utf16().collect();
    entities.iter().any(|entity| match &entity.kind {
        MessageEntityKind::TextMention { user } => user.id.0 == me.id,
        MessageEntityKind::Mention => units
            .get(entity.offset..entity.offset.saturating_add(entity.length))
            .map(String::from_utf16_lossy)
            .is_some_and(|m| m.trim_start_matches('@').eq_ignore_ascii_case(&me.username)),
        _ => false,
    })
}

/// Whom a `/command` is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandTarget {
    /// Not a command.
    NotACommand,
    /// For this bot; the text with any `@botname` suffix removed.
    Bot(String),
    /// `/command@otherbot`.
    OtherBot,
}

/// Decides whom a command is for: `/new` and `/new@thisbot` are ours, `/new@other` is not.
pub fn command_target(text: &str, bot_username: &str) -> CommandTarget {
    let Some(rest) = text.strip_prefix('/') else {
        return CommandTarget::NotACommand;
    };
    let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, tail) = rest.split_at(word_end);
    if word.is_empty() {
        return CommandTarget::NotACommand;
    }
    match word.split_once('@') {
        None => CommandTarget::Bot(text.to_owned()),
        Some((command, target)) if target.eq_ignore_ascii_case(bot_username) => {
            CommandTarget::Bot(format!("/{command}{tail}"))
        }
        Some(_) => CommandTarget::OtherBot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn me() -> BotIdentity {
        BotIdentity { id: 999, username: "parabot".into() }
    }

    fn update(chat: Value, text: &str, extra: Value) -> Value {
        let mut message = json!({
            "message_id": 7, "date": 1_700_000_000, "chat": chat,
            "from": {"id": 42, "is_bot": false, "first_name": "Alice", "username": "alice"},
            "text": text,
        });
        if let (Some(m), Some(e)) = (message.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                m.insert(k.clone(), v.clone());
            }
        }
        json!({"update_id": 5, "message": message})
    }

    fn private() -> Value {
        json!({"id": 42, "type": "private", "first_name": "Alice"})
    }

    fn group() -> Value {
        json!({"id": -100, "type": "supergroup", "title": "G"})
    }

    /// The message of an update that is one.
    fn message(raw: Value) -> Option<Incoming> {
        match translate_raw(raw, &me())? {
            Translated::Message(incoming) => Some(incoming),
            Translated::AddedToGroup(added) => panic!("not a message: {added:?}"),
        }
    }

    #[test]
    fn private_text_is_direct_and_not_addressed_by_itself() {
        let inc = message(update(private(), "hi", json!({}))).unwrap();
        assert_eq!(inc.chat_kind, ChatKind::Direct);
        assert_eq!(inc.addressed, Addressed::No, "a DM is answered by the gate, not by being addressed");
        assert_eq!(inc.event_id(), "42:7");
        assert_eq!(inc.body, Body::Text("hi".into()));
        assert_eq!(inc.sender_username.as_deref(), Some("alice"));
        assert_eq!(inc.timestamp_ms, 1_700_000_000_000);
    }

    #[test]
    fn group_text_without_mention_does_not_address_bot() {
        let inc = message(update(group(), "hello all", json!({}))).unwrap();
        assert_eq!(inc.chat_kind, ChatKind::Group);
        assert_eq!(inc.chat_title.as_deref(), Some("G"));
        assert_eq!(inc.addressed, Addressed::No);
    }

    #[test]
    fn mention_entity_addresses_bot_with_utf16_offsets() {
        let text = "😀 @ParaBot hi";
        let extra = json!({"entities": [{"type": "mention", "offset": 3, "length": 8}]});
        assert_eq!(message(update(group(), text, extra)).unwrap().addressed, Addressed::Mention);
        let other = json!({"entities": [{"type": "mention", "offset": 3, "length": 8}]});
        assert_eq!(message(update(group(), "😀 @someone hi", other)).unwrap().addressed, Addressed::No);
    }

    #[test]
    fn text_mention_of_bot_id_addresses_bot() {
        let extra = json!({"entities": [{"type": "text_mention", "offset": 0, "length": 4,
            "user": {"id": 999, "is_bot": true, "first_name": "Para"}}]});
        assert_eq!(message(update(group(), "Para, hi", extra)).unwrap().addressed, Addressed::Mention);
    }

    #[test]
    fn reply_to_bot_addresses_bot() {
        let extra = json!({"reply_to_message": {"message_id": 3, "date": 1, "chat": group(),
            "from": {"id": 999, "is_bot": true, "first_name": "Para"}, "text": "earlier"}});
        assert_eq!(message(update(group(), "yes", extra)).unwrap().addressed, Addressed::Reply);
    }

    #[test]
    fn commands_for_this_bot_are_stripped_others_skipped() {
        let inc = message(update(group(), "/new@parabot now", json!({}))).unwrap();
        assert_eq!(inc.addressed, Addressed::Command);
        assert_eq!(inc.body, Body::Text("/new now".into()));
        assert!(message(update(group(), "/new@otherbot", json!({}))).is_none());
        assert_eq!(message(update(group(), "/help", json!({}))).unwrap().addressed, Addressed::Command);
    }

    fn member_update(chat: Value, user_id: u64, old: &str, new: &str) -> Value {
        let member = |status: &str| {
            json!({"status": status, "user": {"id": user_id, "is_bot": true, "first_name": "Para"},
                   "until_date": 0})
        };
        json!({"update_id": 9, "my_chat_member": {
            "chat": chat, "date": 1_700_000_000,
            "from": {"id": 42, "is_bot": false, "first_name": "Alice", "last_name": "Smith"},
            "old_chat_member": member(old), "new_chat_member": member(new)}})
    }

    #[test]
    fn being_added_to_a_group_is_reported() {
        let added = translate_raw(member_update(group(), 999, "left", "member"), &me());
        let expected = AddedToGroup { chat_id: -100, title: "G".into(), added_by: "Alice Smith".into() };
        assert_eq!(added, Some(Translated::AddedToGroup(expected)));
        assert!(translate_raw(member_update(group(), 999, "kicked", "member"), &me()).is_some(), "let back in");
        assert_eq!(translate_raw(member_update(group(), 999, "member", "left"), &me()), None, "removed");
        assert_eq!(translate_raw(member_update(group(), 5, "left", "member"), &me()), None, "someone else");
        assert_eq!(translate_raw(member_update(private(), 999, "kicked", "member"), &me()), None, "a private chat");
    }

    #[test]
    fn own_messages_and_malformed_updates_are_skipped() {
        let mut own = update(group(), "x", json!({}));
        own["message"]["from"]["id"] = json!(999);
        assert!(message(own).is_none());
        assert!(translate_raw(json!({"update_id": 1, "message": {"text": "no chat"}}), &me()).is_none());
        assert!(translate_raw(json!({"update_id": "x"}), &me()).is_none());
        assert!(translate_raw(json!([1, 2]), &me()).is_none());
        assert!(
            translate_raw(json!({"update_id": 2, "message": {"message_id": 1, "date": 1, "chat": private()}}), &me())
                .is_none()
        );
    }

    #[test]
    fn voice_becomes_audio_body() {
        let mut raw = update(private(), "", json!({}));
        raw["message"].as_object_mut().unwrap().remove("text");
        raw["message"]["voice"] =
            json!({"file_id": "F1", "file_unique_id": "U1", "duration": 2, "mime_type": "audio/ogg"});
        let inc = message(raw.clone()).unwrap();
        let audio = |size| Body::Audio {
            file_id: "F1".into(),
            mime_type: "audio/ogg".into(),
            file_name: "voice.ogg".into(),
            size,
        };
        assert_eq!(inc.body, audio(None), "no file_size, no announced size");
        raw["message"]["voice"]["file_size"] = json!(31_000_000);
        assert_eq!(message(raw).unwrap().body, audio(Some(31_000_000)));
    }

    #[test]
    fn a_photo_becomes_its_largest_size_with_the_caption() {
        let mut raw = update(private(), "", json!({}));
        raw["message"].as_object_mut().unwrap().remove("text");
        let size = |id: &str, side: u32, bytes: u32| json!({"file_id": id, "file_unique_id": format!("u{id}"), "width": side, "height": side * 3 / 4, "file_size": bytes});
        raw["message"]["photo"] = json!([size("S", 90, 1_000), size("L", 1280, 90_000), size("M", 320, 9_000)]);
        raw["message"]["caption"] = json!("what is this?");
        let photo = |caption: Option<&str>| Body::Image {
            file_id: "L".into(),
            mime_type: "image/jpeg".into(),
            file_name: "photo.jpg".into(),
            size: Some(90_000),
            caption: caption.map(str::to_owned),
        };
        assert_eq!(message(raw.clone()).unwrap().body, photo(Some("what is this?")));
        raw["message"]["caption"] = json!("  ");
        assert_eq!(message(raw.clone()).unwrap().body, photo(None), "a blank caption is none");
        raw["message"]["caption"] = json!("/new@parabot");
        assert_eq!(message(raw.clone()).unwrap().body, Body::Text("/new".into()), "a command caption is the command");
        raw["message"]["caption"] = json!("/r/aww look at him");
        assert_eq!(message(raw.clone()).unwrap().body, photo(Some("/r/aww look at him")), "not one of our commands");
        raw["message"]["caption"] = json!("/ask@other_bot look");
        assert!(message(raw).is_none(), "a command for another bot is not ours");
    }

    #[test]
    fn an_image_file_is_an_image_and_other_files_are_skipped() {
        let mut raw = update(private(), "", json!({}));
        raw["message"].as_object_mut().unwrap().remove("text");
        raw["message"]["document"] = json!({"file_id": "D1", "file_unique_id": "uD1", "file_name": "plan.png",
            "mime_type": "image/png", "file_size": 5_000});
        let expected = Body::Image {
            file_id: "D1".into(),
            mime_type: "image/png".into(),
            file_name: "plan.png".into(),
            size: Some(5_000),
            caption: None,
        };
        assert_eq!(message(raw.clone()).unwrap().body, expected);
        raw["message"]["document"]["mime_type"] = json!("application/pdf");
        assert!(message(raw).is_none(), "a PDF without a caption carries nothing to answer");
    }

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(parse_event_id(&event_id(-100123, 55)), Some((-100123, 55)));
        assert_eq!(parse_event_id("nope"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in ".{0,200}") {
            let value = serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s));
            let _ = translate_raw(value, &me());
        }

        #[test]
        fn command_target_never_panics_and_keeps_plain_text(text in "[^/].{0,50}") {
            prop_assert_eq!(command_target(&text, "parabot"), CommandTarget::NotACommand);
        }
    }
}
