//! The one backoff module: exponential delays with jitter from the `backoff` crate, for
//! reconnects (never giving up, reset after a healthy spell), for reply retries (bounded in
//! attempts and total time) and for HTTP calls to AI services (bounded in attempts).

use std::time::Duration;

use backoff::backoff::Backoff;
use backoff::{ExponentialBackoff, ExponentialBackoffBuilder};

/// How a connector waits between reconnect attempts. It never gives up: a connector keeps
/// trying (at most `max` apart) until it connects or is stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per attempt.
    pub multiplier: f64,
    /// Jitter: each delay is drawn from ±this fraction around the nominal one.
    pub randomization: f64,
    /// A connection that lasted this long resets the delays to `initial`.
    pub healthy_after: Duration,
}

impl Default for BackoffPolicy {
    /// 1 s doubling up to 60 s with ±30 % jitter, reset after a healthy minute.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            randomization: 0.3,
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// A growing delay sequence: `initial`, then × `multiplier` per step up to `max`, each drawn
/// from ±`randomization` around its nominal value. It never ends by itself: callers that
/// give up (replies, AI calls) count attempts and time themselves.
#[derive(Debug, Clone)]
pub struct Delays {
    max: Duration,
    inner: ExponentialBackoff,
}

impl Delays {
    /// A fresh sequence.
    pub fn new(initial: Duration, max: Duration, multiplier: f64, randomization: f64) -> Self {
        let inner = ExponentialBackoffBuilder::new()
            .with_initial_interval(initial)
            .with_max_interval(max)
            .with_multiplier(multiplier)
            .with_randomization_factor(randomization)
            .with_max_elapsed_time(None)
            .build();
        Self { max, inner }
    }

    /// The next delay, never above the cap (plus its jitter).
    pub fn next_delay(&mut self) -> Duration {
        self.inner.next_backoff().unwrap_or(self.max)
    }

    /// Back to the initial delay.
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

/// The running delay sequence of one connector.
pub struct ReconnectDelays {
    policy: BackoffPolicy,
    delays: Delays,
}

impl ReconnectDelays {
    /// A fresh sequence.
    pub fn new(policy: BackoffPolicy) -> Self {
        let delays = Delays::new(policy.initial, policy.max, policy.multiplier, policy.randomization);
        Self { policy, delays }
    }

    /// The next delay, never above the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next_delay().min(self.policy.max)
    }

    /// Back to the initial delay.
    pub fn reset(&mut self) {
        self.delays.reset();
    }

    /// The policy in force.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }
}

/// Most attempts at sending one reply (the first one included) before it is reported failed.
pub const DELIVERY_MAX_ATTEMPTS: u32 = 5;
/// Longest time from a reply's first attempt to its last; a retry (or a platform's
/// `retry_after`) that would end later fails the reply at once instead of waiting.
pub const DELIVERY_TIME_BUDGET: Duration = Duration::from_secs(60);

/// How a reply is retried after a transient error (rate limits wait their `retry_after`
/// instead), and when it is given up.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRetryPolicy {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// Growth per retry.
    pub multiplier: f64,
    /// Jitter: ±this fraction around the nominal wait.
    pub randomization: f64,
    /// Most attempts, the first one included.
    pub max_attempts: u32,
    /// Longest time from the first attempt to the last.
    pub budget: Duration,
}

impl Default for DeliveryRetryPolicy {
    /// 1 s doubling up to 15 s (±30 %); [`DELIVERY_MAX_ATTEMPTS`] within [`DELIVERY_TIME_BUDGET`].
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(15),
            multiplier: 2.0,
            randomization: 0.3,
            max_attempts: DELIVERY_MAX_ATTEMPTS,
            budget: DELIVERY_TIME_BUDGET,
        }
    }
}

impl DeliveryRetryPolicy {
    /// The waits between one reply's attempts.
    pub fn delays(&self) -> Delays {
        Delays::new(self.initial, self.max, self.multiplier, self.randomization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut delays = ReconnectDelays::new(BackoffPolicy::default());
        let first = delays.next_delay();
        assert!(first >= Duration::from_millis(700) && first <= Duration::from_millis(1300), "{first:?}");
        let later: Vec<_> = (0..20).map(|_| delays.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(later[15] >= Duration::from_secs(40), "{later:?}");
        delays.reset();
        assert!(delays.next_delay() <= Duration::from_millis(1300));
    }

    #[test]
    fn delivery_retries_grow_within_their_cap() {
        let policy = DeliveryRetryPolicy { randomization: 0.0, ..DeliveryRetryPolicy::default() };
        let mut delays = policy.delays();
        let secs: Vec<_> = (0..6).map(|_| delays.next_delay().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 15, 15]);
    }
}
