//! The `anthropic` brain: Anthropic's Messages API (`POST {base_url}/v1/messages`), with the
//! sender's tools offered as tool definitions and called in rounds (`tool_use` /
//! `tool_result` blocks).

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
    system: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [ToolDefinition],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

/// One message of the conversation: plain text, or blocks once tools were used.
#[derive(Debug, Serialize)]
struct Message {
    role: Role,
    content: MessageContent,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MessageContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block the bot sends back: its own text and tool calls, and their results.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// An image sent inline.
#[derive(Debug, Serialize)]
struct ImageSource {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'static str,
    data: String,
}

/// A tool as the Messages API describes it.
#[derive(Debug, Serialize)]
struct ToolDefinition {
    name: String,
    description: String,
    input_schema: Value,
}

impl From<ToolSpec> for ToolDefinition {
    fn from(spec: ToolSpec) -> Self {
        Self { name: spec.name, description: spec.description, input_schema: spec.parameters }
    }
}

/// The part of the answer used: its content blocks.
#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
}

/// A content block of an answer: text, or a tool call (others, like `thinking`, are skipped).
#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: Option<Value>,
}

/// The events of a streamed answer that matter here (the others, `ping`, `message_start`,
/// `message_delta`, `content_block_stop`, are skipped).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockChange,
    },
    MessageStop,
    Error {
        error: StreamError,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockChange {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StreamError {
    #[serde(rename = "type")]
    kind: String,
}

/// A tool call being streamed: its id, name and the JSON of its input so far.
#[derive(Debug, Clone, PartialEq)]
struct StreamedCall {
    index: usize,
    id: String,
    name: String,
    input_json: String,
}

/// The text blocks and tool calls of a streamed answer, by their index.
#[derive(Default)]
struct MessagesStream {
    blocks: Vec<(usize, String)>,
    calls: Vec<StreamedCall>,
}

impl MessagesStream {
    /// The tool calls asked for, their input read from the streamed JSON (empty means `{}`).
    fn calls(&self) -> Result<Vec<ToolCall>, ServiceError> {
        self.calls
            .iter()
            .map(|call| {
                let json = if call.input_json.trim().is_empty() { "{}" } else { call.input_json.as_str() };
                let arguments = serde_json::from_str(json)
                    .map_err(|e| ServiceError::Malformed(format!("the input of tool call {}: {e}", call.name)))?;
                Ok(ToolCall { id: call.id.clone(), name: call.name.clone(), arguments })
            })
            .collect()
    }
}

impl StreamDecoder for MessagesStream {
    fn event(&mut self, event: &Sse) -> Result<bool, ServiceError> {
        let Some(data) = event.data.as_deref() else { return Ok(false) };
        let parsed: StreamEvent = serde_json::from_str(data)
            .map_err(|e| ServiceError::Malformed(format!("not a Messages API stream event: {e}")))?;
        match parsed {
            StreamEvent::ContentBlockStart { index, content_block } if content_block.kind == "text" => {
                self.blocks.push((index, content_block.text));
            }
            StreamEvent::ContentBlockStart { index, content_block } if content_block.kind == "tool_use" => {
                let input_json = match content_block.input {
                    Some(Value::Object(map)) if !map.is_empty() => Value::Object(map).to_string(),
                    _ => String::new(),
                };
                self.calls.push(StreamedCall { index, id: content_block.id, name: content_block.name, input_json });
            }
            StreamEvent::ContentBlockDelta { index, delta: BlockChange::TextDelta { text } } => {
                match self.blocks.iter_mut().find(|(i, _)| *i == index) {
                    Some((_, block)) => block.push_str(&text),
                    None => self.blocks.push((index, text)),
                }
            }
            StreamEvent::ContentBlockDelta { index, delta: BlockChange::InputJsonDelta { partial_json } } => {
                if let Some(call) = self.calls.iter_mut().find(|call| call.index == index) {
                    call.input_json.push_str(&partial_json);
                }
            }
            StreamEvent::MessageStop => return Ok(true),
            StreamEvent::Error { error } if error.kind == "overloaded_error" => return Err(ServiceError::Status(529)),
            StreamEvent::Error { error } => {
                return Err(ServiceError::Malformed(format!("the service reported {}", error.kind)));
            }
            _ => {}
        }
        Ok(false)
    }

    fn text(&self) -> String {
        let blocks: Vec<&str> = self.blocks.iter().map(|(_, text)| text.trim()).filter(|t| !t.is_empty()).collect();
        blocks.join("\n\n")
    }

    fn reset(&mut self) {
        self.blocks.clear();
        self.calls.clear();
    }

    fn whole(&mut self, body: &[u8]) -> Result<(), ServiceError> {
        let step = read_step(body)?;
        self.reset();
        self.blocks.push((0, step.text));
        self.calls = step
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, call)| StreamedCall {
                index: i + 1,
                id: call.id,
                name: call.name,
                input_json: call.arguments.to_string(),
            })
            .collect();
        Ok(())
    }
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

    async fn ask(inner: Arc<Inner>, request: BrainRequest, partial: Option<PartialText>) -> Result<String, BrainError> {
        let tools = request.tools.clone();
        let mut messages: Vec<Message> = turns(&request)
            .into_iter()
            .map(|turn| Message { role: turn.role, content: MessageContent::Text(turn.content) })
            .collect();
        // The images go with the message they came with: the last turn, before its text.
        if let Some(last) = messages.last_mut().filter(|_| !request.images.is_empty())
            && let MessageContent::Text(text) = &last.content
        {
            let images = request.images.iter().map(|image| Block::Image {
                source: ImageSource { kind: "base64", media_type: image.mime_type, data: image.base64() },
            });
            let text = Block::Text { text: text.clone() };
            last.content = MessageContent::Blocks(images.chain(std::iter::once(text)).collect());
        }
        let mut rounds = Rounds {
            model: request.model.clone().unwrap_or_else(|| inner.model.clone()),
            inner,
            system: system_prompt(&request),
            messages,
            tools: tools
                .as_ref()
                .map(|t| t.specs().into_iter().map(ToolDefinition::from).collect())
                .unwrap_or_default(),
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
    system: String,
    messages: Vec<Message>,
    tools: Vec<ToolDefinition>,
    partial: Option<PartialText>,
}

impl Rounds {
    async fn round(&mut self, earlier: &str) -> Result<Round, BrainError> {
        let inner = &self.inner;
        let body = MessagesRequest {
            model: &self.model,
            max_tokens: inner.max_tokens,
            system: &self.system,
            messages: &self.messages,
            tools: &self.tools,
            stream: self.partial.is_some(),
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
        let (retry, timeout, key) = (&inner.retry, inner.timeout, Some(&inner.api_key));
        let Some(partial) = &self.partial else {
            let step =
                send_with_retry("anthropic", retry, timeout, key, build).await.and_then(|bytes| read_step(&bytes));
            return step.map(Round::Step).map_err(|err| service_failure("anthropic", err));
        };
        let mut decoder = MessagesStream::default();
        let publish = Publish { partial, earlier };
        let streamed = stream_with_retry("anthropic", retry, timeout, key, build, &mut decoder, publish).await;
        match streamed.map_err(|err| service_failure("anthropic", err))? {
            Streamed::Complete(text) => {
                let calls = decoder.calls().map_err(|err| service_failure("anthropic", err))?;
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
        let text = (!step.text.trim().is_empty()).then(|| Block::Text { text: step.text.clone() });
        let uses = step.calls.iter().map(|call| Block::ToolUse {
            id: call.id.clone(),
            name: call.name.clone(),
            input: call.arguments.clone(),
        });
        self.messages.push(Message {
            role: Role::Assistant,
            content: MessageContent::Blocks(text.into_iter().chain(uses).collect()),
        });
        let results = step.calls.iter().zip(outcomes).map(|(call, outcome)| Block::ToolResult {
            tool_use_id: call.id.clone(),
            content: outcome.content.clone(),
            is_error: outcome.is_error,
        });
        self.messages.push(Message { role: Role::User, content: MessageContent::Blocks(results.collect()) });
    }
}

/// The text blocks (joined) and tool calls of a Messages API answer.
fn read_step(bytes: &[u8]) -> Result<Step, ServiceError> {
    let response: MessagesResponse = serde_json::from_slice(bytes)
        .map_err(|e| ServiceError::Malformed(format!("not a Messages API answer: {e}")))?;
    let text: Vec<&str> =
        response.content.iter().filter(|block| block.kind == "text").map(|block| block.text.trim()).collect();
    let text = text.join("\n\n").trim().to_owned();
    let calls: Vec<ToolCall> = response
        .content
        .into_iter()
        .filter(|block| block.kind == "tool_use")
        .map(|block| ToolCall {
            id: block.id,
            name: block.name,
            arguments: block.input.unwrap_or_else(|| Value::Object(Default::default())),
        })
        .collect();
    if text.is_empty() && calls.is_empty() {
        return Err(ServiceError::Malformed("the answer has no text".to_owned()));
    }
    Ok(Step { text, calls })
}

impl Brain for AnthropicBrain {
    fn name(&self) -> &str {
        "anthropic"
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

    /// A streamed answer as the Messages API sends it: a thinking block, then a text block
    /// with pings between its pieces.
    const STREAM: &str = concat!(
        "event: message_start\n",
        r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        "\n\nevent: content_block_start\n",
        r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me see"}}"#,
        "\n\nevent: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":0}"#,
        "\n\nevent: content_block_start\n",
        r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        "\n\nevent: ping\n",
        r#"data: {"type":"ping"}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Bonjour, "}}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"ça va? 🪂"}}"#,
        "\n\nevent: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":1}"#,
        "\n\nevent: message_delta\n",
        r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        "\n\nevent: message_stop\n",
        r#"data: {"type":"message_stop"}"#,
        "\n\n",
    );

    #[tokio::test]
    async fn a_stream_grows_the_text_blocks_and_completes_at_message_stop() {
        let seen = decode(&mut MessagesStream::default(), STREAM, &[]).await.unwrap();
        let texts: Vec<&str> = seen.iter().map(|(text, _)| text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "",
                "",
                "",
                "",
                "",
                "",
                "Bonjour,",
                "Bonjour, ça va? 🪂",
                "Bonjour, ça va? 🪂",
                "Bonjour, ça va? 🪂",
                "Bonjour, ça va? 🪂"
            ]
        );
        let completed: Vec<bool> = seen.iter().map(|(_, complete)| *complete).collect();
        assert_eq!(completed.iter().filter(|c| **c).count(), 1);
        assert_eq!(completed.last(), Some(&true));
    }

    #[tokio::test]
    async fn error_events_fail_the_stream_and_overload_is_retryable() {
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let result = decode(&mut MessagesStream::default(), overloaded, &[]).await;
        assert_eq!(result, Err(ServiceError::Status(529)));
        let other = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n";
        let result = decode(&mut MessagesStream::default(), other, &[]).await;
        assert!(matches!(&result, Err(ServiceError::Malformed(m)) if m.contains("api_error")), "{result:?}");
        let garbage = decode(&mut MessagesStream::default(), "data: <html>\n\n", &[]).await;
        assert!(matches!(garbage, Err(ServiceError::Malformed(_))), "{garbage:?}");
    }

    #[tokio::test]
    async fn reset_forgets_the_text_of_a_failed_try() {
        let mut decoder = MessagesStream::default();
        let half = &STREAM[..STREAM.find("ça va").unwrap()];
        decode(&mut decoder, half, &[]).await.unwrap();
        assert_eq!(decoder.text(), "Bonjour,");
        decoder.reset();
        assert_eq!(decoder.text(), "");
        assert_eq!(decode(&mut decoder, STREAM, &[]).await.unwrap().last().unwrap().0, "Bonjour, ça va? 🪂");
    }

    #[tokio::test]
    async fn a_streamed_tool_call_is_read_from_its_input_pieces() {
        let body = concat!(
            "event: content_block_start\n",
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            "\n\nevent: content_block_delta\n",
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}"#,
            "\n\nevent: content_block_start\n",
            r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"search_notes","input":{}}}"#,
            "\n\nevent: content_block_delta\n",
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\": \"fe"}}"#,
            "\n\nevent: content_block_delta\n",
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"rns\"}"}}"#,
            "\n\nevent: message_stop\n",
            r#"data: {"type":"message_stop"}"#,
            "\n\n",
        );
        let mut decoder = MessagesStream::default();
        decode(&mut decoder, body, &[]).await.unwrap();
        assert_eq!(decoder.text(), "Let me look.");
        let calls = decoder.calls().unwrap();
        assert_eq!(
            calls,
            [ToolCall {
                id: "toolu_9".into(),
                name: "search_notes".into(),
                arguments: serde_json::json!({"query": "ferns"})
            }]
        );
    }

    proptest! {
        #[test]
        fn the_stream_reads_the_same_however_the_network_cuts_it(cuts in prop::collection::vec(0usize..4096, 0..40)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let whole = runtime.block_on(decode(&mut MessagesStream::default(), STREAM, &[])).unwrap();
            let cut = runtime.block_on(decode(&mut MessagesStream::default(), STREAM, &cuts)).unwrap();
            prop_assert_eq!(cut, whole);
        }
    }

    #[test]
    fn text_blocks_are_joined_and_other_blocks_skipped() {
        let body = br#"{"content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}"#;
        assert_eq!(read_step(body).unwrap(), Step { text: "Hi\n\nthere".into(), calls: Vec::new() });
        assert!(matches!(read_step(br#"{"content":[]}"#), Err(ServiceError::Malformed(_))));
        assert!(matches!(read_step(b"<html>"), Err(ServiceError::Malformed(_))));
        let tool = br#"{"content":[{"type":"tool_use","id":"toolu_1","name":"read_note","input":{"path":"a.md"}}],"stop_reason":"tool_use"}"#;
        let step = read_step(tool).unwrap();
        assert_eq!(
            step.calls,
            [ToolCall {
                id: "toolu_1".into(),
                name: "read_note".into(),
                arguments: serde_json::json!({"path": "a.md"})
            }]
        );
    }
}
