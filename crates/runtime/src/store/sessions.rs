//! Conversation sessions per chat and their message history.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, now_ms};
use parachute_core::ids::{ChatKey, EventId, Platform};

/// Who wrote a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryRole {
    /// A message addressed to the bot.
    User,
    /// The bot's answer.
    Assistant,
    /// A group message not addressed to the bot, kept as context.
    Context,
}

impl HistoryRole {
    fn as_str(self) -> &'static str {
        match self {
            HistoryRole::User => "user",
            HistoryRole::Assistant => "assistant",
            HistoryRole::Context => "context",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "user" => Ok(HistoryRole::User),
            "assistant" => Ok(HistoryRole::Assistant),
            "context" => Ok(HistoryRole::Context),
            other => Err(StoreError::Corrupt { table: "messages", value: other.to_owned() }),
        }
    }
}

/// One remembered message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    /// Who wrote it.
    pub role: HistoryRole,
    /// The sanitized display name of the author (the bot's own name for answers).
    pub sender: String,
    /// The text.
    pub text: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
}

fn active_session(conn: &Connection, platform: Platform, chat: &str) -> Result<i64, StoreError> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM sessions WHERE platform = ?1 AND chat_id = ?2 AND archived_at IS NULL")?
        .query_row(params![platform.as_str(), chat], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO sessions (platform, chat_id, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![platform.as_str(), chat, now_ms()])?;
    Ok(conn.last_insert_rowid())
}

fn insert_message(
    conn: &Connection,
    session: i64,
    role: HistoryRole,
    sender: &str,
    text: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO messages (session_id, role, sender, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![session, role.as_str(), sender, text, now_ms()])?;
    Ok(())
}

fn recent_history(conn: &Connection, chat: &ChatKey, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.role, m.sender, m.text, m.created_at FROM messages m
         JOIN sessions s ON s.id = m.session_id
         WHERE s.platform = ?1 AND s.chat_id = ?2 AND s.archived_at IS NULL
         ORDER BY m.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![chat.platform.as_str(), chat.chat.as_str(), limit as i64], |row| {
        Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    let mut out = Vec::with_capacity(limit.min(64));
    for row in rows {
        let (role, sender, text, at_ms) = row?;
        out.push(HistoryEntry { role: HistoryRole::parse(&role)?, sender, text, at_ms });
    }
    out.reverse();
    Ok(out)
}

impl Store {
    /// The id of the chat's current session, created on first use.
    pub fn session_id(&self, chat: &ChatKey) -> Result<i64, StoreError> {
        active_session(&self.conn(), chat.platform, chat.chat.as_str())
    }

    /// Appends a message to the chat's current session.
    pub fn append_history(
        &self,
        chat: &ChatKey,
        role: HistoryRole,
        sender: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let session = active_session(&tx, chat.platform, chat.chat.as_str())?;
        insert_message(&tx, session, role, sender, text)?;
        tx.commit()?;
        Ok(())
    }

    /// Starts answering a message, in one transaction: reads the last `limit` entries of the
    /// chat's session, then records the message. Returns the session id and that history.
    pub fn begin_turn(
        &self,
        chat: &ChatKey,
        sender: &str,
        text: &str,
        limit: usize,
    ) -> Result<(i64, Vec<HistoryEntry>), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let session = active_session(&tx, chat.platform, chat.chat.as_str())?;
        let history = recent_history(&tx, chat, limit)?;
        insert_message(&tx, session, HistoryRole::User, sender, text)?;
        tx.commit()?;
        Ok((session, history))
    }

    /// Finishes an event in one transaction: optionally records an entry (the answer, or an
    /// unaddressed group message as context) and marks the event handled.
    pub fn finish_turn(
        &self,
        chat: &ChatKey,
        event: &EventId,
        entry: Option<(HistoryRole, &str, &str)>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        if let Some((role, sender, text)) = entry {
            let session = active_session(&tx, chat.platform, chat.chat.as_str())?;
            insert_message(&tx, session, role, sender, text)?;
        }
        super::events::mark_done(&tx, chat.platform, event)?;
        tx.commit()?;
        Ok(())
    }

    /// The last `limit` messages of the chat's current session, oldest first.
    pub fn history(&self, chat: &ChatKey, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        recent_history(&self.conn(), chat, limit)
    }

    /// Archives the chat's current session; the next message starts a fresh one. Returns
    /// whether there was a session to archive.
    pub fn archive_session(&self, chat: &ChatKey) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE sessions SET archived_at = ?3 WHERE platform = ?1 AND chat_id = ?2 AND archived_at IS NULL",
            params![chat.platform.as_str(), chat.chat.as_str(), now_ms()],
        )?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_per_chat_bounded_and_archivable() {
        let store = Store::open_in_memory().unwrap();
        let a = ChatKey { platform: Platform::Matrix, chat: "!a:x".into() };
        let b = ChatKey { platform: Platform::Telegram, chat: "!a:x".into() };
        for i in 0..5 {
            store.append_history(&a, HistoryRole::User, "alice", &format!("m{i}")).unwrap();
        }
        store.append_history(&b, HistoryRole::Assistant, "bot", "other").unwrap();
        let last: Vec<_> = store.history(&a, 3).unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(last, ["m2", "m3", "m4"]);
        let first = store.session_id(&a).unwrap();
        assert!(store.archive_session(&a).unwrap());
        assert!(store.history(&a, 10).unwrap().is_empty());
        assert_ne!(store.session_id(&a).unwrap(), first);
        assert_eq!(store.history(&b, 10).unwrap().len(), 1);
    }
}
