//! A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real connector:
//! the real JSON shapes, long-polling `getUpdates` honouring `offset` and `timeout`, every
//! call recorded (file downloads as `downloadFile`), injectable failures and delays, files
//! that lie about their size or never end, and going down / coming back on the same port.
//! The messages the bot sent are kept as a chat shows them: `editMessageText` changes one,
//! `deleteMessage` removes it, with Telegram's errors for unknown or unchanged messages.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The token the fake accepts.
pub const FAKE_TOKEN: &str = "123456:TEST-telegram-token-value";
/// The fake bot's user id.
pub const BOT_ID: u64 = 777_000;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "parachute_test_bot";

/// One recorded Bot API call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Position among all calls.
    pub seq: usize,
    /// e.g. `sendMessage`.
    pub method: String,
    /// The parsed JSON parameters (`{}` when none).
    pub params: Value,
    /// When the call arrived.
    pub at: std::time::Instant,
}

/// A failure the next matching call answers with.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 401 Unauthorized.
    Unauthorized,
    /// 409 Conflict: another getUpdates.
    Conflict,
    /// 429 with `parameters.retry_after`.
    RateLimited(u64),
    /// A 5xx with a JSON error body.
    Server(u16),
    /// 200 with a body that is not JSON.
    Malformed,
}

#[derive(Default)]
struct State {
    updates: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    calls: Vec<Call>,
    failures: VecDeque<(String, Failure)>,
    delays: VecDeque<(String, Duration)>,
    reject_markup_containing: Option<String>,
    files: HashMap<String, FakeFile>,
    shown: BTreeMap<i64, BotMessage>,
}

/// A message the bot sent, as the chat shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotMessage {
    /// Its message id.
    pub message_id: i64,
    /// The chat it is in.
    pub chat_id: Value,
    /// Its text now (after any edits).
    pub text: String,
    /// How often it was edited.
    pub edits: usize,
}

/// A file `getFile` knows: its path, the size it announces and what a download streams.
#[derive(Clone)]
struct FakeFile {
    path: String,
    announced: Option<u64>,
    body: FileBody,
}

#[derive(Clone)]
enum FileBody {
    /// These bytes, with their `Content-Length`.
    Bytes(Vec<u8>),
    /// Chunk after chunk until the client stops reading, without a `Content-Length`.
    Endless,
}

struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The fake server. Dropping it stops it.
pub struct TelegramFake {
    shared: Arc<Shared>,
    port: u16,
    server: Mutex<Option<ServerHandle>>,
}

