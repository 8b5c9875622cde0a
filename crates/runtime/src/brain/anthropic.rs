//! The `anthropic` brain: Anthropic's Messages API (`POST {base_url}/v1/messages`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BrainConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::conversation::{Turn, system_prompt, turns};
use super::{Brain, BrainError, BrainRequest, BrainSetupError, service_failure};
use crate::service_http::{RetryPolicy, ServiceError, http_client, send_with_retry};

/// The API version sent in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Answers through Claude models.
#[derive(Clone)]
pub struct AnthropicBrain {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    client: reqwest::Client,
    url: String,
    model: String,
    max_tokens: u32,
    api_key: SecretString,
    timeout: Duration,
    retry: RetryPolicy,
}

/// The request body.
#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    system: String,
    messages: Vec<Turn>,
}

/// The part of the answer used: its content blocks.
#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

impl AnthropicBrain {
    /// From the `brain` section: `model`, `api_key`, `max_tokens`, `base_url`, `timeout`,
    /// `max_retries`.
    pub fn from_config(config: &BrainConfig) -> Result<Self, BrainSetupError> {
        let model = config.model.as_deref().map(str::trim).filter(|m| !m.is_empty());
        let model = model.ok_or(BrainSetupError::Missing { key: "model", brain: "anthropic" })?;
        let api_key = config.api_key.clone().ok_or(BrainSetupError::Missing { key: "api_key", brain: "anthropic" })?;
        let client = http_client().map_err(|e| BrainSetupError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                url: format!("{}/v1/messages", config.effective_base_url()),
                model: model.to_owned(),
                max_tokens: config.max_tokens,
                api_key,
                timeout: config.timeout.0,
                retry: RetryPolicy::with_retries(config.max_retries),
            }),
        })
    }

    /// The same brain waiting between retries as `retry` says (tests use short delays).
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self { inner: Arc::new(Inner { retry, ..(*self.inner).clone() }) }
    }

    async fn ask(inner: Arc<Inner>, request: BrainRequest) -> Result<String, BrainError> {
        let body = MessagesRequest {
            model: &inner.model,
            max_tokens: inner.max_tokens,
            system: system_prompt(&request),
            messages: turns(&request),
        };
        let body = serde_json::to_vec(&body).map_err(|e| BrainError::Unavailable(format!("request: {e}")))?;
        let build = || {
            Ok(inner
                .client
                .post(&inner.url)
                .header("x-api-key", inner.api_key.expose_secret())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()))
        };
        let answer = send_with_retry("anthropic", &inner.retry, inner.timeout, Some(&inner.api_key), build)
            .await
            .and_then(|bytes| read_answer(&bytes))
            .map_err(|err| service_failure("anthropic", err))?;
        Ok(answer)
    }
}

/// The text blocks of a Messages API answer, joined.
fn read_answer(bytes: &[u8]) -> Result<String, ServiceError> {
    let response: MessagesResponse = serde_json::from_slice(bytes)
        .map_err(|e| ServiceError::Malformed(format!("not a Messages API answer: {e}")))?;
    let text: Vec<&str> =
        response.content.iter().filter(|block| block.kind == "text").map(|block| block.text.trim()).collect();
    let text = text.join("\n\n").trim().to_owned();
    if text.is_empty() {
        return Err(ServiceError::Malformed("the answer has no text".to_owned()));
    }
    Ok(text)
}

impl Brain for AnthropicBrain {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(Self::ask(self.inner.clone(), request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_are_joined_and_other_blocks_skipped() {
        let body = br#"{"content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}"#;
        assert_eq!(read_answer(body).unwrap(), "Hi\n\nthere");
        assert!(matches!(read_answer(br#"{"content":[]}"#), Err(ServiceError::Malformed(_))));
        assert!(matches!(read_answer(b"<html>"), Err(ServiceError::Malformed(_))));
    }
}
