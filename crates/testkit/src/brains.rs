//! Fake brains for tests: one that records requests and answers after a per-chat delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_runtime::brain::{Brain, BrainError, BrainRequest};

/// How long a [`RecordingBrain::thinking`] brain takes per answer.
pub const THINKING: Duration = Duration::from_millis(500);
/// The key of the delay that applies to every chat.
const ANY_CHAT: &str = "*";

/// Answers `"<sender>: <message>"` after a delay chosen per chat, recording every request.
#[derive(Clone, Default)]
pub struct RecordingBrain {
    delays: Arc<Mutex<HashMap<String, Duration>>>,
    requests: Arc<Mutex<Vec<BrainRequest>>>,
    fail_with: Arc<Mutex<Option<BrainError>>>,
}

impl RecordingBrain {
    /// A brain that answers at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// A brain that takes [`THINKING`] for every answer, as a model does: long enough for
    /// the ack reaction and the typing notice to show (`notice::NOTICE_DELAY`).
    pub fn thinking() -> Self {
        let brain = Self::default();
        brain.delay_chat(ANY_CHAT, THINKING);
        brain
    }

    /// Makes answers in `chat` take `delay`.
    pub fn delay_chat(&self, chat: &str, delay: Duration) {
        self.delays.lock().unwrap_or_else(|p| p.into_inner()).insert(chat.to_owned(), delay);
    }

    /// Makes every answer fail with `err`.
    pub fn fail_with(&self, err: BrainError) {
        *self.fail_with.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<BrainRequest> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Brain for RecordingBrain {
    fn name(&self) -> &str {
        "recording"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        let delays = self.delays.lock().unwrap_or_else(|p| p.into_inner());
        let delay = delays.get(request.chat.as_str()).or_else(|| delays.get(ANY_CHAT)).copied();
        drop(delays);
        let failure = self.fail_with.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            match failure {
                Some(err) => Err(err),
                None => Ok(format!("{}: {}", request.sender_display, request.message)),
            }
        })
    }
}
