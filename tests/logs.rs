//! The log an operator reads: the real `parachute` process configured with `log.format: json`
//! in bots.yaml writes one JSON object per line, and one `message handled` line per message
//! with its platform, chat, event, outcome and duration, never the message's text.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::telegram_fake::{FAKE_TOKEN, TelegramFake, private_text};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// The parsed log lines, once one of them satisfies `pred` (bounded by [`WAIT`]).
async fn wait_line(server: &Server, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let lines: Vec<Value> = server
            .logs()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
            .collect();
        if lines.iter().any(&pred) {
            return lines;
        }
        assert!(Instant::now() < deadline, "no such line within {WAIT:?}: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix::test]
async fn json_lines_with_one_line_per_handled_message() {
    let telegram = TelegramFake::start();
    let config = format!(
        "log:\n  format: json\n\
         telegram:\n  enabled: true\n  bot_token: \"{FAKE_TOKEN}\"\n  api_url: {url}\n  allowed_users: ['@alice']\n",
        url = telegram.url(),
    );
    let server = Server::start(Some(&config));
    // A message that arrives before the first poll is a backlog the bot skips: wait for it.
    wait_line(&server, |line| line["message"] == "connected" && line["platform"] == "telegram").await;
    let words = "the words of a private message";
    telegram.push_message(private_text(telegram.next_message_id(), 7, "alice", words));
    telegram.wait_call("sendMessage", WAIT, |_| true).await;

    let handled = |line: &Value| line["message"] == "message handled";
    let lines = wait_line(&server, handled).await;
    let line = lines.iter().find(|l| handled(l)).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["platform"], "telegram", "{line}");
    assert_eq!(line["chat"], "7", "{line}");
    assert_eq!(line["outcome"], "answered", "{line}");
    assert!(line["event"].is_string() && line["duration_ms"].is_u64(), "{line}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("parachute listening on"))));
    assert!(!server.logs().contains(words), "a message's text reached the INFO log");
    assert_eq!(lines.iter().filter(|l| handled(l)).count(), 1, "one line per message");
}
