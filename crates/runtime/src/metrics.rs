//! Counters for `/metrics`, shared by the actors.

use std::sync::atomic::{AtomicU64, Ordering};

use parachute_core::ids::Platform;

/// Counters per platform, incremented lock-free.
#[derive(Debug, Default)]
pub struct Metrics {
    received: [AtomicU64; 3],
    answered: [AtomicU64; 3],
    delivery_failures: [AtomicU64; 3],
    brain_errors: [AtomicU64; 3],
    duplicates_dropped: [AtomicU64; 3],
    rate_limited: [AtomicU64; 3],
    strangers_turned_away: [AtomicU64; 3],
    skipped: [AtomicU64; 3],
}

fn slot(platform: Platform) -> usize {
    match platform {
        Platform::Telegram => 0,
        Platform::Discord => 1,
        Platform::Matrix => 2,
    }
}

/// One counter's values, for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformCounts {
    /// Inbound events accepted by a connector.
    pub received: u64,
    /// Replies delivered.
    pub answered: u64,
    /// Replies the platform did not take.
    pub delivery_failures: u64,
    /// Brain failures.
    pub brain_errors: u64,
    /// Events dropped because they were already handled.
    pub duplicates_dropped: u64,
    /// Times the platform asked to slow down while sending.
    pub rate_limited: u64,
    /// Unknown senders and room invites given no pairing request (`pairing.max_pending`).
    pub strangers_turned_away: u64,
    /// Messages recorded as handled without an answer because a backlog was full.
    pub skipped: u64,
}

impl Metrics {
    /// An inbound event arrived.
    pub fn received(&self, p: Platform) {
        self.received[slot(p)].fetch_add(1, Ordering::Relaxed);
    }
    /// A reply was delivered.
    pub fn answered(&self, p: Platform) {
        self.answered[slot(p)].fetch_add(1, Ordering::Relaxed);
    }
    /// A reply could not be delivered.
    pub fn delivery_failed(&self, p: Platform) {
        self.delivery_failures[slot(p)].fetch_add(1, Ordering::Relaxed);
    }
    /// The brain failed.
    pub fn brain_error(&self, p: Platform) {
        self.brain_errors[slot(p)].fetch_add(1, Ordering::Relaxed);
    }
    /// A duplicate event was dropped.
    pub fn duplicate(&self, p: Platform) {
        self.duplicates_dropped[slot(p)].fetch_add(1, Ordering::Relaxed);
    }

    /// The platform asked to slow down.
    pub fn rate_limited(&self, p: Platform) {
        self.rate_limited[slot(p)].fetch_add(1, Ordering::Relaxed);
    }

    /// An unknown sender or room invite got no pairing request: too many wait.
    pub fn stranger_turned_away(&self, p: Platform) {
        self.strangers_turned_away[slot(p)].fetch_add(1, Ordering::Relaxed);
    }

    /// A message was skipped: a backlog (the chat's, the orchestrator's, Discord's intake) was full.
    pub fn skipped(&self, p: Platform) {
        self.skipped[slot(p)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters of one platform.
    pub fn counts(&self, p: Platform) -> PlatformCounts {
        let i = slot(p);
        PlatformCounts {
            received: self.received[i].load(Ordering::Relaxed),
            answered: self.answered[i].load(Ordering::Relaxed),
            delivery_failures: self.delivery_failures[i].load(Ordering::Relaxed),
            brain_errors: self.brain_errors[i].load(Ordering::Relaxed),
            duplicates_dropped: self.duplicates_dropped[i].load(Ordering::Relaxed),
            rate_limited: self.rate_limited[i].load(Ordering::Relaxed),
            strangers_turned_away: self.strangers_turned_away[i].load(Ordering::Relaxed),
            skipped: self.skipped[i].load(Ordering::Relaxed),
        }
    }
}
