//! End-to-end: the real Telegram connector inside a real runtime, talking to the fake Bot
//! API server of the testkit on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::{BotsConfig, parse_str};
use parachute_core::gating::GroupMentionMode;
use parachute_core::ids::Platform;
use parachute_core::pairing::texts;
use parachute_runtime::messages::Content;
use parachute_runtime::messages::{Approve, ListPairing};
use parachute_runtime::orchestrator::{DOWNLOAD_FAILED_TEXT, NEW_SESSION_TEXT, NO_TRANSCRIBER_TEXT};
use parachute_runtime::status::ConnectorState;
use parachute_telegram::TelegramFactory;
use parachute_telegram::errors::CONFLICT_MESSAGE;
use parachute_testkit::TestRuntime;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::audio::sine_wav;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::telegram_fake::{
    BOT_ID, BOT_USERNAME, Call, Failure, TelegramFake, bot_added_to_group, group_text, private_text,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const ALICE: i64 = 4242;
const GROUP: i64 = -100_555;

/// The config a user writes for this fake: Alice may DM the bot, the test group is allowed.
fn config(fake: &TelegramFake) -> BotsConfig {
    let yaml = format!(
        "telegram:\n  enabled: true\n  bot_token: '123456:TEST-telegram-token-value'\n  api_url: '{}'\n  \
         allowed_users: ['@alice']\n  allowed_groups: [{GROUP}]\n",
        fake.url()
    );
    parse_str(&yaml).expect("a valid bots.yaml")
}

async fn start(config: BotsConfig, brain: &RecordingBrain) -> TestRuntime {
    let rt = TestRuntime::start_with(config, Some(Arc::new(brain.clone())), vec![Arc::new(TelegramFactory)]);
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    rt
}

fn text_of(call: &Call) -> &str {
    call.params["text"].as_str().unwrap_or("")
}

/// The texts of every `sendMessage` so far, in order.
fn sent_texts(fake: &TelegramFake) -> Vec<String> {
    fake.calls_of("sendMessage").iter().map(|c| text_of(c).to_owned()).collect()
}

fn sent_to(chat: i64) -> impl Fn(&Call) -> bool {
    move |c: &Call| c.params["chat_id"] == json!(chat)
}

fn mention(text: &str, name: &str) -> Value {
    let offset = text.encode_utf16().count() - name.encode_utf16().count();
    let offset = text[..].find(name).map(|i| text[..i].encode_utf16().count()).unwrap_or(offset);
    json!([{"type": "mention", "offset": offset, "length": name.encode_utf16().count()}])
}

#[actix::test]
async fn dm_from_allowed_user_is_answered_with_reaction_and_typing_in_order() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    let id = fake.next_message_id();
    fake.push_message(private_text(id, ALICE, "alice", "hello there"));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&reply), "alice: hello there");
    assert_eq!(reply.params["parse_mode"], "HTML");
    assert_eq!(reply.params["reply_parameters"]["message_id"], json!(id));
    let cleared = fake.wait_call("setMessageReaction", WAIT, |c| c.params["reaction"] == json!([])).await;
    let acked = fake.calls_of("setMessageReaction").into_iter().find(|c| c.params["reaction"] != json!([])).unwrap();
    assert_eq!(acked.params["reaction"], json!([{"type": "emoji", "emoji": "👀"}]));
    assert_eq!(acked.params["message_id"], json!(id));
    let typing = fake.calls_of("sendChatAction");
    assert!(!typing.is_empty(), "typing shown while the brain works");
    assert_eq!(typing[0].params["action"], "typing");
    // The reaction is not awaited before the work starts: it and typing may come in any order.
    assert!(acked.seq < cleared.seq && typing[0].seq < reply.seq && reply.seq < cleared.seq, "{:#?}", fake.calls());
    assert_eq!(brain.requests().len(), 1);
}

#[actix::test]
async fn a_slow_reaction_is_still_cleared_after_a_quick_reply() {
    let fake = TelegramFake::start();
    fake.delay_next("setMessageReaction", Duration::from_millis(800));
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "quick"));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    let cleared = fake.wait_call("setMessageReaction", WAIT, |c| c.params["reaction"] == json!([])).await;
    let acked = fake.calls_of("setMessageReaction").into_iter().find(|c| c.params["reaction"] != json!([])).unwrap();
    assert!(acked.seq < reply.seq, "the reaction was asked for first, and answered late");
    assert!(cleared.at >= acked.at + Duration::from_millis(800), "cleared only once the reaction was on");
}

#[actix::test]
async fn typing_is_renewed_while_the_brain_works() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    brain.delay_chat(&ALICE.to_string(), Duration::from_millis(4_600));
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "think hard"));
    fake.wait_calls("sendChatAction", 2, WAIT, sent_to(ALICE)).await;
    fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
}

