//! The `openai` brain: any OpenAI-compatible chat-completions API
//! (`POST {base_url}/chat/completions`, `base_url` including the version, e.g. `…/v1`), hosted
//! or local (llama.cpp server, Ollama, vLLM).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BrainConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::conversation::{Role, system_prompt, turns};
use super::{Brain, BrainError, BrainRequest, BrainSetupError, PartialText, service_failure, streamed_answer};
use crate::service_http::{RetryPolicy, ServiceError, http_client, send_with_retry};
use crate::service_stream::{StreamDecoder, stream_with_retry};
use sse_stream::Sse;

/// Answers through an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiBrain {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    client: reqwest::Client,
    url: String,
    model: String,
    max_tokens: u32,
    /// OpenAI's own API takes `max_completion_tokens` (its reasoning models reject
    /// `max_tokens`); compatible servers know `max_tokens`.
    completion_tokens_field: bool,
    api_key: Option<SecretString>,
    timeout: Duration,
    retry: RetryPolicy,
}

/// The request body: the answer's length limit goes in one of the two fields.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl<'a> ChatRequest<'a> {
    /// A request whose length limit is `max_completion_tokens` for OpenAI itself, else
    /// `max_tokens`.
    fn new(model: &'a str, limit: u32, completion_tokens_field: bool, messages: Vec<ChatMessage>) -> Self {
        let (max_tokens, max_completion_tokens) =
            if completion_tokens_field { (None, Some(limit)) } else { (Some(limit), None) };
        Self { model, max_tokens, max_completion_tokens, messages, stream: false }
    }
}

/// Whether `base_url` is OpenAI's own API, which wants `max_completion_tokens`.
fn is_openai_itself(base_url: &str) -> bool {
    reqwest::Url::parse(base_url).is_ok_and(|url| url.host_str() == Some("api.openai.com"))
}

#[derive(Serialize)]
struct ChatMessage {
    role: &'static str,
    content: String,
}

/// The part of the answer used: the first choice's message.
#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
}

/// One event of a streamed answer: a piece of the first choice, or an error.
#[derive(Deserialize)]
struct ChatChunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<AnswerMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// The first choice's text of a streamed answer. Complete at `[DONE]` or when the choice has
/// a finish reason (servers differ in which they send).
#[derive(Default)]
struct ChatStream {
    text: String,
}

impl StreamDecoder for ChatStream {
    fn event(&mut self, event: &Sse) -> Result<bool, ServiceError> {
        let Some(data) = event.data.as_deref().map(str::trim) else { return Ok(false) };
        if data == "[DONE]" {
            return Ok(true);
        }
        let chunk: ChatChunk = serde_json::from_str(data)
            .map_err(|e| ServiceError::Malformed(format!("not a chat-completions stream event: {e}")))?;
        if chunk.error.is_some() {
            return Err(ServiceError::Malformed("the service reported an error in the stream".to_owned()));
        }
        let mut finished = false;
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(piece) = choice.delta.and_then(|delta| delta.content) {
                self.text.push_str(&piece);
            }
            finished |= choice.finish_reason.is_some();
        }
        Ok(finished)
    }

    fn text(&self) -> String {
        self.text.trim().to_owned()
    }

    fn reset(&mut self) {
        self.text.clear();
    }

    fn whole(&self, body: &[u8]) -> Result<String, ServiceError> {
        read_answer(body)
    }
}

impl OpenAiBrain {
    /// From the `brain` section: `model`, `base_url`, optional `api_key`, `max_tokens`,
    /// `timeout`, `max_retries`.
    pub fn from_config(config: &BrainConfig) -> Result<Self, BrainSetupError> {
        let model = config.model.as_deref().map(str::trim).filter(|m| !m.is_empty());
        let model = model.ok_or(BrainSetupError::Missing { key: "model", brain: "openai" })?;
        let client = http_client().map_err(|e| BrainSetupError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                url: format!("{}/chat/completions", config.effective_base_url()),
                model: model.to_owned(),
                max_tokens: config.max_tokens,
                completion_tokens_field: is_openai_itself(config.effective_base_url()),
                api_key: config.api_key.clone(),
                timeout: config.timeout.0,
                retry: RetryPolicy::with_retries(config.max_retries),
            }),
        })
    }

    /// The same brain waiting between retries as `retry` says (tests use short delays).
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self { inner: Arc::new(Inner { retry, ..(*self.inner).clone() }) }
    }

    async fn ask(inner: Arc<Inner>, request: BrainRequest, partial: Option<PartialText>) -> Result<String, BrainError> {
        let system = ChatMessage { role: "system", content: system_prompt(&request) };
        let conversation = turns(&request).into_iter().map(|turn| ChatMessage {
            role: match turn.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content: turn.content,
        });
        let body = ChatRequest {
            stream: partial.is_some(),
            ..ChatRequest::new(
                &inner.model,
                inner.max_tokens,
                inner.completion_tokens_field,
                std::iter::once(system).chain(conversation).collect(),
            )
        };
        let body = serde_json::to_vec(&body).map_err(|e| BrainError::Unavailable(format!("request: {e}")))?;
        let build = || {
            let mut request = inner
                .client
                .post(&inner.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &inner.api_key {
                request = request.bearer_auth(key.expose_secret());
            }
            Ok(request)
        };
        let Some(partial) = partial else {
            return send_with_retry("openai", &inner.retry, inner.timeout, inner.api_key.as_ref(), build)
                .await
                .and_then(|bytes| read_answer(&bytes))
                .map_err(|err| service_failure("openai", err));
        };
        let mut decoder = ChatStream::default();
        let (retry, timeout, key) = (&inner.retry, inner.timeout, inner.api_key.as_ref());
        let streamed = stream_with_retry("openai", retry, timeout, key, build, &mut decoder, &partial).await;
        streamed_answer(streamed.map_err(|err| service_failure("openai", err))?)
    }
}

