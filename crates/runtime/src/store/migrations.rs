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
