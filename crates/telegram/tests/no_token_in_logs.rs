//! The bot token sits in every Bot API URL: it must not show up in logs, statuses or errors,
//! whatever fails. Its own process, since log capture is global.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::ids::Platform;
use parachute_runtime::status::ConnectorState;
use parachute_telegram::TelegramFactory;
use parachute_testkit::TestRuntime;
use parachute_testkit::ai_fake::AiFake;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::logs::{capture_logs, captured_logs};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::telegram_fake::{FAKE_TOKEN, Failure, TelegramFake, private_text};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[actix::test]
async fn token_never_appears_in_trace_logs_or_status() {
    capture_logs();
    let fake = TelegramFake::start();
    fake.add_file("V", vec![0; 8]);
    fake.add_endless_file("ENDLESS", None);
    let whisper = AiFake::start(None);
    fake.reject_markup_containing("BROKEN");
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.api_url = fake.url();
    config.telegram.allowed_users = vec!["@alice".into()];
    config.transcriber.base_url = Some(whisper.openai_url());
    config.max_media_bytes = 100_000;
    let rt = TestRuntime::start_with(config, Some(Arc::new(RecordingBrain::new())), vec![Arc::new(TelegramFactory)]);
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.fail_next("getUpdates", Failure::Server(503));
    fake.push_message(private_text(fake.next_message_id(), 1, "alice", "BROKEN one"));
    fake.wait_call("sendMessage", WAIT, |c| c.params.get("parse_mode").is_none()).await;
    // Voice notes: one downloaded, one getFile refuses, one cut off at the limit. The file URL
    // holds the token too.
    for file_id in ["V", "MISSING", "ENDLESS"] {
        let mut voice = private_text(fake.next_message_id(), 1, "alice", "");
        voice.as_object_mut().unwrap().remove("text");
        voice["voice"] =
            json!({"file_id": file_id, "file_unique_id": file_id, "duration": 1, "mime_type": "audio/ogg"});
        fake.push_message(voice);
    }
    fake.wait_calls("sendMessage", 5, WAIT, |_| true).await;
    assert_eq!(fake.calls_of("downloadFile").len(), 2);
    fake.go_down().await;
    let down = rt.wait_status(Platform::Telegram, WAIT, |s| s.failure_count >= 2 && s.last_error.is_some()).await;
    fake.come_back();
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;

    let secret = FAKE_TOKEN.split(':').nth(1).unwrap();
    assert!(!down.last_error.unwrap_or_default().contains(secret));
    let logs = captured_logs();
    assert!(logs.contains("telegram connected"), "logs were captured");
    assert!(!logs.contains(secret), "token found in logs");
}
