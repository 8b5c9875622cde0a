//! Streamed answers on a real Synapse (v12 rooms): the answer is one `m.room.message` that
//! replies to the question, grown by `m.replace` edits whose `m.new_content` carries plain
//! and HTML text, with a `* ` fallback body for clients that do not render edits; the room
//! history's last replacement holds the whole answer; edits are bounded by the interval. In
//! an encrypted room the answer and its edits are encrypted.

mod common;

use std::time::{Duration, Instant};

use common::{Env, WAIT};
use parachute_core::config::BrainKind;
use parachute_core::duration::HumanDuration;
use parachute_core::gating::GroupMentionMode;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::encrypting_user::EncryptingUser;
use serde_json::Value;

const KEY: &str = "sk-matrix-stream-0123456789";

fn is_edit(event: &Value) -> bool {
    event["content"]["m.relates_to"]["rel_type"] == "m.replace"
}

/// `env` with the Anthropic brain on `ai`, answering every message, editing at most every
/// `interval`.
fn streaming(env: &mut Env, ai: &AiFake, interval: Duration) {
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.matrix.stream_edit_interval = HumanDuration(interval);
    ai.configure_brain(&mut env.config.brain, BrainKind::Anthropic, KEY);
}

#[actix::test]
async fn a_streamed_answer_is_one_reply_grown_by_replacements_that_end_with_the_whole_answer() {
    let mut env = Env::new().await;
    let ai = AiFake::start(Some(KEY));
    let answer = (1..=40).map(|i| format!("**word{i}**")).collect::<Vec<_>>().join(" ");
    let plain = answer.replace("**", "");
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(40) });
    let interval = Duration::from_millis(300);
    streaming(&mut env, &ai, interval);
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Streaming").await;
    let bot = env.bot.user_id.clone();
    let started = Instant::now();
    let question = env.alice.send_text(&room, "tell me").await;
    let history = env
        .alice
        .wait_history(&room, WAIT, |events| {
            events
                .iter()
                .any(|e| e["sender"] == bot.as_str() && e["content"]["m.new_content"]["body"] == plain.as_str())
        })
        .await;
    let took = started.elapsed();
    let from_bot: Vec<&Value> =
        history.iter().filter(|e| e["sender"] == bot.as_str() && e["type"] == "m.room.message").collect();
    let (edits, originals): (Vec<&Value>, Vec<&Value>) = from_bot.iter().partition(|e| is_edit(e));

    assert_eq!(originals.len(), 1, "one message: {from_bot:#?}");
    let original = originals[0];
    assert_eq!(original["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], question.as_str(), "a reply");
    assert!(plain.starts_with(original["content"]["body"].as_str().unwrap()), "it began with the start of the answer");
    assert!(!edits.is_empty());
    for edit in &edits {
        let content = &edit["content"];
        assert_eq!(content["m.relates_to"]["event_id"], original["event_id"], "edits the answer");
        assert!(content["body"].as_str().unwrap().starts_with("* "), "readable fallback: {content:#}");
        let new = &content["m.new_content"];
        assert_eq!(new["msgtype"], "m.text");
        assert_eq!(new["format"], "org.matrix.custom.html");
        assert!(new["formatted_body"].as_str().unwrap().contains("<strong>"), "{new:#}");
        assert!(new.get("m.relates_to").is_none(), "the reply relation stays on the original only");
    }
    let last = &edits.last().unwrap()["content"]["m.new_content"];
    assert_eq!(last["body"], plain.as_str(), "the last replacement holds the whole answer");
    assert!(last["formatted_body"].as_str().unwrap().contains("<strong>word40</strong>"));
    let bound = 2 + (took.as_millis() / interval.as_millis()) as usize;
    assert!(edits.len() <= bound, "{} edits in {took:?}, at most {bound}", edits.len());
}

#[actix::test]
async fn an_encrypted_room_gets_the_answer_and_its_edits_encrypted() {
    let mut env = Env::new().await;
    let ai = AiFake::start(Some(KEY));
    let answer = (1..=20).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    ai.script(Api::Anthropic, Scripted::Paced { text: answer.clone(), pace: Duration::from_millis(50) });
    streaming(&mut env, &ai, Duration::from_millis(300));
    let _rt = env.start(None).await;
    let mut alice = EncryptingUser::new(&env.synapse.url(), &env.alice).await;
    let room = env.encrypted_room_with_bot().await;
    alice.wait_joined(&room, &env.bot.user_id, WAIT).await;
    alice.send_text(&room, "a secret question").await;
    let bot = env.bot.user_id.clone();
    let contents = alice
        .next_message_contents(&room, &bot, WAIT, |contents| {
            contents.iter().any(|c| c["m.new_content"]["body"] == answer.as_str())
        })
        .await;
    assert!(contents.len() >= 2, "a first text and at least one edit: {contents:#?}");
    assert!(contents[0]["m.relates_to"]["m.in_reply_to"].is_object(), "the answer is a reply");
    assert!(contents[1..].iter().all(|c| c["m.relates_to"]["rel_type"] == "m.replace"));
    // On the wire the homeserver saw only ciphertext.
    let history = env.alice.history(&room).await;
    let messages: Vec<&Value> = history
        .iter()
        .filter(|e| e["sender"] == bot.as_str() && e.get("state_key").is_none())
        .filter(|e| !["m.reaction", "m.room.redaction"].contains(&e["type"].as_str().unwrap_or_default()))
        .collect();
    assert!(messages.len() >= 2);
    assert!(messages.iter().all(|e| e["type"] == "m.room.encrypted"), "{messages:#?}");
}
