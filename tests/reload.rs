//! Reloading bots.yaml into the running server with SIGHUP, as an owner editing the file does:
//! turning a connector on starts it, an invalid file is refused (the old config stays, the
//! error is logged and shown in the status), turning it off stops it.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::telegram_fake::{FAKE_TOKEN, TelegramFake};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// `GET /api/bots/status` until `pred` holds (bounded by [`WAIT`]).
async fn wait_status(server: &Server, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let status: Value =
            reqwest::get(format!("{}/api/bots/status", server.url)).await.unwrap().json().await.unwrap();
        if pred(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "condition not met within {WAIT:?}: {status:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn telegram_state(status: &Value) -> &str {
    status["connectors"]["telegram"]["state"].as_str().unwrap_or_default()
}

#[actix::test]
async fn sighup_applies_a_valid_file_and_refuses_an_invalid_one() {
    let telegram = TelegramFake::start();
    let section = |enabled: &str| {
        format!(
            "# edited by hand\ntelegram:\n  enabled: {enabled}\n  bot_token: \"{FAKE_TOKEN}\"\n  api_url: {}\n",
            telegram.url()
        )
    };
    let server = Server::start(Some(&section("false")));
    let status = wait_status(&server, |s| telegram_state(s) == "stopped").await;
    assert!(status["config_reload"].is_null(), "no reload yet: {status}");

    std::fs::write(server.config_path(), section("true")).unwrap();
    server.hangup();
    let status = wait_status(&server, |s| telegram_state(s) == "connected").await;
    assert_eq!(status["config_reload"]["ok"], true, "{status}");

    std::fs::write(server.config_path(), section("maybe")).unwrap();
    server.hangup();
    let status = wait_status(&server, |s| s["config_reload"]["ok"] == false).await;
    let error = status["config_reload"]["error"].as_str().unwrap();
    assert!(error.contains("telegram.enabled"), "{error}");
    assert_eq!(telegram_state(&status), "connected", "the old config stays");
    let logs = server.logs();
    assert!(logs.lines().any(|l| l.contains("ERROR") && l.contains("not reloaded")), "{logs}");

    std::fs::write(server.config_path(), section("false")).unwrap();
    server.hangup();
    let status = wait_status(&server, |s| telegram_state(s) == "stopped").await;
    assert_eq!(status["config_reload"]["ok"], true, "{status}");
    let secret = FAKE_TOKEN.split(':').nth(1).unwrap();
    assert!(!server.logs().contains(secret), "the token stays out of the log");
}
