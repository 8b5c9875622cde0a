//! End-to-end: the real Discord connector (twilight gateway + REST) inside a real runtime,
//! talking to the fake Discord of the testkit on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::BotsConfig;
use parachute_core::gating::GroupMentionMode;
use parachute_core::ids::Platform;
use parachute_core::pairing::texts;
use parachute_discord::DiscordFactory;
use parachute_discord::errors::{DISALLOWED_INTENTS_MESSAGE, INVALID_TOKEN_MESSAGE};
use parachute_runtime::messages::Test;
use parachute_runtime::messages::{Approve, ListPairing};
use parachute_runtime::orchestrator::{DOWNLOAD_FAILED_TEXT, NEW_SESSION_TEXT, NO_TRANSCRIBER_TEXT};
use parachute_runtime::status::ConnectorState;
use parachute_testkit::TestRuntime;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::audio::sine_wav;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::discord_fake::{
    BOT_ID, BOT_ROLE_ID, BOT_USERNAME, Call, DiscordFake, Failure, MESSAGE_CONTENT_INTENT, bot_user, dm_text,
    guild_text, iso_8601, message, user,
};
use parachute_testkit::runtime::config_with_tokens;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const ALICE: u64 = 4242;
const ALICE_DM: u64 = 5000;
const GUILD: u64 = 7000;
const CHANNEL: u64 = 7001;

fn config(fake: &DiscordFake) -> BotsConfig {
    let mut config = config_with_tokens();
    config.discord.enabled = true;
    config.discord.api_url = fake.api_url();
    config.discord.gateway_url = fake.gateway_url();
    config.discord.allowed_users = vec![ALICE.to_string()];
    config
}

async fn start(config: BotsConfig, brain: &RecordingBrain) -> TestRuntime {
    let rt = TestRuntime::start_with(config, Some(Arc::new(brain.clone())), vec![Arc::new(DiscordFactory)]);
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    rt
}

fn content(call: &Call) -> &str {
    call.params["content"].as_str().unwrap_or("")
}

fn in_channel(channel: u64) -> impl Fn(&Call) -> bool {
    move |c: &Call| c.params["channel_id"] == json!(channel.to_string())
}

fn from_alice(fake: &DiscordFake, text: &str) -> u64 {
    let id = fake.next_id();
    fake.push_message(dm_text(id, ALICE_DM, ALICE, "alice", text));
    id
}

fn sent_texts(fake: &DiscordFake) -> Vec<String> {
    fake.calls_of("createMessage").iter().map(|c| content(c).to_owned()).collect()
}

#[actix::test]
async fn identifies_with_the_message_intents_and_test_reads_users_me() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let identify = &fake.frames_of(2)[0];
    let intents = identify.data["intents"].as_u64().unwrap();
    let expected = (1 << 9) | (1 << 12) | MESSAGE_CONTENT_INTENT; // GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT
    assert_eq!(intents, expected);
    assert_eq!(identify.data["properties"]["browser"], "parachute");
    let identity = rt.handle.supervisor.send(Test(Platform::Discord)).await.unwrap().unwrap();
    assert_eq!(identity.user_id, BOT_ID.to_string());
    assert_eq!(identity.username.as_deref(), Some(BOT_USERNAME));
    let status = rt.status(Platform::Discord);
    assert_eq!(status.identity.unwrap().user_id, BOT_ID.to_string());
}

#[actix::test]
async fn dm_from_allowed_user_is_answered_with_reaction_and_typing_in_order() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    let id = from_alice(&fake, "hello there");
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&reply), "alice: hello there");
    assert_eq!(reply.params["message_reference"]["message_id"], id.to_string());
    assert_eq!(reply.params["allowed_mentions"]["parse"], json!([]), "the text pings nobody");
    let cleared = fake.wait_call("deleteOwnReaction", WAIT, |_| true).await;
    let acked = &fake.calls_of("createReaction")[0];
    assert_eq!(acked.params["emoji"], "👀");
    assert_eq!(acked.params["message_id"], id.to_string());
    assert_eq!(cleared.params["message_id"], id.to_string());
    let typing = fake.calls_of("triggerTyping");
    assert!(!typing.is_empty(), "typing shown while the brain works");
    assert_eq!(typing[0].params["channel_id"], ALICE_DM.to_string());
    // The reaction is not awaited before the work starts: it and typing may come in any order.
    assert!(acked.seq < cleared.seq && typing[0].seq < reply.seq && reply.seq < cleared.seq, "{:#?}", fake.calls());
    assert_eq!(brain.requests().len(), 1);
}

