//! The recent history of active sessions, held in memory on the store thread so that a turn
//! does not read its history back from SQLite each time. A session is held from its first read
//! on, as deep as the deepest read asked, and follows every entry stored for it; everything
//! held together stays within [`RECENT_HISTORY_BYTES`] (sessions past it are let go and read
//! from the database again when next needed). The store clears it whenever a job or a commit
//! fails, so it never holds an entry that was rolled back.

use std::collections::{HashMap, VecDeque};

use parachute_core::ids::EventId;

use super::HistoryEntry;

/// Most bytes of history text held for all sessions together.
pub const RECENT_HISTORY_BYTES: usize = 4 << 20;

/// Bytes an entry is counted for besides its text (the allocations and fields around it).
const ENTRY_OVERHEAD: usize = 96;

/// A stored history entry and the event it records (none for answers).
#[derive(Debug, Clone)]
pub(super) struct Remembered {
    pub event: Option<String>,
    pub entry: HistoryEntry,
}

impl Remembered {
    fn bytes(&self) -> usize {
        ENTRY_OVERHEAD + self.entry.sender.len() + self.entry.text.len() + self.event.as_ref().map_or(0, String::len)
    }
}

/// One session's latest entries, oldest first.
#[derive(Debug)]
struct Held {
    entries: VecDeque<Remembered>,
    /// How many of the latest entries are held at most.
    depth: usize,
    /// Whether `entries` is the whole session (it had fewer entries than a read asked for).
    whole: bool,
    bytes: usize,
}

/// The held sessions, by session id.
#[derive(Debug, Default)]
pub(super) struct RecentHistory {
    sessions: HashMap<i64, Held>,
    bytes: usize,
}

/// The last `limit` entries of `entries` (oldest first), leaving out the entry of event
/// `without`, oldest first.
pub(super) fn pick<'a>(
    entries: impl DoubleEndedIterator<Item = &'a Remembered>,
    limit: usize,
    without: Option<&EventId>,
) -> Vec<HistoryEntry> {
    let mut picked: Vec<HistoryEntry> = entries
        .rev()
        .filter(|held| without.is_none_or(|without| held.event.as_deref() != Some(without.as_str())))
        .take(limit)
        .map(|held| held.entry.clone())
        .collect();
    picked.reverse();
    picked
}

/// Entries a read of `limit` entries leaving out one event needs.
pub(super) fn rows_needed(limit: usize, without: Option<&EventId>) -> usize {
    limit.saturating_add(usize::from(without.is_some()))
}

impl RecentHistory {
    /// What [`pick`] would answer from the database, when the session is held deep enough.
    pub fn get(&self, session: i64, limit: usize, without: Option<&EventId>) -> Option<Vec<HistoryEntry>> {
        let held = self.sessions.get(&session)?;
        if !held.whole && held.entries.len() < rows_needed(limit, without) {
            return None;
        }
        Some(pick(held.entries.iter(), limit, without))
    }

    /// Holds what a read of `asked` rows found in the database (oldest first).
    pub fn hold(&mut self, session: i64, entries: Vec<Remembered>, asked: usize) {
        self.forget(session);
        let whole = entries.len() < asked;
        let bytes = entries.iter().map(Remembered::bytes).sum();
        self.sessions.insert(session, Held { entries: entries.into(), depth: asked, whole, bytes });
        self.bytes += bytes;
        self.keep_within_bound(session);
    }

    /// Follows an entry just stored for `session` (nothing when the session is not held).
    pub fn push(&mut self, session: i64, remembered: Remembered) {
        let Some(held) = self.sessions.get_mut(&session) else { return };
        let bytes = remembered.bytes();
        held.entries.push_back(remembered);
        held.bytes += bytes;
        self.bytes += bytes;
        while held.entries.len() > held.depth {
            if let Some(dropped) = held.entries.pop_front() {
                held.bytes -= dropped.bytes();
                self.bytes -= dropped.bytes();
                held.whole = false;
            }
        }
        self.keep_within_bound(session);
    }

    /// Lets a session go (archived, or to be read again).
    pub fn forget(&mut self, session: i64) {
        if let Some(held) = self.sessions.remove(&session) {
            self.bytes -= held.bytes;
        }
    }

    /// Lets every session go.
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.bytes = 0;
    }

    /// Lets other sessions go, then `latest` itself, until the bound holds.
    fn keep_within_bound(&mut self, latest: i64) {
        while self.bytes > RECENT_HISTORY_BYTES {
            let victim = self.sessions.keys().copied().find(|id| *id != latest).unwrap_or(latest);
            self.forget(victim);
            if victim == latest {
                break;
            }
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HistoryRole;

    fn remembered(event: Option<&str>, text: &str) -> Remembered {
        let entry = HistoryEntry { role: HistoryRole::User, sender: "s".into(), text: text.into(), at_ms: 0 };
        Remembered { event: event.map(str::to_owned), entry }
    }

    fn texts(entries: Vec<HistoryEntry>) -> Vec<String> {
        entries.into_iter().map(|e| e.text).collect()
    }

    #[test]
    fn a_held_session_answers_as_deep_as_it_was_read() {
        let mut recent = RecentHistory::default();
        recent.hold(1, vec![remembered(Some("a"), "a"), remembered(None, "b"), remembered(Some("c"), "c")], 3);
        assert!(!recent.sessions[&1].whole, "three rows for three asked: there may be more");
        assert_eq!(texts(recent.get(1, 2, None).unwrap()), ["b", "c"]);
        assert_eq!(texts(recent.get(1, 2, Some(&EventId::from("c"))).unwrap()), ["a", "b"]);
        assert!(recent.get(1, 3, Some(&EventId::from("c"))).is_none(), "deeper than held");
        recent.push(1, remembered(Some("d"), "d"));
        assert_eq!(texts(recent.get(1, 3, None).unwrap()), ["b", "c", "d"], "held at its depth");
        assert!(recent.get(2, 1, None).is_none(), "not held");
    }

    #[test]
    fn a_short_session_is_held_whole() {
        let mut recent = RecentHistory::default();
        recent.hold(1, vec![remembered(Some("a"), "a")], 10);
        assert_eq!(texts(recent.get(1, 50, Some(&EventId::from("x"))).unwrap()), ["a"]);
        recent.push(1, remembered(None, "b"));
        assert_eq!(texts(recent.get(1, 50, None).unwrap()), ["a", "b"]);
    }

    #[test]
    fn the_bytes_held_stay_within_the_bound() {
        let mut recent = RecentHistory::default();
        let big = "x".repeat(RECENT_HISTORY_BYTES / 3);
        for session in 0..10 {
            recent.hold(session, vec![remembered(None, &big)], 5);
            recent.push(session, remembered(None, "small"));
            assert!(recent.held_bytes() <= RECENT_HISTORY_BYTES);
        }
        assert!(recent.get(9, 2, None).is_some(), "the latest session stays");
        let huge = "x".repeat(RECENT_HISTORY_BYTES + 1);
        recent.hold(20, vec![remembered(None, &huge)], 5);
        assert!(recent.get(20, 1, None).is_none(), "a session over the bound alone is not held");
        assert!(recent.held_bytes() <= RECENT_HISTORY_BYTES);
        recent.clear();
        assert_eq!(recent.held_bytes(), 0);
    }
}
