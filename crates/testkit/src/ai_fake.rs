//! A fake AI provider on 127.0.0.1: Anthropic's Messages API (`POST /v1/messages`), an
//! OpenAI-compatible chat-completions API (`POST /v1/chat/completions`) and speech to text
//! (`POST /v1/audio/transcriptions`, multipart). It checks every request's shape the way the
//! tests expect parachute to send it (headers, JSON body, multipart fields) and answers a
//! wrong one with the API's own 400 / 401 error, recording why; it answers with the real
//! JSON shapes, and can be scripted to fail (429 with `retry-after`, 5xx, 401) or be slow.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_multipart::Multipart;
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use parachute_core::config::{BrainConfig, BrainKind};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The `anthropic-version` the fake requires.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Which of the fake's APIs a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `POST /v1/messages`.
    Anthropic,
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/audio/transcriptions`.
    Transcription,
}

impl Api {
    /// The API a brain of `kind` asks (chat completions for every kind but anthropic).
    pub fn of(kind: BrainKind) -> Self {
        if kind == BrainKind::Anthropic { Self::Anthropic } else { Self::OpenAi }
    }
}

/// How the fake answers the next call of an API.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Answer normally, with this text (the answer or the transcript).
    Answer(String),
    /// Answer with this status and the API's error body, with `retry-after: <seconds>` if given.
    Error {
        /// HTTP status, e.g. 429, 500, 401.
        status: u16,
        /// The `retry-after` header value in seconds.
        retry_after: Option<u64>,
    },
    /// Answer normally, after this delay.
    Slow(Duration),
    /// A streamed request (`"stream": true`) is answered with this text in pieces of one word
    /// each, `pace` apart (a non-streamed one with the whole text after as long as the pieces
    /// would have taken).
    Paced {
        /// The answer.
        text: String,
        /// The wait before each piece.
        pace: Duration,
    },
    /// The model asks for one tool call (streamed or whole, as the request asks), with
    /// `text` before it when not empty.
    ToolCall {
        /// What the model says before the call.
        text: String,
        /// The tool's name.
        name: String,
        /// Its arguments (a JSON object).
        input: Value,
    },
    /// A streamed request gets the first `pieces` words of `text`, `pace` apart, then the
    /// connection is cut without the end of the answer.
    Dropped {
        /// The answer the words are taken from.
        text: String,
        /// How many words are sent.
        pieces: usize,
        /// The wait before each piece.
        pace: Duration,
    },
}

/// One part of a multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// The field name.
    pub name: String,
    /// The `filename` of its content disposition, for files.
    pub file_name: Option<String>,
    /// Its `content-type`, if sent.
    pub content_type: Option<String>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct AiCall {
    /// Position among all calls.
    pub seq: usize,
    /// The API it went to.
    pub api: Api,
    /// Its headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Null` for multipart requests).
    pub body: Value,
    /// The multipart fields, in order (empty for JSON requests).
    pub parts: Vec<FormPart>,
    /// Why the fake rejected the request's shape or credentials, if it did.
    pub rejected: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl AiCall {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The multipart field `name`.
    pub fn part(&self, name: &str) -> Option<&FormPart> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The image of the last user turn and the text after it, in either API's shape (an
    /// Anthropic image block or an OpenAI `image_url` data URL, first in the turn); `None`
    /// when that turn shows no image.
    pub fn shown_image(&self) -> Option<ShownImage> {
        use base64::Engine;
        let last = self.body["messages"].as_array()?.last()?;
        let parts = last["content"].as_array()?;
        let (media_type, data) = match parts.first()?["type"].as_str()? {
            "image" => {
                let source = &parts[0]["source"];
                (source["media_type"].as_str()?.to_owned(), source["data"].as_str()?.to_owned())
            }
            "image_url" => {
                let (head, data) = parts[0]["image_url"]["url"].as_str()?.split_once(";base64,")?;
                (head.strip_prefix("data:")?.to_owned(), data.to_owned())
            }
            _ => return None,
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
        let text = parts.get(1).and_then(|part| part["text"].as_str()).unwrap_or_default().to_owned();
        Some(ShownImage { media_type, bytes, text })
    }
}

/// An image a request showed the model, decoded.
#[derive(Debug, Clone)]
pub struct ShownImage {
    /// e.g. `image/jpeg`.
    pub media_type: String,
    /// The image file.
    pub bytes: Vec<u8>,
    /// The text sent with it.
    pub text: String,
}

#[derive(Default)]
struct State {
    calls: Vec<AiCall>,
    scripts: HashMap<Api, VecDeque<Scripted>>,
    transcript: String,
}

struct Shared {
    api_key: Option<String>,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// The fake server. Dropping it stops it.
pub struct AiFake {
    shared: Arc<Shared>,
    port: u16,
    server: Mutex<Option<ServerHandle>>,
}

impl AiFake {
    /// Starts the fake on a free port of 127.0.0.1 (inside an actix system or tokio runtime).
    /// With `api_key`, every API requires it (`x-api-key` for Anthropic, `Authorization:
    /// Bearer` for the others); without, the OpenAI-compatible APIs require that no
    /// `Authorization` header is sent, as to a local server.
    pub fn start(api_key: Option<&str>) -> Self {
        let (changed, _) = watch::channel(0);
        let state = State { transcript: "hello from the fake transcriber".to_owned(), ..State::default() };
        let shared = Arc::new(Shared { api_key: api_key.map(str::to_owned), state: Mutex::new(state), changed });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake AI server");
        let port = listener.local_addr().expect("local addr").port();
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 << 20))
                .route("/v1/messages", web::post().to(anthropic))
                .route("/v1/chat/completions", web::post().to(openai))
                .route("/v1/audio/transcriptions", web::post().to(transcription))
        })
        .workers(1)
        .shutdown_timeout(0)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let fake = Self { shared, port, server: Mutex::new(Some(server.handle())) };
        actix_web::rt::spawn(server);
        fake
    }

    /// Points `brain` at this fake as the `kind` brain (anthropic or openai) with a test model
    /// and `key` as its API key.
    pub fn configure_brain(&self, brain: &mut BrainConfig, kind: BrainKind, key: &str) {
        brain.kind = kind;
        brain.model = Some("test-model".into());
        brain.api_key = Some(SecretString::from(key));
        brain.base_url = Some(if kind == BrainKind::Anthropic { self.anthropic_url() } else { self.openai_url() });
    }

    /// The `brain:` section of a `bots.yaml` pointing the `kind` brain (anthropic or openai)
    /// at this fake with a test model and `key`, as a user writes it.
    pub fn brain_yaml(&self, kind: BrainKind, key: &str) -> String {
        let url = if kind == BrainKind::Anthropic { self.anthropic_url() } else { self.openai_url() };
        format!("brain:\n  kind: {}\n  model: test-model\n  base_url: '{url}'\n  api_key: '{key}'\n", kind.as_str())
    }

    /// The `brain.base_url` for the `anthropic` brain (it appends `/v1/messages`).
    pub fn anthropic_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `base_url` for the `openai` brain and the transcriber (with `/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Queues how the next call of `api` is answered (after its shape was checked).
    pub fn script(&self, api: Api, scripted: Scripted) {
        self.shared.state.lock().unwrap().scripts.entry(api).or_default().push_back(scripted);
    }

    /// What transcriptions answer when not scripted.
    pub fn set_transcript(&self, text: &str) {
        self.shared.state.lock().unwrap().transcript = text.to_owned();
    }

    /// The calls of `api` so far.
    pub fn calls(&self, api: Api) -> Vec<AiCall> {
        self.shared.state.lock().unwrap().calls.iter().filter(|c| c.api == api).cloned().collect()
    }

    /// Waits until `count` calls of `api` arrived; returns them; panics after `timeout`.
    pub async fn wait_calls(&self, api: Api, count: usize, timeout: Duration) -> Vec<AiCall> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let calls = self.calls(api);
                if calls.len() >= count || rx.changed().await.is_err() {
                    return calls;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(calls) if calls.len() >= count => calls,
            _ => panic!("{count} call(s) of {api:?} not seen within {timeout:?}; calls: {:#?}", self.calls(api)),
        }
    }
}

impl Drop for AiFake {
    fn drop(&mut self) {
        if let Some(handle) = self.server.lock().ok().and_then(|mut s| s.take()) {
            drop(handle.stop(false));
        }
    }
}

/// What a call gets once recorded: a shape or credential error, a scripted answer, or the
/// normal one.
enum Outcome {
    Rejected { status: u16, reason: String },
    Scripted(Scripted),
    Normal,
}

impl Shared {
    /// Records the call and decides its outcome.
    fn record(
        &self,
        api: Api,
        req: &HttpRequest,
        body: Value,
        parts: Vec<FormPart>,
        check: Result<(), (u16, String)>,
    ) -> Outcome {
        let headers = req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").to_owned()))
            .collect();
        let mut state = self.state.lock().unwrap();
        let seq = state.calls.len();
        let rejected = check.as_ref().err().map(|(_, reason)| reason.clone());
        state.calls.push(AiCall { seq, api, headers, body, parts, rejected, at: Instant::now() });
        let outcome = match check {
            Err((status, reason)) => Outcome::Rejected { status, reason },
            Ok(()) => {
                state.scripts.get_mut(&api).and_then(VecDeque::pop_front).map_or(Outcome::Normal, Outcome::Scripted)
            }
        };
        drop(state);
        self.changed.send_modify(|v| *v += 1);
        outcome
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `Authorization` rule of the OpenAI-compatible APIs.
fn check_bearer(shared: &Shared, req: &HttpRequest) -> Result<(), (u16, String)> {
    let sent = header(req, "authorization");
    match (&shared.api_key, sent) {
        (Some(key), Some(sent)) if sent == format!("Bearer {key}") => Ok(()),
        (Some(_), _) => Err((401, "Incorrect API key provided".to_owned())),
        (None, Some(_)) => Err((400, "an Authorization header was sent although no API key is configured".to_owned())),
        (None, None) => Ok(()),
    }
}

fn check_json_content_type(req: &HttpRequest) -> Result<(), (u16, String)> {
    match header(req, "content-type") {
        Some("application/json") => Ok(()),
        other => Err((400, format!("content-type must be application/json, not {other:?}"))),
    }
}

/// Checks `body` has only `allowed` keys, and `model` (non-empty string) and `max_tokens`
/// (positive integer).
fn check_common(body: &Value, allowed: &[&str]) -> Result<(), (u16, String)> {
    let Some(object) = body.as_object() else {
        return Err((400, "the body must be a JSON object".to_owned()));
    };
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err((400, format!("{key}: Extra inputs are not permitted")));
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err((400, "model: a non-empty string is required".to_owned()));
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return Err((400, "max_tokens: a positive integer is required".to_owned()));
    }
    Ok(())
}

/// Checks `messages` of the Messages API: `{role, content}` objects alternating user /
/// assistant, first and last from the user; content a non-empty string or content blocks.
/// Blocks: `text`; `tool_use` (assistant only); `tool_result` (user only), and every
/// `tool_use` of an assistant turn answered by a `tool_result` in the next turn, no other.
fn check_anthropic_turns(messages: &[Value]) -> Result<(), (u16, String)> {
    if messages.is_empty() {
        return Err((400, "messages: at least one message is required".to_owned()));
    }
    let mut asked: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let keys: Vec<&str> = message.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        if keys.len() != 2 || !keys.contains(&"role") || !keys.contains(&"content") {
            return Err((400, format!("messages.{i}: must have exactly `role` and `content`")));
        }
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if message["role"] != expected {
            return Err((400, format!("messages.{i}.role: expected {expected} (roles must alternate, user first)")));
        }
        let answered = std::mem::take(&mut asked);
        let mut results = Vec::new();
        match &message["content"] {
            Value::String(text) if !text.trim().is_empty() => {}
            Value::Array(blocks) if !blocks.is_empty() => {
                for (j, block) in blocks.iter().enumerate() {
                    let at = format!("messages.{i}.content.{j}");
                    match (block["type"].as_str(), expected) {
                        (Some("text"), _) if block["text"].as_str().is_some_and(|t| !t.trim().is_empty()) => {}
                        (Some("image"), "user") => {
                            check_image_source(&block["source"]).map_err(|why| (400, format!("{at}.source: {why}")))?
                        }
                        (Some("tool_use"), "assistant")
                            if block["id"].as_str().is_some()
                                && block["name"].as_str().is_some()
                                && block["input"].is_object() =>
                        {
                            asked.push(block["id"].as_str().unwrap_or_default().to_owned());
                        }
                        (Some("tool_result"), "user") if block["content"].is_string() => {
                            let id = block["tool_use_id"].as_str().unwrap_or_default();
                            if !answered.iter().any(|asked| asked == id) {
                                return Err((
                                    400,
                                    format!("{at}: tool_result for `{id}`, which the previous turn did not ask for"),
                                ));
                            }
                            results.push(id.to_owned());
                        }
                        _ => return Err((400, format!("{at}: not a valid {expected} content block: {block}"))),
                    }
                }
            }
            _ => return Err((400, format!("messages.{i}.content: a non-empty string or content blocks are required"))),
        }
        if let Some(missing) = answered.iter().find(|id| !results.contains(id)) {
            return Err((400, format!("messages.{i}: tool_use `{missing}` has no tool_result right after it")));
        }
    }
    if messages.len().is_multiple_of(2) {
        return Err((400, "messages: the last message must be from the user".to_owned()));
    }
    Ok(())
}

/// Checks chat-completions `messages` after the system prompt: user and assistant turns
/// alternating, user first; an assistant turn with `tool_calls` followed by one `tool`
/// message per call (by `tool_call_id`); the last message from the user or a tool.
fn check_openai_turns(messages: &[Value]) -> Result<(), (u16, String)> {
    if messages.is_empty() {
        return Err((400, "messages: at least one message is required".to_owned()));
    }
    let mut previous = "assistant";
    let mut pending: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages.{}", i + 1);
        let keys: Vec<&str> = message.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        let text = |m: &Value| m["content"].as_str().is_some_and(|c| !c.trim().is_empty());
        let role = message["role"].as_str().unwrap_or_default();
        match role {
            "user" | "assistant" if !pending.is_empty() => {
                return Err((400, format!("{at}: tool calls {pending:?} were not answered by tool messages")));
            }
            "user" => {
                if previous == "user" {
                    return Err((400, format!("{at}.role: two user messages in a row")));
                }
                if keys.len() != 2 || !(text(message) || message["content"].is_array()) {
                    return Err((400, format!("{at}: a user message is `role` and a non-empty string `content`")));
                }
                for (j, part) in message["content"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                    let checked = match part["type"].as_str() {
                        Some("text") if part["text"].as_str().is_some_and(|t| !t.trim().is_empty()) => Ok(()),
                        Some("image_url") => check_data_url(&part["image_url"]["url"]),
                        _ => Err(format!("not a text or image_url part: {part}")),
                    };
                    checked.map_err(|why| (400, format!("{at}.content.{j}: {why}")))?;
                }
            }
            "assistant" => {
                if previous == "assistant" {
                    return Err((400, format!("{at}.role: expected user (roles must alternate, user first)")));
                }
                let calls = message["tool_calls"].as_array().cloned().unwrap_or_default();
                if keys.iter().any(|k| !["role", "content", "tool_calls"].contains(k))
                    || (calls.is_empty() && !text(message))
                {
                    return Err((400, format!("{at}: an assistant message has text or tool_calls")));
                }
                for (j, call) in calls.iter().enumerate() {
                    let arguments = call["function"]["arguments"].as_str().unwrap_or("not json");
                    if call["type"] != "function"
                        || call["id"].as_str().is_none()
                        || call["function"]["name"].as_str().is_none()
                        || serde_json::from_str::<Value>(arguments).is_err()
                    {
                        return Err((
                            400,
                            format!("{at}.tool_calls.{j}: id, type function, name and JSON arguments are required"),
                        ));
                    }
                    pending.push(call["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            "tool" => {
                let id = message["tool_call_id"].as_str().unwrap_or_default();
                let Some(position) = pending.iter().position(|p| p == id) else {
                    return Err((400, format!("{at}: a tool message for `{id}`, which no tool call asked for")));
                };
                pending.remove(position);
                if keys.len() != 3 || !message["content"].is_string() {
                    return Err((400, format!("{at}: a tool message is role, tool_call_id and string content")));
                }
            }
            other => return Err((400, format!("{at}.role: `{other}` is not a conversation role"))),
        }
        previous = role;
    }
    if previous == "assistant" || !pending.is_empty() {
        return Err((400, "messages: the last message must be from the user or a tool".to_owned()));
    }
    Ok(())
}

/// An Anthropic image source: base64 data of a JPEG, PNG, GIF or WebP image.
fn check_image_source(source: &Value) -> Result<(), String> {
    if source["type"] != "base64" {
        return Err("type must be base64".to_owned());
    }
    let media_type = source["media_type"].as_str().unwrap_or_default();
    check_image_data(media_type, source["data"].as_str().unwrap_or_default())
}

/// An OpenAI `image_url` given inline: `data:<image type>;base64,<data>`.
fn check_data_url(url: &Value) -> Result<(), String> {
    let url = url.as_str().unwrap_or_default();
    let Some((media_type, data)) = url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) else {
        return Err("image_url.url must be a data: URL with base64 data".to_owned());
    };
    check_image_data(media_type, data)
}

/// `data` is base64 of an image of `media_type`, one of those the APIs take.
fn check_image_data(media_type: &str, data: &str) -> Result<(), String> {
    use base64::Engine;
    if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&media_type) {
        return Err(format!("media type {media_type:?} is not supported"));
    }
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| format!("data is not base64: {e}"))?;
    let magic: &[u8] = match media_type {
        "image/jpeg" => b"\xff\xd8\xff",
        "image/png" => b"\x89PNG",
        "image/gif" => b"GIF8",
        _ => b"RIFF",
    };
    if !bytes.starts_with(magic) {
        return Err(format!("the data is not a {media_type} image"));
    }
    Ok(())
}

/// Anthropic's `tools`, when sent: `{name, description, input_schema}` with an object schema.
fn check_anthropic_tools(body: &Value) -> Result<(), (u16, String)> {
    let Some(tools) = body.get("tools") else { return Ok(()) };
    let tools = tools.as_array().ok_or((400, "tools: must be an array".to_owned()))?;
    for (i, tool) in tools.iter().enumerate() {
        let keys = tool.as_object().map(|o| o.len()).unwrap_or_default();
        if keys != 3
            || !is_tool_name(&tool["name"])
            || !tool["description"].is_string()
            || tool["input_schema"]["type"] != "object"
        {
            return Err((400, format!("tools.{i}: name, description and an object input_schema are required")));
        }
    }
    Ok(())
}

/// Chat completions' `tools`, when sent: `{type: function, function: {name, description,
/// parameters}}` with an object schema.
fn check_openai_tools(body: &Value) -> Result<(), (u16, String)> {
    let Some(tools) = body.get("tools") else { return Ok(()) };
    let tools = tools.as_array().ok_or((400, "tools: must be an array".to_owned()))?;
    for (i, tool) in tools.iter().enumerate() {
        let function = &tool["function"];
        if tool["type"] != "function" || !is_tool_name(&function["name"]) || function["parameters"]["type"] != "object"
        {
            return Err((400, format!("tools.{i}: type function with a name and object parameters is required")));
        }
    }
    Ok(())
}

/// A tool name both APIs accept: 1 to 64 letters, digits, `_` or `-`.
fn is_tool_name(name: &Value) -> bool {
    name.as_str().is_some_and(|n| {
        (1..=64).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

/// `stream`, when sent, is a boolean.
fn check_stream_flag(body: &Value) -> Result<(), (u16, String)> {
    match body.get("stream") {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err((400, "stream: must be a boolean".to_owned())),
    }
}

/// What an answer is made of: its text, the pieces it is streamed in, the wait before each,
/// and whether the stream is cut after the pieces (no end of the answer).
struct StreamPlan {
    text: String,
    pieces: Vec<String>,
    pace: Duration,
    cut: bool,
    /// A tool call the answer ends with: its name and arguments.
    call: Option<(String, Value)>,
}

impl StreamPlan {
    /// The answer in pieces of one word each (with the space before it), sent at once.
    fn whole(text: String) -> Self {
        Self { pieces: words(&text), text, pace: Duration::ZERO, cut: false, call: None }
    }

    /// The whole text, once a model writing at the plan's pace would have written it (what a
    /// request without `stream` waits for).
    async fn written(self) -> String {
        let pieces = u32::try_from(self.pieces.len()).unwrap_or(u32::MAX);
        tokio::time::sleep(self.pace.saturating_mul(pieces)).await;
        self.text
    }

    /// The plan a scripted answer asks for (an error is answered before).
    async fn of(scripted: Scripted, heard: impl Fn() -> String) -> Self {
        match scripted {
            Scripted::Answer(text) => Self::whole(text),
            Scripted::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Self::whole(heard())
            }
            Scripted::Paced { text, pace } => Self { pace, ..Self::whole(text) },
            Scripted::Dropped { text, pieces, pace } => {
                let mut plan = Self { pace, cut: true, ..Self::whole(text) };
                plan.pieces.truncate(pieces);
                plan
            }
            Scripted::ToolCall { text, name, input } => Self { call: Some((name, input)), ..Self::whole(text) },
            Scripted::Error { .. } => Self::whole(String::new()),
        }
    }
}

/// `text` cut before every space: joined again, the pieces are the text.
fn words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// One server-sent event as it goes on the wire.
fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The Messages API's events for `plan`: the message and its text block opened, one
/// `text_delta` per piece (a `ping` first, as Anthropic sends), and unless the stream is cut,
/// the block closed, the tool call if there is one (its input in two `input_json_delta`
/// pieces), and the message closed. Each entry is sent after the pace, the opening at once.
fn anthropic_events(plan: &StreamPlan, model: &Value) -> (String, Vec<String>, String) {
    let has_text = !plan.pieces.is_empty() || plan.call.is_none();
    let mut opening = sse(
        Some("message_start"),
        &json!({"type": "message_start", "message": {"id": "msg_01FakeStream", "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    );
    if has_text {
        opening.push_str(&sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
    }
    opening.push_str(&sse(Some("ping"), &json!({"type": "ping"})));
    let pieces = plan
        .pieces
        .iter()
        .map(|piece| {
            sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
            )
        })
        .collect();
    let mut closing = String::new();
    if has_text {
        closing.push_str(&sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0})));
    }
    let mut stop_reason = "end_turn";
    if let Some((name, input)) = &plan.call {
        stop_reason = "tool_use";
        let index = usize::from(has_text);
        closing.push_str(&sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": call_id("toolu_"), "name": name, "input": {}}}),
        ));
        for half in halves(&input.to_string()) {
            closing.push_str(&sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": half}}),
            ));
        }
        closing.push_str(&sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": index})));
    }
    closing.push_str(&sse(
        Some("message_delta"),
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": plan.pieces.len()}}),
    ));
    closing.push_str(&sse(Some("message_stop"), &json!({"type": "message_stop"})));
    (opening, pieces, closing)
}

/// A new tool call id with `prefix` (ids are unique within the process).
fn call_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("{prefix}fake{:04}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `text` in two pieces, cut at a character boundary near its middle (how streamed tool
/// arguments arrive: not as whole JSON values).
fn halves(text: &str) -> [&str; 2] {
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle += 1;
    }
    [&text[..middle], &text[middle..]]
}

/// The chat-completions events for `plan`: the role first, one `delta.content` per piece,
/// and unless the stream is cut, the tool call if there is one (named first, its arguments in
/// two pieces), the finish reason and `[DONE]`.
fn openai_events(plan: &StreamPlan, model: &Value) -> (String, Vec<String>, String) {
    let chunk = |delta: Value, finish: Value| {
        sse(
            None,
            &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let opening = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    let pieces = plan.pieces.iter().map(|piece| chunk(json!({"content": piece}), Value::Null)).collect();
    let mut closing = String::new();
    let mut finish = "stop";
    if let Some((name, input)) = &plan.call {
        finish = "tool_calls";
        let named = json!({"tool_calls": [{"index": 0, "id": call_id("call_"), "type": "function",
            "function": {"name": name, "arguments": ""}}]});
        closing.push_str(&chunk(named, Value::Null));
        for half in halves(&input.to_string()) {
            closing
                .push_str(&chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": half}}]}), Value::Null));
        }
    }
    closing.push_str(&chunk(json!({}), json!(finish)));
    closing.push_str("data: [DONE]\n\n");
    (opening, pieces, closing)
}

/// A `text/event-stream` answer: the opening at once, each piece after `pace`, then the
/// closing, or (when `cut`) a broken connection where the next piece would come.
fn event_stream((opening, pieces, closing): (String, Vec<String>, String), pace: Duration, cut: bool) -> HttpResponse {
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(web::Bytes::from(opening)) });
    // Piece i goes out at start + (i + 1) × pace, so timer slack does not add up over a
    // long answer (the whole one takes what a non-streamed answer waits).
    let start = tokio::time::Instant::now();
    let body = futures_util::stream::iter(pieces.into_iter().zip(1u32..)).then(move |(piece, i)| async move {
        tokio::time::sleep_until(start + pace.saturating_mul(i)).await;
        Ok(web::Bytes::from(piece))
    });
    let tail = futures_util::stream::once(async move {
        if cut {
            // Where the next piece would come: the pieces before it are out.
            tokio::time::sleep(pace.max(Duration::from_millis(20))).await;
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut by the test"))
        } else {
            Ok(web::Bytes::from(closing))
        }
    });
    HttpResponse::Ok().content_type("text/event-stream").streaming(head.chain(body).chain(tail))
}

/// The last user message of a JSON chat request.
fn last_user_text(messages: &[Value]) -> String {
    messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("").to_owned()
}

async fn anthropic(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let check = (|| {
        match (&shared.api_key, header(&req, "x-api-key")) {
            (Some(key), Some(sent)) if sent == key => {}
            _ => return Err((401, "invalid x-api-key".to_owned())),
        }
        if header(&req, "anthropic-version") != Some(ANTHROPIC_VERSION) {
            return Err((400, format!("anthropic-version: must be {ANTHROPIC_VERSION}")));
        }
        if header(&req, "authorization").is_some() {
            return Err((400, "authorization: not used by this API (send x-api-key)".to_owned()));
        }
        check_json_content_type(&req)?;
        check_common(&json, &["model", "max_tokens", "system", "messages", "stream", "tools"])?;
        check_stream_flag(&json)?;
        check_anthropic_tools(&json)?;
        if json.get("system").is_some_and(|s| s.as_str().is_none_or(|s| s.trim().is_empty())) {
            return Err((400, "system: must be a non-empty string".to_owned()));
        }
        check_anthropic_turns(json["messages"].as_array().map(Vec::as_slice).unwrap_or_default())
    })();
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let model = json["model"].clone();
    let streamed = json["stream"] == true;
    let heard = || format!("heard: {}", last_user_text(&messages));
    let plan = match shared.record(Api::Anthropic, &req, json, Vec::new(), check) {
        Outcome::Rejected { status, reason } => return anthropic_error(status, &reason, None),
        Outcome::Scripted(Scripted::Error { status, retry_after }) => {
            return anthropic_error(status, "scripted failure", retry_after);
        }
        Outcome::Scripted(scripted) => StreamPlan::of(scripted, heard).await,
        Outcome::Normal => StreamPlan::whole(heard()),
    };
    if streamed {
        return event_stream(anthropic_events(&plan, &model), plan.pace, plan.cut);
    }
    let call = plan.call.clone();
    let text = plan.written().await;
    let mut content: Vec<Value> = Vec::new();
    if !text.is_empty() || call.is_none() {
        content.push(json!({"type": "text", "text": text}));
    }
    if let Some((name, input)) = &call {
        content.push(json!({"type": "tool_use", "id": call_id("toolu_"), "name": name, "input": input}));
    }
    let stop_reason = if call.is_some() { "tool_use" } else { "end_turn" };
    HttpResponse::Ok().json(json!({
        "id": "msg_01FakeAnswer", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 6},
    }))
}

fn anthropic_error(status: u16, message: &str, retry_after: Option<u64>) -> HttpResponse {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    with_status(status, retry_after).json(body)
}

async fn openai(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let check = (|| {
        check_bearer(&shared, &req)?;
        check_json_content_type(&req)?;
        check_common(&json, &["model", "max_tokens", "messages", "stream", "tools"])?;
        check_stream_flag(&json)?;
        check_openai_tools(&json)?;
        let messages = json["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
        let Some((system, conversation)) = messages.split_first() else {
            return Err((400, "messages: at least one message is required".to_owned()));
        };
        if system["role"] != "system" || system["content"].as_str().is_none_or(|c| c.trim().is_empty()) {
            return Err((400, "messages.0: the system prompt must come first".to_owned()));
        }
        check_openai_turns(conversation)
    })();
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let model = json["model"].clone();
    let streamed = json["stream"] == true;
    let heard = || format!("heard: {}", last_user_text(&messages));
    let plan = match shared.record(Api::OpenAi, &req, json, Vec::new(), check) {
        Outcome::Rejected { status, reason } => return openai_error(status, &reason, None),
        Outcome::Scripted(Scripted::Error { status, retry_after }) => {
            return openai_error(status, "scripted failure", retry_after);
        }
        Outcome::Scripted(scripted) => StreamPlan::of(scripted, heard).await,
        Outcome::Normal => StreamPlan::whole(heard()),
    };
    if streamed {
        return event_stream(openai_events(&plan, &model), plan.pace, plan.cut);
    }
    let call = plan.call.clone();
    let text = plan.written().await;
    let message = match &call {
        None => json!({"role": "assistant", "content": text}),
        Some((name, input)) => {
            json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) },
            "tool_calls": [{"id": call_id("call_"), "type": "function",
                "function": {"name": name, "arguments": input.to_string()}}]})
        }
    };
    let finish = if call.is_some() { "tool_calls" } else { "stop" };
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }))
}