#[actix::test]
async fn unknown_user_goes_through_pairing_and_is_answered_after_approval() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let eve = 5151;
    fake.push_message(private_text(fake.next_message_id(), eve, "eve", "let me in"));
    let first = fake.wait_call("sendMessage", WAIT, sent_to(eve)).await;
    assert_eq!(text_of(&first), texts::REQUEST_SENT);
    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    assert_eq!(requests.len(), 1);
    rt.handle.pairing.send(Approve { id: requests[0].id, trust_level: None }).await.unwrap().unwrap();
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == texts::APPROVED).await;
    assert!(fake.calls_of("setMessageReaction").is_empty(), "a stranger's message gets no reaction");
    assert!(fake.calls_of("sendChatAction").is_empty(), "and no typing");
    fake.push_message(private_text(fake.next_message_id(), eve, "eve", "thanks"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "eve: thanks").await;
    assert_eq!(brain.requests().len(), 1, "only the message after approval reached the brain");
}

#[actix::test]
async fn group_mention_only_answers_mentions_replies_and_commands() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    let at_bot = format!("@{BOT_USERNAME}");
    let chatter = fake.next_message_id();
    fake.push_message(group_text(chatter, GROUP, 11, "just chatting", json!([])));
    let text = format!("hey {at_bot} what's up");
    fake.push_message(group_text(fake.next_message_id(), GROUP, 11, &text, mention(&text, &at_bot)));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c).ends_with("what's up")).await;

    let mut reply = group_text(fake.next_message_id(), GROUP, 12, "answering you", json!([]));
    reply["reply_to_message"] = json!({"message_id": 1, "date": 1, "chat": reply["chat"].clone(),
        "from": {"id": BOT_ID, "is_bot": true, "first_name": "Parachute"}, "text": "earlier"});
    fake.push_message(reply);
    fake.wait_call("sendMessage", WAIT, |c| text_of(c).ends_with("answering you")).await;

    let text_mention = json!([{"type": "text_mention", "offset": 0, "length": 4,
        "user": {"id": BOT_ID, "is_bot": true, "first_name": "Parachute"}}]);
    fake.push_message(group_text(fake.next_message_id(), GROUP, 13, "Para by name", text_mention));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c).ends_with("Para by name")).await;

    let other = "@someone_else hi";
    let not_us = fake.next_message_id();
    fake.push_message(group_text(not_us, GROUP, 11, other, mention(other, "@someone_else")));
    let command = format!("/help@{BOT_USERNAME}");
    fake.push_message(group_text(fake.next_message_id(), GROUP, 11, &command, json!([])));
    let help = fake.wait_calls("sendMessage", 4, WAIT, sent_to(GROUP)).await;
    assert!(text_of(&help[3]).contains("/new"), "the help text: {}", text_of(&help[3]));
    let texts = sent_texts(&fake);
    assert!(!texts.iter().any(|t| t.contains("just chatting") || t.contains("someone_else")), "{texts:#?}");
    assert!(brain.requests().iter().all(|r| !r.message.contains("just chatting")));
    // Each message the brain answered gets the reaction and its removal; the others get
    // nothing, and neither does the command, answered at once.
    fake.wait_calls("setMessageReaction", 6, WAIT, |_| true).await;
    let reacted: Vec<_> = fake.calls_of("setMessageReaction").iter().map(|c| c.params["message_id"].clone()).collect();
    assert!(!reacted.contains(&json!(chatter)) && !reacted.contains(&json!(not_us)), "{reacted:?}");
    let typing = fake.calls_of("sendChatAction").len();
    assert_eq!(typing, 3, "typing only while the brain answers the three addressed messages");
}

#[actix::test]
async fn group_all_messages_answers_everything() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let mut config = config(&fake);
    config.telegram.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = start(config, &brain).await;
    fake.push_message(group_text(fake.next_message_id(), GROUP, 11, "just chatting", json!([])));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c).ends_with("just chatting")).await;
}

#[actix::test]
async fn commands_are_registered_and_answered() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    let registered = fake.wait_call("setMyCommands", WAIT, |_| true).await;
    let names: Vec<&str> =
        registered.params["commands"].as_array().unwrap().iter().filter_map(|c| c["command"].as_str()).collect();
    assert_eq!(names, ["new", "help", "journal"]);
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "/new"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == NEW_SESSION_TEXT).await;
    let command = format!("/new@{BOT_USERNAME}");
    fake.push_message(group_text(fake.next_message_id(), GROUP, 11, &command, json!([])));
    fake.wait_call("sendMessage", WAIT, |c| sent_to(GROUP)(c) && text_of(c) == NEW_SESSION_TEXT).await;
    assert!(brain.requests().is_empty(), "commands do not reach the brain");
}

#[actix::test]
async fn set_my_commands_failure_is_not_fatal() {
    let fake = TelegramFake::start();
    fake.fail_next("setMyCommands", Failure::Server(500));
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "still here?"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: still here?").await;
}

