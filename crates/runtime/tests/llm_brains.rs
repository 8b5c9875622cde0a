//! The `anthropic` and `openai` brains against the fake AI provider of the testkit: the exact
//! request shapes, and their failures (retries honouring `retry-after`, giving up, no retry
//! on 401, timeouts).

use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::{BrainConfig, BrainKind};
use parachute_core::duration::HumanDuration;
use parachute_core::ids::{ChatId, ChatKind, Platform};
use parachute_core::trust::TrustLevel;
use parachute_runtime::brain::conversation::system_prompt;
use parachute_runtime::brain::{AnthropicBrain, Brain, BrainError, BrainRequest, OpenAiBrain};
use parachute_runtime::service_http::RetryPolicy;
use parachute_runtime::store::{HistoryEntry, HistoryRole};
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use secrecy::SecretString;
use serde_json::json;

const KEY: &str = "sk-test-0123456789abcdef";

/// Retries 20 ms, 40 ms, … apart; `retry-after` honoured up to 300 ms.
fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_millis(300),
    }
}

fn config(kind: BrainKind, fake: &AiFake, key: Option<&str>) -> BrainConfig {
    let base_url = if kind == BrainKind::Anthropic { fake.anthropic_url() } else { fake.openai_url() };
    BrainConfig {
        kind,
        model: Some("test-model".into()),
        max_tokens: 321,
        base_url: Some(base_url),
        api_key: key.map(SecretString::from),
        timeout: HumanDuration(Duration::from_secs(5)),
        system_prompt: Some("Keep it short.".into()),
        ..BrainConfig::default()
    }
}

fn brain(config: &BrainConfig, retries: RetryPolicy) -> Arc<dyn Brain> {
    match config.kind {
        BrainKind::Anthropic => Arc::new(AnthropicBrain::from_config(config).unwrap().with_retry_policy(retries)),
        BrainKind::Openai => Arc::new(OpenAiBrain::from_config(config).unwrap().with_retry_policy(retries)),
        other => panic!("not an HTTP brain: {other:?}"),
    }
}

fn api(kind: BrainKind) -> Api {
    if kind == BrainKind::Anthropic { Api::Anthropic } else { Api::OpenAi }
}

fn entry(role: HistoryRole, sender: &str, text: &str) -> HistoryEntry {
    HistoryEntry { role, sender: sender.into(), text: text.into(), at_ms: 1 }
}

/// A group message from Ann, after an exchange with Bob and a context message from Cid.
fn group_request() -> BrainRequest {
    BrainRequest {
        session_id: 4,
        platform: Platform::Telegram,
        chat: ChatId::from("-100"),
        chat_kind: ChatKind::Group,
        sender_display: "Ann".into(),
        trust_level: TrustLevel::Sandboxed,
        persona: None,
        system_prompt: Some("Keep it short.".into()),
        chat_prompt: None,
        model: None,
        memory: None,
        tools: None,
        history: vec![
            entry(HistoryRole::User, "Bob", "hi bot"),
            entry(HistoryRole::Assistant, "parachute", "hi Bob"),
            entry(HistoryRole::Context, "Cid", "lunch at noon"),
        ],
        message: "when is lunch?".into(),
        images: Vec::new(),
    }
}

fn simple_request() -> BrainRequest {
    BrainRequest { history: Vec::new(), chat_kind: ChatKind::Direct, message: "ping".into(), ..group_request() }
}

#[actix::test]
async fn anthropic_sends_the_messages_api_request_and_returns_the_text() {
    let fake = AiFake::start(Some(KEY));
    let brain = brain(&config(BrainKind::Anthropic, &fake, Some(KEY)), fast_retries(0));
    let request = group_request();
    let answer = brain.respond(request.clone()).await.unwrap();
    assert_eq!(answer, "heard: Cid: lunch at noon\n\nAnn: when is lunch?");

    let call = fake.calls(Api::Anthropic).remove(0);
    assert_eq!(call.rejected, None);
    assert_eq!(call.header("x-api-key"), Some(KEY));
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("authorization"), None);
    let system = system_prompt(&request);
    assert!(system.contains("Telegram group chat") && system.contains("from Ann"), "{system}");
    assert!(system.ends_with("Keep it short."), "{system}");
    assert_eq!(
        call.body,
        json!({
            "model": "test-model",
            "max_tokens": 321,
            "system": system,
            "messages": [
                {"role": "user", "content": "Bob: hi bot"},
                {"role": "assistant", "content": "hi Bob"},
                {"role": "user", "content": "Cid: lunch at noon\n\nAnn: when is lunch?"},
            ],
        })
    );
}

