//! Handled event ids: the record that keeps parachute from answering an event twice.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Db, StoreError, now_ms};
use parachute_core::ids::{EventId, Platform};

fn event_state(conn: &Connection, platform: Platform, event: &EventId) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM handled_events WHERE platform = ?1 AND event_id = ?2")?
        .query_row(params![platform.as_str(), event.as_str()], |row| row.get(0))
        .optional()?)
}

/// Marks an event handled (inside the caller's transaction, if any).
pub(super) fn mark_done(conn: &Connection, platform: Platform, event: &EventId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO handled_events (platform, event_id, state, updated_at) VALUES (?1, ?2, 'done', ?3)
         ON CONFLICT (platform, event_id) DO UPDATE SET state = 'done', updated_at = excluded.updated_at",
    )?
    .execute(params![platform.as_str(), event.as_str(), now_ms()])?;
    super::previews::forget(conn, platform, event)?;
    super::inbox::remove(conn, platform, event)
}

impl Db {
    /// Marks an event as handled (answered, or deliberately not answered).
    pub fn finish_event(&self, platform: Platform, event: &EventId) -> Result<(), StoreError> {
        mark_done(&self.conn, platform, event)
    }

    /// Whether an event was handled.
    pub fn is_event_done(&self, platform: Platform, event: &EventId) -> Result<bool, StoreError> {
        Ok(event_state(&self.conn, platform, event)?.as_deref() == Some("done"))
    }

    /// Forgets handled events older than `max_age_ms` (platforms do not replay that far back).
    pub fn prune_events(&self, max_age_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM handled_events WHERE updated_at < ?1", params![now_ms() - max_age_ms])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_handled_once() {
        let store = Db::open_in_memory().unwrap();
        let ev = EventId::from("$1");
        assert!(!store.is_event_done(Platform::Matrix, &ev).unwrap());
        store.finish_event(Platform::Matrix, &ev).unwrap();
        store.finish_event(Platform::Matrix, &ev).unwrap();
        assert!(store.is_event_done(Platform::Matrix, &ev).unwrap());
        assert!(!store.is_event_done(Platform::Telegram, &ev).unwrap());
        store.finish_event(Platform::Telegram, &ev).unwrap();
        assert_eq!(store.prune_events(-10_000).unwrap(), 2);
    }
}