#[actix::test]
async fn long_reply_is_split_at_4096() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    let long = "word ".repeat(2_000);
    let id = fake.next_message_id();
    fake.push_message(private_text(id, ALICE, "alice", long.trim()));
    let chunks = fake.wait_calls("sendMessage", 3, WAIT, sent_to(ALICE)).await;
    assert!(chunks.iter().all(|c| text_of(c).encode_utf16().count() <= 4096));
    assert_eq!(chunks[0].params["reply_parameters"]["message_id"], json!(id));
    assert!(chunks[1].params.get("reply_parameters").is_none(), "only the first chunk replies");
    let words: usize = chunks.iter().map(|c| text_of(c).matches("word").count()).sum();
    assert_eq!(words, 2_000);
}

#[actix::test]
async fn rejected_markup_is_resent_as_plain_text() {
    let fake = TelegramFake::start();
    fake.reject_markup_containing("BROKEN");
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "BROKEN **bold** & <tag>"));
    let plain = fake.wait_call("sendMessage", WAIT, |c| c.params.get("parse_mode").is_none()).await;
    assert_eq!(text_of(&plain), "alice: BROKEN bold & <tag>");
    assert!(fake.calls_of("sendMessage").iter().any(|c| c.params["parse_mode"] == "HTML" && c.seq < plain.seq));
}

#[actix::test]
async fn first_start_drops_pending_updates_and_restart_resumes_at_stored_offset() {
    let fake = TelegramFake::start();
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "sent before the bot existed"));
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let answered_id = fake.next_message_id();
    let update = fake.push_message(private_text(answered_id, ALICE, "alice", "one"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: one").await;
    let stored = || parachute_testkit::store_probe::cursor(&rt.handle.store, Platform::Telegram, "update_offset");
    assert!(parachute_testkit::wait_until(WAIT, || async { stored().await == Some((update + 1).to_string()) }).await);
    let event = format!("{ALICE}:{answered_id}");
    let done = || parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Telegram, event.as_str());
    assert!(parachute_testkit::wait_until(WAIT, || async { done().await }).await, "the answered turn is recorded");

    let polls_before = fake.calls_of("getUpdates").len();
    let rt = rt.restart(Some(Arc::new(brain.clone()))).await;
    // Sent while parachute restarts: answered after it, not dropped as "pending".
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "two"));
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: two").await;
    let first_poll = &fake.calls_of("getUpdates")[polls_before];
    assert_eq!(first_poll.params["offset"], json!(update + 1), "resumed at the stored offset");
    // The first poll of every run returns at once (timeout 0), so the status says connected
    // only once a poll came back; on a restart its updates are answered, not dropped.
    assert_eq!(first_poll.params["timeout"], json!(0), "the first poll proves the connection");
    let texts = sent_texts(&fake);
    assert_eq!(texts, ["alice: one", "alice: two"], "nothing answered twice, nothing pending answered");
}

#[actix::test]
async fn a_polled_message_is_stored_with_the_offset_before_it_is_answered() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    brain.delay_chat(&ALICE.to_string(), Duration::from_millis(1500));
    let rt = start(config(&fake), &brain).await;
    let update = fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "slow one"));
    let store = &rt.handle.store;
    // The brain is still working: a crash now must not lose the message that the stored
    // offset has already moved past.
    assert!(parachute_testkit::wait_until(WAIT, || async { !brain.requests().is_empty() }).await);
    assert_eq!(
        parachute_testkit::store_probe::cursor(store, Platform::Telegram, "update_offset").await,
        Some((update + 1).to_string())
    );
    let pending = parachute_testkit::store_probe::inbox(store, Platform::Telegram).await;
    assert_eq!(pending.len(), 1, "in the durable inbox while it is being answered");
    assert_eq!(pending[0].chat.as_str(), ALICE.to_string());

    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: slow one").await;
    let inbox_empty = || async { parachute_testkit::store_probe::inbox(store, Platform::Telegram).await.is_empty() };
    assert!(parachute_testkit::wait_until(WAIT, inbox_empty).await, "done once answered");
}

#[actix::test]
async fn rate_limit_is_waited_out() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    fake.fail_next("getUpdates", Failure::RateLimited(1));
    // Wake the pending long poll so the next one meets the 429.
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "wake"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: wake").await;
    let limited_at = fake.wait_calls("getMe", 2, WAIT, |_| true).await[1].at;
    let polls = fake.calls_of("getUpdates");
    let limited = polls.iter().rev().find(|c| c.at < limited_at).unwrap();
    assert!(limited_at - limited.at >= Duration::from_millis(950), "reconnected only after retry_after (1 s)");
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "after"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: after").await;
}

