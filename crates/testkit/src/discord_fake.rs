//! A fake Discord on 127.0.0.1 for end-to-end tests of the real connector: a WebSocket
//! gateway speaking the real opcodes (HELLO, HEARTBEAT/ACK, IDENTIFY → READY, RESUME →
//! replay + RESUMED, INVALID_SESSION, DISPATCH) with per-session event logs, and a REST API
//! (`/api/v10/...`) recording every call, with injectable 401/403/429/5xx answers. The
//! bot's messages are kept as a channel shows them: edits (PATCH) change them, DELETE removes
//! them, with Discord's 10008 "Unknown Message" for one that is not there.
//!
//! Messages pushed while the bot is disconnected stay in the session's log and are replayed
//! when it resumes, as Discord does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_websockets::{CloseCode, Message, ServerBuilder};

/// The token the fake accepts (the one `config_with_tokens` sets).
pub const FAKE_TOKEN: &str = "TEST.discord.token-value-0123";
/// The fake bot's user id.
pub const BOT_ID: u64 = 900_000_000_000_000_001;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "parachute-test";
/// The role Discord manages for the bot in every guild of the fake.
pub const BOT_ROLE_ID: u64 = 900_000_000_000_000_500;
/// The intent bit of MESSAGE_CONTENT.
pub const MESSAGE_CONTENT_INTENT: u64 = 1 << 15;

const APPLICATION_ID: u64 = 900_000_000_000_000_002;

/// One recorded REST call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Position among all calls and gateway frames.
    pub seq: usize,
    /// The route's name, as Discord's documentation spells it: `getCurrentUser`,
    /// `createMessage`, `triggerTyping`, `createReaction`, `deleteOwnReaction`,
    /// `getGuildRoles`, `download`, or `unknown`.
    pub route: String,
    /// The JSON body (`{}` when none) with the path parameters added: `channel_id`,
    /// `message_id`, `emoji` (decoded), `guild_id`.
    pub params: Value,
    /// When the call arrived.
    pub at: Instant,
}

/// One frame the bot sent to the gateway.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position among all calls and gateway frames.
    pub seq: usize,
    /// Which connection (1 for the first) it came on.
    pub connection: usize,
    /// The opcode: 1 HEARTBEAT, 2 IDENTIFY, 6 RESUME, …
    pub op: u64,
    /// The `d` field.
    pub data: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A failure the next matching REST call answers with.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 401 Unauthorized.
    Unauthorized,
    /// 403 Missing Permissions.
    Forbidden,
    /// 429 with `Retry-After` and the rate limit headers, this many seconds.
    RateLimited(u64),
    /// A 5xx with a JSON error body.
    Server(u16),
}

/// What a live gateway connection is told to do.
#[derive(Debug, Clone, Copy)]
enum Control {
    /// Send a close frame with this code, then end.
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
}

#[derive(Default)]
struct State {
    next_seq: usize,
    next_snowflake: u64,
    calls: Vec<Call>,
    frames: Vec<Frame>,
    failures: VecDeque<(String, Failure)>,
    delays: VecDeque<(String, Duration)>,
    /// Dispatch payloads by session id; a payload's `s` is its index + 1.
    sessions: HashMap<String, Vec<Value>>,
    current_session: Option<String>,
    connections: usize,
    heartbeat_interval_ms: u64,
    ack_heartbeats: bool,
    message_content_allowed: bool,
    invalidate_next_resume: bool,
    identify_close: Option<u16>,
    replay_overlap: u64,
    /// Attachment bodies by name; `None` streams without end.
    attachments: HashMap<String, Option<Vec<u8>>>,
    /// Every message of each channel, as `GET /channels/{id}/messages` reads them.
    history: HashMap<String, Vec<Value>>,
}

impl State {
    fn seq(&mut self) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    control: broadcast::Sender<Control>,
    gateway_url: String,
}