#[actix::test]
async fn a_slow_reaction_is_still_removed_after_a_quick_reply() {
    let fake = DiscordFake::start();
    fake.delay_next("createReaction", Duration::from_millis(800));
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    from_alice(&fake, "quick");
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    let cleared = fake.wait_call("deleteOwnReaction", WAIT, |_| true).await;
    let acked = &fake.calls_of("createReaction")[0];
    assert!(acked.seq < reply.seq, "the reaction was asked for first, and answered late");
    assert!(cleared.at >= acked.at + Duration::from_millis(800), "removed only once the reaction was on");
}

#[actix::test]
async fn typing_is_renewed_while_the_brain_works() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    brain.delay_chat(&ALICE_DM.to_string(), parachute_discord::TYPING_RENEWAL + Duration::from_millis(600));
    let _rt = start(config(&fake), &brain).await;
    from_alice(&fake, "think hard");
    let typing =
        fake.wait_calls("triggerTyping", 2, WAIT + parachute_discord::TYPING_RENEWAL, in_channel(ALICE_DM)).await;
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert!(typing[1].at - typing[0].at >= parachute_discord::TYPING_RENEWAL - Duration::from_millis(100));
    assert!(typing[1].seq < reply.seq);
}

#[actix::test]
async fn unknown_user_goes_through_pairing_and_is_answered_after_approval() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let (eve, eve_dm) = (5151, 5152);
    fake.push_message(dm_text(fake.next_id(), eve_dm, eve, "eve", "let me in"));
    let first = fake.wait_call("createMessage", WAIT, in_channel(eve_dm)).await;
    assert_eq!(content(&first), texts::REQUEST_SENT);
    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].platform_user_id, eve.to_string());
    rt.handle.pairing.send(Approve { id: requests[0].id, trust_level: None }).await.unwrap().unwrap();
    fake.wait_call("createMessage", WAIT, |c| content(c) == texts::APPROVED).await;
    assert!(fake.calls_of("createReaction").is_empty(), "a stranger's message gets no reaction");
    assert!(fake.calls_of("triggerTyping").is_empty(), "and no typing");
    fake.push_message(dm_text(fake.next_id(), eve_dm, eve, "eve", "thanks"));
    fake.wait_call("createMessage", WAIT, |c| content(c) == "eve: thanks").await;
    assert_eq!(brain.requests().len(), 1, "only the message after approval reached the brain");
}

#[actix::test]
async fn guild_mention_only_answers_mentions_role_mentions_replies_and_commands() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "just chatting", &[]));
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, &format!("<@{BOT_ID}> what's up"), &[BOT_ID]));
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("what's up")).await;

    let mut by_role = guild_text(fake.next_id(), GUILD, CHANNEL, 12, &format!("<@&{BOT_ROLE_ID}> role call"), &[]);
    by_role["mention_roles"] = json!([BOT_ROLE_ID.to_string()]);
    fake.push_message(by_role);
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("role call")).await;
    assert_eq!(fake.calls_of("getGuildRoles").len(), 1);

    let mut reply = guild_text(fake.next_id(), GUILD, CHANNEL, 13, "answering you", &[]);
    let earlier_id = fake.next_id();
    reply["type"] = json!(19);
    reply["message_reference"] = json!({"message_id": earlier_id.to_string(), "channel_id": CHANNEL.to_string()});
    reply["referenced_message"] = message(earlier_id, Some(GUILD), CHANNEL, bot_user(), "earlier");
    fake.push_message(reply);
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("answering you")).await;

    let mut other_role = guild_text(fake.next_id(), GUILD, CHANNEL, 11, "<@&4444> not us", &[]);
    other_role["mention_roles"] = json!(["4444"]);
    fake.push_message(other_role);
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "<@31337> hello member", &[31337]));
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "!help", &[]));
    let answers = fake.wait_calls("createMessage", 4, WAIT, in_channel(CHANNEL)).await;
    assert!(content(&answers[3]).contains("!new"), "the help text: {}", content(&answers[3]));
    let texts = sent_texts(&fake);
    assert!(
        !texts.iter().any(|t| t.contains("just chatting") || t.contains("not us") || t.contains("hello member")),
        "{texts:#?}"
    );
    assert!(brain.requests().iter().all(|r| !r.message.contains("just chatting")));
    let reactions = fake.calls_of("createReaction");
    // `!help` is answered at once: its answer goes out alone, without a reaction.
    assert_eq!(reactions.len(), 3, "only answered messages that took a while get the ack reaction");
}

