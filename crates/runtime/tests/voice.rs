//! Voice messages inside a real runtime: fetched through their connector only once they will
//! be answered and fit `max_media_bytes`, transcribed by the fake speech-to-text server (a real
//! WAV file in the multipart request), answered by the `openai` brain with the transcript
//! quoted, and every failure answered with a short reply.

use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind};
use parachute_core::duration::HumanDuration;
use parachute_core::ids::Platform;
use parachute_core::media::too_large_text;
use parachute_core::pairing::texts;
use parachute_runtime::messages::{Content, Inbound, MediaRef};
use parachute_runtime::orchestrator::{
    DOWNLOAD_FAILED_TEXT, NO_TRANSCRIBER_TEXT, NOTHING_HEARD_TEXT, TRANSCRIPTION_FAILED_TEXT,
};
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::audio::sine_wav;
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{FakeConnector, TestRuntime, dm, group, wait_until};
use secrecy::SecretString;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// An `openai` brain and a transcriber, both on `fake`, without keys (as local servers).
fn config(fake: &AiFake) -> BotsConfig {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    config.brain.kind = BrainKind::Openai;
    config.brain.model = Some("local-llm".into());
    config.brain.base_url = Some(fake.openai_url());
    config.transcriber.base_url = Some(fake.openai_url());
    config.transcriber.model = "whisper-small".into();
    config.transcriber.max_retries = 0;
    config
}

/// A voice note from user 42 whose file (`file-<event>`) the fake connector serves.
fn voice(chat: &FakeConnector, wav: &[u8], event: &str) -> Inbound {
    let source = format!("file-{event}");
    chat.add_media(&source, wav.to_vec());
    let media =
        MediaRef { mime_type: "audio/wav".into(), file_name: "note.wav".into(), size: Some(wav.len() as u64), source };
    Inbound { content: Content::Voice(media), ..dm(Platform::Telegram, "42", "", event) }
}

fn media_of(inbound: &Inbound) -> MediaRef {
    match &inbound.content {
        Content::Voice(media) => media.clone(),
        Content::Text(_) | Content::Image(_) => unreachable!(),
    }
}

async fn started(config: BotsConfig) -> TestRuntime {
    let rt = TestRuntime::start(config, None);
    rt.fake(Platform::Telegram).wait_connected(1, WAIT).await;
    rt
}

#[actix::test]
async fn a_voice_note_is_transcribed_answered_and_quoted() {
    let fake = AiFake::start(None);
    fake.set_transcript(" What's the weather like? ");
    let mut config = config(&fake);
    config.transcriber.language = Some("en".into());
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    let wav = sine_wav(500, 440.0);
    chat.inject(voice(chat, &wav, "v1"));
    let replies = chat.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, "> 🎤 \"What's the weather like?\"\n\nheard: What's the weather like?");
    let fetches = chat.fetches();
    assert_eq!(fetches.len(), 1);
    assert_eq!((fetches[0].0.source.as_str(), fetches[0].1), ("file-v1", 20_000_000), "fetched with the limit");

    let call = fake.calls(Api::Transcription).remove(0);
    assert_eq!(call.rejected, None);
    assert_eq!(call.header("authorization"), None);
    let names: Vec<_> = call.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["file", "model", "response_format", "language"]);
    let file = call.part("file").unwrap();
    assert_eq!(file.file_name.as_deref(), Some("note.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(file.data, wav, "the audio bytes arrive unchanged");
    assert_eq!(call.part("model").unwrap().data, b"whisper-small");
    assert_eq!(call.part("response_format").unwrap().data, b"json");
    assert_eq!(call.part("language").unwrap().data, b"en");

    // The transcript is the user's turn in the history; the quote is not part of the answer.
    chat.inject(dm(Platform::Telegram, "42", "and tomorrow?", "m2"));
    chat.wait_delivered(2, WAIT).await;
    let second = fake.calls(Api::OpenAi).remove(1);
    let messages = second.body["messages"].as_array().unwrap();
    assert_eq!(
        messages[1..],
        [
            json!({"role": "user", "content": "What's the weather like?"}),
            json!({"role": "assistant", "content": "heard: What's the weather like?"}),
            json!({"role": "user", "content": "and tomorrow?"}),
        ]
    );
}

#[actix::test]
async fn a_transcriber_key_is_sent_as_bearer() {
    let fake = AiFake::start(Some("sk-whisper-0123456789"));
    let mut config = config(&fake);
    config.transcriber.api_key = Some(SecretString::from("sk-whisper-0123456789"));
    // The echo brain answers (with the transcript): only the transcriber is under test.
    config.brain.kind = BrainKind::Echo;
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    chat.inject(voice(chat, &sine_wav(100, 220.0), "v1"));
    let replies = chat.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, "> 🎤 \"hello from the fake transcriber\"\n\nhello from the fake transcriber");
    let call = fake.calls(Api::Transcription).remove(0);
    assert_eq!(call.header("authorization"), Some("Bearer sk-whisper-0123456789"));
}