impl TelegramFake {
    /// Starts the fake on a free port of 127.0.0.1 (inside an actix system or tokio runtime).
    pub fn start() -> Self {
        let state = State { next_update_id: 1000, next_message_id: 1, ..State::default() };
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared { state: Mutex::new(state), changed });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Bot API");
        let port = listener.local_addr().expect("local addr").port();
        let fake = Self { shared, port, server: Mutex::new(None) };
        fake.listen(listener);
        fake
    }

    fn listen(&self, listener: TcpListener) {
        let data = web::Data::from(self.shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/bot{token}/{method}", web::post().to(api))
                .route("/bot{token}/{method}", web::get().to(api))
                .route("/file/bot{token}/{path:.*}", web::get().to(file))
        })
        .workers(1)
        .shutdown_timeout(0)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        *self.server.lock().unwrap() = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    /// The base URL to put into `telegram.api_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening (open connections are dropped).
    pub async fn go_down(&self) {
        let handle = self.server.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Listens again on the same port.
    pub fn come_back(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(err) if std::time::Instant::now() < deadline => {
                    tracing::debug!(%err, "port not free yet");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => panic!("cannot listen on port {} again: {err}", self.port),
            }
        };
        self.listen(listener);
    }

    /// Queues a `message` update; returns its update id.
    pub fn push_message(&self, message: Value) -> i64 {
        let mut state = self.shared.state.lock().unwrap();
        let id = state.next_update_id;
        state.next_update_id += 1;
        state.updates.push(json!({"update_id": id, "message": message}));
        drop(state);
        self.shared.bump();
        id
    }

    /// Queues an arbitrary update value (e.g. a malformed one); the update id is assigned
    /// when `with_id` is set. Returns the id assigned.
    pub fn push_raw(&self, mut update: Value, with_id: bool) -> i64 {
        let mut state = self.shared.state.lock().unwrap();
        let id = state.next_update_id;
        state.next_update_id += 1;
        if with_id && let Some(object) = update.as_object_mut() {
            object.insert("update_id".into(), json!(id));
        }
        state.updates.push(update);
        drop(state);
        self.shared.bump();
        id
    }

    /// A new message id for messages built by tests.
    pub fn next_message_id(&self) -> i64 {
        let mut state = self.shared.state.lock().unwrap();
        state.next_message_id += 1;
        state.next_message_id
    }

    /// Makes the next call of `method` (`"*"` for any) answer with `failure`.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        self.shared.state.lock().unwrap().failures.push_back((method.to_owned(), failure));
    }

    /// Makes the next call of `method` (`"*"` for any) answer only after `delay`.
    pub fn delay_next(&self, method: &str, delay: Duration) {
        self.shared.state.lock().unwrap().delays.push_back((method.to_owned(), delay));
    }

    /// Makes `sendMessage` in HTML parse mode answer 400 "can't parse entities" when the text
    /// contains `marker`.
    pub fn reject_markup_containing(&self, marker: &str) {
        self.shared.state.lock().unwrap().reject_markup_containing = Some(marker.to_owned());
    }

    /// Makes `file_id` downloadable with `bytes`; `getFile` announces their size.
    pub fn add_file(&self, file_id: &str, bytes: Vec<u8>) {
        let size = bytes.len() as u64;
        self.insert_file(file_id, Some(size), FileBody::Bytes(bytes));
    }

    /// Makes `file_id` downloadable with `bytes` while `getFile` announces `announced`
    /// (`None`: no `file_size`), true or not.
    pub fn add_file_announcing(&self, file_id: &str, bytes: Vec<u8>, announced: Option<u64>) {
        self.insert_file(file_id, announced, FileBody::Bytes(bytes));
    }

    /// Makes `file_id` a download that never ends (chunked, no `Content-Length`) while
    /// `getFile` announces `announced`.
    pub fn add_endless_file(&self, file_id: &str, announced: Option<u64>) {
        self.insert_file(file_id, announced, FileBody::Endless);
    }

    fn insert_file(&self, file_id: &str, announced: Option<u64>, body: FileBody) {
        let path = format!("voice/{file_id}.oga");
        self.shared.state.lock().unwrap().files.insert(file_id.to_owned(), FakeFile { path, announced, body });
    }

    /// The bot's messages the chats show now (sent, maybe edited, not deleted), oldest first.
    pub fn shown(&self) -> Vec<BotMessage> {
        self.shared.state.lock().unwrap().shown.values().cloned().collect()
    }

    /// Waits until the shown messages satisfy `pred`; returns them; panics after `timeout`.
    pub async fn wait_shown(&self, timeout: Duration, pred: impl Fn(&[BotMessage]) -> bool) -> Vec<BotMessage> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let shown = self.shown();
                if pred(&shown) {
                    return Some(shown);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(shown)) => shown,
            _ => panic!("the chats did not show what was awaited within {timeout:?}: {:#?}", self.shown()),
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state.lock().unwrap().calls.clone()
    }

    /// The calls of one method so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Waits for a call of `method` satisfying `pred`; panics after `timeout`.
    pub async fn wait_call(&self, method: &str, timeout: Duration, pred: impl Fn(&Call) -> bool) -> Call {
        self.wait_calls(method, 1, timeout, pred).await.remove(0)
    }

    /// Waits until `count` calls of `method` satisfy `pred`; returns them; panics after `timeout`.
    pub async fn wait_calls(
        &self,
        method: &str,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&Call) -> bool,
    ) -> Vec<Call> {
        let mut rx = self.shared.changed.subscribe();
        let found = || -> Vec<Call> { self.calls_of(method).into_iter().filter(|c| pred(c)).collect() };
        let wait = async {
            loop {
                let calls = found();
                if calls.len() >= count {
                    return calls;
                }
                if rx.changed().await.is_err() {
                    return calls;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(calls) if calls.len() >= count => calls,
            _ => panic!("{count} call(s) of {method} not seen within {timeout:?}; calls: {:#?}", self.calls()),
        }
    }
}

impl Drop for TelegramFake {
    fn drop(&mut self) {
        if let Some(handle) = self.server.lock().ok().and_then(|mut s| s.take()) {
            drop(handle.stop(false));
        }
    }
}

/// A private-chat text message from user `user_id`.
pub fn private_text(message_id: i64, user_id: i64, username: &str, text: &str) -> Value {
    json!({
        "message_id": message_id, "date": 1_700_000_000,
        "chat": {"id": user_id, "type": "private", "first_name": username, "username": username},
        "from": {"id": user_id, "is_bot": false, "first_name": username, "username": username},
        "text": text,
    })
}

/// A group text message; `entities` as Telegram sends them (may be empty).
pub fn group_text(message_id: i64, chat_id: i64, user_id: i64, text: &str, entities: Value) -> Value {
    json!({
        "message_id": message_id, "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "supergroup", "title": "Test group"},
        "from": {"id": user_id, "is_bot": false, "first_name": "Member", "username": format!("member{user_id}")},
        "text": text,
        "entities": entities,
    })
}

/// A `my_chat_member` update: user `by_user_id` added the bot to supergroup `chat_id`.
pub fn bot_added_to_group(chat_id: i64, title: &str, by_user_id: i64) -> Value {
    let bot = json!({"id": BOT_ID, "is_bot": true, "first_name": "Parachute", "username": BOT_USERNAME});
    json!({"my_chat_member": {
        "chat": {"id": chat_id, "type": "supergroup", "title": title},
        "from": {"id": by_user_id, "is_bot": false, "first_name": "Member", "username": format!("member{by_user_id}")},
        "date": 1_700_000_000,
        "old_chat_member": {"status": "left", "user": bot.clone()},
        "new_chat_member": {"status": "member", "user": bot},
    }})
}

/// The fake bot as a `User`.
pub fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Parachute", "username": BOT_USERNAME,
        "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
        "can_connect_to_business": false, "has_main_web_app": false})
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str, parameters: Option<Value>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    HttpResponse::build(status).json(body)
}

