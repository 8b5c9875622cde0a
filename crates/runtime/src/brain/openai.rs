//! The `openai` brain: any OpenAI-compatible chat-completions API
//! (`POST {base_url}/chat/completions`, `base_url` including the version, e.g. `…/v1`), hosted
//! or local (llama.cpp server, Ollama, vLLM), with the sender's tools offered as functions and
//! called in rounds (`tool_calls`, then `tool` messages).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BrainConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conversation::{Role, system_prompt, turns};
use super::tool_rounds::{self, Round, Step, ToolApi};
use super::{Brain, BrainError, BrainRequest, BrainSetupError, PartialText, cut_off_note, joined, service_failure};
use crate::companion::{ToolCall, ToolOutcome, ToolSpec};
use crate::service_http::{RetryPolicy, ServiceError, http_client, send_with_retry};
use crate::service_stream::{Publish, StreamDecoder, Streamed, stream_with_retry};
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
    messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [FunctionTool],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl<'a> ChatRequest<'a> {
    /// A request whose length limit is `max_completion_tokens` for OpenAI itself, else
    /// `max_tokens`.
    fn new(model: &'a str, limit: u32, completion_tokens_field: bool, messages: &'a [ChatMessage]) -> Self {
        let (max_tokens, max_completion_tokens) =
            if completion_tokens_field { (None, Some(limit)) } else { (Some(limit), None) };
        Self { model, max_tokens, max_completion_tokens, messages, tools: &[], stream: false }
    }
}

/// Whether `base_url` is OpenAI's own API, which wants `max_completion_tokens`.
fn is_openai_itself(base_url: &str) -> bool {
    reqwest::Url::parse(base_url).is_ok_and(|url| url.host_str() == Some("api.openai.com"))
}

