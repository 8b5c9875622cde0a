//! The real pipeline: a runtime with the SQLite store in a temp vault, the echo brain, and the
//! benchmark connector. Group messages in `all_messages` mode, so every one is answered.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parachute_core::config::{BotsConfig, config_path};
use parachute_core::gating::{Addressed, GroupMentionMode};
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};
use parachute_runtime::backoff_policy::BackoffPolicy;
use parachute_runtime::messages::{Content, Inbound};
use parachute_runtime::store::{Store, now_ms};
use parachute_runtime::{RuntimeOptions, start_runtime};
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::connector::{BenchConnector, BenchFactory, Delivered};
use crate::stats::Report;

/// The Telegram chat id of group `chat` (supergroup ids are negative).
fn group_id(chat: usize) -> String {
    format!("-100{chat}")
}

/// The message `index` in chat `chat`.
pub fn message(chat: usize, index: usize) -> Inbound {
    Inbound {
        platform: Platform::Telegram,
        chat: ChatId(group_id(chat)),
        chat_kind: ChatKind::Group,
        chat_name: None,
        chat_aliases: Vec::new(),
        guild: None,
        sender: UserId(format!("user-{chat}")),
        sender_username: None,
        sender_display: format!("User {chat}"),
        content: Content::Text(format!("message {index} in chat {chat}: how are you today?")),
        addressed: Addressed::Mention,
        event_id: EventId(index.to_string()),
        timestamp_ms: now_ms(),
    }
}

/// Index of the message a reply answers.
fn answered(delivered: &Delivered) -> usize {
    delivered.0.in_reply_to.as_ref().and_then(|e| e.as_str().parse().ok()).unwrap_or(usize::MAX)
}

/// Runs `body` against a freshly started runtime in its own actix system.
fn with_runtime<T>(chats: usize, body: impl AsyncFnOnce(BenchConnector, UnboundedReceiver<Delivered>) -> T) -> T {
    actix::System::new().block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join(".parachute");
        let store = if std::env::var_os("BENCH_MEMORY_DB").is_some() {
            Store::open_in_memory().expect("store")
        } else {
            Store::open(&data_dir.join("parachute.db")).expect("store")
        };
        let mut config = BotsConfig::default();
        config.telegram.enabled = true;
        config.telegram.bot_token = Some(SecretString::from("bench:token"));
        config.telegram.group_mention_mode = GroupMentionMode::AllMessages;
        config.telegram.ack_emoji = String::new();
        config.telegram.allowed_groups = (0..chats).map(group_id).collect();
        let (connector, replies, connected) = BenchConnector::new();
        let _runtime = start_runtime(RuntimeOptions {
            config,
            config_path: config_path(dir.path()),
            data_dir,
            store,
            factories: vec![Arc::new(BenchFactory(connector.clone()))],
            backoff: BackoffPolicy::default(),
            brain: None,
            autostart: true,
            allow_api_programs: false,
        });
        connected.await.expect("bench connector connected");
        body(connector, replies).await
    })
}

/// Every message injected at once; throughput and queueing latency.
pub fn burst(chats: usize, messages: usize) -> Report {
    with_runtime(chats, async move |connector, mut replies| {
        let sent = RefCell::new(Vec::with_capacity(messages));
        let start = Instant::now();
        for index in 0..messages {
            sent.borrow_mut().push(Instant::now());
            connector.inject(message(index % chats, index));
        }
        collect(&mut replies, start, &sent, messages, |_, _| {}).await
    })
}

/// Each chat sends its next message when the previous one was answered: latency without a
/// queue in front of it, `chats` conversations at a time.
pub fn closed_loop(chats: usize, messages: usize) -> Report {
    with_runtime(chats, async move |connector, mut replies| {
        let sent = RefCell::new(vec![Instant::now(); messages]);
        let mut next = 0;
        let start = Instant::now();
        while next < chats.min(messages) {
            sent.borrow_mut()[next] = Instant::now();
            connector.inject(message(next % chats, next));
            next += 1;
        }
        let report = collect(&mut replies, start, &sent, messages, |index, sent| {
            if next < messages {
                sent.borrow_mut()[next] = Instant::now();
                connector.inject(message(index % chats, next));
                next += 1;
            }
        });
        report.await
    })
}

/// Receives `messages` replies, recording each one's latency; `on_reply(index, sent)` runs
/// after each (the closed loop sends its next message there).
async fn collect(
    replies: &mut UnboundedReceiver<Delivered>,
    start: Instant,
    sent: &RefCell<Vec<Instant>>,
    messages: usize,
    mut on_reply: impl FnMut(usize, &RefCell<Vec<Instant>>),
) -> Report {
    let mut latencies = Vec::with_capacity(messages);
    let mut last = start;
    while latencies.len() < messages {
        let delivered = receive(replies).await;
        let index = answered(&delivered);
        latencies.push(delivered.1 - sent.borrow()[index]);
        last = delivered.1;
        on_reply(index, sent);
    }
    Report::new(last - start, latencies)
}

async fn receive(replies: &mut UnboundedReceiver<Delivered>) -> Delivered {
    match tokio::time::timeout(Duration::from_secs(120), replies.recv()).await {
        Ok(Some(delivered)) => delivered,
        _ => panic!("a reply did not arrive within 120 s"),
    }
}