#[actix::test]
async fn guild_all_messages_answers_everything() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let mut config = config(&fake);
    config.discord.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = start(config, &brain).await;
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "just chatting", &[]));
    let reply = fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("just chatting")).await;
    assert_eq!(reply.params["channel_id"], CHANNEL.to_string());
}

#[actix::test]
async fn allowed_guilds_and_channels_limit_where_it_talks() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let mut config = config(&fake);
    config.discord.group_mention_mode = GroupMentionMode::AllMessages;
    config.discord.allowed_guilds = vec![GUILD.to_string()];
    config.discord.allowed_channels = vec![CHANNEL.to_string()];
    let _rt = start(config, &brain).await;
    fake.push_message(guild_text(fake.next_id(), GUILD + 1, CHANNEL, 11, "other guild", &[BOT_ID]));
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL + 1, 11, "other channel", &[BOT_ID]));
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "right here", &[]));
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("right here")).await;
    from_alice(&fake, "DMs are not limited");
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("DMs are not limited")).await;
    assert_eq!(sent_texts(&fake).len(), 2, "{:#?}", sent_texts(&fake));
    assert!(fake.calls_of("createReaction").iter().all(|c| c.params["channel_id"] != json!((CHANNEL + 1).to_string())));
}

#[actix::test]
async fn commands_are_answered_and_do_not_reach_the_brain() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    from_alice(&fake, "!new");
    fake.wait_call("createMessage", WAIT, |c| content(c) == NEW_SESSION_TEXT).await;
    from_alice(&fake, "!help");
    let help = fake.wait_call("createMessage", WAIT, |c| content(c).contains("!journal")).await;
    assert!(content(&help).contains("recording"), "names the brain: {}", content(&help));
    fake.push_message(guild_text(
        fake.next_id(),
        GUILD,
        CHANNEL,
        11,
        &format!("<@{BOT_ID}> !j packed the tent"),
        &[BOT_ID],
    ));
    let noted = fake.wait_call("createMessage", WAIT, |c| content(c).starts_with("Noted in the journal")).await;
    assert_eq!(noted.params["channel_id"], CHANNEL.to_string());
    let journal = std::fs::read_dir(rt.vault.join("journal")).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(journal).unwrap().contains("packed the tent"));
    assert!(brain.requests().is_empty(), "commands do not reach the brain");
}

#[actix::test]
async fn long_reply_is_split_at_2000() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::thinking();
    let _rt = start(config(&fake), &brain).await;
    let long = "word ".repeat(1_000);
    let id = from_alice(&fake, long.trim());
    let chunks = fake.wait_calls("createMessage", 3, WAIT, in_channel(ALICE_DM)).await;
    assert!(chunks.iter().all(|c| content(c).chars().count() <= 2000), "every chunk fits");
    assert_eq!(chunks[0].params["message_reference"]["message_id"], id.to_string());
    assert!(chunks[1].params.get("message_reference").is_none(), "only the first chunk replies");
    let words: usize = chunks.iter().map(|c| content(c).matches("word").count()).sum();
    assert_eq!(words, 1_000);
    fake.wait_call("deleteOwnReaction", WAIT, |_| true).await;
}

/// A voice message in `channel` from `user` whose attachment is at `url` and announces `size`.
fn voice_message(fake: &DiscordFake, channel: u64, user: u64, name: &str, url: &str, size: u64) -> Value {
    let mut voice = dm_text(fake.next_id(), channel, user, name, "");
    voice["flags"] = json!(8192);
    voice["attachments"] = json!([{"id": "1", "filename": "voice-message.ogg", "size": size, "url": url,
        "proxy_url": url, "content_type": "audio/ogg", "duration_secs": 1.0, "waveform": "AAAA"}]);
    voice
}

fn with_transcriber(fake: &DiscordFake, whisper: &AiFake) -> BotsConfig {
    let mut config = config(fake);
    config.transcriber.base_url = Some(whisper.openai_url());
    config.transcriber.max_retries = 0;
    config
}

#[actix::test]
async fn voice_message_without_a_transcriber_is_not_downloaded() {
    let fake = DiscordFake::start();
    let url = fake.add_attachment("voice-message.ogg", vec![1, 2, 3, 4]);
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &url, 4));
    fake.wait_call("createMessage", WAIT, |c| content(c) == NO_TRANSCRIBER_TEXT).await;
    assert!(fake.calls_of("download").is_empty());
}