#[actix::test]
async fn invalid_token_fails_fast() {
    let fake = TelegramFake::start();
    let mut config = config(&fake);
    config.telegram.bot_token = Some("999:WRONG-token".to_owned().into());
    let brain = RecordingBrain::new();
    let rt = TestRuntime::start_with(config, Some(Arc::new(brain)), vec![Arc::new(TelegramFactory)]);
    let status = rt.wait_status(Platform::Telegram, WAIT, |s| s.state.name() == "failed").await;
    let reason = status.last_error.unwrap_or_default();
    assert!(reason.contains("rejected the bot token"), "{reason}");
    assert!(!reason.contains("WRONG"));
    assert_eq!(fake.calls_of("getMe").len(), 1, "no retries after a 401");
}

#[actix::test]
async fn conflict_fails_with_a_clear_message() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    fake.fail_next("getUpdates", Failure::Conflict);
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "wake"));
    let status = rt.wait_status(Platform::Telegram, WAIT, |s| s.state.name() == "failed").await;
    assert!(status.last_error.unwrap_or_default().contains(CONFLICT_MESSAGE));
}

#[actix::test]
async fn server_errors_and_malformed_answers_reconnect() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    fake.fail_next("getUpdates", Failure::Server(502));
    fake.fail_next("getUpdates", Failure::Malformed);
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "through"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: through").await;
    rt.wait_status(Platform::Telegram, WAIT, |s| s.failure_count >= 2).await;
}

#[actix::test]
async fn malformed_updates_are_skipped() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.push_raw(json!({"message": {"text": "no chat, no sender"}}), true);
    fake.push_raw(json!({"edited_message": "not an object"}), true);
    fake.push_raw(json!({"no_update_id": true}), false);
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "fine"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: fine").await;
    assert_eq!(fake.calls_of("sendMessage").len(), 1);
}

/// A private voice note from `user` (`file_size` only when `size` is given).
fn voice_from(fake: &TelegramFake, user: i64, name: &str, file_id: &str, size: Option<u64>) -> Value {
    let mut voice = private_text(fake.next_message_id(), user, name, "");
    voice.as_object_mut().unwrap().remove("text");
    voice["voice"] = json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"), "duration": 1,
        "mime_type": "audio/ogg"});
    if let Some(size) = size {
        voice["voice"]["file_size"] = json!(size);
    }
    voice
}

/// The config with a transcriber on `whisper`.
fn with_transcriber(fake: &TelegramFake, whisper: &AiFake) -> BotsConfig {
    let mut config = config(fake);
    config.transcriber.base_url = Some(whisper.openai_url());
    config.transcriber.max_retries = 0;
    config
}

fn downloads(fake: &TelegramFake) -> usize {
    fake.calls_of("getFile").len() + fake.calls_of("downloadFile").len()
}

#[actix::test]
async fn voice_note_without_a_transcriber_is_not_downloaded() {
    let fake = TelegramFake::start();
    fake.add_file("VOICE1", vec![1, 2, 3, 4]);
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(voice_from(&fake, ALICE, "alice", "VOICE1", Some(4)));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == NO_TRANSCRIBER_TEXT).await;
    assert_eq!(downloads(&fake), 0);
}

