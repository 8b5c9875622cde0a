//! The SQLite store (`vault/.parachute/parachute.db`): sessions and history, pairing
//! requests, handled event ids and per-platform cursors. WAL mode, versioned migrations.
//!
//! The connection lives on a thread of its own ([`group_commit`]): actors never wait on
//! SQLite, they send a job to the store thread ([`Store::call`]) and await its answer. Every
//! job that is ready when the thread looks runs in one transaction (each inside a savepoint of
//! its own), and no job's answer leaves the thread before that transaction committed.

mod chat_settings;
mod cursors;
mod events;
mod group_commit;
mod inbox;
mod migrations;
pub mod pairing;
mod previews;
mod recent;
mod sessions;
mod succession;

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use parachute_core::ids::ChatKey;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use chat_settings::ChatSettingsRecord;
pub use pairing::{NewPairingRequest, OpenedRequest, PairingRecord};
pub use sessions::{HistoryEntry, HistoryRole};
pub use succession::CarriedOver;

use group_commit::Job;

/// Jobs that may wait for the store thread; a caller past it waits for room (the actors'
/// own bounds keep the number of callers far below it in practice).
pub const STORE_QUEUE_BOUND: usize = 4_096;

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
    /// The transaction holding the job did not commit: nothing of it is stored.
    #[error("database commit failed: {0}")]
    Commit(String),
    /// The store thread is gone (the process is stopping) or the job panicked.
    #[error("the store is not available")]
    Unavailable,
}

/// The connection and what the store thread remembers between jobs. Jobs get it as
/// `&mut Db`; everything a job does is atomic (its own savepoint), so a job that reads and then
/// writes needs no transaction of its own.
pub struct Db {
    conn: Connection,
    /// The active session id per chat (a lookup per message otherwise).
    sessions: HashMap<ChatKey, i64>,
    /// The latest history of active sessions (a read per turn otherwise).
    recent: recent::RecentHistory,
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    /// `exclusive` keeps the file locked while it is open; `false` lets several connections
    /// share it (tests that restart a runtime inside one process).
    pub fn open(path: &Path, exclusive: bool) -> Result<Self, StoreError> {
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

    /// Whether a running server holds the database at `path` (it keeps it locked exclusively);
    /// a missing file is not in use. Reads nothing and changes nothing.
    pub fn in_use(path: &Path) -> bool {
        if !path.exists() {
            return false;
        }
        let Ok(conn) = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
            return false;
        };
        let probe = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0));
        matches!(probe, Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy)
    }

    /// A private in-memory database.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        // A cached statement runs as prepared: without this, binding a value the planner looked
        // at (such as a `LIMIT ?`) makes SQLite prepare the statement again on every run.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&conn)?;
        Ok(Self { conn, sessions: HashMap::new(), recent: recent::RecentHistory::default() })
    }

    /// Forgets what is held in memory: called whenever a job or a commit fails, so nothing
    /// held was rolled back.
    pub(crate) fn forget_held(&mut self) {
        self.sessions.clear();
        self.recent.clear();
    }
}

/// A handle on the store thread; cheap to clone, safe to share between actors and threads.
/// The thread ends (and closes the database) when the last handle is dropped.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Opens the database file (see [`Db::open`], locked exclusively) on a new store thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, true)
    }

    /// Like [`Store::open`]; `exclusive: false` lets several connections share the file.
    pub fn open_with(path: &Path, exclusive: bool) -> Result<Self, StoreError> {
        Self::spawn(Db::open(path, exclusive)?)
    }

    /// A private in-memory database on a new store thread, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::spawn(Db::open_in_memory()?)
    }

    fn spawn(db: Db) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel(STORE_QUEUE_BOUND);
        std::thread::Builder::new()
            .name("parachute-store".into())
            .spawn(move || group_commit::run(db, queue))
            .map_err(|e| StoreError::Io { path: "store thread".into(), message: e.to_string() })?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the store thread and answers with its result once the transaction that
    /// holds it has committed. A failed job is rolled back alone; the others in its
    /// transaction are not affected.
    pub async fn call<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.jobs.send(Job::new(job, answer)).await.map_err(|_| StoreError::Unavailable)?;
        answered.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// [`Store::call`] for code outside the actors (start-up, command-line tools, tests):
    /// blocks the calling thread. Must not be called from inside an async task.
    pub fn call_blocking<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.jobs.blocking_send(Job::new(job, answer)).map_err(|_| StoreError::Unavailable)?;
        answered.blocking_recv().unwrap_or(Err(StoreError::Unavailable))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
