//! Voice messages inside a real runtime: transcribed by the fake speech-to-text server (a real
//! WAV file in the multipart request), answered by the `openai` brain with the transcript
//! quoted, and every failure answered with a short reply.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind};
use parachute_core::duration::HumanDuration;
use parachute_core::ids::Platform;
use parachute_runtime::messages::{Content, Inbound, VoiceNote};
use parachute_runtime::orchestrator::{NOTHING_HEARD_TEXT, TRANSCRIPTION_FAILED_TEXT};
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::audio::sine_wav;
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};
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

fn voice(wav: &[u8], event: &str) -> Inbound {
    let note = VoiceNote { mime_type: "audio/wav".into(), file_name: "note.wav".into(), data: Arc::from(wav) };
    Inbound { content: Content::Voice(note), ..dm(Platform::Telegram, "42", "", event) }
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
    chat.inject(voice(&wav, "v1"));
    let replies = chat.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, "> 🎤 \"What's the weather like?\"\n\nheard: What's the weather like?");

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
    chat.inject(voice(&sine_wav(100, 220.0), "v1"));
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
    chat.inject(voice(&wav, "v1"));
    fake.script(Api::Transcription, Scripted::Slow(Duration::from_secs(5)));
    chat.inject(voice(&wav, "v2"));
    fake.script(Api::Transcription, Scripted::Answer("   ".into()));
    chat.inject(voice(&wav, "v3"));
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
    chat.inject(voice(&sine_wav(100, 440.0), "v1"));
    let replies = chat.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, TRANSCRIPTION_FAILED_TEXT);
    assert_eq!(fake.calls(Api::Transcription).len(), 1);
}