/// The first choice's text.
fn read_answer(bytes: &[u8]) -> Result<String, ServiceError> {
    let response: ChatResponse = serde_json::from_slice(bytes)
        .map_err(|e| ServiceError::Malformed(format!("not a chat-completions answer: {e}")))?;
    let text = response.choices.into_iter().next().and_then(|c| c.message.content).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Err(ServiceError::Malformed("the answer has no text".to_owned()));
    }
    Ok(text.to_owned())
}

impl Brain for OpenAiBrain {
    fn name(&self) -> &str {
        "openai"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(Self::ask(self.inner.clone(), request, None))
    }

    fn streams(&self) -> bool {
        true
    }

    fn respond_streaming(
        &self,
        request: BrainRequest,
        partial: PartialText,
    ) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(Self::ask(self.inner.clone(), request, Some(partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_stream::decode_for_tests::decode;
    use proptest::prelude::*;

    /// A streamed answer as chat-completions servers send it: a role chunk, pieces, a comment
    /// line some proxies add, the finish reason, a usage chunk without choices, `[DONE]`.
    const STREAM: &str = concat!(
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        "\n\n: PROCESSING\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Salut "},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"other choice"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"hm","content":null},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"à tous 🪂"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        "\n\n",
        r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
        "\n\ndata: [DONE]\n\n",
    );

    /// The text after each event that carries data, and whether it completed the answer.
    async fn data_events(body: &str, cuts: &[usize]) -> Result<Vec<(String, bool)>, ServiceError> {
        decode(&mut ChatStream::default(), body, cuts).await
    }

    #[tokio::test]
    async fn a_stream_grows_the_first_choice_and_completes_at_its_finish_reason() {
        let seen = data_events(STREAM, &[]).await.unwrap();
        let texts: Vec<&str> = seen.iter().map(|(text, _)| text.as_str()).collect();
        assert!(texts.contains(&"Salut"), "{texts:?}");
        assert!(!texts.iter().any(|text| text.contains("other choice") || text.contains("hm")), "{texts:?}");
        let first_complete = seen.iter().position(|(_, complete)| *complete).unwrap();
        assert_eq!(seen[first_complete].0, "Salut à tous 🪂");
        assert_eq!(seen.last().unwrap(), &("Salut à tous 🪂".to_owned(), true));
    }

    #[tokio::test]
    async fn done_alone_completes_a_stream_without_finish_reasons() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(data_events(body, &[]).await.unwrap(), [("ok".to_owned(), false), ("ok".to_owned(), true)]);
    }

    #[tokio::test]
    async fn an_error_in_the_stream_or_garbage_fails_it() {
        let error = "data: {\"error\":{\"message\":\"rate limited\",\"code\":429}}\n\n";
        assert!(matches!(data_events(error, &[]).await, Err(ServiceError::Malformed(_))));
        assert!(matches!(data_events("data: {not json\n\n", &[]).await, Err(ServiceError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn the_stream_reads_the_same_however_the_network_cuts_it(cuts in prop::collection::vec(0usize..4096, 0..40)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let whole = runtime.block_on(data_events(STREAM, &[])).unwrap();
            let cut = runtime.block_on(data_events(STREAM, &cuts)).unwrap();
            prop_assert_eq!(cut, whole);
        }
    }

    #[test]
    fn the_first_choice_is_the_answer() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":" Hi! "}},{"index":1,"message":{"role":"assistant","content":"no"}}]}"#;
        assert_eq!(read_answer(body).unwrap(), "Hi!");
        assert!(matches!(read_answer(br#"{"choices":[]}"#), Err(ServiceError::Malformed(_))));
        let null = br#"{"choices":[{"message":{"role":"assistant","content":null}}]}"#;
        assert!(matches!(read_answer(null), Err(ServiceError::Malformed(_))));
    }

    #[test]
    fn only_openai_itself_gets_max_completion_tokens() {
        assert!(is_openai_itself("https://api.openai.com/v1"));
        assert!(!is_openai_itself("http://127.0.0.1:8080/v1"));
        assert!(!is_openai_itself("https://api.openai.com.example.org/v1"));
        assert!(!is_openai_itself("not a url"));
        let body = |completion: bool| serde_json::to_value(ChatRequest::new("m", 99, completion, Vec::new())).unwrap();
        assert_eq!(body(true), serde_json::json!({"model": "m", "max_completion_tokens": 99, "messages": []}));
        assert_eq!(body(false), serde_json::json!({"model": "m", "max_tokens": 99, "messages": []}));
    }
}
