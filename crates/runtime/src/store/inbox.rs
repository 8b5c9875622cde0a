//! The durable inbox: events a connector accepted, stored in the same transaction that moves
//! its cursor past them, until they are handled. What a crash interrupts is found here again.
//! Voice notes are stored as their platform's reference, never as audio bytes.

use rusqlite::{Connection, params};

use super::{Db, StoreError, now_ms};
use crate::types::{Content, Inbound, MediaRef};
use parachute_core::gating::Addressed;
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};

fn kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Direct => "direct",
        ChatKind::Group => "group",
    }
}

fn insert(conn: &Connection, inbound: &Inbound) -> Result<(), StoreError> {
    let (text, audio, media_kind) = match &inbound.content {
        Content::Text(text) => (Some(text.as_str()), None, None),
        Content::Voice(media) => (None, Some(media), None),
        Content::Image(image) => (image.caption.as_deref(), Some(&image.media), Some("image")),
    };
    // SQLite integers are signed: a size beyond i64 (never announced in practice) is unknown.
    let audio_size = audio.and_then(|m| m.size).and_then(|size| i64::try_from(size).ok());
    conn.prepare_cached(
        "INSERT OR IGNORE INTO inbox (platform, event_id, chat_id, chat_kind, sender, sender_username, sender_display,
           text, audio_mime, audio_name, audio_size, audio_source, addresses_bot, timestamp_ms, received_at,
           chat_name, chat_aliases, guild, media_kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        inbound.platform.as_str(),
        inbound.event_id.as_str(),
        inbound.chat.as_str(),
        kind_name(inbound.chat_kind),
        inbound.sender.as_str(),
        inbound.sender_username,
        inbound.sender_display,
        text,
        audio.map(|m| m.mime_type.as_str()),
        audio.map(|m| m.file_name.as_str()),
        audio_size,
        audio.map(|m| m.source.as_str()),
        inbound.addressed.code(),
        inbound.timestamp_ms,
        now_ms(),
        inbound.chat_name,
        (!inbound.chat_aliases.is_empty()).then(|| inbound.chat_aliases.join("\n")),
        inbound.guild,
        media_kind,
    ])?;
    Ok(())
}

/// Forgets an inbox entry (inside the caller's transaction): the event was handled.
pub(super) fn remove(conn: &Connection, platform: Platform, event: &EventId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM inbox WHERE platform = ?1 AND event_id = ?2")?
        .execute(params![platform.as_str(), event.as_str()])?;
    Ok(())
}

impl Db {
    /// Stores a batch of accepted events and, in the same transaction, the platform cursor
    /// that moves past them (`(name, value)`), so that a crash can lose neither.
    pub fn accept_inbound(
        &self,
        platform: Platform,
        batch: &[Inbound],
        cursor: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        for inbound in batch {
            insert(&self.conn, inbound)?;
        }
        if let Some((name, value)) = cursor {
            super::cursors::write(&self.conn, platform, name, value)?;
        }
        Ok(())
    }

