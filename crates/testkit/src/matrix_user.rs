//! A person on the test homeserver, speaking the Matrix client-server API over plain HTTP:
//! registers, creates rooms, sends messages and waits for what the bot does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

/// The password of every user [`MatrixUser::register`] registers.
pub const PASSWORD: &str = "test-password-1234";

/// A registered user with an access token.
pub struct MatrixUser {
    /// `@name:localhost`.
    pub user_id: String,
    /// Token of the user's device.
    pub access_token: String,
    /// The device.
    pub device_id: String,
    base: String,
    /// For an application service's user: the user id every request acts as (`user_id=`).
    masquerade: Option<String>,
    http: reqwest::Client,
    since: tokio::sync::Mutex<Option<String>>,
    seen: Mutex<HashMap<String, Vec<Value>>>,
    txn: std::sync::atomic::AtomicU64,
}

impl MatrixUser {
    /// Registers `localpart` (open registration on the test homeserver).
    pub async fn register(base: &str, localpart: &str) -> Self {
        let http = reqwest::Client::new();
        let body = json!({"username": localpart, "password": PASSWORD, "auth": {"type": "m.login.dummy"}});
        let answer: Value = http
            .post(format!("{base}/_matrix/client/v3/register"))
            .json(&body)
            .send()
            .await
            .expect("register request")
            .json()
            .await
            .expect("register answer");
        let field = |k: &str| answer[k].as_str().unwrap_or_else(|| panic!("register {localpart}: {answer}")).to_owned();
        let user = Self {
            user_id: field("user_id"),
            access_token: field("access_token"),
            device_id: field("device_id"),
            base: base.to_owned(),
            masquerade: None,
            http,
            since: tokio::sync::Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
            txn: Default::default(),
        };
        user.sync(0).await;
        user
    }

    /// A user of an application service (a bridge's bot or ghost): registered through the
    /// service's token when new, then every request masquerades as it (`user_id=`).
    pub async fn of_appservice(base: &str, as_token: &str, localpart: &str, server_name: &str) -> Self {
        let http = reqwest::Client::new();
        let body = json!({"type": "m.login.application_service", "username": localpart, "inhibit_login": true});
        let answer = http
            .post(format!("{base}/_matrix/client/v3/register"))
            .bearer_auth(as_token)
            .json(&body)
            .send()
            .await
            .expect("appservice register request");
        // The service's own bot (its sender_localpart) exists already: M_USER_IN_USE.
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        assert!(status.is_success() || text.contains("M_USER_IN_USE"), "register {localpart}: {status} {text}");
        let user_id = format!("@{localpart}:{server_name}");
        let user = Self {
            user_id: user_id.clone(),
            access_token: as_token.to_owned(),
            device_id: String::new(),
            base: base.to_owned(),
            masquerade: Some(user_id),
            http,
            since: tokio::sync::Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
            txn: Default::default(),
        };
        // Bridges do not sync (the homeserver pushes them transactions); neither do these.
        user
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut url = format!("{}{path}", self.base);
        if let Some(user) = &self.masquerade {
            url.push(if path.contains('?') { '&' } else { '?' });
            url.push_str(&format!("user_id={}", encode(user)));
        }
        let mut request = self.http.request(method, url).bearer_auth(&self.access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path} answered {status}: {value}");
        value
    }

    /// Sets the user's display name.
    pub async fn set_display_name(&self, name: &str) {
        let path = format!("/_matrix/client/v3/profile/{}/displayname", self.user_id);
        self.call(reqwest::Method::PUT, &path, Some(json!({"displayname": name}))).await;
    }

    /// Creates a room from a `createRoom` body; returns its id.
    pub async fn create_room(&self, body: Value) -> String {
        let answer = self.call(reqwest::Method::POST, "/_matrix/client/v3/createRoom", Some(body)).await;
        answer["room_id"].as_str().expect("room_id").to_owned()
    }

