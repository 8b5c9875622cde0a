//! Encrypted messages that came before their key. The sender's device may share the key late,
//! or the key backup may hold it (after `parachute matrix recovery`): such a message waits
//! here, a bounded number per connector, until a key of its session arrives; then it is
//! decrypted and handled like a message that has just come in (answered if it is still within
//! `matrix.catch_up_max_age`).

use std::collections::VecDeque;

use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use serde_json::Value;

/// How many undecryptable messages wait for their keys; at the bound the oldest is forgotten
/// (it would be the first to grow too old to answer anyway).
pub(crate) const MAX_WAITING: usize = 1_000;

/// An encrypted message whose key the bot's device does not have (yet).
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub room_id: OwnedRoomId,
    pub event_id: String,
    /// The Megolm session whose key decrypts it.
    pub session_id: String,
    pub timestamp_ms: i64,
    pub raw: Raw<OriginalSyncRoomEncryptedEvent>,
}

impl Waiting {
    /// Reads what waiting needs from an `m.room.encrypted` event; `None` for anything else.
    pub fn of(room_id: &RoomId, event: &Value) -> Option<Self> {
        if event["type"] != "m.room.encrypted" {
            return None;
        }
        let raw = Raw::from_json(serde_json::value::to_raw_value(event).ok()?);
        Some(Self {
            room_id: room_id.to_owned(),
            event_id: event["event_id"].as_str()?.to_owned(),
            session_id: event["content"]["session_id"].as_str()?.to_owned(),
            timestamp_ms: event["origin_server_ts"].as_i64()?,
            raw,
        })
    }
}

/// The messages waiting for their keys, oldest first.
#[derive(Debug, Default)]
pub(crate) struct LateKeys {
    waiting: VecDeque<Waiting>,
}

impl LateKeys {
    /// Keeps a message until its key comes; false when it was kept already. At the bound the
    /// oldest waiting message is forgotten.
    pub fn keep(&mut self, message: Waiting) -> bool {
        if self.waiting.iter().any(|w| w.event_id == message.event_id) {
            return false;
        }
        if self.waiting.len() >= MAX_WAITING
            && let Some(forgotten) = self.waiting.pop_front()
        {
            tracing::debug!(room = %forgotten.room_id, event = %forgotten.event_id, "undecryptable message no longer waits for its key");
        }
        self.waiting.push_back(message);
        true
    }

    /// Takes the messages of the sessions `has_key` names (room, session id).
    pub fn take(&mut self, has_key: impl Fn(&RoomId, &str) -> bool) -> Vec<Waiting> {
        let (taken, kept) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| has_key(&w.room_id, &w.session_id));
        self.waiting = kept;
        taken.into()
    }

    /// Forgets messages older than `cutoff_ms`: they would not be answered any more.
    pub fn expire(&mut self, cutoff_ms: i64) {
        self.waiting.retain(|w| w.timestamp_ms >= cutoff_ms);
    }

    /// The sessions messages wait for, each once: (room, session id).
    pub fn sessions(&self) -> Vec<(OwnedRoomId, String)> {
        let mut sessions: Vec<_> = self.waiting.iter().map(|w| (w.room_id.clone(), w.session_id.clone())).collect();
        sessions.sort();
        sessions.dedup();
        sessions
    }

    /// How many messages wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encrypted(event_id: &str, session: &str, ts: i64) -> Value {
        json!({"type": "m.room.encrypted", "event_id": event_id, "sender": "@alice:hs", "origin_server_ts": ts,
               "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "session_id": session,
                           "sender_key": "k", "device_id": "D"}})
    }

    fn room(id: &str) -> OwnedRoomId {
        OwnedRoomId::try_from(id).unwrap()
    }

    #[test]
    fn only_encrypted_events_with_a_session_wait() {
        let r = room("!r:hs");
        let waiting = Waiting::of(&r, &encrypted("$1", "s1", 5)).unwrap();
        assert_eq!((waiting.event_id.as_str(), waiting.session_id.as_str(), waiting.timestamp_ms), ("$1", "s1", 5));
        assert!(Waiting::of(&r, &json!({"type": "m.room.message", "event_id": "$2"})).is_none());
        let mut no_session = encrypted("$3", "s", 5);
        no_session["content"].as_object_mut().unwrap().remove("session_id");
        assert!(Waiting::of(&r, &no_session).is_none());
    }

    #[test]
    fn a_key_releases_the_messages_of_its_session_in_its_room_only() {
        let (a, b) = (room("!a:hs"), room("!b:hs"));
        let mut late = LateKeys::default();
        assert!(late.keep(Waiting::of(&a, &encrypted("$1", "s1", 1)).unwrap()));
        assert!(!late.keep(Waiting::of(&a, &encrypted("$1", "s1", 1)).unwrap()), "kept once");
        late.keep(Waiting::of(&a, &encrypted("$2", "s2", 2)).unwrap());
        late.keep(Waiting::of(&b, &encrypted("$3", "s1", 3)).unwrap());
        late.keep(Waiting::of(&a, &encrypted("$4", "s1", 4)).unwrap());
        assert_eq!(late.sessions(), vec![(a.clone(), "s1".into()), (a.clone(), "s2".into()), (b.clone(), "s1".into())]);

        let released = late.take(|r, s| r == a && s == "s1");
        assert_eq!(released.iter().map(|w| w.event_id.as_str()).collect::<Vec<_>>(), ["$1", "$4"], "in order");
        assert_eq!(late.len(), 2);
        late.expire(3);
        assert_eq!(late.take(|_, _| true).iter().map(|w| w.event_id.as_str()).collect::<Vec<_>>(), ["$3"]);
    }

    #[test]
    fn at_the_bound_the_oldest_is_forgotten() {
        let r = room("!r:hs");
        let mut late = LateKeys::default();
        for i in 0..=MAX_WAITING {
            late.keep(Waiting::of(&r, &encrypted(&format!("${i}"), "s", i as i64)).unwrap());
        }
        assert_eq!(late.len(), MAX_WAITING);
        let all = late.take(|_, _| true);
        assert_eq!(all[0].event_id, "$1", "$0 was forgotten");
    }
}