impl Shared {
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fake Discord. Dropping it stops both servers.
pub struct DiscordFake {
    shared: Arc<Shared>,
    rest_port: u16,
    gateway_port: u16,
    rest: Mutex<Option<ServerHandle>>,
    gateway: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DiscordFake {
    /// Starts the REST and gateway servers on free ports of 127.0.0.1 (inside an actix system).
    pub fn start() -> Self {
        let rest_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Discord REST");
        let rest_port = rest_listener.local_addr().expect("local addr").port();
        let gateway_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Discord gateway");
        let gateway_port = gateway_listener.local_addr().expect("local addr").port();
        let state = State {
            next_snowflake: 1_000_000_000_000_000_000,
            heartbeat_interval_ms: 41_250,
            ack_heartbeats: true,
            message_content_allowed: true,
            ..State::default()
        };
        let (changed, _) = watch::channel(0);
        let (control, _) = broadcast::channel(16);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed,
            control,
            gateway_url: format!("ws://127.0.0.1:{gateway_port}"),
        });
        let fake = Self { shared, rest_port, gateway_port, rest: Mutex::new(None), gateway: Mutex::new(None) };
        fake.serve_rest(rest_listener);
        fake.serve_gateway(gateway_listener);
        fake
    }

    fn serve_rest(&self, listener: std::net::TcpListener) {
        let data = web::Data::from(self.shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/attachments/{name}", web::get().to(download))
                .default_service(web::to(rest))
        })
        .workers(1)
        .shutdown_timeout(0)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        *self.rest.lock().unwrap() = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    fn serve_gateway(&self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).expect("non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = {
                    let mut state = shared.state();
                    state.connections += 1;
                    state.connections
                };
                shared.bump();
                tokio::spawn(serve_connection(shared.clone(), stream, connection));
            }
        });
        *self.gateway.lock().unwrap() = Some(task);
    }

    /// The value for `discord.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// The value for `discord.gateway_url`.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url.clone()
    }

    /// Sets the `heartbeat_interval` HELLO announces (for connections opened afterwards).
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.shared.state().heartbeat_interval_ms = interval.as_millis() as u64;
    }

    /// Whether heartbeats are acknowledged (off: the connection looks dead to the bot).
    pub fn ack_heartbeats(&self, ack: bool) {
        self.shared.state().ack_heartbeats = ack;
    }

    /// Whether the MESSAGE CONTENT intent is enabled for the bot "in the developer portal";
    /// when not, IDENTIFY asking for it is closed with 4014.
    pub fn allow_message_content(&self, allowed: bool) {
        self.shared.state().message_content_allowed = allowed;
    }

    /// Closes the next IDENTIFY with `code` (e.g. 4004, as when the token was reset after the
    /// bot checked it over REST).
    pub fn close_next_identify(&self, code: u16) {
        self.shared.state().identify_close = Some(code);
    }

    /// Answers the next RESUME with INVALID_SESSION (not resumable).
    pub fn invalidate_next_resume(&self) {
        self.shared.state().invalidate_next_resume = true;
    }

    /// On RESUME, replays this many events before the sequence the bot names as well (Discord
    /// delivers at least once; a bot must not answer a replayed message twice).
    pub fn set_replay_overlap(&self, events: u64) {
        self.shared.state().replay_overlap = events;
    }

    /// Closes every live gateway connection with a close frame carrying `code`.
    pub fn close_connections(&self, code: u16) {
        let _ = self.shared.control.send(Control::Close(code));
    }

    /// Drops every live gateway connection without a close frame (a network failure).
    pub fn drop_connections(&self) {
        let _ = self.shared.control.send(Control::Drop);
    }

    /// Stops the gateway listener and drops its connections; REST stays up.
    pub fn gateway_down(&self) {
        if let Some(task) = self.gateway.lock().unwrap().take() {
            task.abort();
        }
        self.drop_connections();
    }

    /// Listens for gateway connections again on the same port.
    pub fn gateway_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.gateway_port)) {
                Ok(listener) => break listener,
                Err(err) if Instant::now() < deadline => {
                    tracing::debug!(%err, "gateway port not free yet");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => panic!("cannot listen on port {} again: {err}", self.gateway_port),
            }
        };
        self.serve_gateway(listener);
    }

    /// A new snowflake id (increasing).
    pub fn next_id(&self) -> u64 {
        let mut state = self.shared.state();
        state.next_snowflake += 1;
        state.next_snowflake
    }

    /// Dispatches `MESSAGE_CREATE` with `message` in the current session (delivered now, or
    /// replayed on RESUME if the bot is disconnected) and keeps it in its channel's history.
    /// Returns the dispatch's sequence number.
    pub fn push_message(&self, message: Value) -> u64 {
        record_in_history(&mut self.shared.state(), &message);
        self.dispatch("MESSAGE_CREATE", message)
    }

    /// Keeps `message` in its channel's history without dispatching it: written while no
    /// gateway session of the bot was there to receive it (the bot was not running).
    pub fn post_while_away(&self, message: Value) {
        record_in_history(&mut self.shared.state(), &message);
        self.shared.bump();
    }

    fn dispatch(&self, kind: &str, data: Value) -> u64 {
        let mut state = self.shared.state();
        let session = state.current_session.clone().expect("push after the bot identified");
        let seq = append_dispatch(&mut state, &session, kind, data);
        drop(state);
        self.shared.bump();
        seq
    }

    /// Makes the next REST call of `route` (`"*"` for any) answer with `failure`.
    pub fn fail_next(&self, route: &str, failure: Failure) {
        self.shared.state().failures.push_back((route.to_owned(), failure));
    }

    /// Makes the next REST call of `route` wait `delay` before it is answered.
    pub fn delay_next(&self, route: &str, delay: Duration) {
        self.shared.state().delays.push_back((route.to_owned(), delay));
    }

    /// Makes `bytes` downloadable; returns the attachment URL.
    pub fn add_attachment(&self, name: &str, bytes: Vec<u8>) -> String {
        self.shared.state().attachments.insert(name.to_owned(), Some(bytes));
        format!("{}/attachments/{name}", self.api_url())
    }

    /// Makes an attachment whose download never ends (chunked, no `Content-Length`); returns
    /// its URL. The message carrying it may announce any `size`.
    pub fn add_endless_attachment(&self, name: &str) -> String {
        self.shared.state().attachments.insert(name.to_owned(), None);
        format!("{}/attachments/{name}", self.api_url())
    }

    /// Gateway connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.state().connections
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state().calls.clone()
    }

    /// The REST calls of one route so far.
    pub fn calls_of(&self, route: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.route == route).collect()
    }

    /// The bot's messages a channel shows now (sent, maybe edited, not deleted), oldest first.
    pub fn bot_messages(&self, channel: u64) -> Vec<Value> {
        let bot = BOT_ID.to_string();
        let state = self.shared.state();
        let messages = state.history.get(&channel.to_string()).into_iter().flatten();
        messages.filter(|m| m["author"]["id"].as_str() == Some(bot.as_str())).cloned().collect()
    }

    /// Removes message `id` from `channel` as a person deleting it in the chat would (no REST
    /// call is recorded); whether it was there.
    pub fn remove_message(&self, channel: u64, id: &str) -> bool {
        let params = json!({"channel_id": channel.to_string(), "message_id": id});
        let removed = delete_message(&mut self.shared.state(), &params);
        self.shared.bump();
        removed
    }

    /// Waits until the bot's messages in `channel` satisfy `pred`; returns them.
    pub async fn wait_bot_messages(
        &self,
        channel: u64,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let what = format!("the bot's messages in channel {channel} as awaited");
        self.wait_for(timeout, &what, || {
            let messages = self.bot_messages(channel);
            pred(&messages).then_some(messages)
        })
        .await
    }

    /// Every frame the bot sent to the gateway so far.
    pub fn frames(&self) -> Vec<Frame> {
        self.shared.state().frames.clone()
    }

    /// The frames with opcode `op` so far.
    pub fn frames_of(&self, op: u64) -> Vec<Frame> {
        self.frames().into_iter().filter(|f| f.op == op).collect()
    }

    async fn wait_for<T>(&self, timeout: Duration, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if let Some(value) = found() {
                    return Some(value);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(value)) => value,
            _ => panic!("{what} not seen within {timeout:?}; calls: {:#?}; frames: {:#?}", self.calls(), self.frames()),
        }
    }

    /// Waits for a REST call of `route` satisfying `pred`; panics after `timeout`.
    pub async fn wait_call(&self, route: &str, timeout: Duration, pred: impl Fn(&Call) -> bool) -> Call {
        self.wait_calls(route, 1, timeout, pred).await.remove(0)
    }

    /// Waits until `count` REST calls of `route` satisfy `pred`; returns them.
    pub async fn wait_calls(
        &self,
        route: &str,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&Call) -> bool,
    ) -> Vec<Call> {
        let what = format!("{count} call(s) of {route}");
        self.wait_for(timeout, &what, || {
            let calls: Vec<Call> = self.calls_of(route).into_iter().filter(|c| pred(c)).collect();
            (calls.len() >= count).then_some(calls)
        })
        .await
    }

    /// Waits until `count` gateway frames with opcode `op` satisfy `pred`; returns them.
    pub async fn wait_frames(
        &self,
        op: u64,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Vec<Frame> {
        let what = format!("{count} gateway frame(s) with op {op}");
        self.wait_for(timeout, &what, || {
            let frames: Vec<Frame> = self.frames_of(op).into_iter().filter(|f| pred(f)).collect();
            (frames.len() >= count).then_some(frames)
        })
        .await
    }
}

