//! Matrix end to end on one local Synapse, in one run: parachute (the release binary) vs an
//! equivalent matrix-nio echo bot vs a raw `/sync` client (the floor). A load user sends
//! `rooms × per_room` messages; reply latency is measured from the send's answer to the reply
//! arriving on the load user's own `/sync`. Memory and CPU of each bot process from /proc.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parachute_testkit::matrix_user::MatrixUser;
use parachute_testkit::synapse::Synapse;
use serde_json::{Value, json};

use crate::process::{self, nio_python, parachute_binary, spawn_waiting};
use crate::stats::Report;

/// What one bot achieved.
pub struct BotResult {
    /// Which bot.
    pub name: &'static str,
    /// Latencies and throughput.
    pub report: Report,
    /// Messages never answered.
    pub lost: usize,
    /// Extra answers to the same message.
    pub duplicates: usize,
    /// Resident memory at the end, for bots that are their own process.
    pub memory: process::Memory,
    /// CPU time used while answering (user + system).
    pub cpu: Option<Duration>,
}

/// Replies the load user saw: replied-to event id → arrival times.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// How the load user talks to the bot.
#[derive(Clone, Copy)]
pub struct Load {
    /// Rooms, each with the bot.
    pub rooms: usize,
    /// Messages sent into each room.
    pub per_room: usize,
    /// Wait for each answer before sending the next message (a person talking), rather than
    /// sending everything at once.
    pub one_at_a_time: bool,
    /// Run parachute on the config a new user gets (mention_only, the ack reaction, typing);
    /// otherwise `all_messages` without the reaction, as the matrix-nio bot behaves. Every
    /// message mentions the bot either way.
    pub defaults: bool,
}

/// Runs the three bots one after another on one homeserver.
pub async fn run(load: Load) -> Vec<BotResult> {
    let synapse = Synapse::start();
    let mut results = Vec::new();
    for bot in [Bot::Floor, Bot::Parachute, Bot::Nio] {
        results.push(measure(&synapse, bot, load).await);
    }
    results
}

#[derive(Clone, Copy)]
enum Bot {
    Floor,
    Parachute,
    Nio,
}

impl Bot {
    fn name(self) -> &'static str {
        match self {
            Bot::Floor => "raw /sync floor",
            Bot::Parachute => "parachute",
            Bot::Nio => "matrix-nio",
        }
    }
}

/// A running bot: a child process, or the floor task in this process.
enum Running {
    Process(Child, tempfile::TempDir),
    Task(tokio::task::JoinHandle<()>),
}

