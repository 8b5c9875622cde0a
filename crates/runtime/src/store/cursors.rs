//! Per-platform cursors, such as Telegram's update offset.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Db, StoreError};
use parachute_core::ids::Platform;

/// Writes a cursor (inside the caller's transaction, if any).
pub(super) fn write(conn: &Connection, platform: Platform, name: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO cursors (platform, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (platform, name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![platform.as_str(), name, value])?;
    Ok(())
}

impl Db {
    /// Reads a cursor.
    pub fn cursor(&self, platform: Platform, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM cursors WHERE platform = ?1 AND name = ?2",
                params![platform.as_str(), name],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Writes a cursor.
    pub fn set_cursor(&self, platform: Platform, name: &str, value: &str) -> Result<(), StoreError> {
        write(&self.conn, platform, name, value)
    }

    /// Every cursor of a platform whose name starts with `prefix`, as `(name, value)`.
    pub fn cursors_with_prefix(&self, platform: Platform, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = &self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT name, value FROM cursors WHERE platform = ?1 AND substr(name, 1, length(?2)) = ?2 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![platform.as_str(), prefix], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_per_platform() {
        let store = Db::open_in_memory().unwrap();
        assert_eq!(store.cursor(Platform::Telegram, "offset").unwrap(), None);
        store.set_cursor(Platform::Telegram, "offset", "41").unwrap();
        store.set_cursor(Platform::Telegram, "offset", "42").unwrap();
        assert_eq!(store.cursor(Platform::Telegram, "offset").unwrap().as_deref(), Some("42"));
        assert_eq!(store.cursor(Platform::Discord, "offset").unwrap(), None);
    }

    #[test]
    fn cursors_are_listed_by_prefix() {
        let store = Db::open_in_memory().unwrap();
        store.set_cursor(Platform::Discord, "channel:2", "20").unwrap();
        store.set_cursor(Platform::Discord, "channel:1", "10").unwrap();
        store.set_cursor(Platform::Discord, "channels", "x").unwrap();
        store.set_cursor(Platform::Telegram, "channel:3", "30").unwrap();
        let listed = store.cursors_with_prefix(Platform::Discord, "channel:").unwrap();
        assert_eq!(listed, [("channel:1".to_owned(), "10".to_owned()), ("channel:2".to_owned(), "20".to_owned())]);
        assert!(store.cursors_with_prefix(Platform::Discord, "%").unwrap().is_empty(), "no LIKE patterns");
    }
}