impl Drop for DiscordFake {
    fn drop(&mut self) {
        if let Some(task) = self.gateway.lock().ok().and_then(|mut g| g.take()) {
            task.abort();
        }
        let _ = self.shared.control.send(Control::Drop);
        if let Some(handle) = self.rest.lock().ok().and_then(|mut s| s.take()) {
            drop(handle.stop(false));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads as Discord sends them.

/// A user object.
pub fn user(id: u64, username: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(), "username": username, "global_name": null, "discriminator": "0",
        "avatar": null, "bot": bot, "public_flags": 0,
    })
}

/// The fake bot's user object.
pub fn bot_user() -> Value {
    user(BOT_ID, BOT_USERNAME, true)
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    iso_8601(now.as_secs() as i64)
}

/// `seconds` since the Unix epoch as Discord writes timestamps (UTC, microseconds).
pub fn iso_8601(seconds: i64) -> String {
    // Days to a civil date: Howard Hinnant's `civil_from_days`.
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000+00:00", secs / 3_600, secs % 3_600 / 60, secs % 60)
}

fn record_in_history(state: &mut State, message: &Value) {
    let channel = message["channel_id"].as_str().unwrap_or_default().to_owned();
    state.history.entry(channel).or_default().push(message.clone());
}

/// Up to `limit` messages of a channel after message `after`, newest first (Discord's order).
fn history_after(state: &State, channel: &str, after: u64, limit: usize) -> Vec<Value> {
    let id = |m: &Value| m["id"].as_str().and_then(|id| id.parse::<u64>().ok()).unwrap_or(0);
    let mut messages: Vec<Value> =
        state.history.get(channel).into_iter().flatten().filter(|m| id(m) > after).cloned().collect();
    messages.sort_by_key(id);
    messages.truncate(limit);
    messages.reverse();
    messages
}

/// A message object; `guild` is `None` for a DM.
pub fn message(id: u64, guild: Option<u64>, channel: u64, author: Value, content: &str) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": author, "content": content,
        "timestamp": timestamp(), "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "flags": 0,
    });
    if let Some(guild) = guild {
        m["guild_id"] = json!(guild.to_string());
        m["member"] = json!({"roles": [], "joined_at": timestamp(), "deaf": false, "mute": false, "flags": 0});
    }
    m
}

