//! The messages showing a streamed answer while it is written, per answered event: a run
//! that dies mid-answer leaves them here, and the run that answers the event again edits them
//! instead of sending a second answer. Forgotten when the event is finished.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Db, StoreError, now_ms};
use crate::types::SentPart;
use parachute_core::ids::{EventId, Platform};

/// Forgets an event's preview (inside the caller's transaction, if any).
pub(super) fn forget(conn: &Connection, platform: Platform, event: &EventId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM previews WHERE platform = ?1 AND event_id = ?2")?
        .execute(params![platform.as_str(), event.as_str()])?;
    Ok(())
}

impl Db {
    /// The messages showing an earlier version of the answer to `event`, in order (empty
    /// when there are none).
    pub fn preview_parts(&self, platform: Platform, event: &EventId) -> Result<Vec<SentPart>, StoreError> {
        let parts: Option<String> = self
            .conn
            .prepare_cached("SELECT parts FROM previews WHERE platform = ?1 AND event_id = ?2")?
            .query_row(params![platform.as_str(), event.as_str()], |row| row.get(0))
            .optional()?;
        match parts {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|_| StoreError::Corrupt { table: "previews", value: format!("parts of {}", event.as_str()) }),
        }
    }

    /// Records the messages now showing the answer to `event`.
    pub fn save_preview(&self, platform: Platform, event: &EventId, parts: &[SentPart]) -> Result<(), StoreError> {
        let json = serde_json::to_string(parts)
            .map_err(|_| StoreError::Corrupt { table: "previews", value: "unwritable parts".to_owned() })?;
        self.conn
            .prepare_cached(
                "INSERT INTO previews (platform, event_id, parts, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (platform, event_id) DO UPDATE SET parts = excluded.parts, updated_at = excluded.updated_at",
            )?
            .execute(params![platform.as_str(), event.as_str(), json, now_ms()])?;
        Ok(())
    }

    /// Forgets previews older than `max_age_ms` (of events never finished).
    pub fn prune_previews(&self, max_age_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM previews WHERE updated_at < ?1", params![now_ms() - max_age_ms])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_kept_until_its_event_is_finished() {
        let store = Db::open_in_memory().unwrap();
        let event = EventId::from("$question");
        assert!(store.preview_parts(Platform::Matrix, &event).unwrap().is_empty());
        let parts = vec![SentPart::new("$answer", "first words"), SentPart::new("$more", "more")];
        store.save_preview(Platform::Matrix, &event, &parts).unwrap();
        assert_eq!(store.preview_parts(Platform::Matrix, &event).unwrap(), parts);
        assert!(store.preview_parts(Platform::Telegram, &event).unwrap().is_empty(), "per platform");
        store.save_preview(Platform::Matrix, &event, &parts[..1]).unwrap();
        assert_eq!(store.preview_parts(Platform::Matrix, &event).unwrap(), parts[..1]);
        store.finish_event(Platform::Matrix, &event).unwrap();
        assert!(store.preview_parts(Platform::Matrix, &event).unwrap().is_empty());
        store.save_preview(Platform::Discord, &event, &parts).unwrap();
        assert_eq!(store.prune_previews(-10_000).unwrap(), 1);
    }
}