#[actix::test]
async fn voice_message_is_downloaded_transcribed_and_answered() {
    let fake = DiscordFake::start();
    let whisper = AiFake::start(None);
    whisper.set_transcript("what is on today");
    let wav = sine_wav(300, 440.0);
    let url = fake.add_attachment("voice-message.ogg", wav.clone());
    let brain = RecordingBrain::thinking();
    let _rt = start(with_transcriber(&fake, &whisper), &brain).await;
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &url, wav.len() as u64));
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert!(content(&reply).ends_with("alice: what is on today"), "{}", content(&reply));
    assert_eq!(fake.calls_of("download").len(), 1);
    let call = whisper.calls(Api::Transcription).remove(0);
    assert_eq!(call.part("file").unwrap().data, wav, "the attachment reaches the transcriber unchanged");
    let cleared = fake.wait_call("deleteOwnReaction", WAIT, |_| true).await;
    assert!(fake.calls_of("createReaction")[0].seq < cleared.seq);
}

#[actix::test]
async fn a_strangers_voice_message_is_never_downloaded_and_gets_no_reaction() {
    let fake = DiscordFake::start();
    let whisper = AiFake::start(None);
    let url = fake.add_attachment("voice-message.ogg", sine_wav(200, 440.0));
    let brain = RecordingBrain::new();
    let rt = start(with_transcriber(&fake, &whisper), &brain).await;
    let (eve, eve_dm) = (5151, 5152);
    fake.push_message(voice_message(&fake, eve_dm, eve, "eve", &url, 4_000));
    let first = fake.wait_call("createMessage", WAIT, in_channel(eve_dm)).await;
    assert_eq!(content(&first), texts::REQUEST_SENT);
    // Guild chatter with a voice message, not addressed to the bot: context, not downloaded.
    let mut chatter = guild_text(fake.next_id(), GUILD, CHANNEL, 11, "", &[]);
    chatter["flags"] = json!(8192);
    chatter["attachments"] = voice_message(&fake, CHANNEL, 11, "member", &url, 4_000)["attachments"].clone();
    let chatter_id = chatter["id"].as_str().unwrap().to_owned();
    fake.push_message(chatter);
    let done = || async {
        parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Discord, chatter_id.as_str()).await
    };
    assert!(parachute_testkit::wait_until(WAIT, done).await);
    assert!(fake.calls_of("download").is_empty(), "no attachment GET: {:#?}", fake.calls());
    assert!(fake.calls_of("createReaction").is_empty(), "no ack reaction");
    assert!(fake.calls_of("triggerTyping").is_empty(), "no typing");
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn an_announced_size_over_the_limit_is_refused_without_a_download() {
    let fake = DiscordFake::start();
    let whisper = AiFake::start(None);
    let url = fake.add_attachment("voice-message.ogg", vec![0; 16]);
    let brain = RecordingBrain::new();
    let _rt = start(with_transcriber(&fake, &whisper), &brain).await;
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &url, 31_000_000));
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&reply), "That voice message is 31 MB; I can take files up to 20 MB.");
    assert!(fake.calls_of("download").is_empty());
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn an_attachment_larger_than_announced_is_cut_off_at_the_limit() {
    let fake = DiscordFake::start();
    let whisper = AiFake::start(None);
    let liar = fake.add_attachment("liar.ogg", vec![0; 300_000]);
    let endless = fake.add_endless_attachment("endless.ogg");
    let brain = RecordingBrain::new();
    let mut config = with_transcriber(&fake, &whisper);
    config.max_media_bytes = 100_000;
    let _rt = start(config, &brain).await;
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &liar, 1_000));
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&reply), "That voice message is 300 kB; I can take files up to 100 kB.");
    // An endless body is only answered at all if reading stops at the limit.
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &endless, 1_000));
    let replies = fake.wait_calls("createMessage", 2, WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&replies[1]), "That voice message is too large; I can take files up to 100 kB.");
    assert_eq!(fake.calls_of("download").len(), 2);
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn a_failed_attachment_download_gets_a_short_apology() {
    let fake = DiscordFake::start();
    let whisper = AiFake::start(None);
    let brain = RecordingBrain::new();
    let _rt = start(with_transcriber(&fake, &whisper), &brain).await;
    let missing = format!("{}/attachments/missing.ogg", fake.api_url());
    fake.push_message(voice_message(&fake, ALICE_DM, ALICE, "alice", &missing, 100));
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&reply), DOWNLOAD_FAILED_TEXT);
}

