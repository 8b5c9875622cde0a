//! Pure translation of gateway messages into what the runtime needs: who wrote what where
//! (channel and guild), and whether and how it addresses the bot (mention of the bot or its
//! managed role, reply to the bot, command). Facts only: the gate applies
//! `allowed_guilds`/`allowed_channels` and the mention mode.

use parachute_core::commands::parse_command;
use parachute_core::gating::Addressed;
use parachute_core::ids::{ChatKind, Platform};
use twilight_model::channel::Message;
use twilight_model::channel::message::{MessageFlags, MessageType};
use twilight_model::guild::Role;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, RoleMarker, UserMarker};

/// Who the bot is, as `GET /users/@me` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's user id.
    pub id: Id<UserMarker>,
    /// The bot's username.
    pub username: String,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Text, the bot's own mentions tidied (see [`tidy_mentions`]).
    Text(String),
    /// A voice message or audio attachment, downloaded only if it is answered.
    Audio {
        /// The attachment's CDN URL.
        url: String,
        /// e.g. `audio/ogg`.
        mime_type: String,
        /// The attachment's file name.
        file_name: String,
        /// Its size in bytes, as Discord says.
        size: u64,
    },
    /// An image attachment, downloaded only if it is answered.
    Image {
        /// The attachment's CDN URL.
        url: String,
        /// e.g. `image/png`.
        mime_type: String,
        /// The attachment's file name.
        file_name: String,
        /// Its size in bytes, as Discord says.
        size: u64,
        /// The message's text, if any, the bot's own mentions tidied.
        caption: Option<String>,
    },
}

/// One incoming message, translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The channel (DM channel, guild channel or thread).
    pub channel_id: Id<ChannelMarker>,
    /// The message.
    pub message_id: Id<MessageMarker>,
    /// The guild, for guild messages.
    pub guild_id: Option<Id<GuildMarker>>,
    /// DM or guild channel.
    pub chat_kind: ChatKind,
    /// The author.
    pub sender_id: Id<UserMarker>,
    /// The author's username.
    pub sender_username: String,
    /// Guild nickname, else global display name, else username.
    pub sender_display: String,
    /// What was sent.
    pub body: Body,
    /// Mention of the bot or its role, reply to the bot, or a command.
    pub addressed: Addressed,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

impl Incoming {
    /// The stable event id: the message id (snowflakes are unique across channels), the same
    /// for a message replayed after a RESUME.
    pub fn event_id(&self) -> String {
        self.message_id.to_string()
    }
}

/// The roles Discord manages for the bot in a guild (`tags.bot_id` is the bot).
pub fn managed_roles(roles: &[Role], bot: Id<UserMarker>) -> Vec<Id<RoleMarker>> {
    roles.iter().filter(|r| r.tags.as_ref().and_then(|t| t.bot_id) == Some(bot)).map(|r| r.id).collect()
}

/// Translates a message; `None` for messages of the bot itself or other bots and webhooks,
/// system messages, and messages with neither text, image nor audio. `bot_roles` are the bot's
/// managed roles in the message's guild.
pub fn translate(message: &Message, me: &BotIdentity, bot_roles: &[Id<RoleMarker>]) -> Option<Incoming> {
    if message.author.id == me.id || message.author.bot || message.webhook_id.is_some() {
        return None;
    }
    if !matches!(message.kind, MessageType::Regular | MessageType::Reply) {
        return None;
    }
    let chat_kind = if message.guild_id.is_some() { ChatKind::Group } else { ChatKind::Direct };
    let mentioned = message.mentions.iter().any(|m| m.id == me.id)
        || message.mention_roles.iter().any(|role| bot_roles.contains(role));
    let replied = message.referenced_message.as_ref().is_some_and(|m| m.author.id == me.id);
    let text = tidy_mentions(&message.content, me, bot_roles);
    // A text that is a command is the command, whatever is attached.
    let command = parse_command(&text, Platform::Discord, None).is_some();
    let body = if let Some(image) = image_attachment(message, &text).filter(|_| !command) {
        image
    } else if text.trim().is_empty() {
        audio_attachment(message)?
    } else {
        Body::Text(text)
    };
    let is_command = matches!(&body, Body::Text(t) if parse_command(t, Platform::Discord, None).is_some());
    let sender_display = message
        .member
        .as_ref()
        .and_then(|m| m.nick.clone())
        .or_else(|| message.author.global_name.clone())
        .unwrap_or_else(|| message.author.name.clone());
    Some(Incoming {
        channel_id: message.channel_id,
        message_id: message.id,
        guild_id: message.guild_id,
        chat_kind,
        sender_id: message.author.id,
        sender_username: message.author.name.clone(),
        sender_display,
        body,
        addressed: Addressed::from_observed(is_command, mentioned, replied),
        timestamp_ms: message.timestamp.as_micros() / 1000,
    })
}

