//! Ack reactions still being sent, by event: the reply to an event waits (bounded) for its
//! reaction to be sent before removing it, so a quick answer never leaves a reaction behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

/// How long a reply waits for its event's reaction to be sent before giving up on removing it.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// Most events tracked at once; beyond that, settled entries whose reply never came are
/// forgotten.
const MAX_TRACKED: usize = 4096;

/// One event's reaction: the sender holds the lock until the reaction is sent, and leaves
/// in it what removing the reaction needs (`Some`) or nothing when sending failed.
type Slot<T> = Arc<tokio::sync::Mutex<Option<T>>>;

/// The ack reactions of a connector, by event id. `T` is what removing one needs (Matrix:
/// the reaction's event id; Telegram and Discord: nothing, `()`).
pub struct PendingAcks<T> {
    slots: Mutex<HashMap<String, Slot<T>>>,
}

impl<T> Default for PendingAcks<T> {
    fn default() -> Self {
        Self { slots: Mutex::new(HashMap::new()) }
    }
}

/// Held while one reaction is sent; [`sent`](AckGuard::sent) records it. Dropping the guard
/// without calling it means the reaction was not sent.
pub struct AckGuard<T>(OwnedMutexGuard<Option<T>>);

impl<T> AckGuard<T> {
    /// The reaction is on the platform; `removal` is what deleting it needs.
    pub fn sent(mut self, removal: T) {
        *self.0 = Some(removal);
    }
}

impl<T: Clone> PendingAcks<T> {
    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot<T>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the reaction about to be sent for `event` (call it before the reply can be
    /// delivered); send it while holding the guard. `None` when one is already registered.
    pub fn begin(&self, event: &str) -> Option<AckGuard<T>> {
        let mut slots = self.slots();
        if slots.contains_key(event) {
            return None;
        }
        if slots.len() >= MAX_TRACKED {
            // Replies that were never delivered leave their entries; keep those in flight.
            slots.retain(|_, slot| slot.try_lock().is_err());
        }
        let slot = Slot::<T>::default();
        let guard = slot.clone().try_lock_owned().ok()?;
        slots.insert(event.to_owned(), slot);
        Some(AckGuard(guard))
    }

    /// Forgets the reaction of `event` and returns what removing it needs, waiting up to
    /// `wait` for it to be sent; `None` when none was registered, sending failed, or it took
    /// longer.
    pub async fn settle(&self, event: &str, wait: Duration) -> Option<T> {
        let slot = self.slots().remove(event)?;
        let sent = tokio::time::timeout(wait, slot.lock()).await.ok()?;
        sent.clone()
    }

    /// How many reactions are tracked (for tests).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Whether none is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reply_waits_for_its_reaction_to_be_sent() {
        let acks = Arc::new(PendingAcks::<u32>::default());
        let guard = acks.begin("$e").unwrap();
        assert!(acks.begin("$e").is_none(), "one reaction per event");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let sender = tokio::spawn(async move {
            let _ = rx.await;
            guard.sent(7);
        });
        let waiting = tokio::spawn({
            let acks = acks.clone();
            async move { acks.settle("$e", Duration::from_secs(5)).await }
        });
        tx.send(()).unwrap();
        assert_eq!(waiting.await.unwrap(), Some(7));
        sender.await.unwrap();
        assert!(acks.is_empty());
    }

    #[tokio::test]
    async fn failed_missing_and_late_reactions_are_not_removed() {
        let acks = PendingAcks::<()>::default();
        drop(acks.begin("failed"));
        assert_eq!(acks.settle("failed", Duration::from_secs(1)).await, None);
        assert_eq!(acks.settle("never-acked", Duration::from_secs(1)).await, None);
        let _slow = acks.begin("slow").unwrap();
        assert_eq!(acks.settle("slow", Duration::from_millis(20)).await, None);
        assert!(acks.is_empty());
    }

    #[test]
    fn undelivered_replies_do_not_grow_the_map_without_bound() {
        let acks = PendingAcks::<()>::default();
        let in_flight = acks.begin("in-flight").unwrap();
        for i in 0..MAX_TRACKED * 2 {
            if let Some(guard) = acks.begin(&format!("e{i}")) {
                guard.sent(());
            }
        }
        assert!(acks.len() <= MAX_TRACKED);
        assert!(acks.slots().contains_key("in-flight"), "a reaction still being sent is kept");
        drop(in_flight);
    }
}
