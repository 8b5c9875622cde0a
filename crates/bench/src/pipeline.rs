//! The real pipeline: a runtime with the SQLite store in a temp vault, the echo brain, the
//! benchmark connector and the HTTP API. Group messages in `all_messages` mode, so every one is
//! answered. While a burst runs, another thread asks the API for `/api/bots/status` and times
//! each answer.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
use crate::process::{self, Memory};
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

/// Runs `body` against a freshly started runtime (and its HTTP API, whose address `body`
/// gets) in its own actix system.
fn with_runtime<T>(
    chats: usize,
    body: impl AsyncFnOnce(BenchConnector, UnboundedReceiver<Delivered>, SocketAddr) -> T,
) -> T {
    with_configured_runtime(chats, |_| (), body)
}

/// Like `with_runtime`, with the config changed by `configure` first (inside the actix
/// system, so it may start fake services there); what it returns lives as long as the run.
pub fn with_configured_runtime<T, Kept>(
    chats: usize,
    configure: impl FnOnce(&mut BotsConfig) -> Kept,
    body: impl AsyncFnOnce(BenchConnector, UnboundedReceiver<Delivered>, SocketAddr) -> T,
) -> T {
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
        let _kept = configure(&mut config);
        let (connector, replies, connected) = BenchConnector::new();
        let runtime = start_runtime(RuntimeOptions {
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
        let api = parachute_server::bind(runtime, SocketAddr::from(([127, 0, 0, 1], 0)), None).expect("api bound");
        let api_addr = api.addrs[0];
        actix::spawn(api.server);
        connected.await.expect("bench connector connected");
        body(connector, replies, api_addr).await
    })
}

/// Every message injected at once; throughput and queueing latency, and the latency of
/// `/api/bots/status` asked meanwhile.
pub fn burst(chats: usize, messages: usize) -> (Report, Report) {
    with_runtime(chats, async move |connector, mut replies, api| {
        let status = StatusProbe::start(api);
        let sent = RefCell::new(Vec::with_capacity(messages));
        let start = Instant::now();
        for index in 0..messages {
            sent.borrow_mut().push(Instant::now());
            connector.inject(message(index % chats, index));
        }
        let burst = collect(&mut replies, start, &sent, messages, |_, _| {}).await;
        (burst, status.stop())
    })
}

/// Asks the API for `/api/bots/status` every millisecond from a thread of its own (one
/// keep-alive connection), timing each answer, until stopped.
struct StatusProbe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Report>,
}

impl StatusProbe {
    fn start(api: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(async move {
                let http = reqwest::Client::new();
                let url = format!("http://{api}/api/bots/status");
                let (started, mut latencies) = (Instant::now(), Vec::new());
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                while !stopped.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let asked = Instant::now();
                    let answer = http.get(&url).send().await.and_then(reqwest::Response::error_for_status);
                    let body = match answer {
                        Ok(answer) => answer.bytes().await,
                        Err(err) => panic!("/api/bots/status failed during the burst: {err}"),
                    };
                    body.expect("status body");
                    latencies.push(asked.elapsed());
                }
                Report::new(started.elapsed(), latencies)
            })
        });
        Self { stop, thread }
    }

    fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("status probe thread")
    }
}

/// Each chat sends its next message when the previous one was answered: latency without a
/// queue in front of it, `chats` conversations at a time.
pub fn closed_loop(chats: usize, messages: usize) -> Report {
    closed_loop_observed(chats, messages, |_| {})
}

/// The closed loop for `messages` answers in one runtime, with this process's memory read
/// before the first message and after every tenth of the answers.
pub fn soak(chats: usize, messages: usize) -> (Report, Vec<(usize, Memory)>) {
    let samples = RefCell::new(Vec::new());
    let step = (messages / 10).max(1);
    let report = closed_loop_observed(chats, messages, |answered| {
        if answered == 0 || answered % step == 0 {
            samples.borrow_mut().push((answered, process::memory_kib(std::process::id())));
        }
    });
    (report, samples.into_inner())
}

/// The closed loop; `observe(answered)` runs once before the first message and after each
/// reply.
fn closed_loop_observed(chats: usize, messages: usize, mut observe: impl FnMut(usize)) -> Report {
    with_runtime(chats, async move |connector, mut replies, _| {
        let sent = RefCell::new(vec![Instant::now(); messages]);
        let mut next = 0;
        observe(0);
        let start = Instant::now();
        while next < chats.min(messages) {
            sent.borrow_mut()[next] = Instant::now();
            connector.inject(message(next % chats, next));
            next += 1;
        }
        let mut answered = 0;
        let report = collect(&mut replies, start, &sent, messages, |index, sent| {
            answered += 1;
            observe(answered);
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
