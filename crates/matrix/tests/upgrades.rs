//! Room upgrades on a real Synapse, through its `/upgrade` endpoint while a conversation runs:
//! the bot follows a public room into its replacement at once and an invite-only room once it
//! is invited (no new approval), answers there with the conversation's history, and no longer
//! answers in the old rooms. A room that only claims an allowed predecessor is a stranger's.

mod common;

use std::sync::Arc;

use common::{Env, WAIT};
use parachute_core::ids::Platform;
use parachute_core::pairing::{PairingKind, PairingStatus};
use parachute_runtime::brain::BrainRequest;
use parachute_runtime::messages::{Approve, ListPairing};
use parachute_runtime::store::PairingRecord;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::matrix_user::{MatrixUser, messages_from};
use parachute_testkit::{TestRuntime, wait_until};
use serde_json::json;

async fn requests(rt: &TestRuntime) -> Vec<PairingRecord> {
    rt.handle.pairing.send(ListPairing).await.unwrap().unwrap()
}

/// Mentions the bot in `room` and waits for the bot's reply to that message; returns the
/// brain's request for it.
async fn ask(env: &Env, brain: &RecordingBrain, room: &str, text: &str) -> BrainRequest {
    let asked = env.alice.send_mention(room, &format!("Parachute: {text}"), &[&env.bot.user_id]).await;
    env.alice
        .wait_until(room, WAIT, |events| {
            messages_from(events, &env.bot.user_id)
                .iter()
                .any(|m| m["m.relates_to"]["m.in_reply_to"]["event_id"] == asked)
        })
        .await;
    brain.requests().into_iter().rev().find(|r| r.message.ends_with(text)).expect("the brain was asked")
}

fn history_texts(request: &BrainRequest) -> Vec<String> {
    request.history.iter().map(|entry| entry.text.clone()).collect()
}

#[actix::test]
async fn upgraded_rooms_go_on_with_their_history_and_the_old_ones_go_quiet() {
    let mut env = Env::new().await;
    let lounge = env.alice.create_group("Lounge", &[&env.bot.user_id], true).await;
    // The allow-list names only the lounge: the kitchen is approved by the owner.
    env.config.matrix.allowed_rooms = vec![lounge.clone()];
    let brain = RecordingBrain::new();
    let rt = env.start(Some(Arc::new(brain.clone()))).await;
    env.wait_bot_membership(&lounge, "join").await;
    let kitchen = env.room_with_bot("Kitchen").await;
    assert!(wait_until(WAIT, || async { !requests(&rt).await.is_empty() }).await, "the kitchen's request");
    let request = requests(&rt).await.remove(0);
    assert_eq!((request.kind, request.platform_user_id.as_str()), (PairingKind::Room, kitchen.as_str()));
    rt.handle.pairing.send(Approve { id: request.id, trust_level: None }).await.unwrap().unwrap();

    let before_lounge = ask(&env, &brain, &lounge, "the door is blue").await;
    let before_kitchen = ask(&env, &brain, &kitchen, "the chair is red").await;

    // A public room: the bot follows the tombstone into the new room by itself.
    let new_lounge = env.alice.upgrade_room(&lounge, "12").await;
    env.wait_bot_membership(&new_lounge, "join").await;
    env.alice.send_mention(&lounge, "Parachute: still there in the old room?", &[&env.bot.user_id]).await;
    let after = ask(&env, &brain, &new_lounge, "which colour was the door?").await;
    assert_eq!(after.session_id, before_lounge.session_id, "the same conversation");
    assert!(
        history_texts(&after).iter().any(|text| text.ends_with("the door is blue")),
        "the history came along: {:?}",
        history_texts(&after)
    );

    // An invite-only room: Synapse invites nobody into the new room, so the bot says it
    // waits for an invite, and takes it without a new approval.
    let new_kitchen = env.alice.upgrade_room(&kitchen, "12").await;
    let status =
        rt.wait_status(Platform::Matrix, WAIT, |s| s.warnings.iter().any(|w| w.contains(new_kitchen.as_str()))).await;
    let warning = status.warnings.iter().find(|w| w.contains(new_kitchen.as_str())).unwrap();
    assert!(warning.contains("invite the bot"), "{warning}");
    env.alice.invite(&new_kitchen, &env.bot.user_id).await;
    env.wait_bot_membership(&new_kitchen, "join").await;
    let after = ask(&env, &brain, &new_kitchen, "which colour was the chair?").await;
    assert_eq!(after.session_id, before_kitchen.session_id);
    assert!(history_texts(&after).iter().any(|text| text.ends_with("the chair is red")), "{:?}", history_texts(&after));
    let all = requests(&rt).await;
    assert_eq!(all.len(), 1, "no new request: {all:?}");
    assert_eq!(
        (all[0].status, all[0].platform_user_id.as_str(), all[0].platform_chat_id.as_str()),
        (PairingStatus::Approved, new_kitchen.as_str(), new_kitchen.as_str()),
        "the approval moved to the new room"
    );

    // Nothing in the old lounge was answered after its tombstone.
    assert!(!brain.requests().iter().any(|r| r.message.contains("still there in the old room")));
    let old_lounge_replies = messages_from(&env.alice.seen(&lounge), &env.bot.user_id);
    assert_eq!(old_lounge_replies.len(), 1, "only the answer before the upgrade: {old_lounge_replies:?}");

    // A stranger's room that claims the lounge as its predecessor is not the lounge.
    let mallory = MatrixUser::register(&env.synapse.url(), "mallory").await;
    let fake = mallory
        .create_room(json!({
            "preset": "private_chat",
            "name": "Totally the lounge",
            "invite": [env.bot.user_id],
            "creation_content": {"predecessor": {"room_id": lounge}},
        }))
        .await;
    assert!(
        wait_until(WAIT, || async { requests(&rt).await.iter().any(|r| r.platform_user_id == fake) }).await,
        "the owner is asked about the stranger's room"
    );
    let fake_request = requests(&rt).await.into_iter().find(|r| r.platform_user_id == fake).unwrap();
    assert_eq!(fake_request.status, PairingStatus::Pending);
}
