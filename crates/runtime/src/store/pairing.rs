//! Pairing requests and the owner's decisions, for users (DMs) and rooms (invites).

use rusqlite::{Row, params};
use serde::Serialize;

use super::{Db, StoreError, now_ms};
use parachute_core::ids::Platform;
use parachute_core::pairing::{KnownSender, PairingKind, PairingStatus};
use parachute_core::time::rfc3339_from_ms;
use parachute_core::trust::TrustLevel;

/// A stored pairing request, in the API's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairingRecord {
    /// Opaque id used by approve/deny.
    #[serde(serialize_with = "id_as_string")]
    pub id: i64,
    /// Where the request came from.
    pub platform: Platform,
    /// The user (or room) id on that platform.
    pub platform_user_id: String,
    /// Sanitized display name (or room name).
    pub platform_user_display: String,
    /// The chat to answer in (the DM, or the room).
    pub platform_chat_id: String,
    /// A person or a room.
    pub kind: PairingKind,
    /// Pending, approved or denied.
    pub status: PairingStatus,
    /// The level granted on approval.
    pub approved_trust_level: Option<TrustLevel>,
    /// The first message the sender wrote (not shown for rooms).
    pub first_message: String,
    /// When the request was made (milliseconds since the epoch; RFC 3339 in JSON).
    #[serde(serialize_with = "ms_as_rfc3339")]
    pub created_at: i64,
    /// When the owner decided (RFC 3339 in JSON).
    #[serde(serialize_with = "opt_ms_as_rfc3339")]
    pub resolved_at: Option<i64>,
}

pub(super) fn ms_as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_from_ms(*ms))
}

fn opt_ms_as_rfc3339<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339_from_ms(*ms)),
        None => s.serialize_none(),
    }
}

fn id_as_string<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

impl PairingRecord {
    /// What the gate needs to know about this sender or room.
    pub fn as_known(&self) -> KnownSender {
        KnownSender {
            status: self.status,
            approved_trust_level: self.approved_trust_level,
            created_at_ms: self.created_at,
            resolved_at_ms: self.resolved_at,
        }
    }
}

/// A request to create.
#[derive(Debug, Clone)]
pub struct NewPairingRequest {
    /// Where it comes from.
    pub platform: Platform,
    /// A person or a room.
    pub kind: PairingKind,
    /// The user (or room) id.
    pub platform_user_id: String,
    /// Sanitized display name.
    pub platform_user_display: String,
    /// The chat to answer in.
    pub platform_chat_id: String,
    /// The first message.
    pub first_message: String,
}

const COLUMNS: &str = "id, platform, kind, platform_user_id, platform_user_display, platform_chat_id, first_message, \
                       status, approved_trust_level, created_at, resolved_at";

fn parse_enum<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt { table, value: text.to_owned() })
}

/// A row as SQLite stores it, before its names are parsed.
struct RawRow {
    id: i64,
    platform: String,
    kind: String,
    user: String,
    display: String,
    chat: String,
    first: String,
    status: String,
    level: Option<String>,
    created_at: i64,
    resolved_at: Option<i64>,
}

impl RawRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            platform: row.get(1)?,
            kind: row.get(2)?,
            user: row.get(3)?,
            display: row.get(4)?,
            chat: row.get(5)?,
            first: row.get(6)?,
            status: row.get(7)?,
            level: row.get(8)?,
            created_at: row.get(9)?,
            resolved_at: row.get(10)?,
        })
    }

    fn into_record(self) -> Result<PairingRecord, StoreError> {
        const TABLE: &str = "pairing_requests";
        Ok(PairingRecord {
            id: self.id,
            platform: parse_enum(TABLE, &self.platform)?,
            kind: parse_enum(TABLE, &self.kind)?,
            platform_user_id: self.user,
            platform_user_display: self.display,
            platform_chat_id: self.chat,
            first_message: self.first,
            status: parse_enum(TABLE, &self.status)?,
            approved_trust_level: self.level.as_deref().map(|l| parse_enum(TABLE, l)).transpose()?,
            created_at: self.created_at,
            resolved_at: self.resolved_at,
        })
    }
}

