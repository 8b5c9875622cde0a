//! Latency samples and throughput of one run.

use std::time::Duration;

/// What one run measured.
pub struct Report {
    /// Wall time from the first message in to the last reply out.
    pub elapsed: Duration,
    /// Per-message time from injection to delivered reply, sorted.
    pub latencies: Vec<Duration>,
}

impl Report {
    /// A report from unsorted samples.
    pub fn new(elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self { elapsed, latencies }
    }

    /// Messages per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The `p`-th percentile (0–100) of the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let report = Report::new(Duration::from_secs(2), samples);
        assert_eq!(report.percentile(50.0), Duration::from_millis(51));
        assert_eq!(report.percentile(99.0), Duration::from_millis(99));
        assert_eq!(report.percentile(100.0), Duration::from_millis(100));
        assert_eq!(report.throughput(), 50.0);
    }
}
