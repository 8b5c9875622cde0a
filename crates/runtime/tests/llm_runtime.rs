//! The configured `anthropic` and `openai` brains inside a real runtime, talking to the fake
//! AI provider: history across turns and its reset by `!new`, the apology after failed
//! retries, and the key never logged.

use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind};
use parachute_core::ids::Platform;
use parachute_runtime::orchestrator::NEW_SESSION_TEXT;
use parachute_testkit::ai_fake::{AiCall, AiFake, Api, Scripted};
use parachute_testkit::logs::{capture_logs, captured_logs};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const KEY: &str = "sk-runtime-test-key-0123456789";

fn config(kind: BrainKind, fake: &AiFake) -> BotsConfig {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    fake.configure_brain(&mut config.brain, kind, KEY);
    config
}

/// The conversation turns of a request (without the OpenAI system message).
fn turns(call: &AiCall) -> Vec<Value> {
    let messages = call.body["messages"].as_array().cloned().unwrap_or_default();
    messages.into_iter().filter(|m| m["role"] != "system").collect()
}

#[actix::test]
async fn history_is_carried_across_turns_and_reset_by_new() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let rt = TestRuntime::start(config(kind, &fake), None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "hello", "m1"));
        chat.wait_delivered(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "again", "m2"));
        chat.wait_delivered(2, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "/new", "m3"));
        chat.wait_delivered(3, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "fresh", "m4"));
        let replies = chat.wait_delivered(4, WAIT).await;
        let texts: Vec<_> = replies.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["heard: hello", "heard: again", NEW_SESSION_TEXT, "heard: fresh"], "{kind:?}");

        let calls = fake.calls(Api::of(kind));
        assert_eq!(calls.len(), 3, "!new does not ask the brain ({kind:?})");
        assert!(calls.iter().all(|c| c.rejected.is_none()), "{calls:#?}");
        assert_eq!(turns(&calls[0]), [json!({"role": "user", "content": "hello"})]);
        assert_eq!(
            turns(&calls[1]),
            [
                json!({"role": "user", "content": "hello"}),
                json!({"role": "assistant", "content": "heard: hello"}),
                json!({"role": "user", "content": "again"}),
            ],
            "{kind:?}"
        );
        assert_eq!(turns(&calls[2]), [json!({"role": "user", "content": "fresh"})], "{kind:?}");
        let system = match kind {
            BrainKind::Anthropic => calls[0].body["system"].as_str().unwrap_or_default().to_owned(),
            _ => calls[0].body["messages"][0]["content"].as_str().unwrap_or_default().to_owned(),
        };
        assert!(system.contains("on Telegram") && system.contains("with 42 name"), "{system}");
    }
}

#[actix::test]
async fn failed_retries_end_in_an_apology_and_the_key_is_never_logged() {
    capture_logs();
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        // `retry-after: 0` keeps the test fast; the waits themselves are covered in llm_brains.
        fake.script(Api::of(kind), Scripted::Error { status: 429, retry_after: Some(0) });
        fake.script(Api::of(kind), Scripted::Error { status: 429, retry_after: Some(0) });
        let mut config = config(kind, &fake);
        config.brain.max_retries = 1;
        let rt = TestRuntime::start(config, None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "hello", "m1"));
        let replies = chat.wait_delivered(1, WAIT).await;
        let name = kind.as_str();
        assert_eq!(
            replies[0].text,
            format!(
                "Sorry, I couldn't answer that just now (the brain is unavailable: {name}: rate limited (HTTP 429)). Please try again."
            ),
        );
        assert_eq!(fake.calls(Api::of(kind)).len(), 2, "one try, one retry ({kind:?})");

        // The apology is not history: the next request has the unanswered question and the new one.
        chat.inject(dm(Platform::Telegram, "42", "still there?", "m2"));
        let replies = chat.wait_delivered(2, WAIT).await;
        assert_eq!(replies[1].text, "heard: hello\n\nstill there?");
    }
    let logs = captured_logs();
    assert!(logs.contains("rate_limit") || logs.contains("rate limited"), "failure details are logged");
    assert!(!logs.contains(KEY), "the API key was logged");
}