    /// Events of a platform that were accepted but not handled, oldest first (at most
    /// `max_age_ms` old); entries older than that are dropped.
    pub fn unfinished_inbound(&self, platform: Platform, max_age_ms: i64) -> Result<Vec<Inbound>, StoreError> {
        let conn = &self.conn;
        let oldest = now_ms() - max_age_ms;
        conn.prepare_cached("DELETE FROM inbox WHERE platform = ?1 AND received_at < ?2")?
            .execute(params![platform.as_str(), oldest])?;
        let mut stmt = conn.prepare_cached(
            "SELECT event_id, chat_id, chat_kind, sender, sender_username, sender_display, text, audio_mime,
                    audio_name, audio_size, audio_source, addresses_bot, timestamp_ms, chat_name, chat_aliases, guild,
                    media_kind
             FROM inbox WHERE platform = ?1 ORDER BY timestamp_ms, received_at",
        )?;
        let rows = stmt.query_map(params![platform.as_str()], |row| {
            let media = || -> rusqlite::Result<MediaRef> {
                Ok(MediaRef {
                    mime_type: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    file_name: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
                    size: row.get::<_, Option<i64>>(9)?.and_then(|size| u64::try_from(size).ok()),
                    source: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
                })
            };
            let text = row.get::<_, Option<String>>(6)?;
            let content = match (row.get::<_, Option<String>>(16)?.as_deref(), text) {
                (Some("image"), caption) => Content::image(media()?, caption),
                (_, Some(text)) => Content::Text(text),
                (_, None) => Content::Voice(media()?),
            };
            let kind: String = row.get(2)?;
            Ok(Inbound {
                platform,
                event_id: EventId(row.get(0)?),
                chat: ChatId(row.get(1)?),
                chat_kind: if kind == "direct" { ChatKind::Direct } else { ChatKind::Group },
                sender: UserId(row.get(3)?),
                sender_username: row.get(4)?,
                sender_display: row.get(5)?,
                content,
                addressed: Addressed::from_code(row.get(11)?),
                timestamp_ms: row.get(12)?,
                chat_name: row.get(13)?,
                chat_aliases: row
                    .get::<_, Option<String>>(14)?
                    .map(|aliases| aliases.lines().map(str::to_owned).collect())
                    .unwrap_or_default(),
                guild: row.get(15)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(event: &str, content: Content) -> Inbound {
        Inbound {
            platform: Platform::Matrix,
            chat: "!r:x".into(),
            chat_kind: ChatKind::Group,
            chat_name: Some("Ops".into()),
            chat_aliases: vec!["#ops:x".into(), "#team:x".into()],
            guild: None,
            sender: "@a:x".into(),
            sender_username: None,
            sender_display: "Ann".into(),
            content,
            addressed: Addressed::Reply,
            event_id: event.into(),
            timestamp_ms: 5,
        }
    }

    #[test]
    fn accepted_events_stay_until_handled_and_the_cursor_moves_with_them() {
        let store = Db::open_in_memory().unwrap();
        let media = MediaRef {
            mime_type: "audio/ogg".into(),
            file_name: "v.ogg".into(),
            size: Some(31_000_000),
            source: r#"{"url":"mxc://x/abc"}"#.into(),
        };
        let voice = Content::Voice(media.clone());
        store
            .accept_inbound(
                Platform::Matrix,
                &[inbound("$1", Content::Text("hi".into())), inbound("$2", voice)],
                Some(("sync_token", "s1")),
            )
            .unwrap();
        assert_eq!(store.cursor(Platform::Matrix, "sync_token").unwrap().as_deref(), Some("s1"));
        let pending = store.unfinished_inbound(Platform::Matrix, 60_000).unwrap();
        assert_eq!(pending.len(), 2);
        assert!(matches!(&pending[0].content, Content::Text(t) if t == "hi"));
        assert_eq!(pending[0].addressed, Addressed::Reply, "how the bot was addressed survives");
        assert_eq!(pending[0].chat_aliases, ["#ops:x", "#team:x"]);
        assert_eq!(pending[0].chat_name.as_deref(), Some("Ops"));
        assert!(matches!(&pending[1].content, Content::Voice(v) if *v == media), "the reference survives");
        let unknown_size = MediaRef { size: None, ..media };
        store.accept_inbound(Platform::Matrix, &[inbound("$3", Content::Voice(unknown_size.clone()))], None).unwrap();
        let pending = store.unfinished_inbound(Platform::Matrix, 60_000).unwrap();
        let third = pending.iter().find(|p| p.event_id.as_str() == "$3").unwrap();
        assert!(matches!(&third.content, Content::Voice(v) if *v == unknown_size));
        let photo = MediaRef { mime_type: "image/jpeg".into(), file_name: "p.jpg".into(), ..unknown_size };
        let captioned = Content::image(photo.clone(), Some("look".into()));
        let bare = Content::image(photo.clone(), None);
        store.accept_inbound(Platform::Matrix, &[inbound("$4", captioned), inbound("$5", bare)], None).unwrap();
        let pending = store.unfinished_inbound(Platform::Matrix, 60_000).unwrap();
        let find = |id: &str| pending.iter().find(|p| p.event_id.as_str() == id).unwrap().content.clone();
        let image = |id: &str| match find(id) {
            Content::Image(image) => *image,
            other => panic!("{other:?}"),
        };
        assert_eq!(image("$4"), crate::types::ImageMessage { media: photo.clone(), caption: Some("look".into()) });
        assert_eq!(image("$5"), crate::types::ImageMessage { media: photo, caption: None });
        store.finish_event(Platform::Matrix, &"$1".into()).unwrap();
        assert_eq!(store.unfinished_inbound(Platform::Matrix, 60_000).unwrap().len(), 4);
        assert!(store.unfinished_inbound(Platform::Matrix, -1).unwrap().is_empty(), "too old entries are dropped");
    }
}
