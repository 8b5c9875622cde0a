//! A chat that goes on under a new id (a Matrix room upgraded to a new room): its active
//! conversation session, the owner's decision on it and the owner's settings for it move to
//! the new id.

use rusqlite::params;

use super::{Db, StoreError};
use parachute_core::ids::{ChatId, ChatKey, Platform};

/// What moved from the old chat to its successor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CarriedOver {
    /// The active session (its history) now belongs to the new chat.
    pub session: bool,
    /// The room's pairing request (the owner's approval or denial) now names the new chat.
    pub pairing: bool,
    /// The owner's settings for the chat (prompt, mention mode, model) now apply to the new chat.
    pub settings: bool,
}

impl Db {
    /// Moves what belongs to chat `old` to chat `new`: the active session and the room's
    /// pairing request and settings. What `new` has already (a session, a request, settings
    /// of its own) is kept, and the old one stays where it was. Doing it again moves nothing.
    pub fn carry_over_chat(&mut self, platform: Platform, old: &str, new: &str) -> Result<CarriedOver, StoreError> {
        let session = self.conn.execute(
            "UPDATE sessions SET chat_id = ?3 WHERE platform = ?1 AND chat_id = ?2 AND archived_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM sessions WHERE platform = ?1 AND chat_id = ?3 AND archived_at IS NULL)",
            params![platform.as_str(), old, new],
        )? > 0;
        if session {
            let old_key = ChatKey { platform, chat: ChatId::from(old) };
            if let Some(id) = self.sessions.remove(&old_key) {
                self.sessions.insert(ChatKey { platform, chat: ChatId::from(new) }, id);
            }
        }
        let pairing = self.conn.execute(
            "UPDATE pairing_requests SET platform_user_id = ?3, platform_chat_id = ?3
             WHERE platform = ?1 AND kind = 'room' AND platform_user_id = ?2
               AND NOT EXISTS (SELECT 1 FROM pairing_requests
                               WHERE platform = ?1 AND kind = 'room' AND platform_user_id = ?3)",
            params![platform.as_str(), old, new],
        )? > 0;
        let settings = self.conn.execute(
            "UPDATE chat_settings SET chat_id = ?3 WHERE platform = ?1 AND chat_id = ?2
               AND NOT EXISTS (SELECT 1 FROM chat_settings WHERE platform = ?1 AND chat_id = ?3)",
            params![platform.as_str(), old, new],
        )? > 0;
        Ok(CarriedOver { session, pairing, settings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HistoryRole, NewPairingRequest};
    use parachute_core::chat_settings::ChatSettings;
    use parachute_core::pairing::{PairingKind, PairingStatus};
    use parachute_core::trust::TrustLevel;

    fn room_request(room: &str) -> NewPairingRequest {
        NewPairingRequest {
            platform: Platform::Matrix,
            kind: PairingKind::Room,
            platform_user_id: room.into(),
            platform_user_display: "Family".into(),
            platform_chat_id: room.into(),
            first_message: String::new(),
        }
    }

    fn key(chat: &str) -> ChatKey {
        ChatKey { platform: Platform::Matrix, chat: ChatId::from(chat) }
    }

    #[test]
    fn the_session_and_the_approval_follow_the_room_once() {
        let mut db = Db::open_in_memory().unwrap();
        let session = db.session_id(&key("!old")).unwrap();
        db.append_history(&key("!old"), HistoryRole::User, "ann", "remember the blue door").unwrap();
        let (request, _) = db.create_pairing(&room_request("!old")).unwrap();
        db.resolve_pairing(request.id, PairingStatus::Approved, Some(TrustLevel::Sandboxed)).unwrap();
        let settings = ChatSettings { model: Some("small".into()), ..ChatSettings::default() };
        db.set_chat_settings(Platform::Matrix, "!old", &settings).unwrap();

        let moved = db.carry_over_chat(Platform::Matrix, "!old", "!new").unwrap();
        assert_eq!(moved, CarriedOver { session: true, pairing: true, settings: true });
        assert_eq!(db.chat_settings(Platform::Matrix, "!new").unwrap(), settings);
        assert!(db.chat_settings(Platform::Matrix, "!old").unwrap().is_empty());
        assert_eq!(db.session_id(&key("!new")).unwrap(), session, "the same session goes on");
        let history = db.history(&key("!new"), 10).unwrap();
        assert_eq!(history.iter().map(|h| h.text.as_str()).collect::<Vec<_>>(), ["remember the blue door"]);
        let approval = db.find_pairing(Platform::Matrix, PairingKind::Room, "!new").unwrap().unwrap();
        assert_eq!((approval.status, approval.platform_chat_id.as_str()), (PairingStatus::Approved, "!new"));
        assert!(db.find_pairing(Platform::Matrix, PairingKind::Room, "!old").unwrap().is_none());
        assert_ne!(db.session_id(&key("!old")).unwrap(), session, "the old room starts afresh if it ever speaks");

        assert_eq!(db.carry_over_chat(Platform::Matrix, "!old", "!new").unwrap(), CarriedOver::default());
    }

    #[test]
    fn what_the_new_room_has_already_is_kept() {
        let mut db = Db::open_in_memory().unwrap();
        let old = db.session_id(&key("!old")).unwrap();
        let new = db.session_id(&key("!new")).unwrap();
        db.create_pairing(&room_request("!old")).unwrap();
        db.create_pairing(&room_request("!new")).unwrap();
        assert_eq!(db.carry_over_chat(Platform::Matrix, "!old", "!new").unwrap(), CarriedOver::default());
        assert_eq!((db.session_id(&key("!old")).unwrap(), db.session_id(&key("!new")).unwrap()), (old, new));
        assert!(db.find_pairing(Platform::Matrix, PairingKind::Room, "!old").unwrap().is_some());
    }
}
