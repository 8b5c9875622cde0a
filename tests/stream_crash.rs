//! A crash in the middle of streamed answers, against the real `parachute` process: while
//! the model is still writing, with a preview shown and edited on Telegram and on Discord
//! (fakes), the process is killed (SIGKILL). The restarted process answers again and edits
//! the message it had already sent until it shows the whole answer: one message per chat,
//! never a second answer, and the next message is answered as usual.

mod common;

use std::time::Duration;

use common::Server;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::discord_fake::{self, DiscordFake, dm_text};
use parachute_testkit::telegram_fake::{self, TelegramFake, private_text};

const ALICE_TELEGRAM: i64 = 4_242;
const ALICE_DISCORD: u64 = 4_242;
const ALICE_DM_CHANNEL: u64 = 31_337;
const WAIT: Duration = Duration::from_secs(30);

fn numbered_words(count: usize) -> String {
    (1..=count).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ")
}

#[actix::test]
async fn a_crash_mid_stream_leaves_one_message_that_the_restarted_server_completes() {
    let telegram = TelegramFake::start();
    let discord = DiscordFake::start();
    let ai = AiFake::start(None);
    let answer = numbered_words(60);
    // The first run's answers take 6 s each, long enough to be killed in the middle; the
    // restarted run's come quickly.
    for pace in [100, 100, 5, 5] {
        ai.script(Api::OpenAi, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(pace) });
    }
    let config = format!(
        "brain:\n  kind: openai\n  model: fake-model\n  base_url: {ai}\n\
         telegram:\n  enabled: true\n  bot_token: \"{tg_token}\"\n  api_url: {tg}\n  allowed_users: ['@alice']\n  \
         stream_edit_interval: 300ms\n\
         discord:\n  enabled: true\n  bot_token: {dc_token}\n  api_url: {dc_api}\n  gateway_url: {dc_gateway}\n  \
         allowed_users: ['{ALICE_DISCORD}']\n  stream_edit_interval: 300ms\n",
        ai = ai.openai_url(),
        tg_token = telegram_fake::FAKE_TOKEN,
        tg = telegram.url(),
        dc_token = discord_fake::FAKE_TOKEN,
        dc_api = discord.api_url(),
        dc_gateway = discord.gateway_url(),
    );
    let mut server = Server::start(Some(&config));
    server.wait_connected(&["telegram", "discord"], WAIT).await;

    telegram.push_message(private_text(telegram.next_message_id(), ALICE_TELEGRAM, "alice", "tell me"));
    discord.push_message(dm_text(discord.next_id(), ALICE_DM_CHANNEL, ALICE_DISCORD, "alice", "tell me"));
    telegram.wait_calls("editMessageText", 1, WAIT, |_| true).await;
    discord.wait_calls("editMessage", 1, WAIT, |_| true).await;
    server.kill();
    let partial_telegram = telegram.shown();
    let partial_discord = discord.bot_messages(ALICE_DM_CHANNEL);
    assert_eq!(partial_telegram.len(), 1);
    assert_ne!(partial_telegram[0].text, answer, "killed while the answer was still being written");
    assert_eq!(partial_discord.len(), 1);
    assert_ne!(partial_discord[0]["content"], answer.as_str());

    server.restart();
    let shown = telegram.wait_shown(WAIT, |shown| shown.iter().any(|m| m.text == answer)).await;
    assert_eq!(shown.len(), 1, "one message on Telegram: {shown:#?}");
    assert_eq!(shown[0].message_id, partial_telegram[0].message_id, "the message shown before the crash");
    let shown =
        discord.wait_bot_messages(ALICE_DM_CHANNEL, WAIT, |shown| shown.iter().any(|m| m["content"] == answer)).await;
    assert_eq!(shown.len(), 1, "one message on Discord: {shown:#?}");
    assert_eq!(shown[0]["id"], partial_discord[0]["id"], "the message shown before the crash");

    // The chats go on as usual; the crashed answers are not sent again.
    telegram.push_message(private_text(telegram.next_message_id(), ALICE_TELEGRAM, "alice", "and then?"));
    discord.push_message(dm_text(discord.next_id(), ALICE_DM_CHANNEL, ALICE_DISCORD, "alice", "and then?"));
    telegram.wait_shown(WAIT, |shown| shown.len() == 2).await;
    discord.wait_bot_messages(ALICE_DM_CHANNEL, WAIT, |shown| shown.len() == 2).await;
    assert_eq!(telegram.calls_of("sendMessage").len(), 2, "one sendMessage per answer");
    assert_eq!(discord.calls_of("createMessage").len(), 2, "one createMessage per answer");
    assert!(telegram.calls_of("deleteMessage").is_empty());
    assert_eq!(ai.calls(Api::OpenAi).len(), 6, "two answers asked twice (before and after the crash), two once");
    let logs = server.logs();
    let unexpected: Vec<&str> = logs.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    assert!(unexpected.is_empty(), "no WARN or ERROR lines after the restart: {unexpected:#?}");
}