#[actix::test]
async fn a_strangers_voice_note_is_never_downloaded_and_gets_no_reaction() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    fake.add_file("EVE1", sine_wav(200, 440.0));
    fake.add_file("CHATTER1", sine_wav(200, 440.0));
    let brain = RecordingBrain::new();
    let rt = start(with_transcriber(&fake, &whisper), &brain).await;
    let eve = 5151;
    fake.push_message(voice_from(&fake, eve, "eve", "EVE1", Some(4_000)));
    let first = fake.wait_call("sendMessage", WAIT, sent_to(eve)).await;
    assert_eq!(text_of(&first), texts::REQUEST_SENT);
    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!(request.first_message, "(voice message)");

    // A voice note in a group that does not address the bot is context, not downloaded.
    let mut chatter = group_text(fake.next_message_id(), GROUP, 11, "", json!([]));
    chatter.as_object_mut().unwrap().remove("text");
    chatter.as_object_mut().unwrap().remove("entities");
    chatter["voice"] = json!({"file_id": "CHATTER1", "file_unique_id": "uC", "duration": 1, "file_size": 4_000,
        "mime_type": "audio/ogg"});
    let event = format!("{GROUP}:{}", chatter["message_id"]);
    fake.push_message(chatter);
    let done = || async {
        parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Telegram, event.as_str()).await
    };
    assert!(parachute_testkit::wait_until(WAIT, done).await);

    assert_eq!(downloads(&fake), 0, "no getFile, no file download: {:#?}", fake.calls());
    assert!(fake.calls_of("setMessageReaction").is_empty(), "no ack reaction");
    assert!(fake.calls_of("sendChatAction").is_empty(), "no typing");
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn an_announced_size_over_the_limit_is_refused_without_a_download() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    fake.add_file("BIG1", vec![0; 16]);
    fake.add_file_announcing("BIG2", vec![0; 16], Some(25_000_000));
    let brain = RecordingBrain::thinking();
    let _rt = start(with_transcriber(&fake, &whisper), &brain).await;

    // The message says 31 MB: not even getFile.
    fake.push_message(voice_from(&fake, ALICE, "alice", "BIG1", Some(31_000_000)));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&reply), "That voice message is 31 MB; I can take files up to 20 MB.");
    assert_eq!(downloads(&fake), 0);
    assert!(fake.calls_of("setMessageReaction").is_empty(), "an instant refusal goes out alone, without a reaction");

    // The message says nothing, getFile says 25 MB: no download.
    fake.push_message(voice_from(&fake, ALICE, "alice", "BIG2", None));
    let replies = fake.wait_calls("sendMessage", 2, WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&replies[1]), "That voice message is 25 MB; I can take files up to 20 MB.");
    assert_eq!(fake.calls_of("getFile").len(), 1);
    assert!(fake.calls_of("downloadFile").is_empty());
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn a_file_larger_than_announced_is_cut_off_at_the_limit() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    // Both announce 1 kB; one sends 300 kB with its true Content-Length, one never ends.
    fake.add_file_announcing("LIAR1", vec![0; 300_000], Some(1_000));
    fake.add_endless_file("ENDLESS1", Some(1_000));
    let brain = RecordingBrain::new();
    let mut config = with_transcriber(&fake, &whisper);
    config.max_media_bytes = 100_000;
    let _rt = start(config, &brain).await;

    fake.push_message(voice_from(&fake, ALICE, "alice", "LIAR1", Some(1_000)));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&reply), "That voice message is 300 kB; I can take files up to 100 kB.");
    // An endless body is only answered at all if reading stops at the limit.
    fake.push_message(voice_from(&fake, ALICE, "alice", "ENDLESS1", Some(1_000)));
    let replies = fake.wait_calls("sendMessage", 2, WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&replies[1]), "That voice message is too large; I can take files up to 100 kB.");
    assert_eq!(fake.calls_of("downloadFile").len(), 2);
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn a_failed_download_gets_a_short_apology() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    let brain = RecordingBrain::new();
    let _rt = start(with_transcriber(&fake, &whisper), &brain).await;
    fake.push_message(voice_from(&fake, ALICE, "alice", "NO-SUCH-FILE", Some(100)));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&reply), DOWNLOAD_FAILED_TEXT);
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn a_voice_note_interrupted_by_a_restart_is_fetched_by_its_reference_afterwards() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    whisper.set_transcript("after the restart");
    let wav = sine_wav(300, 440.0);
    fake.add_file("AUDIO9", wav.clone());
    let brain = RecordingBrain::new();
    let rt = start(with_transcriber(&fake, &whisper), &brain).await;
    // The first process dies while Telegram is still answering getFile.
    fake.delay_next("getFile", Duration::from_secs(60));
    fake.push_message(voice_from(&fake, ALICE, "alice", "AUDIO9", Some(wav.len() as u64)));
    fake.wait_call("getFile", WAIT, |_| true).await;
    let pending = parachute_testkit::store_probe::inbox(&rt.handle.store, Platform::Telegram).await;
    assert_eq!(pending.len(), 1, "in the durable inbox");
    let Content::Voice(media) = &pending[0].content else { panic!("{:?}", pending[0].content) };
    assert_eq!(
        (media.source.as_str(), media.size, media.mime_type.as_str()),
        ("AUDIO9", Some(wav.len() as u64), "audio/ogg"),
        "stored as Telegram's reference"
    );

    let rt = rt.restart(Some(Arc::new(brain.clone()))).await;
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert!(text_of(&reply).ends_with("alice: after the restart"), "{}", text_of(&reply));
    assert_eq!(fake.calls_of("getFile").len(), 2, "fetched again by its file_id after the restart");
    assert_eq!(fake.calls_of("downloadFile").len(), 1);
    let call = whisper.calls(Api::Transcription).remove(0);
    assert_eq!(call.part("file").unwrap().data, wav, "the audio downloaded after the restart");
    let inbox_empty =
        || async { parachute_testkit::store_probe::inbox(&rt.handle.store, Platform::Telegram).await.is_empty() };
    assert!(parachute_testkit::wait_until(WAIT, inbox_empty).await);
}