/// A DM from user `user_id` in DM channel `channel`.
pub fn dm_text(id: u64, channel: u64, user_id: u64, username: &str, content: &str) -> Value {
    message(id, None, channel, user(user_id, username, false), content)
}

/// A guild message mentioning the users in `mentions` (the fake bot is `BOT_ID`).
pub fn guild_text(id: u64, guild: u64, channel: u64, user_id: u64, content: &str, mentions: &[u64]) -> Value {
    let mut m = message(id, Some(guild), channel, user(user_id, &format!("member{user_id}"), false), content);
    m["mentions"] = mentions
        .iter()
        .map(|&u| if u == BOT_ID { bot_user() } else { user(u, &format!("member{u}"), false) })
        .collect();
    m
}

fn ready(session_id: &str, resume_url: &str) -> Value {
    json!({
        "v": 10, "user": {
            "id": BOT_ID.to_string(), "username": BOT_USERNAME, "global_name": null, "discriminator": "0",
            "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0,
            "accent_color": null, "banner": null,
        },
        "guilds": [], "session_id": session_id, "resume_gateway_url": resume_url, "shard": [0, 1],
        "application": {"id": APPLICATION_ID.to_string(), "flags": 0},
    })
}

fn append_dispatch(state: &mut State, session: &str, kind: &str, data: Value) -> u64 {
    let log = state.sessions.entry(session.to_owned()).or_default();
    let seq = log.len() as u64 + 1;
    log.push(json!({"op": 0, "t": kind, "s": seq, "d": data}));
    seq
}