#[actix::test]
async fn own_and_other_bots_messages_are_ignored() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let mut config = config(&fake);
    config.discord.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = start(config, &brain).await;
    fake.push_message(message(fake.next_id(), Some(GUILD), CHANNEL, bot_user(), "my own words"));
    fake.push_message(message(fake.next_id(), Some(GUILD), CHANNEL, user(66, "otherbot", true), "beep"));
    fake.push_message(guild_text(fake.next_id(), GUILD, CHANNEL, 11, "a person", &[]));
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("a person")).await;
    assert_eq!(sent_texts(&fake).len(), 1, "{:#?}", sent_texts(&fake));
    assert_eq!(brain.requests().len(), 1);
}

#[actix::test]
async fn heartbeats_carry_the_last_sequence_and_missed_acks_resume() {
    let fake = DiscordFake::start();
    fake.set_heartbeat_interval(Duration::from_millis(300));
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    from_alice(&fake, "one");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: one").await;
    // READY is sequence 1, the message 2.
    fake.wait_frames(1, 1, WAIT, |f| f.data == json!(2)).await;
    fake.ack_heartbeats(false);
    let resume = fake.wait_frames(6, 1, WAIT, |_| true).await.remove(0);
    assert_eq!(resume.data["session_id"], "session-1");
    assert_eq!(resume.data["seq"], 2);
    fake.ack_heartbeats(true);
    from_alice(&fake, "two");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: two").await;
    assert_eq!(fake.frames_of(2).len(), 1, "resumed, not identified again");
    // The dead session left a trace: it was shown and counted, and is over once resumed.
    let status = rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    assert!(status.reconnects >= 1 && status.failure_count >= 1, "{status:?}");
    assert_eq!(status.last_error, None, "{status:?}");
    assert!(status.last_progress_time.is_some(), "heartbeat ACKs count as progress");
}

#[actix::test]
async fn gateway_outage_resumes_without_losing_or_repeating_messages() {
    let fake = DiscordFake::start();
    fake.set_replay_overlap(1);
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    from_alice(&fake, "before");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: before").await;

    fake.gateway_down();
    rt.wait_status(Platform::Discord, WAIT, |s| matches!(s.state, ConnectorState::Reconnecting { .. })).await;
    from_alice(&fake, "while down");
    fake.gateway_up();
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: while down").await;

    let resume = &fake.frames_of(6)[0];
    assert_eq!(resume.data["session_id"], "session-1");
    assert_eq!(resume.data["seq"], 2, "READY and the first message were seen");
    assert_eq!(fake.frames_of(2).len(), 1, "resumed, not identified again");
    assert!(!fake.calls_of("getChannelMessages").is_empty(), "read back as well as replayed");
    from_alice(&fake, "after");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: after").await;
    assert_eq!(
        sent_texts(&fake),
        ["alice: before", "alice: while down", "alice: after"],
        "the replayed message was not answered twice"
    );
    assert_eq!(brain.requests().len(), 3);
}

#[actix::test]
async fn a_message_taken_up_before_the_connection_broke_is_still_answered() {
    let fake = DiscordFake::start();
    fake.delay_next("getGuildRoles", Duration::from_millis(500));
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let mut by_role = guild_text(fake.next_id(), GUILD, CHANNEL, 12, &format!("<@&{BOT_ROLE_ID}> caught"), &[]);
    by_role["mention_roles"] = json!([BOT_ROLE_ID.to_string()]);
    fake.push_message(by_role);
    fake.wait_call("getGuildRoles", WAIT, |_| true).await;
    // The gateway goes away while the message is still being taken up (its role mention
    // checked); the session has already counted it as seen, so a resume would not replay it.
    fake.gateway_down();
    rt.wait_status(Platform::Discord, WAIT, |s| matches!(s.state, ConnectorState::Reconnecting { .. })).await;
    fake.gateway_up();
    fake.wait_call("createMessage", WAIT, |c| content(c).ends_with("caught")).await;
    assert_eq!(sent_texts(&fake).len(), 1);
}