fn failure_response(failure: &Failure) -> HttpResponse {
    match failure {
        Failure::Unauthorized => error(401, "Unauthorized", None),
        Failure::Conflict => error(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            None,
        ),
        Failure::RateLimited(secs) => {
            error(429, &format!("Too Many Requests: retry after {secs}"), Some(json!({"retry_after": secs})))
        }
        Failure::Server(code) => error(*code, "Internal Server Error", None),
        Failure::Malformed => HttpResponse::Ok().content_type("application/json").body("{\"ok\": tru"),
    }
}

async fn api(shared: web::Data<Shared>, path: web::Path<(String, String)>, body: web::Bytes) -> HttpResponse {
    let (token, method) = path.into_inner();
    let method = canonical_method(&method);
    let params: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    let (failure, delay) = {
        let mut state = shared.state.lock().unwrap();
        let seq = state.calls.len();
        state.calls.push(Call { seq, method: method.clone(), params: params.clone(), at: std::time::Instant::now() });
        let position = state.failures.iter().position(|(m, _)| m == "*" || *m == method);
        let failure = position.and_then(|i| state.failures.remove(i)).map(|(_, f)| f);
        let position = state.delays.iter().position(|(m, _)| m == "*" || *m == method);
        (failure, position.and_then(|i| state.delays.remove(i)).map(|(_, d)| d))
    };
    shared.bump();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if token != FAKE_TOKEN {
        return error(401, "Unauthorized", None);
    }
    if let Some(failure) = failure {
        return failure_response(&failure);
    }
    match method.as_str() {
        "getMe" => ok(bot_user()),
        "getUpdates" => get_updates(&shared, &params).await,
        "sendMessage" => send_message(&shared, &params),
        "editMessageText" => edit_message_text(&shared, &params),
        "deleteMessage" => delete_message(&shared, &params),
        "sendChatAction" | "setMessageReaction" | "setMyCommands" | "deleteWebhook" | "leaveChat" => ok(json!(true)),
        "getFile" => {
            let file_id = params.get("file_id").and_then(Value::as_str).unwrap_or("");
            let state = shared.state.lock().unwrap();
            match state.files.get(file_id) {
                Some(file) => {
                    let mut result =
                        json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"), "file_path": file.path});
                    if let Some(size) = file.announced {
                        result["file_size"] = json!(size);
                    }
                    ok(result)
                }
                None => error(400, "Bad Request: invalid file_id", None),
            }
        }
        _ => error(404, "Not Found", None),
    }
}