#[actix::test]
async fn voice_note_is_transcribed_and_the_transcript_answered() {
    let fake = TelegramFake::start();
    let whisper = AiFake::start(None);
    whisper.set_transcript("remind me to water the plants");
    let wav = sine_wav(400, 440.0);
    fake.add_file("AUDIO1", wav.clone());
    let brain = RecordingBrain::thinking();
    let mut config = config(&fake);
    config.transcriber.base_url = Some(whisper.openai_url());
    let _rt = start(config, &brain).await;
    let mut audio = private_text(fake.next_message_id(), ALICE, "alice", "");
    audio.as_object_mut().unwrap().remove("text");
    audio["audio"] = json!({"file_id": "AUDIO1", "file_unique_id": "uA", "duration": 1,
        "mime_type": "audio/wav", "file_name": "plants.wav"});
    fake.push_message(audio);

    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    let text = text_of(&reply);
    assert!(text.starts_with("<blockquote>🎤 \"remind me to water the plants\"</blockquote>"), "{text}");
    assert_eq!((fake.calls_of("getFile").len(), fake.calls_of("downloadFile").len()), (1, 1));
    let cleared = fake.wait_call("setMessageReaction", WAIT, |c| c.params["reaction"] == json!([])).await;
    assert!(cleared.seq > reply.seq, "acknowledged, then cleared after the reply");
    assert!(text.ends_with("alice: remind me to water the plants"), "{text}");
    assert_eq!(brain.requests()[0].message, "remind me to water the plants");
    let call = whisper.calls(Api::Transcription).remove(0);
    assert_eq!(call.rejected, None);
    let file = call.part("file").unwrap();
    assert_eq!((file.file_name.as_deref(), file.content_type.as_deref()), (Some("plants.wav"), Some("audio/wav")));
    assert_eq!(file.data, wav, "the downloaded audio reaches the transcriber unchanged");
    assert_eq!(call.part("model").unwrap().data, b"whisper-1");
}

#[actix::test]
async fn server_going_down_and_coming_back_reconnects() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    fake.go_down().await;
    rt.wait_status(Platform::Telegram, WAIT, |s| matches!(s.state, ConnectorState::Reconnecting { .. })).await;
    fake.come_back();
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "back"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: back").await;
}

/// Tried as a new user would: a stranger adds the bot to their own supergroup and mentions
/// it. Nothing is sent there (no answer, no reaction, no typing) and nothing reaches the
/// brain: the group waits for the owner as a room request named after it. Approved, its
/// next mention is answered; a denied group is left.
#[actix::test]
async fn a_strangers_supergroup_is_not_answered_until_the_owner_approves_it() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    const STRANGERS: i64 = -100_666;
    fake.push_raw(bot_added_to_group(STRANGERS, "Mallory's den", 666), true);
    let at_bot = format!("@{BOT_USERNAME}");
    let text = format!("{at_bot} write me an essay");
    let first = fake.next_message_id();
    fake.push_message(group_text(first, STRANGERS, 666, &text, mention(&text, &at_bot)));
    let event = format!("{STRANGERS}:{first}");
    let done = || async {
        parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Telegram, event.as_str()).await
    };
    assert!(parachute_testkit::wait_until(WAIT, done).await, "the mention was decided");
    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].platform_user_display, "Mallory's den");
    assert_eq!(requests[0].platform_chat_id, STRANGERS.to_string());
    assert!(fake.calls_of("sendMessage").is_empty(), "nothing sent: {:#?}", fake.calls_of("sendMessage"));
    assert!(fake.calls_of("setMessageReaction").is_empty() && fake.calls_of("sendChatAction").is_empty());
    assert!(brain.requests().is_empty());

    rt.handle.pairing.send(Approve { id: requests[0].id, trust_level: None }).await.unwrap().unwrap();
    let text = format!("{at_bot} may I now?");
    let mut after = group_text(fake.next_message_id(), STRANGERS, 666, &text, mention(&text, &at_bot));
    after["date"] = json!(parachute_runtime::store::now_ms() / 1000);
    fake.push_message(after);
    fake.wait_call("sendMessage", WAIT, |c| sent_to(STRANGERS)(c) && text_of(c).ends_with("may I now?")).await;
    assert_eq!(brain.requests().len(), 1, "only the message after the approval");

    const DENIED: i64 = -100_777;
    fake.push_raw(bot_added_to_group(DENIED, "Spam", 777), true);
    let pending = || async {
        let list = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
        list.into_iter().find(|r| r.platform_chat_id == DENIED.to_string())
    };
    assert!(parachute_testkit::wait_until(WAIT, || async { pending().await.is_some() }).await);
    let id = pending().await.map(|r| r.id).unwrap_or_default();
    rt.handle.pairing.send(parachute_runtime::messages::Deny { id }).await.unwrap().unwrap();
    fake.wait_call("leaveChat", WAIT, |c| c.params["chat_id"] == json!(DENIED)).await;
}