/// One message: the system prompt, a turn, the bot's tool calls, or a tool's result.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum ChatMessage {
    System {
        content: String,
    },
    User {
        content: UserContent,
    },
    Assistant {
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallSent>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

/// What a person said: text, or text with images (content parts).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum UserContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// An image as a `data:` URL.
#[derive(Debug, Serialize)]
struct ImageUrl {
    url: String,
}

/// A tool call of the bot's, as it goes back in the conversation.
#[derive(Debug, Serialize)]
struct CallSent {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FunctionCall {
    #[serde(default)]
    name: String,
    /// The arguments as a JSON text.
    #[serde(default)]
    arguments: String,
}

/// A tool as chat completions describe it.
#[derive(Debug, Serialize)]
struct FunctionTool {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionSpec,
}

#[derive(Debug, Serialize)]
struct FunctionSpec {
    name: String,
    description: String,
    parameters: Value,
}

impl From<ToolSpec> for FunctionTool {
    fn from(spec: ToolSpec) -> Self {
        let function = FunctionSpec { name: spec.name, description: spec.description, parameters: spec.parameters };
        Self { kind: "function", function }
    }
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
    #[serde(default)]
    tool_calls: Vec<CallReceived>,
}

#[derive(Deserialize)]
struct CallReceived {
    #[serde(default)]
    id: String,
    #[serde(default)]
    function: FunctionCall,
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
    delta: Option<ChunkDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CallPiece>,
}

/// A piece of a streamed tool call: the first names it, the rest add to its arguments.
#[derive(Deserialize)]
struct CallPiece {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionPiece>,
}

#[derive(Deserialize)]
struct FunctionPiece {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The first choice's text and tool calls of a streamed answer. Complete at `[DONE]` or when
/// the choice has a finish reason (servers differ in which they send).
#[derive(Default)]
struct ChatStream {
    text: String,
    calls: Vec<(usize, String, FunctionCall)>,
}

impl ChatStream {
    /// The tool calls asked for, their arguments parsed (empty means `{}`).
    fn calls(&self) -> Result<Vec<ToolCall>, ServiceError> {
        self.calls.iter().map(|(_, id, function)| parsed_call(id, function)).collect()
    }
}

/// A received call with its arguments parsed from their JSON text.
fn parsed_call(id: &str, function: &FunctionCall) -> Result<ToolCall, ServiceError> {
    let json = if function.arguments.trim().is_empty() { "{}" } else { function.arguments.as_str() };
    let arguments = serde_json::from_str(json)
        .map_err(|e| ServiceError::Malformed(format!("the arguments of tool call {}: {e}", function.name)))?;
    Ok(ToolCall { id: id.to_owned(), name: function.name.clone(), arguments })
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
            if let Some(delta) = choice.delta {
                self.text.push_str(delta.content.as_deref().unwrap_or_default());
                for piece in delta.tool_calls {
                    let position = self.calls.iter().position(|(index, ..)| *index == piece.index);
                    let position = position.unwrap_or_else(|| {
                        self.calls.push((piece.index, String::new(), FunctionCall::default()));
                        self.calls.len() - 1
                    });
                    let (_, id, function) = &mut self.calls[position];
                    if let Some(new_id) = piece.id {
                        *id = new_id;
                    }
                    if let Some(part) = piece.function {
                        function.name.push_str(part.name.as_deref().unwrap_or_default());
                        function.arguments.push_str(part.arguments.as_deref().unwrap_or_default());
                    }
                }
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
        self.calls.clear();
    }

    fn whole(&mut self, body: &[u8]) -> Result<(), ServiceError> {
        let (text, calls) = read_message(body)?;
        self.text = text;
        self.calls = calls.into_iter().enumerate().map(|(i, call)| (i, call.id, call.function)).collect();
        Ok(())
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
        let system = ChatMessage::System { content: system_prompt(&request) };
        let conversation = turns(&request).into_iter().map(|turn| match turn.role {
            Role::User => ChatMessage::User { content: UserContent::Text(turn.content) },
            Role::Assistant => ChatMessage::Assistant { content: Some(turn.content), tool_calls: Vec::new() },
        });
        let mut messages: Vec<ChatMessage> = std::iter::once(system).chain(conversation).collect();
        // The images go with the message they came with: the last turn, before its text.
        if let Some(ChatMessage::User { content }) = messages.last_mut().filter(|_| !request.images.is_empty())
            && let UserContent::Text(text) = content
        {
            let images = request
                .images
                .iter()
                .map(|image| ContentPart::ImageUrl { image_url: ImageUrl { url: image.data_url() } });
            let text = ContentPart::Text { text: std::mem::take(text) };
            *content = UserContent::Parts(images.chain(std::iter::once(text)).collect());
        }
        let tools = request.tools.clone();
        let mut rounds = Rounds {
            model: request.model.clone().unwrap_or_else(|| inner.model.clone()),
            inner,
            messages,
            tools: tools.as_ref().map(|t| t.specs().into_iter().map(FunctionTool::from).collect()).unwrap_or_default(),
            partial,
        };
        tool_rounds::answer(&mut rounds, tools.as_deref()).await
    }
}

/// The conversation of one answer, as it grows round by round.
struct Rounds {
    inner: Arc<Inner>,
    /// The chat's model, else the config's.
    model: String,
    messages: Vec<ChatMessage>,
    tools: Vec<FunctionTool>,
    partial: Option<PartialText>,
}

impl Rounds {
    async fn round(&mut self, earlier: &str) -> Result<Round, BrainError> {
        let inner = &self.inner;
        let body = ChatRequest {
            stream: self.partial.is_some(),
            tools: &self.tools,
            ..ChatRequest::new(&self.model, inner.max_tokens, inner.completion_tokens_field, &self.messages)
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
        let (retry, timeout, key) = (&inner.retry, inner.timeout, inner.api_key.as_ref());
        let Some(partial) = &self.partial else {
            let step = send_with_retry("openai", retry, timeout, key, build).await.and_then(|bytes| read_step(&bytes));
            return step.map(Round::Step).map_err(|err| service_failure("openai", err));
        };
        let mut decoder = ChatStream::default();
        let publish = Publish { partial, earlier };
        let streamed = stream_with_retry("openai", retry, timeout, key, build, &mut decoder, publish).await;
        match streamed.map_err(|err| service_failure("openai", err))? {
            Streamed::Complete(text) => {
                let calls = decoder.calls().map_err(|err| service_failure("openai", err))?;
                Ok(Round::Step(Step { text, calls }))
            }
            Streamed::Cut { text, error } => Ok(Round::Cut(cut_off_note(&joined(earlier, &text), &error.to_string()))),
        }
    }
}

impl ToolApi for Rounds {
    fn ask<'a>(&'a mut self, earlier: &'a str) -> BoxFuture<'a, Result<Round, BrainError>> {
        Box::pin(self.round(earlier))
    }

    fn answer_calls(&mut self, step: &Step, outcomes: &[ToolOutcome]) {
        let tool_calls = step
            .calls
            .iter()
            .map(|call| CallSent {
                id: call.id.clone(),
                kind: "function",
                function: FunctionCall { name: call.name.clone(), arguments: call.arguments.to_string() },
            })
            .collect();
        let content = (!step.text.trim().is_empty()).then(|| step.text.clone());
        self.messages.push(ChatMessage::Assistant { content, tool_calls });
        for (call, outcome) in step.calls.iter().zip(outcomes) {
            let content =
                if outcome.is_error { format!("Error: {}", outcome.content) } else { outcome.content.clone() };
            self.messages.push(ChatMessage::Tool { tool_call_id: call.id.clone(), content });
        }
    }
}

/// The first choice's text (trimmed) and tool calls.
fn read_message(bytes: &[u8]) -> Result<(String, Vec<CallReceived>), ServiceError> {
    let response: ChatResponse = serde_json::from_slice(bytes)
        .map_err(|e| ServiceError::Malformed(format!("not a chat-completions answer: {e}")))?;
    let message = response.choices.into_iter().next().map(|c| c.message);
    let (text, calls) = message.map(|m| (m.content.unwrap_or_default(), m.tool_calls)).unwrap_or_default();
    let text = text.trim().to_owned();
    if text.is_empty() && calls.is_empty() {
        return Err(ServiceError::Malformed("the answer has no text".to_owned()));
    }
    Ok((text, calls))
}

/// The first choice as one round's step.
fn read_step(bytes: &[u8]) -> Result<Step, ServiceError> {
    let (text, calls) = read_message(bytes)?;
    let calls = calls.iter().map(|call| parsed_call(&call.id, &call.function)).collect::<Result<_, _>>()?;
    Ok(Step { text, calls })
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

    fn sees_images(&self) -> bool {
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

    #[tokio::test]
    async fn a_streamed_tool_call_is_put_together_from_its_pieces() {
        let body = concat!(
            r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"search_notes","arguments":""}}]},"finish_reason":null}]}"#,
            "\n\n",
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"query\":"}}]},"finish_reason":null}]}"#,
            "\n\n",
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"ferns\"}"}}]},"finish_reason":null}]}"#,
            "\n\n",
            r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "\n\ndata: [DONE]\n\n",
        );
        let mut decoder = ChatStream::default();
        decode(&mut decoder, body, &[]).await.unwrap();
        assert_eq!(decoder.text(), "");
        let expected = ToolCall {
            id: "call_7".into(),
            name: "search_notes".into(),
            arguments: serde_json::json!({"query": "ferns"}),
        };
        assert_eq!(decoder.calls().unwrap(), [expected]);
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
        assert_eq!(read_step(body).unwrap(), Step { text: "Hi!".into(), calls: Vec::new() });
        assert!(matches!(read_step(br#"{"choices":[]}"#), Err(ServiceError::Malformed(_))));
        let null = br#"{"choices":[{"message":{"role":"assistant","content":null}}]}"#;
        assert!(matches!(read_step(null), Err(ServiceError::Malformed(_))));
        let tool = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_note","arguments":"{\"path\":\"a.md\"}"}}]},"finish_reason":"tool_calls"}]}"#;
        let expected =
            ToolCall { id: "call_1".into(), name: "read_note".into(), arguments: serde_json::json!({"path": "a.md"}) };
        assert_eq!(read_step(tool).unwrap().calls, [expected]);
    }

    #[test]
    fn only_openai_itself_gets_max_completion_tokens() {
        assert!(is_openai_itself("https://api.openai.com/v1"));
        assert!(!is_openai_itself("http://127.0.0.1:8080/v1"));
        assert!(!is_openai_itself("https://api.openai.com.example.org/v1"));
        assert!(!is_openai_itself("not a url"));
        let body = |completion: bool| serde_json::to_value(ChatRequest::new("m", 99, completion, &[])).unwrap();
        assert_eq!(body(true), serde_json::json!({"model": "m", "max_completion_tokens": 99, "messages": []}));
        assert_eq!(body(false), serde_json::json!({"model": "m", "max_tokens": 99, "messages": []}));
    }
}
