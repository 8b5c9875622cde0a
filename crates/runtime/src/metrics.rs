//! Counters, gauges and the brain latency histogram for `/metrics`, shared by the actors and
//! kept in a `prometheus-client` registry that renders the OpenMetrics text format.

use std::time::Duration;

use parachute_core::ids::Platform;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The label set of every per-platform metric: `platform="telegram"`.
type PlatformLabel = [(&'static str, &'static str); 1];

fn label(platform: Platform) -> PlatformLabel {
    [("platform", platform.as_str())]
}

/// Upper bounds (seconds) of the brain latency buckets: instant brains land in the first,
/// a model writing a long answer in the last ones.
const BRAIN_SECONDS_BUCKETS: [f64; 12] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

fn brain_histogram() -> Histogram {
    Histogram::new(BRAIN_SECONDS_BUCKETS)
}

/// The metrics of the running server, updated lock-free by the actors.
#[derive(Debug)]
pub struct Metrics {
    received: Family<PlatformLabel, Counter>,
    answered: Family<PlatformLabel, Counter>,
    delivery_failures: Family<PlatformLabel, Counter>,
    brain_errors: Family<PlatformLabel, Counter>,
    duplicates_dropped: Family<PlatformLabel, Counter>,
    rate_limited: Family<PlatformLabel, Counter>,
    strangers_turned_away: Family<PlatformLabel, Counter>,
    skipped: Family<PlatformLabel, Counter>,
    queue_depth: Family<PlatformLabel, Gauge>,
    brain_seconds: Family<PlatformLabel, Histogram, fn() -> Histogram>,
    registry: Registry,
}

/// One platform's counter values, for status views and tests.
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
    /// Messages waiting for their chat's turn (not started yet).
    pub queue_depth: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Self {
            received: Family::default(),
            answered: Family::default(),
            delivery_failures: Family::default(),
            brain_errors: Family::default(),
            duplicates_dropped: Family::default(),
            rate_limited: Family::default(),
            strangers_turned_away: Family::default(),
            skipped: Family::default(),
            queue_depth: Family::default(),
            brain_seconds: Family::new_with_constructor(brain_histogram),
            registry: Registry::default(),
        };
        let counters = [
            ("parachute_messages_received", "Inbound events accepted from the platform", &metrics.received),
            ("parachute_replies_sent", "Replies delivered", &metrics.answered),
            ("parachute_delivery_failures", "Replies the platform did not take", &metrics.delivery_failures),
            ("parachute_brain_errors", "Brain failures", &metrics.brain_errors),
            (
                "parachute_duplicates_dropped",
                "Events dropped because they were already handled",
                &metrics.duplicates_dropped,
            ),
            ("parachute_rate_limited", "Times the platform asked to slow down while sending", &metrics.rate_limited),
            (
                "parachute_pairing_turned_away",
                "Unknown senders and room invites given no pairing request because pairing.max_pending wait",
                &metrics.strangers_turned_away,
            ),
            ("parachute_messages_skipped", "Messages left unanswered because a backlog was full", &metrics.skipped),
        ];
        // Every platform shows up from the start, at zero, so a dashboard has its series
        // before the first message.
        for l in Platform::ALL.map(label) {
            for (_, _, family) in &counters {
                drop(family.get_or_create(&l));
            }
            drop(metrics.queue_depth.get_or_create(&l));
            drop(metrics.brain_seconds.get_or_create(&l));
        }
        let mut registry = Registry::default();
        for (name, help, family) in counters {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "parachute_queue_depth",
            "Messages waiting for their chat's turn to be answered (not started yet)",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "parachute_brain_seconds",
            "Time the brain took to answer, in seconds (failures included)",
            metrics.brain_seconds.clone(),
        );
        metrics.registry = registry;
        metrics
    }
}

fn value(family: &Family<PlatformLabel, Counter>, platform: Platform) -> u64 {
    family.get_or_create(&label(platform)).get()
}