    /// A direct chat with `other` (invited, marked direct).
    pub async fn create_dm(&self, other: &str) -> String {
        self.create_room(json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [other]})).await
    }

    /// A group room; `public` makes it joinable by anyone, else invite-only.
    pub async fn create_group(&self, name: &str, invite: &[&str], public: bool) -> String {
        let preset = if public { "public_chat" } else { "private_chat" };
        self.create_room(json!({"preset": preset, "name": name, "invite": invite})).await
    }

    /// Publishes `#alias:localhost` for a room.
    pub async fn set_alias(&self, room: &str, alias: &str) {
        let path = format!("/_matrix/client/v3/directory/room/{}", encode(alias));
        self.call(reqwest::Method::PUT, &path, Some(json!({"room_id": room}))).await;
    }

    /// Invites a user.
    pub async fn invite(&self, room: &str, user: &str) {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", encode(room));
        self.call(reqwest::Method::POST, &path, Some(json!({"user_id": user}))).await;
    }

    /// Upgrades a room to room version `version` (`POST /upgrade`); returns the new room's id.
    pub async fn upgrade_room(&self, room: &str, version: &str) -> String {
        let path = format!("/_matrix/client/v3/rooms/{}/upgrade", encode(room));
        let answer = self.call(reqwest::Method::POST, &path, Some(json!({"new_version": version}))).await;
        answer["replacement_room"].as_str().expect("replacement_room").to_owned()
    }

    /// Joins a room.
    pub async fn join(&self, room: &str) {
        let path = format!("/_matrix/client/v3/join/{}", encode(room));
        self.call(reqwest::Method::POST, &path, Some(json!({}))).await;
    }

    /// Sends any message-like event; returns its event id.
    pub async fn send(&self, room: &str, event_type: &str, content: Value) -> String {
        let txn = self.txn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // An application service's users share its token, which scopes transaction ids.
        let owner = self.masquerade.as_deref().map(encode).unwrap_or_default();
        let path = format!("/_matrix/client/v3/rooms/{}/send/{event_type}/t{owner}{txn}", encode(room));
        let answer = self.call(reqwest::Method::PUT, &path, Some(content)).await;
        answer["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Sends a plain text message.
    pub async fn send_text(&self, room: &str, body: &str) -> String {
        self.send(room, "m.room.message", json!({"msgtype": "m.text", "body": body})).await
    }

    /// Sends a text that mentions `users` through `m.mentions`.
    pub async fn send_mention(&self, room: &str, body: &str, users: &[&str]) -> String {
        let content = json!({"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": users}});
        self.send(room, "m.room.message", content).await
    }

    /// The ids of this user's own devices (`GET /devices`), sorted.
    pub async fn device_ids(&self) -> Vec<String> {
        let answer = self.call(reqwest::Method::GET, "/_matrix/client/v3/devices", None).await;
        let mut ids: Vec<String> = answer["devices"]
            .as_array()
            .map(|devices| devices.iter().filter_map(|d| d["device_id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The devices of `user` that published identity keys, as `/keys/query` lists them.
    pub async fn devices_with_keys(&self, user: &str) -> Vec<String> {
        let body = json!({"device_keys": {user: []}});
        let answer = self.call(reqwest::Method::POST, "/_matrix/client/v3/keys/query", Some(body)).await;
        answer["device_keys"][user].as_object().map(|devices| devices.keys().cloned().collect()).unwrap_or_default()
    }

    /// Logs in with the password as a new device, as on a new machine: (access token, device id).
    pub async fn login_new_device(&self) -> (String, String) {
        let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": self.user_id},
            "password": PASSWORD});
        let answer: Value = self
            .http
            .post(format!("{}/_matrix/client/v3/login", self.base))
            .json(&body)
            .send()
            .await
            .expect("login request")
            .json()
            .await
            .expect("login answer");
        let field =
            |k: &str| answer[k].as_str().unwrap_or_else(|| panic!("login {}: {answer}", self.user_id)).to_owned();
        (field("access_token"), field("device_id"))
    }

    /// Logs the device out (invalidates its token).
    pub async fn logout(&self) {
        self.call(reqwest::Method::POST, "/_matrix/client/v3/logout", Some(json!({}))).await;
    }

    /// One /sync: records timeline and ephemeral events per room; joins nothing by itself.
    async fn sync(&self, timeout_ms: u64) {
        let mut since = self.since.lock().await;
        // A large timeline limit so a busy room never comes back "limited" (events skipped).
        let filter = encode(r#"{"room":{"timeline":{"limit":1000}}}"#);
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}&filter={filter}");
        if let Some(token) = since.as_deref() {
            path.push_str(&format!("&since={}", encode(token)));
        }
        let answer = self.call(reqwest::Method::GET, &path, None).await;
        if let Some(rooms) = answer["rooms"]["join"].as_object() {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for (room, update) in rooms {
                let list = seen.entry(room.clone()).or_default();
                for key in ["timeline", "ephemeral"] {
                    if let Some(events) = update[key]["events"].as_array() {
                        list.extend(events.iter().cloned());
                    }
                }
            }
        }
        *since = answer["next_batch"].as_str().map(str::to_owned);
    }

    /// Every event seen so far in a room (timeline and ephemeral), oldest first.
    pub fn seen(&self, room: &str) -> Vec<Value> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(room).cloned().unwrap_or_default()
    }

    /// Syncs until `pred` holds for the room's seen events, or panics after `timeout`.
    pub async fn wait_until(&self, room: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.seen(room);
            if pred(&events) {
                return events;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "condition not met within {timeout:?}; events in {room}:\n{events:#?}");
            self.sync(left.as_millis().min(1000) as u64).await;
        }
    }

    /// The room's whole timeline from the server's history (`/messages`), oldest first: unlike
    /// `/sync`, never skips events when many arrived at once.
    pub async fn history(&self, room: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1000", encode(room));
            if let Some(token) = &from {
                path.push_str(&format!("&from={}", encode(token)));
            }
            let answer = self.call(reqwest::Method::GET, &path, None).await;
            let chunk = answer["chunk"].as_array().cloned().unwrap_or_default();
            let done = chunk.is_empty() || answer["end"].is_null();
            events.extend(chunk);
            if done {
                break;
            }
            from = answer["end"].as_str().map(str::to_owned);
        }
        events.reverse();
        events
    }

    /// Polls the room's history until `pred` holds for it; returns it.
    pub async fn wait_history(&self, room: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.history(room).await;
            if pred(&events) {
                return events;
            }
            assert!(tokio::time::Instant::now() < deadline, "condition not met within {timeout:?} in {room}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls the room's history until it holds `n` messages from `sender`; returns their
    /// contents, oldest first.
    pub async fn wait_history_from(&self, room: &str, sender: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let events = self.wait_history(room, timeout, |events| messages_from(events, sender).len() >= n).await;
        messages_from(&events, sender)
    }

    /// Waits for `n` messages (m.room.message) from `sender` in a room; returns their contents.
    pub async fn wait_messages_from(&self, room: &str, sender: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let events = self.wait_until(room, timeout, |events| messages_from(events, sender).len() >= n).await;
        messages_from(&events, sender)
    }
}

/// The contents of the `m.room.message` events `sender` sent.
pub fn messages_from(events: &[Value], sender: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .map(|e| e["content"].clone())
        .collect()
}

/// Percent-encodes a path segment (room ids, aliases, tokens).
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
