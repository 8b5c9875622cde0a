//! Secrets under stress: the real `parachute` process logs at TRACE while it talks on Matrix
//! (real Synapse) and Telegram (fake Bot API) with an Anthropic-compatible brain (fake), a
//! transcriber key and an API token set; then a connector loses its server, a token is revoked
//! and the API gets a bad update. No configured secret may appear in any log line or in any API
//! answer.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::ai_fake::{AiFake, Api};
use parachute_testkit::matrix_user::MatrixUser;
use parachute_testkit::synapse::Synapse;
use parachute_testkit::telegram_fake::{FAKE_TOKEN, TelegramFake, private_text};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const API_TOKEN: &str = "api-token-5f1c0e0f5b8d4e2a";
const BRAIN_KEY: &str = "sk-ant-brain-key-7d3e2b1c9a";
const TRANSCRIBER_KEY: &str = "sk-transcriber-key-4b6a8c0d2e";

/// Polls `GET path` until `pred` holds for the JSON answer.
async fn wait_json(http: &reqwest::Client, url: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer: Value = http.get(url).bearer_auth(API_TOKEN).send().await.unwrap().json().await.unwrap();
        if pred(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "condition not met within {WAIT:?}: {answer:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix::test]
async fn no_secret_reaches_trace_logs_or_api_answers() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let telegram = TelegramFake::start();
    let ai = AiFake::start(Some(BRAIN_KEY));
    let config = format!(
        "server:\n  api_token: {API_TOKEN}\n\
         brain:\n  kind: anthropic\n  model: claude-test\n  base_url: {anthropic}\n  api_key: {BRAIN_KEY}\n  max_retries: 0\n\
         transcriber:\n  base_url: {openai}\n  api_key: {TRANSCRIBER_KEY}\n\
         telegram:\n  enabled: true\n  bot_token: \"{FAKE_TOKEN}\"\n  api_url: {telegram_url}\n  allowed_users: ['@alice']\n\
         matrix:\n  enabled: true\n  homeserver_url: {homeserver}\n  user_id: \"{user}\"\n  access_token: {matrix_token}\n  device_id: {device}\n  group_mention_mode: all_messages\n",
        anthropic = ai.anthropic_url(),
        openai = ai.openai_url(),
        telegram_url = telegram.url(),
        homeserver = synapse.url(),
        user = bot.user_id,
        matrix_token = bot.access_token,
        device = bot.device_id,
    );
    let server = Server::start_traced(&config);
    let http = reqwest::Client::new();
    let status_url = format!("{}/api/bots/status", server.url);
    let connected = |s: &Value, platform: &str| s["connectors"][platform]["state"] == "connected";
    wait_json(&http, &status_url, |s| connected(s, "matrix") && connected(s, "telegram")).await;

    // A conversation on each platform, through the brain.
    let room = alice.create_group("Secrets", &[&bot.user_id], false).await;
    alice
        .wait_until(&room, WAIT, |e| {
            e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
        })
        .await;
    alice.send_text(&room, "hello matrix").await;
    alice.wait_messages_from(&room, &bot.user_id, 1, WAIT).await;
    telegram.push_message(private_text(telegram.next_message_id(), 1, "alice", "hello telegram"));
    telegram.wait_call("sendMessage", WAIT, |_| true).await;
    assert_eq!(ai.calls(Api::Anthropic).len(), 2, "both answers came from the brain");

    // Failures: Telegram's server goes away, the Matrix token is revoked, a bad config update.
    telegram.go_down().await;
    bot.logout().await;
    let broken = wait_json(&http, &status_url, |s| {
        s["connectors"]["telegram"]["state"] == "reconnecting" && s["connectors"]["matrix"]["state"] == "failed"
    })
    .await;
    let mut answers = vec![broken.to_string()];
    let bad_update = http
        .put(format!("{}/api/bots/config", server.url))
        .bearer_auth(API_TOKEN)
        .json(&json!({"matrix": {"homeserver_url": "not a url", "access_token": "new-token-never-saved"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_update.status(), 422);
    answers.push(bad_update.text().await.unwrap());
    for path in ["/api/bots/config", "/api/health?detailed=true", "/api/bots/pairing", "/metrics"] {
        let answer = http.get(format!("{}{path}", server.url)).bearer_auth(API_TOKEN).send().await.unwrap();
        answers.push(answer.text().await.unwrap());
    }
    let test = http.post(format!("{}/api/bots/matrix/test", server.url)).bearer_auth(API_TOKEN).send().await.unwrap();
    answers.push(test.text().await.unwrap());

    let logs = server.logs();
    assert!(logs.contains("TRACE"), "the server logged at TRACE");
    let telegram_secret = FAKE_TOKEN.split(':').nth(1).unwrap();
    for secret in [API_TOKEN, BRAIN_KEY, TRANSCRIBER_KEY, telegram_secret, bot.access_token.as_str()] {
        assert!(!logs.contains(secret), "a secret ({} chars) is in the logs", secret.len());
        for answer in &answers {
            assert!(!answer.contains(secret), "a secret ({} chars) is in an API answer: {answer}", secret.len());
        }
    }
    assert!(!logs.contains("new-token-never-saved"));
}