#[actix::test]
async fn messages_sent_while_the_bot_was_not_running_are_answered_after_a_restart() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let rt = start(config(&fake), &brain).await;
    let before = from_alice(&fake, "before").to_string();
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: before").await;
    let done = || parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Discord, before.as_str());
    assert!(parachute_testkit::wait_until(WAIT, || async { done().await }).await, "the answered turn is recorded");

    // Written while no session of the bot was there: Discord will not deliver these.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut too_old = dm_text(fake.next_id(), ALICE_DM, ALICE, "alice", "an hour ago");
    too_old["timestamp"] = json!(iso_8601(now - 3_600));
    fake.post_while_away(too_old);
    fake.post_while_away(dm_text(fake.next_id(), ALICE_DM, ALICE, "alice", "while away 1"));
    fake.post_while_away(dm_text(fake.next_id(), ALICE_DM, ALICE, "alice", "while away 2"));
    let rt = rt.restart(Some(Arc::new(brain.clone()))).await;
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: while away 2").await;
    from_alice(&fake, "after");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: after").await;

    assert_eq!(fake.frames_of(2).len(), 2, "a new process identifies again");
    let read_back = fake.calls_of("getChannelMessages");
    assert_eq!(read_back.len(), 1, "{read_back:#?}");
    assert_eq!(read_back[0].params["channel_id"], ALICE_DM.to_string());
    assert_eq!(
        sent_texts(&fake),
        ["alice: before", "alice: while away 1", "alice: while away 2", "alice: after"],
        "missed messages answered in order, once; older than catch_up_max_age left alone"
    );
    assert_eq!(brain.requests().len(), 4);
}

#[actix::test]
async fn dropped_and_closed_connections_resume_at_once() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.drop_connections();
    fake.wait_frames(6, 1, WAIT, |f| f.connection == 2).await;
    from_alice(&fake, "after a drop");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: after a drop").await;
    fake.close_connections(4000);
    fake.wait_frames(6, 1, WAIT, |f| f.connection == 3).await;
    from_alice(&fake, "after a close");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: after a close").await;
    assert_eq!(fake.frames_of(2).len(), 1, "resumed, not identified again");
}

#[actix::test]
async fn invalid_session_on_resume_identifies_again() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.invalidate_next_resume();
    fake.drop_connections();
    let resume = fake.wait_frames(6, 1, WAIT, |_| true).await.remove(0);
    let identify = fake.wait_frames(2, 2, WAIT, |_| true).await;
    assert!(
        identify[1].seq > resume.seq && identify[1].connection > resume.connection,
        "a new session on a new connection"
    );
    // The second IDENTIFY made session-2 current: the message is dispatched in it.
    from_alice(&fake, "new session");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: new session").await;
}

#[actix::test]
async fn a_new_session_after_a_refused_resume_reads_back_what_was_missed() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    from_alice(&fake, "before");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: before").await;
    let reads_before = fake.calls_of("getChannelMessages").len();

    // Written while no session of the bot could receive it: the session that was dropped is
    // refused on RESUME, and the new one (after IDENTIFY) does not replay it.
    fake.post_while_away(dm_text(fake.next_id(), ALICE_DM, ALICE, "alice", "during the outage"));
    fake.invalidate_next_resume();
    fake.drop_connections();
    let resume = fake.wait_frames(6, 1, WAIT, |_| true).await.remove(0);
    let identify = fake.wait_frames(2, 2, WAIT, |_| true).await;
    assert!(identify[1].seq > resume.seq, "identified again after the refused RESUME");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: during the outage").await;
    let reads = fake.calls_of("getChannelMessages");
    assert!(reads.len() > reads_before && reads.last().unwrap().seq > identify[1].seq, "read back on the new session");

    from_alice(&fake, "after");
    fake.wait_call("createMessage", WAIT, |c| content(c) == "alice: after").await;
    assert_eq!(
        sent_texts(&fake),
        ["alice: before", "alice: during the outage", "alice: after"],
        "the missed message was answered once"
    );
    assert_eq!(brain.requests().len(), 3);
}

#[actix::test]
async fn close_code_4004_fails_fast_with_a_clear_reason() {
    let fake = DiscordFake::start();
    fake.close_next_identify(4004);
    let brain = RecordingBrain::new();
    let rt = TestRuntime::start_with(config(&fake), Some(Arc::new(brain)), vec![Arc::new(DiscordFactory)]);
    let status = rt.wait_status(Platform::Discord, WAIT, |s| s.state.name() == "failed").await;
    let reason = status.last_error.unwrap_or_default();
    assert!(reason.contains(INVALID_TOKEN_MESSAGE), "{reason}");
    assert_eq!(fake.connections(), 1, "no reconnect after 4004");
}

