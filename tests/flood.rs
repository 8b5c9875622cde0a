//! A flood against the real `parachute` process: 10,000 messages in 10 s into one Telegram
//! group (fake Bot API) answered by an OpenAI-compatible brain that takes 25 ms per answer
//! (fake), while a person writes to the bot on Discord (fake gateway and REST). The Discord
//! message is answered within 2 s, every Telegram message is either answered or counted as
//! skipped (none lost), the group is told once that messages were skipped, and the process's
//! peak resident memory stays within a stated bound above its idle size.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::discord_fake::{self, DiscordFake, dm_text};
use parachute_testkit::telegram_fake::{self, TelegramFake, group_text};
use serde_json::json;

const FLOOD: usize = 10_000;
const GROUP: i64 = -100_555;
const DISCORD_USER: u64 = 4_242;
const DISCORD_DM_CHANNEL: u64 = 31_337;
/// Peak resident memory allowed above the idle process during the flood.
const MEMORY_BOUND_KIB: u64 = 16 * 1024;
const WAIT: Duration = Duration::from_secs(60);

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn metric(text: &str, name: &str, platform: &str) -> u64 {
    let prefix = format!("{name}{{platform=\"{platform}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[actix::test]
async fn a_flooded_group_costs_bounded_memory_and_another_chat_is_still_answered() {
    let telegram = TelegramFake::start();
    let discord = DiscordFake::start();
    let ai = AiFake::start(None);
    for _ in 0..FLOOD + 100 {
        ai.script(Api::OpenAi, Scripted::Slow(Duration::from_millis(25)));
    }
    let config = format!(
        "brain:\n  kind: openai\n  model: fake-model\n  base_url: {ai}\n\
         telegram:\n  enabled: true\n  bot_token: \"{tg_token}\"\n  api_url: {tg}\n  group_mention_mode: all_messages\n  allowed_groups: [{GROUP}]\n\
         discord:\n  enabled: true\n  bot_token: {dc_token}\n  api_url: {dc_api}\n  gateway_url: {dc_gateway}\n  allowed_users: ['{DISCORD_USER}']\n",
        ai = ai.openai_url(),
        tg_token = telegram_fake::FAKE_TOKEN,
        tg = telegram.url(),
        dc_token = discord_fake::FAKE_TOKEN,
        dc_api = discord.api_url(),
        dc_gateway = discord.gateway_url(),
    );
    let server = Server::start(Some(&config));
    server.wait_connected(&["telegram", "discord"], WAIT).await;
    let pid = server.child.id();
    let (idle_kib, _) = memory_kib(pid);

    // 100 messages every 100 ms; halfway through, someone writes on Discord.
    let flood_started = Instant::now();
    let mut discord_answer_time = None;
    for round in 0..FLOOD / 100 {
        for _ in 0..100 {
            let id = telegram.next_message_id();
            telegram.push_message(group_text(id, GROUP, 501, &format!("flood {id}"), json!([])));
        }
        if round == FLOOD / 200 {
            let asked = Instant::now();
            discord.push_message(dm_text(discord.next_id(), DISCORD_DM_CHANNEL, DISCORD_USER, "ann", "are you there?"));
            let channel = DISCORD_DM_CHANNEL.to_string();
            discord
                .wait_call("createMessage", Duration::from_secs(5), |c| c.params["channel_id"] == channel.as_str())
                .await;
            discord_answer_time = Some(asked.elapsed());
        }
        let next_round = flood_started + Duration::from_millis(100 * (round as u64 + 1));
        tokio::time::sleep_until(next_round.into()).await;
    }
    let discord_answer_time = discord_answer_time.expect("asked on discord");
    assert!(discord_answer_time < Duration::from_secs(2), "discord answered after {discord_answer_time:?}");

    // Every message is answered or counted as skipped: none is lost.
    let http = reqwest::Client::new();
    let metrics_url = format!("{}/metrics", server.url);
    let deadline = Instant::now() + WAIT;
    let (answered, skipped, notices) = loop {
        let metrics = http.get(&metrics_url).send().await.unwrap().text().await.unwrap();
        let skipped = metric(&metrics, "parachute_messages_skipped_total", "telegram") as usize;
        let sent = telegram.calls_of("sendMessage");
        let notices = sent.iter().filter(|c| c.params["text"].as_str().is_some_and(|t| t.contains("skipped"))).count();
        let answered = sent.len() - notices;
        if answered + skipped >= FLOOD {
            break (answered, skipped, notices);
        }
        assert!(Instant::now() < deadline, "answered {answered} + skipped {skipped} of {FLOOD}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, peak_kib) = memory_kib(pid);
    println!(
        "flood: {answered} answered, {skipped} skipped, discord answered in {discord_answer_time:?}; \
         resident memory idle {idle_kib} KiB, peak {peak_kib} KiB"
    );
    assert_eq!(answered + skipped, FLOOD, "no message is lost or answered twice");
    assert!(skipped > 0, "the group's backlog reached its bound");
    assert_eq!(notices, 1, "the group is told once");
    assert!(
        peak_kib.saturating_sub(idle_kib) < MEMORY_BOUND_KIB,
        "peak {peak_kib} KiB is more than {MEMORY_BOUND_KIB} KiB above idle {idle_kib} KiB"
    );
    let logs = server.logs();
    assert!(!logs.contains(" ERROR "), "no error while flooded:\n{logs}");
}
