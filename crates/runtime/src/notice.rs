//! The signs that a message is being answered, the ack reaction and the typing notice, shown
//! only once the answer takes longer than [`NOTICE_DELAY`]: an instant answer goes out alone,
//! with nothing else on its way (no reaction to send, echo and remove, no typing request).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parachute_core::ids::{ChatId, EventId, Platform};
use tokio::sync::oneshot;

use crate::router::Router;

/// How long an answer may take before the reaction and the typing notice are shown.
pub const NOTICE_DELAY: Duration = Duration::from_millis(300);

/// The pending signs of one message being answered.
pub struct Notice {
    cancel: Option<oneshot::Sender<()>>,
    shown: Arc<AtomicBool>,
}

impl Notice {
    /// Shows the ack reaction of `event` (and, with `typing`, the typing notice in `chat`)
    /// after `delay`, unless [`settle`](Self::settle) comes first.
    pub fn after(
        delay: Duration,
        router: Router,
        platform: Platform,
        chat: ChatId,
        event: EventId,
        typing: bool,
    ) -> Self {
        let (cancel, cancelled) = oneshot::channel::<()>();
        let shown = Arc::new(AtomicBool::new(false));
        let flag = shown.clone();
        actix::spawn(async move {
            tokio::select! {
                // Settled (or dropped) first: nothing is shown, even when the delay ran out in
                // the same turn.
                biased;
                _ = cancelled => {}
                () = tokio::time::sleep(delay) => {
                    flag.store(true, Ordering::Relaxed);
                    router.acknowledge(platform, &chat, &event);
                    if typing {
                        router.typing(platform, &chat, true);
                    }
                }
            }
        });
        Self { cancel: Some(cancel), shown }
    }

    /// The answer is ready: nothing more is shown. Whether the signs were shown (the typing
    /// notice then has to be turned off; the reply's delivery removes the reaction).
    pub fn settle(mut self) -> bool {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        self.shown.load(Ordering::Relaxed)
    }
}
