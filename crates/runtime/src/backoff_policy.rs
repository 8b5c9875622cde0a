//! The reconnect policy: exponential backoff with jitter, capped, reset after a healthy spell.

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

/// The running delay sequence of one connector.
pub struct ReconnectDelays {
    policy: BackoffPolicy,
    inner: ExponentialBackoff,
}

impl ReconnectDelays {
    /// A fresh sequence.
    pub fn new(policy: BackoffPolicy) -> Self {
        let inner = ExponentialBackoffBuilder::new()
            .with_initial_interval(policy.initial)
            .with_max_interval(policy.max)
            .with_multiplier(policy.multiplier)
            .with_randomization_factor(policy.randomization)
            .with_max_elapsed_time(None)
            .build();
        Self { policy, inner }
    }

    /// The next delay, never above the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.inner.next_backoff().unwrap_or(self.policy.max).min(self.policy.max)
    }

    /// Back to the initial delay.
    pub fn reset(&mut self) {
        self.inner.reset();
    }

    /// The policy in force.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
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
}
