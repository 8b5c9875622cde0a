//! Conversation sessions per chat and their message history.

use rusqlite::{Connection, OptionalExtension, params};

use super::recent::{Remembered, pick, rows_needed};
use super::{Db, StoreError, now_ms};
use parachute_core::ids::{ChatKey, EventId};

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

/// Stores an entry; `None` when its event is recorded in the session already (a message
/// replayed after a crash, taken up but not finished, is recorded once).
fn insert_message(
    conn: &Connection,
    session: i64,
    event: Option<&EventId>,
    (role, sender, text): (HistoryRole, &str, &str),
) -> Result<Option<Remembered>, StoreError> {
    let at_ms = now_ms();
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (session_id, role, sender, text, created_at, event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![session, role.as_str(), sender, text, at_ms, event.map(EventId::as_str)])?;
    Ok((inserted > 0).then(|| Remembered {
        event: event.map(|event| event.as_str().to_owned()),
        entry: HistoryEntry { role, sender: sender.to_owned(), text: text.to_owned(), at_ms },
    }))
}

/// A text column's value, borrowed from its row.
fn text_of(value: rusqlite::types::ValueRef<'_>) -> Result<&str, StoreError> {
    value.as_str().map_err(|err| StoreError::Corrupt { table: "messages", value: err.to_string() })
}

/// The last `rows` entries of session `session`, oldest first: one scan of the session's index.
fn read_session(conn: &Connection, session: i64, rows: usize) -> Result<Vec<Remembered>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, sender, text, created_at, event_id FROM messages
         WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut found = stmt.query(params![session, i64::try_from(rows).unwrap_or(i64::MAX)])?;
    let mut out = Vec::with_capacity(rows.min(64));
    while let Some(row) = found.next()? {
        out.push(Remembered {
            event: row.get_ref(4)?.as_str_or_null().ok().flatten().map(str::to_owned),
            entry: HistoryEntry {
                role: HistoryRole::parse(text_of(row.get_ref(0)?)?)?,
                sender: text_of(row.get_ref(1)?)?.to_owned(),
                text: text_of(row.get_ref(2)?)?.to_owned(),
                at_ms: row.get(3)?,
            },
        });
    }
    out.reverse();
    Ok(out)
}

