//! A healthy Matrix bot logs no warnings or errors: the real `parachute` process on a fresh
//! vault, configured as docs/matrix.md says (no device id, defaults otherwise), joins a plain
//! and an encrypted room on a real Synapse, answers a mention in each, and restarts; its log
//! must have no WARN or ERROR line (expected absences, such as no key backup, are not errors).

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::matrix_user::MatrixUser;
use parachute_testkit::synapse::Synapse;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + WAIT;
    while !server.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no `{needle}` in the log within {WAIT:?}:\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines at WARN or ERROR level.
fn complaints(logs: &str) -> Vec<&str> {
    logs.lines().filter(|line| line.contains(" WARN ") || line.contains(" ERROR ")).collect()
}

/// Mentions the bot in `room` and waits for its answer (plain or encrypted).
async fn answered(alice: &MatrixUser, bot: &str, room: &str) {
    let asked = alice.send_mention(room, "Parachute, are you there?", &[bot]).await;
    alice
        .wait_until(room, WAIT, |events| {
            events.iter().any(|e| {
                e["sender"] == bot
                    && (e["type"] == "m.room.message" || e["type"] == "m.room.encrypted")
                    && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked.as_str()
            })
        })
        .await;
}

#[actix::test]
async fn a_healthy_start_and_conversation_log_no_warning_or_error() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let config = format!(
        "matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{}\"\n  access_token: {}\n",
        synapse.url(),
        bot.user_id,
        bot.access_token,
    );
    let mut server = Server::start(Some(&config));
    wait_for_log(&server, "connected");

    let plain = alice.create_group("Plain", &[&bot.user_id], false).await;
    let encrypted = alice
        .create_room(json!({"preset": "private_chat", "name": "Secret", "invite": [bot.user_id],
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    for room in [&plain, &encrypted] {
        alice
            .wait_until(room, WAIT, |e| {
                e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
            })
            .await;
        answered(&alice, &bot.user_id, room).await;
    }
    let first_run = server.logs();

    let status = server.terminate();
    assert!(status.success(), "{status}");
    server.restart();
    wait_for_log(&server, "connected");
    answered(&alice, &bot.user_id, &encrypted).await;
    let second_run = server.logs();

    for (run, logs) in [("first", &first_run), ("second", &second_run)] {
        let lines = complaints(logs);
        assert!(lines.is_empty(), "the {run} run logged warnings or errors:\n{}", lines.join("\n"));
    }
}
