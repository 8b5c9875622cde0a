//! The SQLite store (`vault/.parachute/parachute.db`): sessions and history, pairing
//! requests, handled event ids and per-platform cursors. WAL mode, versioned migrations.

mod cursors;
mod events;
mod inbox;
mod migrations;
pub mod pairing;
mod sessions;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use pairing::{NewPairingRequest, PairingRecord};
pub use sessions::{HistoryEntry, HistoryRole};

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file's folder could not be created.
    #[error("cannot create {path}: {message}")]
    Io {
        /// The folder.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// A stored value is not one this version understands.
    #[error("corrupt value in {table}: {value}")]
    Corrupt {
        /// Where.
        table: &'static str,
        /// What.
        value: String,
    },
}

/// A handle on the database; cheap to clone, safe to share between actors.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date. The
    /// process keeps the file locked exclusively while it runs.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, true)
    }

    /// Like [`Store::open`]; `exclusive: false` lets several connections share the file (tests
    /// that restart a runtime inside one process).
    pub fn open_with(path: &Path, exclusive: bool) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io { path: dir.display().to_string(), message: e.to_string() })?;
        }
        // Conversations are private: the file (and the WAL files SQLite derives from its
        // mode) is created readable by the owner only.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Io { path: path.display().to_string(), message: e.to_string() })?;
        }
        let conn = Connection::open(path)?;
        // parachute is the database's only user: exclusive locking saves a file lock per
        // transaction and makes a second server on the same vault fail instead of interleave.
        if exclusive {
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&conn)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one
        // statement or one transaction), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
