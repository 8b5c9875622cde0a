//! The echo brain: answers with the text it got. The default, needing no account.

use futures_util::future::BoxFuture;

use super::{Brain, BrainError, BrainRequest};

/// Replies with the message it was given.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoBrain;

impl Brain for EchoBrain {
    fn name(&self) -> &str {
        "echo"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(async move { Ok(request.message) })
    }
}
