//! Reliability: the real `parachute` process, connected to a real Synapse, is killed with
//! SIGKILL in the middle of a burst of 200 messages over 20 rooms and started again. Every
//! message must be answered exactly once: none lost, none duplicated.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::matrix_user::{MatrixUser, messages_from};
use parachute_testkit::reliability::ScenarioResult;
use parachute_testkit::synapse::Synapse;

const ROOMS: usize = 20;
const PER_ROOM: usize = 10;
const WAIT: Duration = Duration::from_secs(60);

fn wait_for_log(server: &Server, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !server.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no `{needle}` in the log within {limit:?}:\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[actix::test]
async fn sigkill_during_a_burst_loses_nothing_and_answers_nothing_twice() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let config = format!(
        "matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{}\"\n  access_token: {}\n  device_id: {}\n  group_mention_mode: all_messages\n  ack_emoji: \"\"\n",
        synapse.url(),
        bot.user_id,
        bot.access_token,
        bot.device_id
    );
    let mut server = Server::start(Some(&config));
    wait_for_log(&server, "connected", WAIT);

    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        rooms.push(alice.create_group(&format!("Room {i}"), &[&bot.user_id], false).await);
    }
    for room in &rooms {
        alice
            .wait_until(room, WAIT, |e| {
                e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
            })
            .await;
    }

    let mut sent = Vec::new();
    for n in 0..PER_ROOM {
        for (r, room) in rooms.iter().enumerate() {
            sent.push(alice.send_text(room, &format!("message {n} in room {r}")).await);
        }
    }
    // Killed while the burst is being answered.
    server.kill();
    let killed_at = Instant::now();
    server.restart();
    wait_for_log(&server, "connected", WAIT);
    let recovered = killed_at.elapsed();

    // A marker per room, answered last, shows that nothing more is on its way.
    for room in &rooms {
        alice.send_text(room, "marker").await;
    }
    let mut replied_to = Vec::new();
    for room in &rooms {
        let events = alice
            .wait_history(room, WAIT, |events| {
                messages_from(events, &bot.user_id).iter().any(|m| m["body"] == "marker")
            })
            .await;
        replied_to.extend(
            messages_from(&events, &bot.user_id)
                .iter()
                .filter_map(|reply| reply["m.relates_to"]["m.in_reply_to"]["event_id"].as_str().map(str::to_owned)),
        );
    }
    let result = ScenarioResult::from_answers(
        "bot SIGKILL during a 200-message burst (20 rooms)",
        &sent,
        replied_to.iter().map(String::as_str),
        Some(recovered),
    );
    result.record();
    let (lost, duplicates) = (result.lost, result.duplicates);
    assert_eq!((lost, duplicates), (0, 0), "every message answered exactly once");
}
