//! Turns a Matrix timeline event (its JSON) into what the runtime needs, or says why it is
//! skipped. Pure: no I/O, so every rule is unit-tested and a malformed event is just skipped.

use crate::bridge::{self, BridgeRole};
use parachute_core::commands::parse_command;
use parachute_core::gating::Addressed;
use parachute_core::ids::Platform;
use serde_json::Value;

/// What the sync loop knows about the room an event arrived in.
#[derive(Debug, Clone)]
pub struct RoomContext<'a> {
    /// The bot's user id.
    pub bot_user_id: &'a str,
    /// The bot's display name, for mentions written as plain text.
    pub bot_display_name: Option<&'a str>,
    /// Events older than this (ms since epoch) are history, not for answering.
    pub cutoff_ms: i64,
}

/// A message worth handing to the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The event id.
    pub event_id: String,
    /// Who sent it.
    pub sender: String,
    /// When (ms since epoch).
    pub timestamp_ms: i64,
    /// Text, or the audio or image to download.
    pub body: IncomingBody,
    /// Mentions the bot, or is a command.
    pub addressed: Addressed,
}

/// The payload of an incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingBody {
    /// Text (m.text, m.emote), without a reply fallback.
    Text(String),
    /// A voice note or audio file: where it is, mime type, name and announced size.
    Audio {
        /// The upload (plain, or encrypted in an encrypted room).
        source: MediaSource,
        /// e.g. audio/ogg.
        mime_type: String,
        /// The file name.
        file_name: String,
        /// `info.size`, when the sender's client gave it.
        size: Option<u64>,
    },
    /// An image (`m.image`, or an `m.file` whose MIME type is an image) and its caption.
    Image {
        /// The upload (plain, or encrypted in an encrypted room).
        source: MediaSource,
        /// e.g. image/png.
        mime_type: String,
        /// The file name.
        file_name: String,
        /// `info.size`, when the sender's client gave it.
        size: Option<u64>,
        /// The caption: `body` when a `filename` is given and differs from it (Matrix 1.10
        /// media captions); without a `filename`, `body` is the file name.
        caption: Option<String>,
    },
}

/// Where a media message's file is.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    /// An unencrypted upload: its `mxc://` URI.
    Plain(String),
    /// An upload in an encrypted room: the event's `file` object (URI, key and hashes) the
    /// file is fetched and decrypted with.
    Encrypted(Value),
}

impl MediaSource {
    /// The source as a `MediaRef` keeps it: the event's own field, `{"url": "mxc://…"}` or
    /// `{"file": {…}}` (the encrypted file with its key, IV and hashes).
    pub fn to_source(&self) -> String {
        match self {
            MediaSource::Plain(mxc) => serde_json::json!({ "url": mxc }).to_string(),
            MediaSource::Encrypted(file) => serde_json::json!({ "file": file }).to_string(),
        }
    }

    /// Reads back what [`to_source`](Self::to_source) wrote; `None` for anything else.
    pub fn from_source(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        match (value.get("url").and_then(Value::as_str), value.get("file")) {
            (Some(mxc), None) => Some(MediaSource::Plain(mxc.to_owned())),
            (None, Some(file)) if file.is_object() => Some(MediaSource::Encrypted(file.clone())),
            _ => None,
        }
    }
}

/// Why an event is not handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not a room message (state, reaction, redaction, …).
    NotAMessage,
    /// The bot's own event.
    Own,
    /// Older than the cut-off.
    TooOld,
    /// m.notice (bots talk to people with notices; answering them loops bots).
    Notice,
    /// From a bridge's own bot (its status messages are not for the bot to answer).
    BridgeBot,
    /// An edit of an earlier message.
    Edit,
    /// Redacted or empty.
    Redacted,
    /// An encrypted event the bot could not decrypt (no key was shared with its device).
    Encrypted,
    /// A kind of message the bot does not read (a file that is not an image, location…).
    Unsupported,
    /// Required fields missing or of the wrong type.
    Malformed,
}