#[actix::test]
async fn transcription_failures_get_a_short_reply_and_the_brain_is_not_asked() {
    let fake = AiFake::start(None);
    let mut config = config(&fake);
    config.transcriber.timeout = HumanDuration(Duration::from_millis(300));
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    let wav = sine_wav(100, 440.0);

    fake.script(Api::Transcription, Scripted::Error { status: 500, retry_after: None });
    chat.inject(voice(chat, &wav, "v1"));
    fake.script(Api::Transcription, Scripted::Slow(Duration::from_secs(5)));
    chat.inject(voice(chat, &wav, "v2"));
    fake.script(Api::Transcription, Scripted::Answer("   ".into()));
    chat.inject(voice(chat, &wav, "v3"));
    let replies = chat.wait_delivered(3, WAIT).await;
    let texts: Vec<_> = replies.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, [TRANSCRIPTION_FAILED_TEXT, TRANSCRIPTION_FAILED_TEXT, NOTHING_HEARD_TEXT]);
    assert_eq!(fake.calls(Api::Transcription).len(), 3, "max_retries: 0");
    assert!(fake.calls(Api::OpenAi).is_empty(), "nothing heard, nothing asked");
}

#[actix::test]
async fn a_refused_transcriber_key_is_not_retried() {
    let fake = AiFake::start(Some("sk-right-0123456789"));
    let mut config = config(&fake);
    config.transcriber.api_key = Some(SecretString::from("sk-wrong-0123456789"));
    config.transcriber.max_retries = 3;
    config.brain.kind = BrainKind::Echo;
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    chat.inject(voice(chat, &sine_wav(100, 440.0), "v1"));
    let replies = chat.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, TRANSCRIPTION_FAILED_TEXT);
    assert_eq!(fake.calls(Api::Transcription).len(), 1);
}

#[actix::test]
async fn nothing_is_fetched_for_strangers_group_chatter_or_without_a_transcriber() {
    let fake = AiFake::start(None);
    let mut config = config(&fake);
    config.discord.enabled = true;
    let rt = TestRuntime::start(config, None);
    let telegram = rt.fake(Platform::Telegram);
    telegram.wait_connected(1, WAIT).await;
    let discord = rt.fake(Platform::Discord);
    discord.wait_connected(1, WAIT).await;
    let wav = sine_wav(100, 440.0);

    // A stranger's voice note asks the owner; its file is never fetched.
    let stranger = Inbound { sender: "666".into(), chat: "dm-666".into(), ..voice(telegram, &wav, "s1") };
    telegram.inject(stranger);
    assert_eq!(telegram.wait_delivered(1, WAIT).await[0].text, texts::REQUEST_SENT);
    // Group chatter not addressed to the bot is not fetched either.
    let chatter = Inbound {
        content: Content::Voice(media_of(&voice(discord, &wav, "g1"))),
        ..group(Platform::Discord, "room", "7", "", "g1", false)
    };
    discord.inject(chatter);
    let chatter_done =
        || async { parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Discord, "g1").await };
    assert!(wait_until(WAIT, chatter_done).await);
    assert!(telegram.fetches().is_empty() && discord.fetches().is_empty());
    assert!(telegram.acks().is_empty() && discord.acks().is_empty(), "and neither gets the ack reaction");
    assert!(fake.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn no_transcriber_means_no_download() {
    let fake = AiFake::start(None);
    let mut config = config(&fake);
    config.transcriber.base_url = None;
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    chat.inject(voice(chat, &sine_wav(100, 440.0), "v1"));
    assert_eq!(chat.wait_delivered(1, WAIT).await[0].text, NO_TRANSCRIBER_TEXT);
    assert!(chat.fetches().is_empty());
}

#[actix::test]
async fn an_announced_size_over_the_limit_is_refused_without_a_download() {
    let fake = AiFake::start(None);
    let mut config = config(&fake);
    config.max_media_bytes = 64_000;
    let rt = started(config).await;
    let chat = rt.fake(Platform::Telegram);
    let big = Inbound {
        content: Content::Voice(MediaRef { size: Some(31_000_000), ..media_of(&voice(chat, &[0; 8], "big")) }),
        ..dm(Platform::Telegram, "42", "", "big")
    };
    chat.inject(big);
    let reply = &chat.wait_delivered(1, WAIT).await[0];
    assert_eq!(reply.text, "That voice message is 31 MB; I can take files up to 64 kB.");
    assert!(chat.fetches().is_empty(), "nothing downloaded");

    // No size announced in the message: the connector finds out when it fetches.
    let unannounced = voice(chat, &vec![0u8; 64_001], "unannounced");
    let unannounced =
        Inbound { content: Content::Voice(MediaRef { size: None, ..media_of(&unannounced) }), ..unannounced };
    chat.inject(unannounced);
    assert_eq!(chat.wait_delivered(2, WAIT).await[1].text, too_large_text(Some(64_001), 64_000));
    assert_eq!(chat.fetches()[0].1, 64_000, "the connector is given the limit");
    assert!(fake.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn a_failed_download_gets_a_short_apology() {
    let fake = AiFake::start(None);
    let rt = started(config(&fake)).await;
    let chat = rt.fake(Platform::Telegram);
    let missing = Inbound {
        content: Content::Voice(MediaRef { source: "gone".into(), ..media_of(&voice(chat, &[1, 2], "m1")) }),
        ..dm(Platform::Telegram, "42", "", "m1")
    };
    chat.inject(missing);
    assert_eq!(chat.wait_delivered(1, WAIT).await[0].text, DOWNLOAD_FAILED_TEXT);
    assert!(fake.calls(Api::Transcription).is_empty());
}
