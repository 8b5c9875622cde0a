//! Reliability: the real `parachute` process, connected to a real Synapse and a model that
//! takes a second per answer, is killed with SIGKILL in the middle of a burst of 200 messages
//! over 20 rooms (once some but not all of them were answered) and started again. Every
//! message must be answered exactly once: none lost, none duplicated.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::matrix_user::{MatrixUser, messages_from};
use parachute_testkit::reliability::ScenarioResult;
use parachute_testkit::synapse::Synapse;

const ROOMS: usize = 20;
const PER_ROOM: usize = 10;
const WAIT: Duration = Duration::from_secs(60);
/// How long the model takes per answer: a room's ten messages take ten seconds, so the kill
/// finds the burst half answered.
const ANSWER_TIME: Duration = Duration::from_secs(1);

/// The event ids the bot's messages in `rooms` reply to.
async fn replied_to(alice: &MatrixUser, bot: &str, rooms: &[String]) -> Vec<String> {
    let mut replied = Vec::new();
    for room in rooms {
        let events = alice.history(room).await;
        replied.extend(
            messages_from(&events, bot)
                .iter()
                .filter_map(|reply| reply["m.relates_to"]["m.in_reply_to"]["event_id"].as_str().map(str::to_owned)),
        );
    }
    replied
}

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
    let ai = AiFake::start(None);
    for _ in 0..ROOMS * PER_ROOM {
        ai.script(Api::OpenAi, Scripted::Slow(ANSWER_TIME));
    }
    let config = format!(
        "brain:\n  kind: openai\n  model: fake-model\n  base_url: {}\n\
         matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{}\"\n  access_token: {}\n  device_id: {}\n  group_mention_mode: all_messages\n  ack_emoji: \"\"\n",
        ai.openai_url(),
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

    // Killed while the burst is being answered: once a round of answers is visible, while the
    // rest of the burst is still being sent (those messages arrive while the bot is down).
    let mut sent = Vec::new();
    let mut answered_before_kill = None;
    for n in 0..PER_ROOM {
        for (r, room) in rooms.iter().enumerate() {
            sent.push(alice.send_text(room, &format!("message {n} in room {r}")).await);
        }
        if answered_before_kill.is_none() && replied_to(&alice, &bot.user_id, &rooms).await.len() >= ROOMS {
            server.kill();
            answered_before_kill = Some(replied_to(&alice, &bot.user_id, &rooms).await.len());
        }
    }
    let answered_before_kill = match answered_before_kill {
        Some(answered) => answered,
        None => {
            server.kill();
            replied_to(&alice, &bot.user_id, &rooms).await.len()
        }
    };
    assert!(
        (1..sent.len()).contains(&answered_before_kill),
        "the kill must find some but not all messages answered: {answered_before_kill} of {}",
        sent.len()
    );
    let restarted_at = Instant::now();
    server.restart();
    wait_for_log(&server, "connected", WAIT);
    let recovered = restarted_at.elapsed();

    // A marker per room, answered last, shows that nothing more is on its way.
    let mut markers = Vec::new();
    for room in &rooms {
        markers.push(alice.send_text(room, "marker").await);
    }
    let deadline = Instant::now() + WAIT;
    let answers = loop {
        let replied = replied_to(&alice, &bot.user_id, &rooms).await;
        if markers.iter().all(|marker| replied.contains(marker)) {
            break replied;
        }
        assert!(Instant::now() < deadline, "the markers were not all answered within {WAIT:?}");
    };
    eprintln!("answered before the kill: {answered_before_kill} of {}", sent.len());
    let answers: Vec<&String> = answers.iter().filter(|event| !markers.contains(event)).collect();
    let result = ScenarioResult::from_answers(
        "bot SIGKILL during a 200-message burst (20 rooms), some answered",
        &sent,
        answers.iter().map(|event| event.as_str()),
        Some(recovered),
    );
    result.record();
    let (lost, duplicates) = (result.lost, result.duplicates);
    assert_eq!((lost, duplicates), (0, 0), "every message answered exactly once");
}