/// Translates one timeline event.
pub fn translate(event: &Value, ctx: &RoomContext<'_>) -> Result<Incoming, Skip> {
    let kind = event.get("type").and_then(Value::as_str).ok_or(Skip::Malformed)?;
    if kind == "m.room.encrypted" {
        return Err(Skip::Encrypted);
    }
    if kind != "m.room.message" {
        return Err(Skip::NotAMessage);
    }
    let sender = event.get("sender").and_then(Value::as_str).ok_or(Skip::Malformed)?;
    if sender == ctx.bot_user_id {
        return Err(Skip::Own);
    }
    let bridge_role = bridge::recognize(sender, bridge::server_of(ctx.bot_user_id)).map(|(_, role)| role);
    if bridge_role == Some(BridgeRole::BridgeBot) {
        return Err(Skip::BridgeBot);
    }
    let event_id = event.get("event_id").and_then(Value::as_str).ok_or(Skip::Malformed)?;
    let timestamp_ms = event.get("origin_server_ts").and_then(Value::as_i64).ok_or(Skip::Malformed)?;
    if timestamp_ms < ctx.cutoff_ms {
        return Err(Skip::TooOld);
    }
    if event.pointer("/unsigned/redacted_because").is_some() {
        return Err(Skip::Redacted);
    }
    let content = event.get("content").and_then(Value::as_object).ok_or(Skip::Malformed)?;
    if content.is_empty() {
        return Err(Skip::Redacted);
    }
    let relates_to = content.get("m.relates_to");
    if relates_to.and_then(|r| r.get("rel_type")).and_then(Value::as_str) == Some("m.replace") {
        return Err(Skip::Edit);
    }
    let msgtype = content.get("msgtype").and_then(Value::as_str).ok_or(Skip::Malformed)?;
    let raw_body = content.get("body").and_then(Value::as_str).ok_or(Skip::Malformed)?;
    let body = match msgtype {
        "m.text" | "m.emote" => {
            let is_reply = relates_to.and_then(|r| r.get("m.in_reply_to")).is_some();
            let text = if is_reply { strip_reply_fallback(raw_body) } else { raw_body.to_owned() };
            IncomingBody::Text(text)
        }
        "m.notice" => return Err(Skip::Notice),
        "m.audio" => {
            let media = uploaded_file(content, raw_body)?;
            IncomingBody::Audio {
                source: media.source,
                mime_type: media.mime_type,
                file_name: media.file_name,
                size: media.size,
            }
        }
        "m.image" | "m.file" => {
            let media = uploaded_file(content, raw_body)?;
            if msgtype == "m.file" && !media.mime_type.starts_with("image/") {
                return Err(Skip::Unsupported);
            }
            let caption = content
                .get("filename")
                .and_then(Value::as_str)
                .filter(|name| *name != raw_body && !raw_body.trim().is_empty())
                .map(|_| raw_body.to_owned());
            IncomingBody::Image {
                source: media.source,
                mime_type: media.mime_type,
                file_name: media.file_name,
                size: media.size,
                caption,
            }
        }
        _ => return Err(Skip::Unsupported),
    };
    // A caption that is a command (`!new` sent with a picture) is the command.
    let body = match body {
        IncomingBody::Image { caption: Some(caption), .. }
            if parse_command(&caption, Platform::Matrix, None).is_some() =>
        {
            IncomingBody::Text(caption)
        }
        body => body,
    };
    let is_command = matches!(&body, IncomingBody::Text(text) if parse_command(text, Platform::Matrix, None).is_some());
    // A reply to the bot mentions it in `m.mentions`, so it reads as a mention here.
    let from_ghost = bridge_role == Some(BridgeRole::Ghost);
    let addressed = Addressed::from_observed(is_command, mentions_bot(content, raw_body, ctx, from_ghost), false);
    Ok(Incoming { event_id: event_id.to_owned(), sender: sender.to_owned(), timestamp_ms, body, addressed })
}

/// The upload a media message names.
struct UploadedFile {
    source: MediaSource,
    mime_type: String,
    file_name: String,
    size: Option<u64>,
}

/// Where a media message's upload is (in encrypted rooms the URI sits in `file`, with the key
/// to decrypt it), its `info.mimetype`, file name (`filename`, else `body`) and `info.size`.
fn uploaded_file(content: &serde_json::Map<String, Value>, body: &str) -> Result<UploadedFile, Skip> {
    let file = content.get("file");
    let mxc = file.map_or(content.get("url"), |f| f.get("url")).and_then(Value::as_str).ok_or(Skip::Malformed)?;
    if !mxc.starts_with("mxc://") {
        return Err(Skip::Malformed);
    }
    let source = file.map_or_else(|| MediaSource::Plain(mxc.to_owned()), |f| MediaSource::Encrypted(f.clone()));
    let info = content.get("info");
    let mime_type =
        info.and_then(|i| i.get("mimetype")).and_then(Value::as_str).unwrap_or("application/octet-stream").to_owned();
    let file_name = content.get("filename").and_then(Value::as_str).unwrap_or(body).to_owned();
    let size = info.and_then(|i| i.get("size")).and_then(Value::as_u64);
    Ok(UploadedFile { source, mime_type, file_name, size })
}