#[actix::test]
async fn openai_sends_a_chat_completions_request_with_bearer_key() {
    let fake = AiFake::start(Some(KEY));
    let brain = brain(&config(BrainKind::Openai, &fake, Some(KEY)), fast_retries(0));
    let request = group_request();
    let answer = brain.respond(request.clone()).await.unwrap();
    assert_eq!(answer, "heard: Cid: lunch at noon\n\nAnn: when is lunch?");

    let call = fake.calls(Api::OpenAi).remove(0);
    assert_eq!(call.rejected, None);
    assert_eq!(call.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(
        call.body,
        json!({
            "model": "test-model",
            "max_tokens": 321,
            "messages": [
                {"role": "system", "content": system_prompt(&request)},
                {"role": "user", "content": "Bob: hi bot"},
                {"role": "assistant", "content": "hi Bob"},
                {"role": "user", "content": "Cid: lunch at noon\n\nAnn: when is lunch?"},
            ],
        })
    );
}

#[actix::test]
async fn openai_without_a_key_sends_no_authorization_header() {
    let fake = AiFake::start(None);
    let brain = brain(&config(BrainKind::Openai, &fake, None), fast_retries(0));
    let answer = brain.respond(simple_request()).await.unwrap();
    assert_eq!(answer, "heard: ping");
    let call = fake.calls(Api::OpenAi).remove(0);
    assert_eq!(call.rejected, None);
    assert_eq!(call.header("authorization"), None);
}

/// 429 (with `retry-after: 1`, capped to 300 ms) and 500 are retried; the third try answers.
#[actix::test]
async fn rate_limits_and_server_errors_are_retried_then_answered() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        fake.script(api(kind), Scripted::Error { status: 429, retry_after: Some(1) });
        fake.script(api(kind), Scripted::Error { status: 500, retry_after: None });
        fake.script(api(kind), Scripted::Answer("third time lucky".into()));
        let brain = brain(&config(kind, &fake, Some(KEY)), fast_retries(2));
        assert_eq!(brain.respond(simple_request()).await.unwrap(), "third time lucky", "{kind:?}");

        let calls = fake.calls(api(kind));
        assert_eq!(calls.len(), 3, "{kind:?}");
        assert!(calls.iter().all(|c| c.rejected.is_none() && c.body == calls[0].body), "retries resend the request");
        let after_429 = calls[1].at - calls[0].at;
        assert!(
            after_429 >= Duration::from_millis(300) && after_429 < Duration::from_millis(900),
            "retry-after honoured but capped: {after_429:?} ({kind:?})"
        );
        let after_500 = calls[2].at - calls[1].at;
        assert!(after_500 >= Duration::from_millis(40), "second backoff step: {after_500:?} ({kind:?})");
    }
}

#[actix::test]
async fn exhausted_retries_are_an_error() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        for _ in 0..4 {
            fake.script(api(kind), Scripted::Error { status: 503, retry_after: None });
        }
        let brain = brain(&config(kind, &fake, Some(KEY)), fast_retries(2));
        let err = brain.respond(simple_request()).await.unwrap_err();
        let name = kind.as_str();
        assert_eq!(err, BrainError::Unavailable(format!("{name}: the service answered HTTP 503")));
        assert_eq!(fake.calls(api(kind)).len(), 3, "one try and two retries ({kind:?})");
    }
}

#[actix::test]
async fn a_refused_key_is_not_retried() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let brain = brain(&config(kind, &fake, Some("sk-wrong-key-000000")), fast_retries(3));
        let err = brain.respond(simple_request()).await.unwrap_err();
        let name = kind.as_str();
        assert_eq!(err, BrainError::Unavailable(format!("{name}: the service refused the API key (HTTP 401)")));
        let calls = fake.calls(api(kind));
        assert_eq!(calls.len(), 1, "{kind:?}");
        assert!(calls[0].rejected.is_some());
    }
}

#[actix::test]
async fn other_client_errors_are_not_retried() {
    let fake = AiFake::start(Some(KEY));
    fake.script(Api::OpenAi, Scripted::Error { status: 400, retry_after: None });
    let brain = brain(&config(BrainKind::Openai, &fake, Some(KEY)), fast_retries(3));
    let err = brain.respond(simple_request()).await.unwrap_err();
    assert_eq!(err, BrainError::Unavailable("openai: the service answered HTTP 400".into()));
    assert_eq!(fake.calls(Api::OpenAi).len(), 1);
}

#[actix::test]
async fn slow_answers_time_out_and_are_retried() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        fake.script(api(kind), Scripted::Slow(Duration::from_secs(5)));
        fake.script(api(kind), Scripted::Slow(Duration::from_secs(5)));
        let mut config = config(kind, &fake, Some(KEY));
        config.timeout = HumanDuration(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = brain(&config, fast_retries(1)).respond(simple_request()).await.unwrap_err();
        assert_eq!(err, BrainError::Timeout, "{kind:?}");
        assert_eq!(fake.calls(api(kind)).len(), 2, "timed-out request retried once ({kind:?})");
        assert!(started.elapsed() < Duration::from_secs(3), "bounded by the timeouts: {:?}", started.elapsed());

        fake.script(api(kind), Scripted::Slow(Duration::from_secs(5)));
        let recovered = brain(&config, fast_retries(1)).respond(simple_request()).await;
        assert_eq!(recovered.unwrap(), "heard: ping", "the retry after a timeout answers ({kind:?})");
    }
}

#[actix::test]
async fn an_unreachable_server_is_an_error_after_the_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = BrainConfig {
        kind: BrainKind::Openai,
        model: Some("m".into()),
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        ..BrainConfig::default()
    };
    let err = brain(&config, fast_retries(1)).respond(simple_request()).await.unwrap_err();
    assert_eq!(err, BrainError::Unavailable("openai: cannot reach the service".into()));
}