fn bump(family: &Family<PlatformLabel, Counter>, platform: Platform) {
    family.get_or_create(&label(platform)).inc();
}

impl Metrics {
    /// An inbound event arrived.
    pub fn received(&self, p: Platform) {
        bump(&self.received, p);
    }
    /// A reply was delivered.
    pub fn answered(&self, p: Platform) {
        bump(&self.answered, p);
    }
    /// A reply could not be delivered.
    pub fn delivery_failed(&self, p: Platform) {
        bump(&self.delivery_failures, p);
    }
    /// The brain failed.
    pub fn brain_error(&self, p: Platform) {
        bump(&self.brain_errors, p);
    }
    /// A duplicate event was dropped.
    pub fn duplicate(&self, p: Platform) {
        bump(&self.duplicates_dropped, p);
    }
    /// The platform asked to slow down.
    pub fn rate_limited(&self, p: Platform) {
        bump(&self.rate_limited, p);
    }
    /// An unknown sender or room invite got no pairing request: too many wait.
    pub fn stranger_turned_away(&self, p: Platform) {
        bump(&self.strangers_turned_away, p);
    }
    /// A message was skipped: a backlog (the chat's, the orchestrator's, Discord's intake) was full.
    pub fn skipped(&self, p: Platform) {
        bump(&self.skipped, p);
    }

    /// A message joined its chat's queue.
    pub fn queued(&self, p: Platform) {
        self.queue_depth.get_or_create(&label(p)).inc();
    }
    /// A message left its chat's queue (started or skipped).
    pub fn dequeued(&self, p: Platform) {
        self.queue_depth.get_or_create(&label(p)).dec();
    }

    /// The brain took `elapsed` to answer (or to fail).
    pub fn brain_took(&self, p: Platform, elapsed: Duration) {
        self.brain_seconds.get_or_create(&label(p)).observe(elapsed.as_secs_f64());
    }

    /// The counters of one platform.
    pub fn counts(&self, p: Platform) -> PlatformCounts {
        PlatformCounts {
            received: value(&self.received, p),
            answered: value(&self.answered, p),
            delivery_failures: value(&self.delivery_failures, p),
            brain_errors: value(&self.brain_errors, p),
            duplicates_dropped: value(&self.duplicates_dropped, p),
            rate_limited: value(&self.rate_limited, p),
            strangers_turned_away: value(&self.strangers_turned_away, p),
            skipped: value(&self.skipped, p),
            queue_depth: u64::try_from(self.queue_depth.get_or_create(&label(p)).get()).unwrap_or(0),
        }
    }

    /// The registry to render (`prometheus_client::encoding::text::encode_registry`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode_registry;

    use super::*;

    #[test]
    fn counters_and_the_histogram_render_per_platform() {
        let metrics = Metrics::default();
        metrics.answered(Platform::Telegram);
        metrics.queued(Platform::Matrix);
        metrics.queued(Platform::Matrix);
        metrics.dequeued(Platform::Matrix);
        metrics.brain_took(Platform::Discord, Duration::from_millis(300));
        let mut text = String::new();
        encode_registry(&mut text, metrics.registry()).unwrap();
        assert!(text.contains("parachute_replies_sent_total{platform=\"telegram\"} 1"), "{text}");
        assert!(text.contains("parachute_replies_sent_total{platform=\"matrix\"} 0"), "{text}");
        assert!(text.contains("parachute_queue_depth{platform=\"matrix\"} 1"), "{text}");
        assert!(text.contains("parachute_brain_seconds_bucket{le=\"0.25\",platform=\"discord\"} 0"), "{text}");
        assert!(text.contains("parachute_brain_seconds_bucket{le=\"0.5\",platform=\"discord\"} 1"), "{text}");
        assert!(text.contains("parachute_brain_seconds_count{platform=\"discord\"} 1"), "{text}");
        assert_eq!(metrics.counts(Platform::Matrix).queue_depth, 1);
    }
}