// ---------------------------------------------------------------------------------------------
// The gateway.

/// Serves one gateway connection: HELLO, then the bot's frames and the session's dispatches.
async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, connection: usize) {
    let mut control = shared.control.subscribe();
    let mut changed = shared.changed.subscribe();
    let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
        return;
    };
    let interval = shared.state().heartbeat_interval_ms;
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": interval}});
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    // The session this connection belongs to and the last sequence sent on it.
    let mut session: Option<(String, u64)> = None;
    loop {
        if let Some((id, sent)) = &mut session {
            let pending: Vec<Value> =
                shared.state().sessions.get(id.as_str()).map(|log| log[*sent as usize..].to_vec()).unwrap_or_default();
            for payload in pending {
                if ws.send(Message::text(payload.to_string())).await.is_err() {
                    return;
                }
                *sent += 1;
            }
        }
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(message)) if message.is_text() => message.as_text().unwrap_or_default().to_owned(),
                    Some(Ok(message)) if message.is_close() => {
                        // tokio-websockets answers the close frame; read until the peer is gone.
                        let _ = tokio::time::timeout(Duration::from_secs(1), async { while ws.next().await.is_some() {} }).await;
                        return;
                    }
                    Some(Ok(_)) => continue,
                    _ => return,
                };
                match on_frame(&shared, connection, &text, &mut session) {
                    Reply::Nothing => {}
                    Reply::Send(payload) => {
                        if ws.send(Message::text(payload.to_string())).await.is_err() {
                            return;
                        }
                    }
                    Reply::Close(code, reason) => {
                        close(&mut ws, code, reason).await;
                        return;
                    }
                }
            }
            _ = changed.changed() => {}
            command = control.recv() => match command {
                Ok(Control::Close(code)) => {
                    close(&mut ws, code, "closed by the test").await;
                    return;
                }
                Ok(Control::Drop) | Err(_) => return,
            },
        }
    }
}

async fn close(ws: &mut tokio_websockets::WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let Ok(code) = CloseCode::try_from(code) else { return };
    if ws.send(Message::close(Some(code), reason)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), async { while ws.next().await.is_some() {} }).await;
    }
}

enum Reply {
    Nothing,
    Send(Value),
    Close(u16, &'static str),
}

/// Records a frame from the bot and decides the answer.
fn on_frame(shared: &Shared, connection: usize, text: &str, session: &mut Option<(String, u64)>) -> Reply {
    let payload: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let op = payload.get("op").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let data = payload.get("d").cloned().unwrap_or(Value::Null);
    let reply = {
        let mut state = shared.state();
        let seq = state.seq();
        state.frames.push(Frame { seq, connection, op, data: data.clone(), at: Instant::now() });
        match op {
            1 if state.ack_heartbeats => Reply::Send(json!({"op": 11, "s": null, "t": null, "d": null})),
            1 => Reply::Nothing,
            2 => identify(&mut state, &shared.gateway_url, &data, session),
            6 => resume(&mut state, &data, session),
            _ => Reply::Close(4001, "Unknown opcode."),
        }
    };
    shared.bump();
    reply
}

fn token_ok(data: &Value) -> bool {
    let token = data.get("token").and_then(Value::as_str).unwrap_or("");
    token.strip_prefix("Bot ").unwrap_or(token) == FAKE_TOKEN
}

fn identify(state: &mut State, gateway_url: &str, data: &Value, session: &mut Option<(String, u64)>) -> Reply {
    match state.identify_close.take() {
        Some(4004) => return Reply::Close(4004, "Authentication failed."),
        Some(code) => return Reply::Close(code, "Closed by the test."),
        None => {}
    }
    if !token_ok(data) {
        return Reply::Close(4004, "Authentication failed.");
    }
    let intents = data.get("intents").and_then(Value::as_u64).unwrap_or(0);
    if intents & MESSAGE_CONTENT_INTENT != 0 && !state.message_content_allowed {
        return Reply::Close(4014, "Disallowed intent(s).");
    }
    let id = format!("session-{}", state.sessions.len() + 1);
    append_dispatch(state, &id, "READY", ready(&id, gateway_url));
    state.current_session = Some(id.clone());
    *session = Some((id, 0));
    Reply::Nothing
}

fn resume(state: &mut State, data: &Value, session: &mut Option<(String, u64)>) -> Reply {
    let id = data.get("session_id").and_then(Value::as_str).unwrap_or("").to_owned();
    let seq = data.get("seq").and_then(Value::as_u64).unwrap_or(0);
    if !token_ok(data) {
        return Reply::Close(4004, "Authentication failed.");
    }
    let known = state.sessions.get(&id).is_some_and(|log| seq <= log.len() as u64);
    if !known || std::mem::take(&mut state.invalidate_next_resume) {
        return Reply::Send(json!({"op": 9, "s": null, "t": null, "d": false}));
    }
    let from = seq.saturating_sub(state.replay_overlap);
    append_dispatch(state, &id, "RESUMED", json!({}));
    state.current_session = Some(id.clone());
    *session = Some((id, from));
    Reply::Nothing
}

// ---------------------------------------------------------------------------------------------
// The REST API.

fn error(status: u16, code: u64, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"message": message, "code": code}))
}