/// The first image attachment, with the message's text as its caption.
fn image_attachment(message: &Message, text: &str) -> Option<Body> {
    let image =
        message.attachments.iter().find(|a| a.content_type.as_deref().is_some_and(|t| t.starts_with("image/")))?;
    Some(Body::Image {
        url: image.url.clone(),
        mime_type: image.content_type.clone().unwrap_or_default(),
        file_name: image.filename.clone(),
        size: image.size,
        caption: (!text.trim().is_empty()).then(|| text.to_owned()),
    })
}

/// The first audio attachment (a voice message carries exactly one, `audio/ogg`).
fn audio_attachment(message: &Message) -> Option<Body> {
    let voice = message.flags.is_some_and(|f| f.contains(MessageFlags::IS_VOICE_MESSAGE));
    message
        .attachments
        .iter()
        .find(|a| a.content_type.as_deref().is_some_and(|t| t.starts_with("audio/")) || voice)
        .map(|a| Body::Audio {
            url: a.url.clone(),
            mime_type: a.content_type.clone().unwrap_or_else(|| "audio/ogg".to_owned()),
            file_name: a.filename.clone(),
            size: a.size,
        })
}

/// Removes a mention of the bot (`<@id>`, `<@!id>` or its role `<@&id>`) that starts the
/// text, so `@bot !new` is a command and the brain gets the question only; later mentions
/// of the bot read `@username`.
pub fn tidy_mentions(content: &str, me: &BotIdentity, bot_roles: &[Id<RoleMarker>]) -> String {
    let mut tokens = vec![format!("<@{}>", me.id), format!("<@!{}>", me.id)];
    tokens.extend(bot_roles.iter().map(|role| format!("<@&{role}>")));
    let mut text = content.trim_start();
    while let Some(rest) = tokens.iter().find_map(|t| text.strip_prefix(t.as_str())) {
        text = rest.trim_start_matches([' ', ',', ':']).trim_start();
    }
    let mut out = text.to_owned();
    for token in &tokens {
        out = out.replace(token.as_str(), &format!("@{}", me.username));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const BOT: u64 = 999;
    const ROLE: u64 = 555;

    fn me() -> BotIdentity {
        BotIdentity { id: Id::new(BOT), username: "parabot".into() }
    }

    fn roles() -> Vec<Id<RoleMarker>> {
        vec![Id::new(ROLE)]
    }

    fn user(id: u64, name: &str, bot: bool) -> Value {
        json!({"id": id.to_string(), "username": name, "global_name": format!("{name} G"), "discriminator": "0",
            "avatar": null, "bot": bot, "public_flags": 0})
    }

    fn message(guild: Option<u64>, content: &str, extra: Value) -> Message {
        let mut m = json!({
            "id": "7001", "channel_id": "300", "author": user(42, "alice", false), "content": content,
            "timestamp": "2024-01-02T03:04:05.678000+00:00", "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0,
        });
        if let Some(g) = guild {
            m["guild_id"] = json!(g.to_string());
        }
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn dm_text_is_direct_and_not_addressed_by_itself() {
        let inc = translate(&message(None, "hi", json!({})), &me(), &[]).unwrap();
        assert_eq!(inc.chat_kind, ChatKind::Direct);
        assert_eq!(inc.guild_id, None);
        assert_eq!(inc.addressed, Addressed::No, "a DM is answered by the gate, not by being addressed");
        assert_eq!(inc.event_id(), "7001");
        assert_eq!(inc.body, Body::Text("hi".into()));
        assert_eq!(inc.sender_display, "alice G");
        assert_eq!(inc.sender_username, "alice");
        assert_eq!(inc.timestamp_ms, 1_704_164_645_678);
    }

    #[test]
    fn guild_text_without_mention_does_not_address_bot() {
        let inc = translate(&message(Some(1), "hello all", json!({})), &me(), &roles()).unwrap();
        assert_eq!(inc.chat_kind, ChatKind::Group);
        assert_eq!(inc.guild_id, Some(Id::new(1)));
        assert_eq!(inc.addressed, Addressed::No);
    }

    #[test]
    fn user_and_role_mentions_address_bot_and_are_tidied() {
        let extra = json!({"mentions": [user(BOT, "parabot", true)]});
        let inc = translate(&message(Some(1), "<@999> what's up, <@!999>?", extra), &me(), &roles()).unwrap();
        assert_eq!(inc.addressed, Addressed::Mention);
        assert_eq!(inc.body, Body::Text("what's up, @parabot?".into()));

        let extra = json!({"mention_roles": [ROLE.to_string()]});
        let inc = translate(&message(Some(1), "<@&555> hi", extra), &me(), &roles()).unwrap();
        assert_eq!(inc.addressed, Addressed::Mention);
        assert_eq!(inc.body, Body::Text("hi".into()));

        let extra = json!({"mention_roles": ["556"], "mentions": [user(43, "bob", false)]});
        assert_eq!(
            translate(&message(Some(1), "<@&556> <@43>", extra), &me(), &roles()).unwrap().addressed,
            Addressed::No
        );
    }

    #[test]
    fn reply_to_bot_addresses_bot() {
        let earlier = json!({
            "id": "6000", "channel_id": "300", "author": user(BOT, "parabot", true), "content": "earlier",
            "timestamp": "2024-01-02T03:00:00+00:00", "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0,
        });
        let extra = json!({"type": 19, "referenced_message": earlier,
            "message_reference": {"message_id": "6000", "channel_id": "300"}});
        assert_eq!(translate(&message(Some(1), "yes", extra), &me(), &roles()).unwrap().addressed, Addressed::Reply);
    }

    #[test]
    fn commands_address_bot_even_after_a_mention() {
        let inc = translate(&message(Some(1), "!help", json!({})), &me(), &roles()).unwrap();
        assert_eq!(inc.addressed, Addressed::Command);
        let extra = json!({"mentions": [user(BOT, "parabot", true)]});
        let inc = translate(&message(Some(1), "<@999> !new", extra), &me(), &roles()).unwrap();
        assert_eq!(inc.body, Body::Text("!new".into()));
    }

    #[test]
    fn own_bot_webhook_and_system_messages_are_skipped() {
        let own = json!({"author": user(BOT, "parabot", true)});
        assert!(translate(&message(None, "x", own), &me(), &[]).is_none());
        let other_bot = json!({"author": user(77, "otherbot", true)});
        assert!(translate(&message(None, "x", other_bot), &me(), &[]).is_none());
        let webhook = json!({"webhook_id": "88"});
        assert!(translate(&message(Some(1), "x", webhook), &me(), &[]).is_none());
        let join = json!({"type": 7});
        assert!(translate(&message(Some(1), "", join), &me(), &[]).is_none());
        assert!(translate(&message(None, "   ", json!({})), &me(), &[]).is_none());
    }

    #[test]
    fn voice_message_becomes_audio_body() {
        let extra = json!({"flags": 8192, "attachments": [{"id": "9", "filename": "voice-message.ogg",
            "size": 4, "url": "https://cdn.example/v.ogg", "proxy_url": "https://media.example/v.ogg",
            "content_type": "audio/ogg", "duration_secs": 1.5, "waveform": "AAAA"}]});
        let inc = translate(&message(None, "", extra), &me(), &[]).unwrap();
        assert_eq!(
            inc.body,
            Body::Audio {
                url: "https://cdn.example/v.ogg".into(),
                mime_type: "audio/ogg".into(),
                file_name: "voice-message.ogg".into(),
                size: 4
            }
        );
        let pdf = json!({"attachments": [{"id": "9", "filename": "a.pdf", "size": 4, "url": "u",
            "proxy_url": "p", "content_type": "application/pdf"}]});
        assert!(translate(&message(None, "", pdf), &me(), &[]).is_none());
    }

    #[test]
    fn an_image_attachment_becomes_an_image_with_the_text_as_caption() {
        let attachments = json!({"attachments": [
            {"id": "8", "filename": "notes.pdf", "size": 9, "url": "https://cdn.example/n.pdf", "proxy_url": "p",
             "content_type": "application/pdf"},
            {"id": "9", "filename": "cat.webp", "size": 2_000, "url": "https://cdn.example/c.webp", "proxy_url": "p",
             "content_type": "image/webp", "width": 64, "height": 48}]});
        let image = |caption: Option<&str>| Body::Image {
            url: "https://cdn.example/c.webp".into(),
            mime_type: "image/webp".into(),
            file_name: "cat.webp".into(),
            size: 2_000,
            caption: caption.map(str::to_owned),
        };
        let inc = translate(&message(None, "is this a cat?", attachments.clone()), &me(), &[]).unwrap();
        assert_eq!(inc.body, image(Some("is this a cat?")));
        let inc = translate(&message(None, "  ", attachments.clone()), &me(), &[]).unwrap();
        assert_eq!(inc.body, image(None));
        let inc = translate(&message(None, "!new", attachments), &me(), &[]).unwrap();
        assert_eq!(inc.body, Body::Text("!new".into()), "a command is the command, whatever is attached");
    }

    #[test]
    fn nickname_wins_for_the_display_name() {
        let extra = json!({"member": {"nick": "Ally", "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": false, "mute": false, "flags": 0}});
        assert_eq!(translate(&message(Some(1), "x", extra), &me(), &[]).unwrap().sender_display, "Ally");
    }

    proptest! {
        #[test]
        fn tidy_mentions_keeps_text_without_mentions(text in "[^<]{0,80}") {
            prop_assert_eq!(tidy_mentions(&text, &me(), &roles()), text.trim_start());
        }
    }
}