#[actix::test]
async fn close_code_4014_fails_fast_naming_the_intent() {
    let fake = DiscordFake::start();
    fake.allow_message_content(false);
    let brain = RecordingBrain::new();
    let rt = TestRuntime::start_with(config(&fake), Some(Arc::new(brain)), vec![Arc::new(DiscordFactory)]);
    let status = rt.wait_status(Platform::Discord, WAIT, |s| s.state.name() == "failed").await;
    let reason = status.last_error.unwrap_or_default();
    assert!(reason.contains(DISALLOWED_INTENTS_MESSAGE), "{reason}");
    assert_eq!(fake.connections(), 1, "no reconnect after 4014");
}

#[actix::test]
async fn rejected_token_fails_fast_without_touching_the_gateway() {
    let fake = DiscordFake::start();
    let mut config = config(&fake);
    config.discord.bot_token = Some("WRONG.token-value".to_owned().into());
    let brain = RecordingBrain::new();
    let rt = TestRuntime::start_with(config, Some(Arc::new(brain)), vec![Arc::new(DiscordFactory)]);
    let status = rt.wait_status(Platform::Discord, WAIT, |s| s.state.name() == "failed").await;
    let reason = status.last_error.unwrap_or_default();
    assert!(reason.contains("rejected the bot token"), "{reason}");
    assert!(!reason.contains("WRONG"));
    assert_eq!(fake.calls_of("getCurrentUser").len(), 1, "no retries after a 401");
    assert_eq!(fake.connections(), 0);
}

#[actix::test]
async fn rate_limited_reply_waits_out_retry_after() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.fail_next("createMessage", Failure::RateLimited(1));
    from_alice(&fake, "slow down");
    let attempts = fake.wait_calls("createMessage", 2, WAIT, in_channel(ALICE_DM)).await;
    assert!(
        attempts[1].at - attempts[0].at >= Duration::from_millis(950),
        "retried only after retry_after (1 s): {:?}",
        attempts[1].at - attempts[0].at
    );
    assert_eq!(content(&attempts[1]), "alice: slow down");
    assert_eq!(sent_texts(&fake).len(), 2, "one 429, one success");
}

#[actix::test]
async fn server_error_on_reply_is_retried() {
    let fake = DiscordFake::start();
    let brain = RecordingBrain::new();
    let _rt = start(config(&fake), &brain).await;
    fake.fail_next("createMessage", Failure::Server(502));
    from_alice(&fake, "through");
    let attempts = fake.wait_calls("createMessage", 2, WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&attempts[1]), "alice: through");
}

const KEY: &str = "sk-discord-stream-0123456789";

/// Alice's config with the OpenAI-compatible brain on the fake provider, editing at most
/// every 300 ms.
fn streaming_config(fake: &DiscordFake, ai: &AiFake) -> BotsConfig {
    let mut config = config(fake);
    config.discord.stream_edit_interval = parachute_core::duration::HumanDuration(Duration::from_millis(300));
    ai.configure_brain(&mut config.brain, parachute_core::config::BrainKind::Openai, KEY);
    config
}

async fn start_streaming(config: BotsConfig) -> TestRuntime {
    let rt = TestRuntime::start_with(config, None, vec![Arc::new(DiscordFactory)]);
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    rt
}

fn numbered_words(count: usize) -> String {
    (1..=count).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ")
}

#[actix::test]
async fn a_streamed_answer_is_one_message_edited_no_more_than_once_per_interval() {
    let fake = DiscordFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = numbered_words(40);
    ai.script(Api::OpenAi, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(30) });
    let _rt = start_streaming(streaming_config(&fake, &ai)).await;
    let asked = from_alice(&fake, "tell me");
    let shown = fake.wait_bot_messages(ALICE_DM, WAIT, |shown| shown.iter().any(|m| m["content"] == answer)).await;

    assert_eq!(shown.len(), 1, "one message: {shown:#?}");
    assert_eq!(shown[0]["message_reference"]["message_id"], json!(asked.to_string()), "it replies to the message");
    assert!(!shown[0]["edited_timestamp"].is_null());
    let sends = fake.calls_of("createMessage");
    assert_eq!(sends.len(), 1, "the first text is sent, the rest edits it");
    assert!(content(&sends[0]).len() < answer.len(), "the first text went out before the answer was complete");
    let edits = fake.calls_of("editMessage");
    assert_eq!(content(edits.last().unwrap()), answer, "the final edit carries the whole answer");
    let mut times: Vec<_> = std::iter::once(sends[0].at).chain(edits.iter().map(|c| c.at)).collect();
    times.pop();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(290), "edits {:?} apart", pair[1] - pair[0]);
    }
}