/// Telegram method names are case-insensitive (teloxide-core sends `GetMe`); calls are
/// recorded as the documentation spells them (`getMe`).
fn canonical_method(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

async fn get_updates(shared: &Shared, params: &Value) -> HttpResponse {
    let offset = params.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let timeout = params.get("timeout").and_then(Value::as_u64).unwrap_or(0);
    let mut rx = shared.changed.subscribe();
    let pending = || -> Vec<Value> {
        let mut state = shared.state.lock().unwrap();
        // Like Telegram: asking from `offset` confirms every earlier update.
        state.updates.retain(|u| u.get("update_id").and_then(Value::as_i64).is_none_or(|id| id >= offset));
        state.updates.clone()
    };
    let wait = async {
        loop {
            let updates = pending();
            if !updates.is_empty() {
                return updates;
            }
            if rx.changed().await.is_err() {
                return updates;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(timeout), wait).await {
        Ok(updates) => ok(Value::Array(updates)),
        Err(_) => ok(json!([])),
    }
}

fn send_message(shared: &Shared, params: &Value) -> HttpResponse {
    let text = params.get("text").and_then(Value::as_str).unwrap_or("");
    let mut state = shared.state.lock().unwrap();
    if let Some(refused) = refused_text(&state, params) {
        return refused;
    }
    state.next_message_id += 1;
    let message_id = state.next_message_id;
    let chat_id = params.get("chat_id").cloned().unwrap_or(json!(0));
    state
        .shown
        .insert(message_id, BotMessage { message_id, chat_id: chat_id.clone(), text: text.to_owned(), edits: 0 });
    drop(state);
    shared.bump();
    ok(bot_message(message_id, chat_id, text))
}

/// Telegram's 400 for a text it will not show: empty, or (in HTML mode) with the markup the
/// test made it reject.
fn refused_text(state: &State, params: &Value) -> Option<HttpResponse> {
    let text = params.get("text").and_then(Value::as_str).unwrap_or("");
    let html = params.get("parse_mode").and_then(Value::as_str) == Some("HTML");
    if html && state.reject_markup_containing.as_ref().is_some_and(|marker| text.contains(marker.as_str())) {
        return Some(error(
            400,
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0",
            None,
        ));
    }
    text.is_empty().then(|| error(400, "Bad Request: message text is empty", None))
}

fn bot_message(message_id: i64, chat_id: Value, text: &str) -> Value {
    json!({
        "message_id": message_id, "date": 1_700_000_100,
        "chat": {"id": chat_id, "type": "private", "first_name": "chat"},
        "from": bot_user(),
        "text": text,
    })
}

/// `editMessageText` as Telegram answers it: the edited message, or 400 for a message that
/// is not there (or not the bot's) and for a text that is already shown.
fn edit_message_text(shared: &Shared, params: &Value) -> HttpResponse {
    let text = params.get("text").and_then(Value::as_str).unwrap_or("");
    let message_id = params.get("message_id").and_then(Value::as_i64).unwrap_or(0);
    let mut state = shared.state.lock().unwrap();
    if let Some(refused) = refused_text(&state, params) {
        return refused;
    }
    let Some(message) = state.shown.get_mut(&message_id) else {
        return error(400, "Bad Request: message to edit not found", None);
    };
    if message.text == text {
        return error(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are \
             exactly the same as a current content and reply markup of the message",
            None,
        );
    }
    message.text = text.to_owned();
    message.edits += 1;
    let chat_id = message.chat_id.clone();
    drop(state);
    shared.bump();
    ok(bot_message(message_id, chat_id, text))
}

fn delete_message(shared: &Shared, params: &Value) -> HttpResponse {
    let message_id = params.get("message_id").and_then(Value::as_i64).unwrap_or(0);
    let removed = shared.state.lock().unwrap().shown.remove(&message_id);
    shared.bump();
    match removed {
        Some(_) => ok(json!(true)),
        None => error(400, "Bad Request: message to delete not found", None),
    }
}

async fn file(shared: web::Data<Shared>, path: web::Path<(String, String)>) -> HttpResponse {
    let (token, file_path) = path.into_inner();
    let found = {
        let mut state = shared.state.lock().unwrap();
        let seq = state.calls.len();
        let params = json!({"path": file_path});
        state.calls.push(Call { seq, method: "downloadFile".into(), params, at: std::time::Instant::now() });
        state.files.values().find(|f| f.path == file_path).map(|f| f.body.clone())
    };
    shared.bump();
    if token != FAKE_TOKEN {
        return HttpResponse::Unauthorized().finish();
    }
    match found {
        Some(FileBody::Bytes(bytes)) => HttpResponse::Ok().body(bytes),
        Some(FileBody::Endless) => {
            let chunks =
                futures_util::stream::repeat_with(|| Ok::<_, actix_web::Error>(web::Bytes::from(vec![0u8; 16 * 1024])));
            HttpResponse::Ok().content_type("audio/ogg").streaming(chunks)
        }
        None => HttpResponse::NotFound().finish(),
    }
}
