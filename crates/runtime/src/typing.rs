//! Typing indicators that a platform drops after a few seconds: one renewal task per chat,
//! replaced or stopped as answers start and end.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
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

    /// Stops every renewal (when a connector's run ends).
    pub fn stop_all(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for (_, task) in tasks.drain() {
                task.abort();
            }
        }
    }
}