#[actix::test]
async fn a_preview_deleted_in_the_chat_is_replaced_by_a_new_message_with_the_final_text() {
    let fake = DiscordFake::start();
    let ai = AiFake::start(Some(KEY));
    let answer = numbered_words(12);
    ai.script(Api::OpenAi, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(100) });
    let _rt = start_streaming(streaming_config(&fake, &ai)).await;
    from_alice(&fake, "tell me");
    let first = fake.wait_call("createMessage", WAIT, |_| true).await;
    // Someone deletes the preview while the answer is being written.
    let sent = fake.bot_messages(ALICE_DM);
    let id = sent[0]["id"].as_str().unwrap().to_owned();
    assert!(content(&first).len() < answer.len());
    assert!(fake.remove_message(ALICE_DM, &id), "the preview was there");
    let shown = fake.wait_bot_messages(ALICE_DM, WAIT, |shown| shown.iter().any(|m| m["content"] == answer)).await;
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_ne!(shown[0]["id"], json!(id), "a new message");
    assert_eq!(fake.calls_of("createMessage").len(), 2);
}

/// A DM from `user` in `channel` with a PDF and an image attachment (at `url`, announcing
/// `size`) and `text`.
fn image_message(fake: &DiscordFake, channel: u64, user: u64, name: &str, text: &str, url: &str, size: usize) -> Value {
    let mut message = dm_text(fake.next_id(), channel, user, name, text);
    message["attachments"] = json!([
        {"id": "1", "filename": "notes.pdf", "size": 9, "url": format!("{url}.pdf"), "proxy_url": url,
         "content_type": "application/pdf"},
        {"id": "2", "filename": "screenshot.png", "size": size, "url": url, "proxy_url": url,
         "content_type": "image/png", "width": 2400, "height": 1600}]);
    message
}

#[actix::test]
async fn an_image_attachment_is_fetched_after_the_gate_and_shown_to_the_model_scaled() {
    let fake = DiscordFake::start();
    let ai = AiFake::start(Some(KEY));
    ai.script(Api::OpenAi, Scripted::Answer("A screenshot with a red corner.".into()));
    let yaml = format!(
        "{}discord:\n  enabled: true\n  bot_token: 'TEST.discord.token-value-0123'\n  api_url: '{}'\n  \
         gateway_url: '{}'\n  allowed_users: ['{ALICE}']\n  stream: 'off'\n",
        ai.brain_yaml(parachute_core::config::BrainKind::Openai, KEY),
        fake.api_url(),
        fake.gateway_url()
    );
    let config = parachute_core::config::parse_str(&yaml).expect("a valid bots.yaml");
    let rt = start_streaming(config).await;
    let png = parachute_testkit::images::png(2400, 1600);
    let url = fake.add_attachment("screenshot.png", png.clone());
    fake.push_message(image_message(&fake, ALICE_DM, ALICE, "alice", "what does it say?", &url, png.len()));
    let reply = fake.wait_call("createMessage", WAIT, in_channel(ALICE_DM)).await;
    assert_eq!(content(&reply), "A screenshot with a red corner.");

    let calls = ai.calls(Api::OpenAi);
    assert!(calls[0].rejected.is_none(), "{:?}", calls[0].rejected);
    let shown = calls[0].shown_image().expect("the image is in the request");
    assert_eq!((shown.media_type.as_str(), shown.text.as_str()), ("image/jpeg", "what does it say?"));
    let (width, height) = parachute_testkit::images::size_of(&shown.bytes).expect("a real image");
    assert!(width <= 1568 && height <= 1568 && (width * 2).abs_diff(height * 3) <= 3, "{width}x{height}");
    assert_eq!(fake.calls_of("download").len(), 1, "the image only, not the PDF");

    // A stranger's image is never downloaded.
    let (eve, eve_dm) = (5151, 5252);
    fake.push_message(image_message(&fake, eve_dm, eve, "eve", "", &url, png.len()));
    fake.wait_call("createMessage", WAIT, in_channel(eve_dm)).await;
    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!(request.first_message, "(image)");
    assert_eq!(fake.calls_of("download").len(), 1);
}