#[actix::test]
async fn a_held_long_poll_is_reported_stalled_and_recovers_without_losing_or_doubling() {
    let fake = TelegramFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    // The Bot API takes the next long poll and holds it far past its 25 s timeout.
    fake.delay_next("getUpdates", Duration::from_secs(100));
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "one"));
    let stalled = rt
        .wait_status(Platform::Telegram, Duration::from_secs(70), |s| matches!(s.state, ConnectorState::Stalled { .. }))
        .await;
    assert!(stalled.last_error.as_deref().is_some_and(|e| e.starts_with("stalled")), "{stalled:?}");
    assert_eq!(stalled.stalls, 1);
    let ConnectorState::Stalled { silent_for_ms, .. } = stalled.state else { unreachable!() };
    assert!((35_000..45_000).contains(&silent_for_ms), "detected within its bound: {silent_for_ms} ms");
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "two"));
    fake.wait_call("sendMessage", WAIT, |c| text_of(c) == "alice: two").await;
    let status = rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    assert_eq!((status.last_error, status.stalls), (None, 1), "recovered: the error is over, the count stays");
    let texts = sent_texts(&fake);
    assert_eq!(texts, ["alice: one", "alice: two"], "nothing lost, nothing answered twice");
}

const KEY: &str = "sk-telegram-stream-0123456789";

/// Alice's config with the Anthropic brain on the fake provider; `streaming` is the
/// telegram section's streaming lines.
fn streaming_config(fake: &TelegramFake, ai: &AiFake, streaming: &str) -> BotsConfig {
    let yaml = format!(
        "telegram:\n  enabled: true\n  bot_token: '123456:TEST-telegram-token-value'\n  api_url: '{}'\n  \
         allowed_users: ['@alice']\n  {streaming}\n\
         brain:\n  kind: anthropic\n  model: test-model\n  api_key: {KEY}\n  base_url: '{}'\n",
        fake.url(),
        ai.anthropic_url()
    );
    parse_str(&yaml).expect("a valid bots.yaml")
}

async fn start_streaming(config: BotsConfig) -> TestRuntime {
    let rt = TestRuntime::start_with(config, None, vec![Arc::new(TelegramFactory)]);
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    rt
}

fn numbered_words(count: usize) -> String {
    (1..=count).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ")
}

#[actix::test]
async fn a_streamed_answer_is_one_message_edited_no_more_than_once_per_interval() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = numbered_words(40);
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(30) });
    let _rt = start_streaming(streaming_config(&fake, &ai, "stream_edit_interval: 300ms")).await;
    let id = fake.next_message_id();
    fake.push_message(private_text(id, ALICE, "alice", "tell me"));
    let shown = fake.wait_shown(WAIT, |shown| shown.iter().any(|m| m.text == answer)).await;

    assert_eq!(shown.len(), 1, "one message: {shown:#?}");
    let sends = fake.calls_of("sendMessage");
    assert_eq!(sends.len(), 1, "the first text is sent, the rest edits it");
    assert_eq!(sends[0].params["reply_parameters"]["message_id"], json!(id), "the answer replies to the message");
    assert!(text_of(&sends[0]).len() < answer.len(), "the first text went out before the answer was complete");
    let edits = fake.calls_of("editMessageText");
    assert!(!edits.is_empty());
    assert_eq!(text_of(edits.last().unwrap()), answer, "the final edit carries the whole answer");
    // Edits are at least one interval apart, the final one excepted (it goes out at once).
    let mut times: Vec<_> = std::iter::once(sends[0].at).chain(edits.iter().map(|c| c.at)).collect();
    times.pop();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(290), "edits {:?} apart", pair[1] - pair[0]);
    }
    assert!(fake.calls_of("deleteMessage").is_empty());
}

#[actix::test]
async fn typing_stops_when_the_first_text_is_shown_and_the_ack_goes_with_the_final_text() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    // The first word comes after the notice delay (300 ms), so the 👀 and typing are shown.
    let answer = numbered_words(5);
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(450) });
    let _rt = start_streaming(streaming_config(&fake, &ai, "stream_edit_interval: 250ms")).await;
    let id = fake.next_message_id();
    fake.push_message(private_text(id, ALICE, "alice", "tell me"));
    fake.wait_shown(WAIT, |shown| shown.iter().any(|m| m.text == answer)).await;
    let reactions = fake.wait_calls("setMessageReaction", 2, WAIT, |_| true).await;
    let cleared = &reactions[1];
    assert_eq!(cleared.params["reaction"], json!([]), "the 👀 is taken away");
    let final_edit = fake.calls_of("editMessageText").into_iter().find(|c| text_of(c) == answer).unwrap();
    assert!(cleared.seq > final_edit.seq, "the 👀 stays until the answer is complete");
    let first_send = &fake.calls_of("sendMessage")[0];
    let typing = fake.calls_of("sendChatAction");
    assert!(!typing.is_empty(), "typing was shown while nothing was visible");
    assert!(typing.iter().all(|c| c.seq < first_send.seq), "no typing notice after the first text");
}