/// What opening a pairing request did.
#[derive(Debug)]
pub enum OpenedRequest {
    /// A new request, waiting for the owner.
    New(PairingRecord),
    /// The user (or room) already had one; it is unchanged.
    Existing(PairingRecord),
    /// `pairing.max_pending` requests already wait: none was opened.
    TurnedAway,
}

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    /// No request with that id.
    #[error("no pairing request with id {0}")]
    NotFound(i64),
    /// The request was already decided.
    #[error("pairing request {id} is already {status}")]
    NotPending {
        /// The request.
        id: i64,
        /// Its current status.
        status: &'static str,
    },
    /// A chat setting (or the chat's id) the owner gave is not accepted; nothing changed.
    #[error(transparent)]
    InvalidChatSetting(#[from] parachute_core::chat_settings::InvalidChatSetting),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    fn query_pairing(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<PairingRecord>, StoreError> {
        let conn = &self.conn;
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM pairing_requests {filter}"))?;
        let rows = stmt.query_map(args, RawRow::read)?;
        rows.map(|row| row.map_err(StoreError::from).and_then(RawRow::into_record)).collect()
    }

    /// The request of a user (or room), if any.
    pub fn find_pairing(
        &self,
        platform: Platform,
        kind: PairingKind,
        user: &str,
    ) -> Result<Option<PairingRecord>, StoreError> {
        let kind = if kind == PairingKind::User { "user" } else { "room" };
        let found = self.query_pairing(
            "WHERE platform = ?1 AND kind = ?2 AND platform_user_id = ?3",
            &[&platform.as_str(), &kind, &user],
        )?;
        Ok(found.into_iter().next())
    }

    /// A request by id.
    pub fn pairing_by_id(&self, id: i64) -> Result<Option<PairingRecord>, StoreError> {
        Ok(self.query_pairing("WHERE id = ?1", &[&id])?.into_iter().next())
    }

    /// Every request, newest first.
    pub fn list_pairing(&self) -> Result<Vec<PairingRecord>, StoreError> {
        self.query_pairing("ORDER BY id DESC", &[])
    }

    /// How many requests wait for the owner.
    pub fn pending_pairing_count(&self) -> Result<usize, StoreError> {
        let n: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM pairing_requests WHERE status = 'pending'", [], |row| row.get(0))?;
        Ok(n as usize)
    }

    /// Creates a pending request; if the user already has one, returns that one unchanged.
    pub fn create_pairing(&self, request: &NewPairingRequest) -> Result<(PairingRecord, bool), StoreError> {
        let kind = if request.kind == PairingKind::User { "user" } else { "room" };
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO pairing_requests (platform, kind, platform_user_id, platform_user_display,
               platform_chat_id, first_message, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            params![
                request.platform.as_str(),
                kind,
                request.platform_user_id,
                request.platform_user_display,
                request.platform_chat_id,
                request.first_message,
                now_ms()
            ],
        )?;
        let record = self
            .find_pairing(request.platform, request.kind, &request.platform_user_id)?
            .ok_or(StoreError::Corrupt { table: "pairing_requests", value: "vanished after insert".into() })?;
        Ok((record, inserted == 1))
    }

    /// Opens a request unless `max_pending` requests already wait; pending requests made
    /// before `expired_before` are forgotten first.
    pub fn open_pairing(
        &mut self,
        request: &NewPairingRequest,
        expired_before: i64,
        max_pending: usize,
    ) -> Result<OpenedRequest, StoreError> {
        self.expire_pairing(expired_before)?;
        if let Some(existing) = self.find_pairing(request.platform, request.kind, &request.platform_user_id)? {
            return Ok(OpenedRequest::Existing(existing));
        }
        if self.pending_pairing_count()? >= max_pending {
            return Ok(OpenedRequest::TurnedAway);
        }
        let (record, _) = self.create_pairing(request)?;
        Ok(OpenedRequest::New(record))
    }

    /// Forgets pending requests made before `cutoff_ms` (nobody decided them within
    /// `pairing.expire_after`); returns how many.
    pub fn expire_pairing(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM pairing_requests WHERE status = 'pending' AND created_at < ?1", params![cutoff_ms])?;
        Ok(n)
    }

    /// Records the owner's decision on a pending request.
    pub fn resolve_pairing(
        &self,
        id: i64,
        status: PairingStatus,
        level: Option<TrustLevel>,
    ) -> Result<PairingRecord, PairingError> {
        let current = self.pairing_by_id(id)?.ok_or(PairingError::NotFound(id))?;
        if current.status != PairingStatus::Pending {
            return Err(PairingError::NotPending { id, status: current.status.as_str() });
        }
        let changed = self
            .conn
            .execute(
                "UPDATE pairing_requests SET status = ?2, approved_trust_level = ?3, resolved_at = ?4
             WHERE id = ?1 AND status = 'pending'",
                params![id, status.as_str(), level.map(TrustLevel::as_str), now_ms()],
            )
            .map_err(StoreError::from)?;
        if changed == 0 {
            return Err(PairingError::NotPending { id, status: "decided" });
        }
        self.pairing_by_id(id)?.ok_or(PairingError::NotFound(id))
    }

    /// Forgets the approval of request `id`, a person's or a room's; `false` when no approved
    /// request has that id. The person (or room) has to pair again.
    pub fn revoke_approval(&self, id: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute("DELETE FROM pairing_requests WHERE id = ?1 AND status = 'approved'", params![id])?;
        Ok(n > 0)
    }

    /// Forgets a user's approval (or denial); the user has to pair again.
    pub fn revoke_user(&self, platform: Platform, user: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM pairing_requests WHERE platform = ?1 AND kind = 'user' AND platform_user_id = ?2",
            params![platform.as_str(), user],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user: &str) -> NewPairingRequest {
        NewPairingRequest {
            platform: Platform::Matrix,
            kind: PairingKind::User,
            platform_user_id: user.into(),
            platform_user_display: "Alice".into(),
            platform_chat_id: "!dm:x".into(),
            first_message: "hi".into(),
        }
    }

    #[test]
    fn one_request_per_user_and_decisions_stick() {
        let store = Db::open_in_memory().unwrap();
        let (first, created) = store.create_pairing(&request("@a:x")).unwrap();
        assert!(created);
        let (again, created) = store.create_pairing(&request("@a:x")).unwrap();
        assert!(!created);
        assert_eq!(first.id, again.id);
        assert_eq!(store.pending_pairing_count().unwrap(), 1);
        let approved = store.resolve_pairing(first.id, PairingStatus::Approved, Some(TrustLevel::Direct)).unwrap();
        assert_eq!(approved.approved_trust_level, Some(TrustLevel::Direct));
        assert!(approved.resolved_at.is_some());
        assert!(matches!(
            store.resolve_pairing(first.id, PairingStatus::Denied, None),
            Err(PairingError::NotPending { .. })
        ));
        assert!(matches!(store.resolve_pairing(999, PairingStatus::Denied, None), Err(PairingError::NotFound(999))));
        let json = serde_json::to_value(&approved).unwrap();
        assert_eq!(json["id"], serde_json::json!(first.id.to_string()));
        assert_eq!(json["status"], "approved");
        assert_eq!(json["kind"], "user");
        assert!(store.revoke_user(Platform::Matrix, "@a:x").unwrap());
        assert!(store.find_pairing(Platform::Matrix, PairingKind::User, "@a:x").unwrap().is_none());
    }

    #[test]
    fn only_undecided_requests_expire() {
        let store = Db::open_in_memory().unwrap();
        let (pending, _) = store.create_pairing(&request("@pending:x")).unwrap();
        let (denied, _) = store.create_pairing(&request("@denied:x")).unwrap();
        store.resolve_pairing(denied.id, PairingStatus::Denied, None).unwrap();
        assert_eq!(store.expire_pairing(pending.created_at).unwrap(), 0, "not older than the cutoff");
        assert_eq!(store.expire_pairing(pending.created_at + 1).unwrap(), 1);
        assert!(store.pairing_by_id(pending.id).unwrap().is_none());
        assert_eq!(store.pairing_by_id(denied.id).unwrap().unwrap().status, PairingStatus::Denied);
        let (again, created) = store.create_pairing(&request("@pending:x")).unwrap();
        assert!(created && again.id != pending.id, "an expired request is made anew");
    }
}