fn failure_response(failure: &Failure) -> HttpResponse {
    match failure {
        Failure::Unauthorized => error(401, 0, "401: Unauthorized"),
        Failure::Forbidden => error(403, 50013, "Missing Permissions"),
        Failure::RateLimited(secs) => HttpResponse::TooManyRequests()
            .insert_header(("retry-after", secs.to_string()))
            .insert_header(("x-ratelimit-limit", "5"))
            .insert_header(("x-ratelimit-remaining", "0"))
            .insert_header(("x-ratelimit-reset-after", format!("{secs}.000")))
            .insert_header(("x-ratelimit-bucket", "fakebucket0001"))
            .insert_header(("x-ratelimit-scope", "user"))
            .json(json!({"message": "You are being rate limited.", "retry_after": *secs as f64, "global": false})),
        Failure::Server(code) => error(*code, 0, "Internal Server Error"),
    }
}

/// Route name and path parameters of a REST path below `/api/v10`.
fn route(method: &str, path: &str) -> (&'static str, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let decoded = |s: &str| percent_decode(s);
    match (method, segments.as_slice()) {
        ("GET", ["users", "@me"]) => ("getCurrentUser", json!({})),
        ("POST", ["channels", c, "messages"]) => ("createMessage", json!({"channel_id": c})),
        ("GET", ["channels", c, "messages"]) => ("getChannelMessages", json!({"channel_id": c})),
        ("PATCH", ["channels", c, "messages", m]) => ("editMessage", json!({"channel_id": c, "message_id": m})),
        ("DELETE", ["channels", c, "messages", m]) => ("deleteMessage", json!({"channel_id": c, "message_id": m})),
        ("POST", ["channels", c, "typing"]) => ("triggerTyping", json!({"channel_id": c})),
        ("PUT", ["channels", c, "messages", m, "reactions", e, "@me"]) => {
            ("createReaction", json!({"channel_id": c, "message_id": m, "emoji": decoded(e)}))
        }
        ("DELETE", ["channels", c, "messages", m, "reactions", e, "@me"]) => {
            ("deleteOwnReaction", json!({"channel_id": c, "message_id": m, "emoji": decoded(e)}))
        }
        ("GET", ["guilds", g, "roles"]) => ("getGuildRoles", json!({"guild_id": g})),
        _ => ("unknown", json!({})),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn rest(shared: web::Data<Shared>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let raw_path = request.uri().path().to_owned();
    let Some(path) = raw_path.strip_prefix("/api/v10/") else {
        return error(404, 0, "404: Not Found");
    };
    let method = request.method().as_str().to_owned();
    let (name, path_params) = route(&method, path);
    let mut params: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    if let (Some(params), Some(extra)) = (params.as_object_mut(), path_params.as_object()) {
        params.extend(extra.clone());
    }
    if let Some(params) = params.as_object_mut() {
        for pair in request.query_string().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(key.to_owned(), json!(percent_decode(value)));
        }
    }
    let authorized = request.headers().get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Bot {FAKE_TOKEN}").as_str());
    let (failure, delay, message_id) = {
        let mut state = shared.state();
        let seq = state.seq();
        state.calls.push(Call { seq, route: name.to_owned(), params: params.clone(), at: Instant::now() });
        let position = state.failures.iter().position(|(r, _)| r == "*" || r == name);
        let failure = position.and_then(|i| state.failures.remove(i)).map(|(_, f)| f);
        let position = state.delays.iter().position(|(r, _)| r == name);
        let delay = position.and_then(|i| state.delays.remove(i)).map(|(_, d)| d);
        state.next_snowflake += 1;
        (failure, delay, state.next_snowflake)
    };
    shared.bump();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if !authorized {
        return error(401, 0, "401: Unauthorized");
    }
    if let Some(failure) = failure {
        return failure_response(&failure);
    }
    match name {
        "getCurrentUser" => HttpResponse::Ok().json(json!({
            "id": BOT_ID.to_string(), "username": BOT_USERNAME, "global_name": "Parachute", "discriminator": "0",
            "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0,
            "accent_color": null, "banner": null, "locale": "en-US", "premium_type": 0, "public_flags": 0,
        })),
        "createMessage" => match create_message(&params, message_id) {
            Ok(sent) => {
                record_in_history(&mut shared.state(), &sent);
                shared.bump();
                HttpResponse::Ok().json(sent)
            }
            Err(rejected) => *rejected,
        },
        "editMessage" => {
            let edited = edit_message(&mut shared.state(), &params);
            shared.bump();
            match edited {
                Ok(message) => HttpResponse::Ok().json(message),
                Err(rejected) => *rejected,
            }
        }
        "deleteMessage" => {
            let deleted = delete_message(&mut shared.state(), &params);
            shared.bump();
            if deleted { HttpResponse::NoContent().finish() } else { error(404, 10008, "Unknown Message") }
        }
        "getChannelMessages" => {
            let number = |key: &str| params[key].as_str().and_then(|v| v.parse::<u64>().ok());
            let limit = number("limit").unwrap_or(50).clamp(1, 100) as usize;
            let channel = params["channel_id"].as_str().unwrap_or_default();
            HttpResponse::Ok().json(history_after(&shared.state(), channel, number("after").unwrap_or(0), limit))
        }
        "triggerTyping" | "createReaction" | "deleteOwnReaction" => HttpResponse::NoContent().finish(),
        "getGuildRoles" => {
            let guild = params["guild_id"].as_str().unwrap_or("0").to_owned();
            HttpResponse::Ok().json(json!([
                role(&guild, "@everyone", None),
                role(&BOT_ROLE_ID.to_string(), BOT_USERNAME, Some(BOT_ID))
            ]))
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

fn role(id: &str, name: &str, bot: Option<u64>) -> Value {
    let mut role = json!({
        "id": id, "name": name, "color": 0, "colors": {"primary_color": 0, "secondary_color": null,
        "tertiary_color": null}, "hoist": false, "icon": null, "unicode_emoji": null, "position": 0,
        "permissions": "1024", "managed": bot.is_some(), "mentionable": false, "flags": 0,
    });
    if let Some(bot) = bot {
        role["tags"] = json!({"bot_id": bot.to_string()});
    }
    role
}

/// The message the bot sent, or the rejection Discord answers.
/// The message `params` name in its channel's history.
fn find_message<'a>(state: &'a mut State, params: &Value) -> Option<&'a mut Value> {
    let channel = params["channel_id"].as_str().unwrap_or_default();
    let id = params["message_id"].as_str().unwrap_or_default();
    state.history.get_mut(channel)?.iter_mut().find(|m| m["id"].as_str() == Some(id))
}

/// `PATCH /channels/{c}/messages/{m}` as Discord answers it: the edited message, 404 (10008)
/// for a message that is not there, 403 (50005) for another user's message.
fn edit_message(state: &mut State, params: &Value) -> Result<Value, Box<HttpResponse>> {
    let content = params.get("content").and_then(Value::as_str).map(str::to_owned);
    let Some(message) = find_message(state, params) else {
        return Err(Box::new(error(404, 10008, "Unknown Message")));
    };
    if message["author"]["id"].as_str() != Some(BOT_ID.to_string().as_str()) {
        return Err(Box::new(error(403, 50005, "Cannot edit a message authored by another user")));
    }
    if let Some(content) = content {
        if content.is_empty() {
            return Err(Box::new(error(400, 50006, "Cannot send an empty message")));
        }
        if content.chars().count() > 2000 {
            return Err(Box::new(error(400, 50035, "Invalid Form Body")));
        }
        message["content"] = json!(content);
        message["edited_timestamp"] = json!(timestamp());
    }
    Ok(message.clone())
}

/// Removes the message `params` name from its channel; whether it was there.
fn delete_message(state: &mut State, params: &Value) -> bool {
    let channel = params["channel_id"].as_str().unwrap_or_default();
    let id = params["message_id"].as_str().unwrap_or_default();
    let Some(messages) = state.history.get_mut(channel) else { return false };
    let before = messages.len();
    messages.retain(|m| m["id"].as_str() != Some(id));
    messages.len() < before
}

fn create_message(params: &Value, id: u64) -> Result<Value, Box<HttpResponse>> {
    let content = params.get("content").and_then(Value::as_str).unwrap_or("");
    if content.is_empty() {
        return Err(Box::new(error(400, 50006, "Cannot send an empty message")));
    }
    if content.chars().count() > 2000 {
        return Err(Box::new(HttpResponse::BadRequest().json(json!({"message": "Invalid Form Body", "code": 50035,
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}))));
    }
    let channel = params["channel_id"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut sent = message(id, None, channel, bot_user(), content);
    if let Some(reference) = params.get("message_reference") {
        sent["type"] = json!(19);
        sent["message_reference"] = reference.clone();
    }
    Ok(sent)
}

async fn download(shared: web::Data<Shared>, name: web::Path<String>) -> HttpResponse {
    let name = name.into_inner();
    let bytes = {
        let mut state = shared.state();
        let seq = state.seq();
        state.calls.push(Call { seq, route: "download".into(), params: json!({"name": name}), at: Instant::now() });
        state.attachments.get(&name).cloned()
    };
    shared.bump();
    match bytes {
        Some(Some(bytes)) => HttpResponse::Ok().content_type("audio/ogg").body(bytes),
        Some(None) => {
            let chunk = || Ok::<_, actix_web::Error>(web::Bytes::from(vec![0u8; 16 * 1024]));
            HttpResponse::Ok().content_type("audio/ogg").streaming(futures_util::stream::repeat_with(chunk))
        }
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_and_emoji_decoded() {
        assert_eq!(route("GET", "users/@me").0, "getCurrentUser");
        let (name, params) = route("PUT", "channels/1/messages/2/reactions/%F0%9F%91%80/@me");
        assert_eq!(name, "createReaction");
        assert_eq!(params["emoji"], "👀");
        assert_eq!(route("DELETE", "channels/1/messages/2/reactions/x/@me").0, "deleteOwnReaction");
        assert_eq!(route("GET", "channels/1").0, "unknown");
        assert_eq!(route("GET", "channels/1/messages").0, "getChannelMessages");
    }

    #[test]
    fn timestamps_are_utc_iso_8601() {
        assert_eq!(iso_8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso_8601(951_782_400), "2000-02-29T00:00:00.000000+00:00");
        assert_eq!(iso_8601(1_796_083_199), "2026-11-30T23:59:59.000000+00:00");
    }

    #[test]
    fn history_reads_after_a_message_newest_first() {
        let mut state = State::default();
        for id in [3, 1, 2, 4] {
            record_in_history(&mut state, &json!({"id": id.to_string(), "channel_id": "9"}));
        }
        let ids =
            |messages: Vec<Value>| messages.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(history_after(&state, "9", 1, 2)), ["3", "2"]);
        assert_eq!(ids(history_after(&state, "9", 0, 100)), ["4", "3", "2", "1"]);
        assert!(history_after(&state, "8", 0, 100).is_empty());
    }
}
