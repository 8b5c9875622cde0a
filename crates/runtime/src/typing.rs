//! Typing indicators that a platform drops after a few seconds: one renewal task per chat,
//! replaced or stopped as answers start and end, all stopped when a connector's run ends.
//! The one implementation the Matrix, Telegram and Discord connectors share.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;

/// The running renewal task of each chat (by chat id).
#[derive(Default)]
pub struct TypingRenewals {
    tasks: Mutex<HashMap<String, AbortHandle>>,
}

impl TypingRenewals {
    /// Calls `show` every `every` for `chat` until [`stop`](Self::stop), replacing an earlier
    /// renewal of that chat. The first call is the caller's (so it can be awaited).
    pub fn renew<F, Fut>(&self, chat: &str, every: Duration, show: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(mut tasks) = self.tasks.lock() else { return };
        if let Some(task) = tasks.remove(chat) {
            task.abort();
        }
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                show().await;
            }
        });
        tasks.insert(chat.to_owned(), renewal.abort_handle());
    }

    /// Stops the renewal of `chat`, if any.
    pub fn stop(&self, chat: &str) {
        if let Ok(mut tasks) = self.tasks.lock()
            && let Some(task) = tasks.remove(chat)
        {
            task.abort();
        }
    }

    /// A guard that stops every renewal when dropped: a connector's run holds it, so a run
    /// that ends (or whose future is dropped) leaves no typing notice renewed.
    pub fn stop_all_on_drop(self: &Arc<Self>) -> StopRenewalsOnDrop {
        StopRenewalsOnDrop(self.clone())
    }

    /// Stops every renewal (when a connector's run ends).
    pub fn stop_all(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for (_, task) in tasks.drain() {
                task.abort();
            }
        }
    }
}

/// Stops every renewal of its [`TypingRenewals`] when dropped (see
/// [`TypingRenewals::stop_all_on_drop`]).
pub struct StopRenewalsOnDrop(Arc<TypingRenewals>);

impl Drop for StopRenewalsOnDrop {
    fn drop(&mut self) {
        self.0.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn renewals_repeat_until_stopped_and_the_guard_stops_them_all() {
        let renewals = Arc::new(TypingRenewals::default());
        let shown = Arc::new(AtomicUsize::new(0));
        let counter = |shown: &Arc<AtomicUsize>| {
            let shown = shown.clone();
            move || {
                let shown = shown.clone();
                async move {
                    shown.fetch_add(1, Ordering::SeqCst);
                }
            }
        };
        let guard = renewals.stop_all_on_drop();
        renewals.renew("a", Duration::from_secs(4), counter(&shown));
        renewals.renew("b", Duration::from_secs(4), counter(&shown));
        tokio::time::sleep(Duration::from_millis(8_100)).await;
        assert_eq!(shown.load(Ordering::SeqCst), 4, "two chats, renewed twice each");
        renewals.stop("a");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(shown.load(Ordering::SeqCst), 5, "only b renewed");
        drop(guard);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(shown.load(Ordering::SeqCst), 5, "nothing renewed after the run ended");
    }
}
