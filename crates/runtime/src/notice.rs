//! The signs that a message is being answered, the ack reaction and the typing notice, shown
//! only once the answer takes longer than [`NOTICE_DELAY`]: an instant answer goes out alone,
//! with nothing else on its way (no reaction to send, echo and remove, no typing request).

use std::future::Future;
use std::time::Duration;

/// How long an answer may take before the reaction and the typing notice are shown.
pub const NOTICE_DELAY: Duration = Duration::from_millis(300);

/// Runs `work`; if it is not done within `delay`, calls `show` once and goes on waiting.
/// Returns the work's output and whether `show` was called.
pub async fn after_delay<T>(delay: Duration, work: impl Future<Output = T>, show: impl FnOnce()) -> (T, bool) {
    let mut work = std::pin::pin!(work);
    match tokio::time::timeout(delay, &mut work).await {
        Ok(done) => (done, false),
        Err(_) => {
            show();
            (work.await, true)
        }
    }
}
