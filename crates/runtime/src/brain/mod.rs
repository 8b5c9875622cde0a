//! Brains: what writes the answers. The orchestrator hands each one a [`BrainRequest`].

mod command;
mod echo;
mod slot;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use parachute_core::config::{BrainConfig, BrainKind};
use parachute_core::ids::{ChatId, ChatKind, Platform};
use parachute_core::trust::TrustLevel;
use serde::Serialize;

pub use command::CommandBrain;
pub use echo::EchoBrain;
pub use slot::BrainSlot;

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
    /// Extra instructions from the config.
    pub system_prompt: Option<String>,
    /// Earlier messages of the session (and group context), oldest first.
    pub history: Vec<HistoryEntry>,
    /// The message to answer.
    pub message: String,
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

/// Something that answers messages.
pub trait Brain: Send + Sync + 'static {
    /// The name shown in `!help`.
    fn name(&self) -> &str;

    /// Writes the answer (markdown) to one message.
    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>>;
}

/// The brain the config asks for. A `command` brain without a command (which validation
/// rejects) falls back to echo with an error in the log.
pub fn build_brain(config: &BrainConfig) -> Arc<dyn Brain> {
    match config.kind {
        BrainKind::Echo => Arc::new(EchoBrain),
        BrainKind::Command => match CommandBrain::from_config(config) {
            Some(brain) => Arc::new(brain),
            None => {
                tracing::error!("brain.kind is command but brain.command is empty; answering with echo");
                Arc::new(EchoBrain)
            }
        },
    }
}
