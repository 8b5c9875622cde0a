//! Bridged chats on a real Synapse: an application service registered like a mautrix Meta
//! bridge (its bot `@metabot`, ghosts `@meta_…`), whose users the test acts as by
//! masquerading. A bridged one-to-one chat is a direct chat (its person pairs like any DM
//! sender, the room needs no approval); a bridged group becomes a room pairing request that
//! says what it is, and after approval the bot says once how to turn on relay mode; the
//! bridge bot and notices are never answered; ghosts mention the bot by name in plain text.

mod common;

use common::{Env, WAIT, bodies};
use parachute_core::pairing::{PairingKind, texts};
use parachute_runtime::messages::{Approve, ListPairing};
use parachute_testkit::appservice::BridgeRegistration;
use parachute_testkit::matrix_user::{MatrixUser, messages_from};
use parachute_testkit::synapse::Synapse;
use parachute_testkit::{TestRuntime, wait_until};
use serde_json::{Value, json};

/// A portal room as a bridge makes one: created by its bot, with the people in it.
async fn portal(bridge_bot: &MatrixUser, name: Option<&str>, members: &[&MatrixUser]) -> String {
    let invite: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let mut body = json!({"preset": "private_chat", "invite": invite});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    let room = bridge_bot.create_room(body).await;
    for member in members {
        member.join(&room).await;
    }
    room
}

/// A message as a bridge sends it for a ghost: `m.mentions` present, never pilling the bot.
async fn bridged_text(ghost: &MatrixUser, room: &str, body: &str) -> String {
    ghost.send(room, "m.room.message", json!({"msgtype": "m.text", "body": body, "m.mentions": {}})).await
}

async fn requests(rt: &TestRuntime) -> Vec<parachute_runtime::store::PairingRecord> {
    rt.handle.pairing.send(ListPairing).await.unwrap().unwrap()
}

/// The bot's messages in `room` once the last one answers `event`.
async fn bot_messages_until_reply_to(env: &Env, room: &str, event: &str) -> Vec<Value> {
    let events = env
        .alice
        .wait_until(room, WAIT, |events| {
            messages_from(events, &env.bot.user_id)
                .iter()
                .any(|m| m["m.relates_to"]["m.in_reply_to"]["event_id"] == event)
        })
        .await;
    messages_from(&events, &env.bot.user_id)
}

#[actix::test]
async fn bridged_chats_are_gated_labelled_and_answered() {
    let meta = BridgeRegistration::new("meta", "metabot", "meta_");
    let mut env = Env::on(Synapse::start_with(&meta.synapse_config())).await;
    let metabot = meta.bridge_bot(&env.synapse).await;
    let dana = meta.ghost(&env.synapse, "100").await;
    dana.set_display_name("Dana").await;
    let eli = meta.ghost(&env.synapse, "200").await;
    // An allow-list, so rooms outside it need the owner.
    let home = env.alice.create_group("Home", &[&env.bot.user_id], false).await;
    env.config.matrix.allowed_rooms = vec![home];
    let rt = env.start(None).await;

    // A bridged one-to-one chat, which the bridge's owner invites the bot to without is_direct.
    let dm = portal(&metabot, None, &[&dana, &env.alice]).await;
    env.alice.invite(&dm, &env.bot.user_id).await;
    env.wait_bot_membership(&dm, "join").await;
    metabot.send_text(&dm, "Parachute: the Meta login is connected").await;
    bridged_text(&dana, &dm, "hi, who are you?").await;
    let replies = env.bot_replies(&dm, 1).await;
    assert_eq!(
        bodies(&replies),
        [texts::REQUEST_SENT],
        "the person pairs like a DM sender; the bridge bot is not read"
    );
    let pending = requests(&rt).await;
    assert_eq!(pending.len(), 1, "one request, for the person: {pending:?}");
    assert_eq!(
        (pending[0].kind, pending[0].platform_user_id.as_str(), pending[0].platform_user_display.as_str()),
        (PairingKind::User, dana.user_id.as_str(), "Dana")
    );
    rt.handle.pairing.send(Approve { id: pending[0].id, trust_level: None }).await.unwrap().unwrap();
    let asked = bridged_text(&dana, &dm, "what is the capital of France?").await;
    let replies = bot_messages_until_reply_to(&env, &dm, &asked).await;
    assert_eq!(
        bodies(&replies).last().map(String::as_str),
        Some("what is the capital of France?"),
        "no mention needed"
    );

    // A bridged group: a room pairing request that says what it is.
    let family = portal(&metabot, Some("Family"), &[&dana, &eli, &env.alice]).await;
    env.alice.invite(&family, &env.bot.user_id).await;
    env.wait_bot_membership(&family, "join").await;
    assert!(
        wait_until(WAIT, || async { requests(&rt).await.iter().any(|r| r.kind == PairingKind::Room) }).await,
        "a room pairing request"
    );
    let all = requests(&rt).await;
    let room_request = all.iter().find(|r| r.kind == PairingKind::Room).unwrap();
    assert_eq!(
        (room_request.platform_user_id.as_str(), room_request.platform_user_display.as_str()),
        (family.as_str(), "Family (Meta bridge)")
    );
    assert_eq!(all.iter().filter(|r| r.status == parachute_core::pairing::PairingStatus::Pending).count(), 1);
    rt.handle.pairing.send(Approve { id: room_request.id, trust_level: None }).await.unwrap().unwrap();
    let hint = env.alice.wait_messages_from(&family, &env.bot.user_id, 1, WAIT).await;
    assert_eq!(hint[0]["msgtype"], "m.notice");
    assert!(hint[0]["body"].as_str().unwrap().contains("`!meta set-relay`"), "{hint:?}");

    // Mentioned by name in plain text: answered. Not named, a notice, the bridge bot: not.
    bridged_text(&eli, &family, "dinner at six?").await;
    dana.send(&family, "m.room.message", json!({"msgtype": "m.notice", "body": "Parachute, a notice"})).await;
    metabot.send_text(&family, "Parachute, bridge status: ok").await;
    let asked = bridged_text(&eli, &family, "Parachute, what's up?").await;
    let messages = bot_messages_until_reply_to(&env, &family, &asked).await;
    assert_eq!(
        bodies(&messages),
        [hint[0]["body"].as_str().unwrap(), "Parachute, what's up?"],
        "the hint once, one answer"
    );
}
