//! Brains: what writes the answers. The orchestrator hands each one a [`BrainRequest`].

mod anthropic;
mod command;
pub mod conversation;
mod echo;
mod openai;
mod slot;
mod tool_rounds;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use parachute_core::config::{BrainConfig, BrainKind};
use parachute_core::ids::{ChatId, ChatKind, Platform};
use parachute_core::trust::TrustLevel;
use serde::Serialize;

pub use anthropic::{ANTHROPIC_VERSION, AnthropicBrain};
pub use command::CommandBrain;
pub use echo::EchoBrain;
pub use openai::OpenAiBrain;
pub use slot::BrainSlot;
pub use tool_rounds::joined;

use crate::companion::Toolbox;
use crate::image_input::ImageInput;
use crate::service_http::ServiceError;
use crate::store::HistoryEntry;

/// Everything a brain is told about one message.
#[derive(Debug, Clone, Serialize)]
pub struct BrainRequest {
    /// The chat's current session.
    pub session_id: i64,
    /// Where the conversation happens.
    pub platform: Platform,
    /// The chat.
    pub chat: ChatId,
    /// DM or group.
    pub chat_kind: ChatKind,
    /// The sanitized display name of the person speaking.
    pub sender_display: String,
    /// How far the brain may act for this sender.
    pub trust_level: TrustLevel,
    /// Who the companion is: the persona file's text, the start of the system prompt.
    pub persona: Option<String>,
    /// Extra instructions from the config.
    pub system_prompt: Option<String>,
    /// The owner's instructions for this chat (its settings), after the config's.
    pub chat_prompt: Option<String>,
    /// The model the owner chose for this chat, instead of `brain.model`.
    pub model: Option<String>,
    /// The companion's memory notes (only for `direct` senders).
    pub memory: Option<String>,
    /// The tools the brain may call for this sender (none: answer without tools).
    #[serde(skip)]
    pub tools: Option<Arc<Toolbox>>,
    /// Earlier messages of the session (and group context), oldest first.
    pub history: Vec<HistoryEntry>,
    /// The message to answer.
    pub message: String,
    /// Images sent with the message, ready for the model (only for brains that see images).
    #[serde(skip)]
    pub images: Vec<ImageInput>,
}

/// Why a brain produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrainError {
    /// It took too long.
    #[error("the brain did not answer in time")]
    Timeout,
    /// It could not be reached or failed.
    #[error("the brain is unavailable: {0}")]
    Unavailable(String),
    /// It refused this request (e.g. a trust level it does not serve).
    #[error("{0}")]
    Refused(String),
}

/// Why a brain could not be built from the config (validation normally rejects these first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrainSetupError {
    /// A key the brain needs is not set.
    #[error("brain.{key} is required for the {brain} brain")]
    Missing {
        /// The missing key under `brain`.
        key: &'static str,
        /// The brain kind.
        brain: &'static str,
    },
    /// The HTTP client could not be created.
    #[error("{0}")]
    Client(String),
}

/// What the user is told when an HTTP brain failed; the details were logged.
fn service_failure(service: &str, err: ServiceError) -> BrainError {
    match err {
        ServiceError::Timeout => BrainError::Timeout,
        other => BrainError::Unavailable(format!("{service}: {other}")),
    }
}

/// Where a brain that writes its answer bit by bit publishes the text so far (the whole text
/// each time, not the newest piece): the preview shows the latest whenever it may edit.
pub type PartialText = tokio::sync::watch::Sender<String>;

/// The note a streamed answer that broke off ends with, after the text received.
pub fn cut_off_note(text: &str, why: &str) -> String {
    format!("{}\n\n*(The answer was cut off: {why}.)*", text.trim_end())
}

/// Something that answers messages.
pub trait Brain: Send + Sync + 'static {
    /// The name shown in `!help`.
    fn name(&self) -> &str;

    /// Writes the answer (markdown) to one message.
    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>>;

    /// Whether the brain looks at the images of a request ([`BrainRequest::images`]); one that
    /// does not is never given any.
    fn sees_images(&self) -> bool {
        false
    }

    /// Whether the brain writes its answers bit by bit ([`respond_streaming`](Self::respond_streaming)
    /// publishes text before the end); only then is a preview shown.
    fn streams(&self) -> bool {
        false
    }

    /// Writes the answer like [`respond`](Self::respond), publishing the text so far on
    /// `partial` as it grows. Brains that answer at once publish nothing (the default).
    fn respond_streaming(
        &self,
        request: BrainRequest,
        partial: PartialText,
    ) -> BoxFuture<'static, Result<String, BrainError>> {
        drop(partial);
        self.respond(request)
    }
}

/// The brain the config asks for. One that cannot be built (a setting validation rejects
/// is missing) falls back to echo with an error in the log.
pub fn build_brain(config: &BrainConfig) -> Arc<dyn Brain> {
    let built: Result<Arc<dyn Brain>, BrainSetupError> = match config.kind {
        BrainKind::Echo => Ok(Arc::new(EchoBrain)),
        BrainKind::Command => CommandBrain::from_config(config)
            .map(|brain| Arc::new(brain) as Arc<dyn Brain>)
            .ok_or(BrainSetupError::Missing { key: "command", brain: "command" }),
        BrainKind::Anthropic => AnthropicBrain::from_config(config).map(|brain| Arc::new(brain) as Arc<dyn Brain>),
        BrainKind::Openai => OpenAiBrain::from_config(config).map(|brain| Arc::new(brain) as Arc<dyn Brain>),
    };
    built.unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot build the {} brain; answering with echo", config.kind.as_str());
        Arc::new(EchoBrain)
    })
}