#[actix::test]
async fn a_rate_limited_edit_is_waited_out_and_the_final_text_still_arrives() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = numbered_words(30);
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(30) });
    fake.fail_next("editMessageText", Failure::RateLimited(1));
    let _rt = start_streaming(streaming_config(&fake, &ai, "stream_edit_interval: 250ms")).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "tell me"));
    let shown = fake.wait_shown(WAIT, |shown| shown.iter().any(|m| m.text == answer)).await;
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_eq!(fake.calls_of("sendMessage").len(), 1);
    let edits = fake.calls_of("editMessageText");
    assert!(edits.len() >= 2, "the limited edit and the one after it");
    assert!(edits[1].at - edits[0].at >= Duration::from_millis(950), "the next edit came after retry_after (1 s)");
}

#[actix::test]
async fn a_long_streamed_answer_continues_in_a_second_message() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = "word ".repeat(1_200).trim().to_owned();
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(2) });
    let _rt = start_streaming(streaming_config(&fake, &ai, "stream_edit_interval: 250ms")).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "tell me"));
    let complete = |shown: &[parachute_testkit::telegram_fake::BotMessage]| {
        shown.iter().map(|m| m.text.matches("word").count()).sum::<usize>() == 1_200
    };
    let shown = fake.wait_shown(WAIT, complete).await;
    assert_eq!(
        shown.len(),
        2,
        "6000 characters are two messages: {:?}",
        shown.iter().map(|m| m.text.len()).collect::<Vec<_>>()
    );
    assert!(shown.iter().all(|m| m.text.encode_utf16().count() <= 4096));
    assert!(shown[0].text.ends_with("word"), "split at a word boundary");
}

#[actix::test]
async fn stream_off_sends_the_whole_answer_once() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = numbered_words(20);
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(20) });
    let _rt = start_streaming(streaming_config(&fake, &ai, "stream: off")).await;
    fake.push_message(private_text(fake.next_message_id(), ALICE, "alice", "tell me"));
    let sent = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&sent), answer);
    assert!(fake.calls_of("editMessageText").is_empty());
}

/// A private photo from `user` in three sizes, the largest `file_id`; with `caption` if given.
fn photo_from(fake: &TelegramFake, user: i64, name: &str, file_id: &str, caption: Option<&str>) -> Value {
    let mut photo = private_text(fake.next_message_id(), user, name, "");
    photo.as_object_mut().unwrap().remove("text");
    let size = |id: &str, width: u32, bytes: usize| json!({"file_id": id, "file_unique_id": format!("u{id}"), "width": width, "height": width * 2 / 3, "file_size": bytes});
    photo["photo"] = json!([size("thumb", 90, 900), size(file_id, 1280, 30_000), size("mid", 320, 8_000)]);
    if let Some(caption) = caption {
        photo["caption"] = json!(caption);
    }
    photo
}

#[actix::test]
async fn a_photo_is_fetched_after_the_gate_and_shown_to_the_model_with_its_caption() {
    let fake = TelegramFake::start();
    let ai = AiFake::start(Some(KEY));
    ai.script(Api::Anthropic, Scripted::Answer("A red corner on a gradient.".into()));
    let photo = parachute_testkit::images::png(1280, 853);
    fake.add_file("LARGEST", photo);
    fake.add_file("EVE-PHOTO", parachute_testkit::images::png(64, 64));
    let rt = start_streaming(streaming_config(&fake, &ai, "stream: 'off'")).await;
    fake.push_message(photo_from(&fake, ALICE, "alice", "LARGEST", Some("what is in the corner?")));
    let reply = fake.wait_call("sendMessage", WAIT, sent_to(ALICE)).await;
    assert_eq!(text_of(&reply), "A red corner on a gradient.");

    let calls = ai.calls(Api::Anthropic);
    assert_eq!(calls.len(), 1);
    assert!(calls[0].rejected.is_none(), "{:?}", calls[0].rejected);
    let shown = calls[0].shown_image().expect("the photo is in the request");
    assert_eq!((shown.media_type.as_str(), shown.text.as_str()), ("image/jpeg", "what is in the corner?"));
    let size = parachute_testkit::images::size_of(&shown.bytes);
    assert_eq!(size, Some((1280, 853)), "a real image, not scaled within the model's limits");
    let files: Vec<_> = fake.calls_of("getFile").iter().map(|c| c.params["file_id"].clone()).collect();
    assert_eq!(files, [json!("LARGEST")], "only the largest size is fetched");

    // A stranger's photo goes to pairing as words; nothing is downloaded.
    let eve = 5151;
    fake.push_message(photo_from(&fake, eve, "eve", "EVE-PHOTO", Some("look")));
    fake.wait_call("sendMessage", WAIT, sent_to(eve)).await;
    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!(request.first_message, "(image) look");
    assert_eq!(fake.calls_of("getFile").len(), 1, "{:#?}", fake.calls_of("getFile"));
    assert_eq!(ai.calls(Api::Anthropic).len(), 1);
}
