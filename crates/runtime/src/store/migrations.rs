//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE sessions (
        id          INTEGER PRIMARY KEY,
        platform    TEXT NOT NULL,
        chat_id     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        archived_at INTEGER
    );
    CREATE UNIQUE INDEX sessions_active ON sessions(platform, chat_id) WHERE archived_at IS NULL;
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        role       TEXT NOT NULL,
        sender     TEXT NOT NULL,
        text       TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX messages_by_session ON messages(session_id, id);
    CREATE TABLE pairing_requests (
        id                    INTEGER PRIMARY KEY,
        platform              TEXT NOT NULL,
        kind                  TEXT NOT NULL,
        platform_user_id      TEXT NOT NULL,
        platform_user_display TEXT NOT NULL,
        platform_chat_id      TEXT NOT NULL,
        first_message         TEXT NOT NULL,
        status                TEXT NOT NULL,
        approved_trust_level  TEXT,
        reminded              INTEGER NOT NULL DEFAULT 0,
        created_at            INTEGER NOT NULL,
        resolved_at           INTEGER,
        UNIQUE (platform, kind, platform_user_id)
    );
    CREATE TABLE handled_events (
        platform   TEXT NOT NULL,
        event_id   TEXT NOT NULL,
        state      TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (platform, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
        platform TEXT NOT NULL,
        name     TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (platform, name)
    ) WITHOUT ROWID;
    ",
    "CREATE TABLE inbox (
        platform        TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        chat_id         TEXT NOT NULL,
        chat_kind       TEXT NOT NULL,
        sender          TEXT NOT NULL,
        sender_username TEXT,
        sender_display  TEXT NOT NULL,
        text            TEXT,
        audio_mime      TEXT,
        audio_name      TEXT,
        audio           BLOB,
        addresses_bot   INTEGER NOT NULL,
        timestamp_ms    INTEGER NOT NULL,
        received_at     INTEGER NOT NULL,
        PRIMARY KEY (platform, event_id)
    ) WITHOUT ROWID;",
    // Voice notes are kept as the platform's reference (announced size and source), fetched
    // only when they are answered; the audio bytes are no longer stored. A voice row from an
    // older version keeps its type and name with an empty source: fetching it fails, and the
    // sender gets the short apology instead of silence.
    "ALTER TABLE inbox ADD COLUMN audio_size INTEGER;
     ALTER TABLE inbox ADD COLUMN audio_source TEXT;
     ALTER TABLE inbox DROP COLUMN audio;",
    // What the gate reads of a message, so a message resumed after a restart is decided the
    // same way: the chat's name and aliases, the Discord guild. `addresses_bot` now stores
    // how the bot is addressed (0 no, 1 mention, 2 reply, 3 command).
    "ALTER TABLE inbox ADD COLUMN chat_name TEXT;
     ALTER TABLE inbox ADD COLUMN chat_aliases TEXT;
     ALTER TABLE inbox ADD COLUMN guild TEXT;",
    // A history entry knows the event it records, so a message taken up again after a crash
    // (recorded, not yet answered) is not recorded twice.
    "ALTER TABLE messages ADD COLUMN event_id TEXT;
     CREATE UNIQUE INDEX messages_once ON messages(session_id, event_id) WHERE event_id IS NOT NULL;",
    // The messages showing a streamed answer while it is written (JSON list of the platform's
    // message ids and what each shows), so an answer cut off by a crash is completed in place.
    "CREATE TABLE previews (
        platform   TEXT NOT NULL,
        event_id   TEXT NOT NULL,
        parts      TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (platform, event_id)
    ) WITHOUT ROWID;",
    // Images wait in the inbox like voice notes (their reference in the audio_* columns, the
    // caption as text); older rows are voice notes or text.
    "ALTER TABLE inbox ADD COLUMN media_kind TEXT;",
    // The owner's settings for single chats (each column unset: the config's value applies).
    "CREATE TABLE chat_settings (
        platform      TEXT NOT NULL,
        chat_id       TEXT NOT NULL,
        system_prompt TEXT,
        mention_mode  TEXT,
        model         TEXT,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (platform, chat_id)
    ) WITHOUT ROWID;",
];

/// Applies every migration the database has not seen yet, each in its own transaction.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt {
            table: "schema",
            value: format!("database schema version {version} is newer than this parachute ({known})"),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_bytes_of_an_older_inbox_are_dropped_and_its_rows_stay_readable() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO inbox (platform, event_id, chat_id, chat_kind, sender, sender_display, audio_mime, audio_name,
               audio, addresses_bot, timestamp_ms, received_at)
             VALUES ('telegram', '1:2', '1', 'direct', '1', 'Ann', 'audio/ogg', 'voice.ogg', x'010203', 1, 5, 5)",
            [],
        )
        .unwrap();
        migrate(&conn).unwrap();
        let columns: Vec<(String, String)> = conn
            .prepare("SELECT name, type FROM pragma_table_info('inbox')")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(columns.iter().all(|(name, kind)| name != "audio" && kind != "BLOB"), "{columns:?}");
        let (name, size, source): (String, Option<i64>, Option<String>) = conn
            .query_row("SELECT audio_name, audio_size, audio_source FROM inbox", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), size, source), ("voice.ogg", None, None));
    }
}