impl Db {
    /// The id of the chat's current session, created on first use.
    pub fn session_id(&mut self, chat: &ChatKey) -> Result<i64, StoreError> {
        if let Some(id) = self.sessions.get(chat) {
            return Ok(*id);
        }
        let id = match self.active_session(chat)? {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO sessions (platform, chat_id, created_at) VALUES (?1, ?2, ?3)")?
                    .execute(params![chat.platform.as_str(), chat.chat.as_str(), now_ms()])?;
                self.conn.last_insert_rowid()
            }
        };
        self.sessions.insert(chat.clone(), id);
        Ok(id)
    }

    /// Appends a message to the chat's current session.
    pub fn append_history(
        &mut self,
        chat: &ChatKey,
        role: HistoryRole,
        sender: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let session = self.session_id(chat)?;
        self.insert(session, None, (role, sender, text))
    }

    /// Stores an entry and lets the held history follow it.
    fn insert(
        &mut self,
        session: i64,
        event: Option<&EventId>,
        entry: (HistoryRole, &str, &str),
    ) -> Result<(), StoreError> {
        if let Some(remembered) = insert_message(&self.conn, session, event, entry)? {
            self.recent.push(session, remembered);
        }
        Ok(())
    }

    /// The last `limit` entries of session `session`, oldest first, leaving out the entry of
    /// event `without` (a message replayed after a crash is in its session already): from
    /// memory when the session is held, else read (and held from then on).
    fn session_history(
        &mut self,
        session: i64,
        limit: usize,
        without: Option<&EventId>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        if let Some(history) = self.recent.get(session, limit, without) {
            return Ok(history);
        }
        let rows = rows_needed(limit, without);
        let read = read_session(&self.conn, session, rows)?;
        let history = pick(read.iter(), limit, without);
        self.recent.hold(session, read, rows);
        Ok(history)
    }

    /// Starts answering a message: reads the last `limit` entries of the chat's session
    /// (without this message), then records the message, once however often it is taken up.
    /// Returns the session id and that history.
    pub fn begin_turn(
        &mut self,
        chat: &ChatKey,
        event: &EventId,
        sender: &str,
        text: &str,
        limit: usize,
    ) -> Result<(i64, Vec<HistoryEntry>), StoreError> {
        let session_id = self.session_id(chat)?;
        let history = self.session_history(session_id, limit, Some(event))?;
        self.insert(session_id, Some(event), (HistoryRole::User, sender, text))?;
        Ok((session_id, history))
    }

    /// [`Db::begin_turn`] for an event not handled before; `None`, recording nothing, when it
    /// was (one job where asking first would be another).
    pub fn begin_new_turn(
        &mut self,
        chat: &ChatKey,
        event: &EventId,
        sender: &str,
        text: &str,
        limit: usize,
    ) -> Result<Option<(i64, Vec<HistoryEntry>)>, StoreError> {
        if self.is_event_done(chat.platform, event)? {
            return Ok(None);
        }
        self.begin_turn(chat, event, sender, text, limit).map(Some)
    }

    /// Finishes an event: optionally records an entry (the answer, or an unaddressed group
    /// message as context) and marks the event handled. Returns `false`, recording nothing,
    /// when the event was finished before.
    pub fn finish_turn(
        &mut self,
        chat: &ChatKey,
        event: &EventId,
        entry: Option<(HistoryRole, &str, &str)>,
    ) -> Result<bool, StoreError> {
        if self.is_event_done(chat.platform, event)? {
            return Ok(false);
        }
        if let Some((role, sender, text)) = entry {
            let session = self.session_id(chat)?;
            // The answer shares nothing with the message's id; context is the message itself.
            let id = (role == HistoryRole::Context).then_some(event);
            self.insert(session, id, (role, sender, text))?;
        }
        self.finish_event(chat.platform, event)?;
        Ok(true)
    }

    /// The last `limit` messages of the chat's current session, oldest first.
    pub fn history(&self, chat: &ChatKey, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        match self.active_session(chat)? {
            Some(session) => match self.recent.get(session, limit, None) {
                Some(history) => Ok(history),
                None => Ok(pick(read_session(&self.conn, session, limit)?.iter(), limit, None)),
            },
            None => Ok(Vec::new()),
        }
    }

    /// The chat's current session, if it has one.
    fn active_session(&self, chat: &ChatKey) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.sessions.get(chat) {
            return Ok(Some(*id));
        }
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM sessions WHERE platform = ?1 AND chat_id = ?2 AND archived_at IS NULL")?
            .query_row(params![chat.platform.as_str(), chat.chat.as_str()], |row| row.get(0))
            .optional()?)
    }

    /// Archives the chat's current session; the next message starts a fresh one. Returns
    /// whether there was a session to archive.
    pub fn archive_session(&mut self, chat: &ChatKey) -> Result<bool, StoreError> {
        if let Some(session) = self.active_session(chat)? {
            self.recent.forget(session);
        }
        self.sessions.remove(chat);
        let changed = self.conn.execute(
            "UPDATE sessions SET archived_at = ?3 WHERE platform = ?1 AND chat_id = ?2 AND archived_at IS NULL",
            params![chat.platform.as_str(), chat.chat.as_str(), now_ms()],
        )?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parachute_core::ids::Platform;

    #[test]
    fn history_is_per_chat_bounded_and_archivable() {
        let mut store = Db::open_in_memory().unwrap();
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

    #[test]
    fn a_replayed_message_is_recorded_once_and_not_shown_to_itself() {
        let mut store = Db::open_in_memory().unwrap();
        let chat = ChatKey { platform: Platform::Telegram, chat: "42".into() };
        let event = EventId::from("7");
        store.append_history(&chat, HistoryRole::User, "ann", "earlier").unwrap();
        for _ in 0..2 {
            // Taken up twice (the process stopped before the first answer was finished).
            let (_, history) = store.begin_turn(&chat, &event, "ann", "hello", 10).unwrap();
            let texts: Vec<_> = history.into_iter().map(|e| e.text).collect();
            assert_eq!(texts, ["earlier"], "the message itself is not part of its own history");
        }
        assert!(store.finish_turn(&chat, &event, Some((HistoryRole::Assistant, "bot", "hi!"))).unwrap());
        assert_eq!(store.begin_new_turn(&chat, &event, "ann", "hello", 10).unwrap(), None, "handled: no new turn");
        assert!(!store.finish_turn(&chat, &event, Some((HistoryRole::Assistant, "bot", "hi!"))).unwrap());
        let texts: Vec<_> = store.history(&chat, 10).unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["earlier", "hello", "hi!"]);
    }
}
