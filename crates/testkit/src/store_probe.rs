//! What tests read from a running runtime's store: handled events, the durable inbox,
//! cursors and history, each through the store thread like the actors' own reads.

use parachute_core::ids::{ChatKey, EventId, Platform};
use parachute_runtime::messages::Inbound;
use parachute_runtime::store::{HistoryEntry, Store};

/// Whether the event is recorded as handled.
pub async fn event_done(store: &Store, platform: Platform, event: impl Into<EventId>) -> bool {
    let event = event.into();
    store.call(move |db| db.is_event_done(platform, &event)).await.expect("store read")
}

/// What the platform's durable inbox holds (accepted, not finished), oldest first.
pub async fn inbox(store: &Store, platform: Platform) -> Vec<Inbound> {
    store.call(move |db| db.unfinished_inbound(platform, i64::MAX / 2)).await.expect("store read")
}

/// A stored cursor of the platform.
pub async fn cursor(store: &Store, platform: Platform, name: &'static str) -> Option<String> {
    store.call(move |db| db.cursor(platform, name)).await.expect("store read")
}

/// The last `limit` entries of the chat's current session.
pub async fn history(store: &Store, chat: &ChatKey, limit: usize) -> Vec<HistoryEntry> {
    let chat = chat.clone();
    store.call(move |db| db.history(&chat, limit)).await.expect("store read")
}