/// `m.mentions.user_ids` decides when present (intentional mentions; a reply to the bot
/// mentions it there); otherwise the bot's user id or display name written in the body counts.
/// A bridge's ghost writes what a person typed on another network, where the bot cannot be
/// pilled: its body is read for the bot's name even when the bridge sent `m.mentions`.
fn mentions_bot(content: &serde_json::Map<String, Value>, body: &str, ctx: &RoomContext<'_>, from_ghost: bool) -> bool {
    if let Some(mentions) = content.get("m.mentions") {
        let pilled = mentions
            .get("user_ids")
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(ctx.bot_user_id)));
        if pilled || !from_ghost {
            return pilled;
        }
    }
    let lower = body.to_lowercase();
    if lower.contains(&ctx.bot_user_id.to_lowercase()) {
        return true;
    }
    ctx.bot_display_name
        .map(|name| name.trim().to_lowercase())
        .filter(|name| name.chars().count() >= 2)
        .is_some_and(|name| contains_word(&lower, &name))
}

/// Whether `needle` occurs in `haystack` not glued to letters or digits on either side.
fn contains_word(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(start, found)| {
        let before = haystack[..start].chars().next_back();
        let after = haystack[start + found.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Removes the `> <@user> quoted` lines older clients put before a reply's own text.
fn strip_reply_fallback(body: &str) -> String {
    let mut lines = body.lines().peekable();
    if !lines.peek().is_some_and(|l| l.starts_with("> ")) {
        return body.to_owned();
    }
    let rest: Vec<_> = lines.skip_while(|l| l.starts_with('>')).skip_while(|l| l.trim().is_empty()).collect();
    rest.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: &str = "@bot:localhost";

    fn ctx() -> RoomContext<'static> {
        RoomContext { bot_user_id: BOT, bot_display_name: Some("Parachute"), cutoff_ms: 1_000 }
    }

    fn message(content: Value) -> Value {
        json!({"type": "m.room.message", "sender": "@ann:localhost", "event_id": "$e1",
               "origin_server_ts": 2_000, "content": content})
    }

    fn text(body: &str) -> Value {
        message(json!({"msgtype": "m.text", "body": body}))
    }

    #[test]
    fn plain_text_is_read() {
        let incoming = translate(&text("hello"), &ctx()).unwrap();
        assert_eq!(incoming.body, IncomingBody::Text("hello".into()));
        assert_eq!((incoming.event_id.as_str(), incoming.sender.as_str()), ("$e1", "@ann:localhost"));
        assert_eq!(incoming.addressed, Addressed::No);
        assert_eq!(translate(&text("!new"), &ctx()).unwrap().addressed, Addressed::Command);
    }

    #[test]
    fn intentional_mentions_decide_when_present() {
        let with = message(json!({"msgtype": "m.text", "body": "hey", "m.mentions": {"user_ids": [BOT]}}));
        assert_eq!(translate(&with, &ctx()).unwrap().addressed, Addressed::Mention);
        let other =
            message(json!({"msgtype": "m.text", "body": "Parachute, hi", "m.mentions": {"user_ids": ["@x:y"]}}));
        assert_eq!(translate(&other, &ctx()).unwrap().addressed, Addressed::No, "m.mentions wins over the body");
    }

    #[test]
    fn bridge_bots_are_never_read_and_ghosts_mention_by_name() {
        let from = |sender: &str, content: Value| json!({"type": "m.room.message", "sender": sender, "event_id": "$b", "origin_server_ts": 2_000, "content": content});
        let status = from("@metabot:localhost", json!({"msgtype": "m.text", "body": "Parachute: connected"}));
        assert_eq!(translate(&status, &ctx()), Err(Skip::BridgeBot));
        // A bridge sends `m.mentions` without the bot (the other network cannot pill it).
        let named = json!({"msgtype": "m.text", "body": "Parachute, what's for dinner?", "m.mentions": {}});
        let ghost = translate(&from("@meta_100:localhost", named.clone()), &ctx()).unwrap();
        assert_eq!(ghost.addressed, Addressed::Mention);
        assert_eq!(translate(&from("@ann:localhost", named), &ctx()).unwrap().addressed, Addressed::No);
        let unnamed = json!({"msgtype": "m.text", "body": "dinner at six", "m.mentions": {}});
        assert_eq!(translate(&from("@meta_100:localhost", unnamed), &ctx()).unwrap().addressed, Addressed::No);
        // Another server's bridge bot is a person like any other.
        let remote = from("@metabot:elsewhere", json!({"msgtype": "m.text", "body": "hi"}));
        assert_eq!(translate(&remote, &ctx()).unwrap().sender, "@metabot:elsewhere");
        let notice = from("@meta_100:localhost", json!({"msgtype": "m.notice", "body": "Parachute, hi"}));
        assert_eq!(translate(&notice, &ctx()), Err(Skip::Notice));
    }

    #[test]
    fn body_mentions_by_id_or_display_name() {
        let addressed = |body: &str, ctx: &RoomContext<'_>| translate(&text(body), ctx).unwrap().addressed;
        assert_eq!(addressed("ping @BOT:localhost please", &ctx()), Addressed::Mention);
        assert_eq!(addressed("parachute: what time is it?", &ctx()), Addressed::Mention);
        assert_eq!(addressed("parachutes are fun", &ctx()), Addressed::No);
        let no_name = RoomContext { bot_display_name: None, ..ctx() };
        assert_eq!(addressed("parachute: hi", &no_name), Addressed::No);
    }

    #[test]
    fn skips_what_must_not_be_answered() {
        let own = json!({"type": "m.room.message", "sender": BOT, "event_id": "$o", "origin_server_ts": 2_000,
                         "content": {"msgtype": "m.text", "body": "x"}});
        assert_eq!(translate(&own, &ctx()), Err(Skip::Own));
        let old = json!({"type": "m.room.message", "sender": "@a:x", "event_id": "$o", "origin_server_ts": 10,
                         "content": {"msgtype": "m.text", "body": "x"}});
        assert_eq!(translate(&old, &ctx()), Err(Skip::TooOld));
        assert_eq!(translate(&message(json!({"msgtype": "m.notice", "body": "n"})), &ctx()), Err(Skip::Notice));
        let edit = message(
            json!({"msgtype": "m.text", "body": "* fixed", "m.relates_to": {"rel_type": "m.replace", "event_id": "$e0"}}),
        );
        assert_eq!(translate(&edit, &ctx()), Err(Skip::Edit));
        assert_eq!(translate(&message(json!({})), &ctx()), Err(Skip::Redacted));
        let redacted = json!({"type": "m.room.message", "sender": "@a:x", "event_id": "$r", "origin_server_ts": 2_000,
                              "content": {"msgtype": "m.text", "body": "x"}, "unsigned": {"redacted_because": {}}});
        assert_eq!(translate(&redacted, &ctx()), Err(Skip::Redacted));
        let encrypted = json!({"type": "m.room.encrypted", "sender": "@a:x", "content": {}});
        assert_eq!(translate(&encrypted, &ctx()), Err(Skip::Encrypted));
        let reaction = json!({"type": "m.reaction", "sender": "@a:x", "content": {}});
        assert_eq!(translate(&reaction, &ctx()), Err(Skip::NotAMessage));
        let location = message(json!({"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"}));
        assert_eq!(translate(&location, &ctx()), Err(Skip::Unsupported));
    }

    #[test]
    fn malformed_events_are_skipped_not_fatal() {
        for bad in [
            json!(null),
            json!({"type": 5}),
            json!({"type": "m.room.message"}),
            json!({"type": "m.room.message", "sender": "@a:x", "event_id": "$x", "origin_server_ts": "soon", "content": {}}),
            message(json!({"msgtype": "m.text"})),
            message(json!({"msgtype": "m.text", "body": ["not", "text"]})),
            message(json!({"msgtype": "m.audio", "body": "voice", "url": "https://not-mxc"})),
            message(json!("content as a string")),
        ] {
            assert!(translate(&bad, &ctx()).is_err(), "{bad}");
        }
    }

    #[test]
    fn audio_carries_its_source_and_replies_lose_their_fallback() {
        let audio = message(json!({"msgtype": "m.audio", "body": "Voice message", "url": "mxc://localhost/abc",
                                   "info": {"mimetype": "audio/ogg"}}));
        let incoming = translate(&audio, &ctx()).unwrap();
        assert_eq!(
            incoming.body,
            IncomingBody::Audio {
                source: MediaSource::Plain("mxc://localhost/abc".into()),
                mime_type: "audio/ogg".into(),
                file_name: "Voice message".into(),
                size: None,
            }
        );
        let sized = message(json!({"msgtype": "m.audio", "body": "v", "url": "mxc://localhost/abc",
                                   "info": {"mimetype": "audio/ogg", "size": 31_000_000}}));
        match translate(&sized, &ctx()).unwrap().body {
            IncomingBody::Audio { size, .. } => assert_eq!(size, Some(31_000_000), "info.size is the announced size"),
            other => panic!("{other:?}"),
        }
        let file = json!({"url": "mxc://localhost/enc", "key": {"k": "x"}, "iv": "y", "hashes": {}, "v": "v2"});
        let encrypted = message(json!({"msgtype": "m.audio", "body": "Voice message", "file": file}));
        match translate(&encrypted, &ctx()).unwrap().body {
            IncomingBody::Audio { source: MediaSource::Encrypted(found), .. } => assert_eq!(found, file),
            other => panic!("{other:?}"),
        }
        let source = MediaSource::Encrypted(file.clone());
        assert_eq!(MediaSource::from_source(&source.to_source()), Some(source), "the reference round-trips");
        let plain = MediaSource::Plain("mxc://localhost/abc".into());
        assert_eq!(MediaSource::from_source(&plain.to_source()), Some(plain));
        for unusable in ["", "{}", "[1]", r#"{"url": 5}"#, r#"{"file": "x"}"#, r#"{"url": "mxc://a/b", "file": {}}"#] {
            assert_eq!(MediaSource::from_source(unusable), None, "{unusable}");
        }
        let no_uri = message(json!({"msgtype": "m.audio", "body": "Voice message", "file": {"key": {}}}));
        assert_eq!(translate(&no_uri, &ctx()), Err(Skip::Malformed));
        let reply =
            message(json!({"msgtype": "m.text", "body": "> <@bot:localhost> earlier answer\n> more\n\nthanks!",
                                   "m.relates_to": {"m.in_reply_to": {"event_id": "$prev"}}}));
        assert_eq!(translate(&reply, &ctx()).unwrap().body, IncomingBody::Text("thanks!".into()));
    }

    #[test]
    fn images_carry_their_source_and_a_caption_only_when_the_body_is_not_the_file_name() {
        let image = |caption: Option<&str>, file_name: &str| IncomingBody::Image {
            source: MediaSource::Plain("mxc://localhost/img".into()),
            mime_type: "image/png".into(),
            file_name: file_name.into(),
            size: Some(5_000),
            caption: caption.map(str::to_owned),
        };
        let info = json!({"mimetype": "image/png", "size": 5_000, "w": 40, "h": 30});
        let bare =
            message(json!({"msgtype": "m.image", "body": "plan.png", "url": "mxc://localhost/img", "info": info}));
        assert_eq!(translate(&bare, &ctx()).unwrap().body, image(None, "plan.png"), "the body is the file name");
        let captioned = message(json!({"msgtype": "m.image", "body": "what is this?", "filename": "plan.png",
                                       "url": "mxc://localhost/img", "info": info}));
        assert_eq!(translate(&captioned, &ctx()).unwrap().body, image(Some("what is this?"), "plan.png"));
        let command = message(json!({"msgtype": "m.image", "body": "!new", "filename": "plan.png",
                                     "url": "mxc://localhost/img", "info": info}));
        let command = translate(&command, &ctx()).unwrap();
        assert_eq!((command.body, command.addressed), (IncomingBody::Text("!new".into()), Addressed::Command));
        let same = message(json!({"msgtype": "m.image", "body": "plan.png", "filename": "plan.png",
                                  "url": "mxc://localhost/img", "info": info}));
        assert_eq!(translate(&same, &ctx()).unwrap().body, image(None, "plan.png"));
        let as_file =
            message(json!({"msgtype": "m.file", "body": "plan.png", "url": "mxc://localhost/img", "info": info}));
        assert_eq!(translate(&as_file, &ctx()).unwrap().body, image(None, "plan.png"), "an image sent as a file");
        let pdf = message(json!({"msgtype": "m.file", "body": "a.pdf", "url": "mxc://localhost/pdf",
                                 "info": {"mimetype": "application/pdf"}}));
        assert_eq!(translate(&pdf, &ctx()), Err(Skip::Unsupported));
        let file = json!({"url": "mxc://localhost/enc", "key": {"k": "x"}, "iv": "y", "hashes": {}, "v": "v2"});
        let encrypted = message(json!({"msgtype": "m.image", "body": "photo.jpg", "file": file,
                                       "info": {"mimetype": "image/jpeg"}}));
        match translate(&encrypted, &ctx()).unwrap().body {
            IncomingBody::Image { source: MediaSource::Encrypted(found), .. } => assert_eq!(found, file),
            other => panic!("{other:?}"),
        }
    }
}