fn openai_error(status: u16, message: &str, retry_after: Option<u64>) -> HttpResponse {
    let (kind, code) = match status {
        401 => ("invalid_request_error", "invalid_api_key"),
        429 => ("requests", "rate_limit_exceeded"),
        s if s >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request_error", "invalid_request"),
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    with_status(status, retry_after).json(body)
}

fn with_status(status: u16, retry_after: Option<u64>) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if let Some(seconds) = retry_after {
        response.insert_header(("retry-after", seconds.to_string()));
    }
    response
}

/// Reads every multipart field.
async fn read_parts(mut payload: Multipart) -> Result<Vec<FormPart>, String> {
    let mut parts = Vec::new();
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| format!("malformed multipart body: {e}"))?;
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.content_disposition().and_then(|cd| cd.get_filename()).map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            data.extend_from_slice(&chunk.map_err(|e| format!("malformed multipart field: {e}"))?);
        }
        parts.push(FormPart { name, file_name, content_type, data });
    }
    Ok(parts)
}

async fn transcription(shared: web::Data<Shared>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let is_multipart = header(&req, "content-type").is_some_and(|c| c.starts_with("multipart/form-data; boundary="));
    let parts = if is_multipart {
        read_parts(Multipart::new(req.headers(), payload)).await
    } else {
        Err("content-type must be multipart/form-data".to_owned())
    };
    let check = (|| {
        check_bearer(&shared, &req)?;
        let parts = parts.as_ref().map_err(|e| (400, e.clone()))?;
        let allowed = ["file", "model", "response_format", "language"];
        if let Some(part) = parts.iter().find(|p| !allowed.contains(&p.name.as_str())) {
            return Err((400, format!("unexpected field `{}`", part.name)));
        }
        let text =
            |name: &str| parts.iter().find(|p| p.name == name).map(|p| String::from_utf8_lossy(&p.data).into_owned());
        let file = parts.iter().find(|p| p.name == "file");
        if !file.is_some_and(|f| f.file_name.as_deref().is_some_and(|n| !n.is_empty()) && !f.data.is_empty()) {
            return Err((400, "file: a named, non-empty file is required".to_owned()));
        }
        if text("model").is_none_or(|m| m.is_empty()) {
            return Err((400, "model: required".to_owned()));
        }
        if text("response_format").is_some_and(|f| f != "json") {
            return Err((400, "response_format: the fake only speaks json".to_owned()));
        }
        Ok(())
    })();
    let transcript = shared.state.lock().unwrap().transcript.clone();
    let text = match shared.record(Api::Transcription, &req, Value::Null, parts.unwrap_or_default(), check) {
        Outcome::Rejected { status, reason } => return openai_error(status, &reason, None),
        Outcome::Scripted(Scripted::Error { status, retry_after }) => {
            return openai_error(status, "scripted failure", retry_after);
        }
        Outcome::Scripted(
            Scripted::Answer(text)
            | Scripted::Paced { text, .. }
            | Scripted::Dropped { text, .. }
            | Scripted::ToolCall { text, .. },
        ) => text,
        Outcome::Scripted(Scripted::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            transcript
        }
        Outcome::Normal => transcript,
    };
    HttpResponse::Ok().json(json!({"text": text}))
}