async fn measure(synapse: &Synapse, bot: Bot, Load { rooms, per_room, one_at_a_time, defaults }: Load) -> BotResult {
    let tag = match bot {
        Bot::Floor => "floor",
        Bot::Parachute => "parachute",
        Bot::Nio => "nio",
    };
    let bot_user = MatrixUser::register(&synapse.url(), &format!("bot_{tag}")).await;
    let load = MatrixUser::register(&synapse.url(), &format!("load_{tag}")).await;
    let running = start_bot(bot, synapse, &bot_user, defaults).await;

    let mut room_ids = Vec::new();
    for i in 0..rooms {
        room_ids.push(load.create_group(&format!("{tag} {i}"), &[&bot_user.user_id], false).await);
    }
    for room in &room_ids {
        load.wait_until(room, Duration::from_secs(120), |events| {
            events.iter().any(|e| e["state_key"] == bot_user.user_id.as_str() && e["content"]["membership"] == "join")
        })
        .await;
    }

    let arrivals: Arrivals = Arc::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let observer = tokio::spawn(observe(
        synapse.url(),
        load.access_token.clone(),
        bot_user.user_id.clone(),
        arrivals.clone(),
        ready_tx,
    ));
    // The observer's first sync sets its starting point; replies after it are measured.
    tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .expect("the observer's first sync within 60 s")
        .expect("observer running");
    let cpu_before = running_cpu(&running);
    let mut sent = Vec::with_capacity(rooms * per_room);
    let start = Instant::now();
    let mention = [bot_user.user_id.as_str()];
    for n in 0..per_room {
        for room in &room_ids {
            let event = load.send_mention(room, &format!("{} message {n}", bot_user.user_id), &mention).await;
            sent.push((event.clone(), Instant::now()));
            if one_at_a_time {
                let answer_due = Instant::now() + Duration::from_secs(30);
                while !arrivals.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&event)
                    && Instant::now() < answer_due
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let answered = arrivals.lock().unwrap_or_else(|p| p.into_inner()).len();
        if answered >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = running_cpu(&running).zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let memory = running_memory(&running);
    observer.abort();

    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies = Vec::new();
    let (mut lost, mut duplicates, mut last) = (0, 0, start);
    for (event, at) in &sent {
        match arrivals.get(event) {
            Some(times) => {
                latencies.push(times[0].saturating_duration_since(*at));
                duplicates += times.len() - 1;
                last = last.max(times[0]);
            }
            None => lost += 1,
        }
    }
    stop(running);
    BotResult { name: bot.name(), report: Report::new(last - start, latencies), lost, duplicates, memory, cpu }
}

async fn start_bot(bot: Bot, synapse: &Synapse, user: &MatrixUser, defaults: bool) -> Running {
    match bot {
        Bot::Floor => {
            let task = tokio::spawn(floor_bot(synapse.url(), user.user_id.clone(), user.access_token.clone()));
            Running::Task(task)
        }
        Bot::Parachute => {
            let dir = tempfile::tempdir().expect("temp vault");
            let mut config = format!(
                "matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{}\"\n  access_token: {}\n",
                synapse.url(),
                user.user_id,
                user.access_token,
            );
            if !defaults {
                config.push_str("  group_mention_mode: all_messages\n  ack_emoji: \"\"\n");
            }
            std::fs::create_dir_all(dir.path().join(".parachute")).expect("vault");
            std::fs::write(dir.path().join(".parachute/bots.yaml"), config).expect("config");
            let child = spawn_waiting(
                Command::new(parachute_binary())
                    .args(["serve", "--port", "0", "--vault"])
                    .arg(dir.path())
                    // The log settings a user gets (`RUST_LOG` would also keep the libraries' spans).
                    .env_remove("RUST_LOG"),
                "connected",
            );
            Running::Process(child, dir)
        }
        Bot::Nio => {
            let python = nio_python();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/nio_echo_bot.py");
            let dir = tempfile::tempdir().expect("temp dir");
            let child = spawn_waiting(
                Command::new(python).arg(script).args([
                    synapse.url(),
                    user.user_id.clone(),
                    user.access_token.clone(),
                    user.device_id.clone(),
                ]),
                "ready",
            );
            Running::Process(child, dir)
        }
    }
}

fn stop(running: Running) {
    match running {
        Running::Process(mut child, _dir) => {
            let _ = child.kill();
            let _ = child.wait();
        }
        Running::Task(task) => task.abort(),
    }
}

fn running_cpu(running: &Running) -> Option<Duration> {
    let Running::Process(child, _) = running else { return None };
    process::cpu_time(child.id())
}

fn running_memory(running: &Running) -> process::Memory {
    let Running::Process(child, _) = running else { return process::Memory::default() };
    process::memory_kib(child.id())
}

/// The load user's own `/sync`: records when each reply of `bot` arrives.
async fn observe(
    base: String,
    token: String,
    bot: String,
    arrivals: Arrivals,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let http = reqwest::Client::new();
    let mut since: Option<String> = None;
    loop {
        let Some(body) = sync(&http, &base, &token, since.as_deref()).await else { continue };
        let now = Instant::now();
        let first = since.is_none();
        since = body["next_batch"].as_str().map(str::to_owned);
        if first {
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            continue;
        }
        let mut seen = arrivals.lock().unwrap_or_else(|p| p.into_inner());
        for update in body["rooms"]["join"].as_object().into_iter().flat_map(|rooms| rooms.values()) {
            for event in update["timeline"]["events"].as_array().into_iter().flatten() {
                if event["sender"] == bot.as_str()
                    && let Some(source) = event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].as_str()
                {
                    seen.entry(source.to_owned()).or_default().push(now);
                }
            }
        }
    }
}

/// The floor: the least a bot can do. Long-polls `/sync`, joins invites, and answers each new
/// text message at once with one PUT of its own (concurrent, unordered), no storage, no
/// formatting.
async fn floor_bot(base: String, user: String, token: String) {
    let http = reqwest::Client::new();
    let mut since: Option<String> = None;
    let mut txn = 0u64;
    loop {
        let Some(body) = sync(&http, &base, &token, since.as_deref()).await else { continue };
        let first = since.is_none();
        since = body["next_batch"].as_str().map(str::to_owned);
        for room in body["rooms"]["invite"].as_object().into_iter().flat_map(|r| r.keys()) {
            let _ = http
                .post(format!("{base}/_matrix/client/v3/join/{}", encode(room)))
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await;
        }
        if first {
            continue;
        }
        for (room, update) in body["rooms"]["join"].as_object().into_iter().flatten() {
            for event in update["timeline"]["events"].as_array().into_iter().flatten() {
                if event["type"] != "m.room.message" || event["sender"] == user.as_str() {
                    continue;
                }
                txn += 1;
                let content = json!({"msgtype": "m.text", "body": event["content"]["body"],
                    "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}}});
                let url = format!("{base}/_matrix/client/v3/rooms/{}/send/m.room.message/floor{txn}", encode(room));
                // Each reply on its own task: no ordering, no waiting on earlier replies.
                let request = http.put(url).bearer_auth(&token).json(&content);
                tokio::spawn(async move {
                    let _ = request.send().await;
                });
            }
        }
    }
}

/// One long-poll `/sync` (30 s) with a timeline limit large enough that a burst is never cut.
async fn sync(http: &reqwest::Client, base: &str, token: &str, since: Option<&str>) -> Option<Value> {
    let filter = r#"{"room":{"timeline":{"limit":1000}}}"#;
    let mut request = http
        .get(format!("{base}/_matrix/client/v3/sync"))
        .bearer_auth(token)
        .query(&[("timeout", "30000"), ("filter", filter)]);
    if let Some(since) = since {
        request = request.query(&[("since", since)]);
    }
    request.send().await.ok()?.json::<Value>().await.ok()
}

fn encode(segment: &str) -> String {
    segment.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}
