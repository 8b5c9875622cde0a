//! The Matrix connector against a real Synapse on 127.0.0.1: one test per behaviour group.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Env, WAIT, bodies};
use parachute_core::gating::GroupMentionMode;
use parachute_core::ids::Platform;
use parachute_core::pairing::{PairingKind, PairingStatus, texts};
use parachute_runtime::messages::Test;
use parachute_runtime::messages::{Approve, Deny, ListPairing};
use parachute_runtime::orchestrator::{DOWNLOAD_FAILED_TEXT, NEW_SESSION_TEXT, NO_TRANSCRIBER_TEXT};
use parachute_runtime::status::ConnectorState;
use parachute_testkit::TestRuntime;
use parachute_testkit::ai_fake::{AiFake, Api};
use parachute_testkit::audio::sine_wav;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::encrypting_user::EncryptingUser;
use parachute_testkit::matrix_user::{MatrixUser, messages_from};
use parachute_testkit::reliability::ScenarioResult;
use parachute_testkit::wait_until;
use secrecy::SecretString;
use serde_json::json;

#[actix::test]
async fn whoami_answers_and_a_bad_token_fails_fast() {
    let env = Env::new().await;
    let rt = env.start(None).await;
    let identity = rt.handle.supervisor.send(Test(Platform::Matrix)).await.unwrap().unwrap();
    assert_eq!(identity.user_id, env.bot.user_id);
    assert_eq!(identity.display_name.as_deref(), Some("Parachute"));

    let mut bad = env.config.clone();
    bad.matrix.access_token = Some(SecretString::from("syt_not_a_real_token"));
    let started = Instant::now();
    let rt = TestRuntime::start_with(bad, None, vec![Arc::new(parachute_matrix::MatrixFactory)]);
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| matches!(s.state, ConnectorState::Failed { .. })).await;
    assert!(started.elapsed() < Duration::from_secs(2), "failed after {:?}", started.elapsed());
    let ConnectorState::Failed { reason } = status.state else { unreachable!() };
    assert!(reason.contains("rejected the access token"), "{reason}");
    assert!(!reason.contains("syt_not_a_real_token"));
    assert_eq!(status.reconnect_attempts, 0, "no retry loop");
}

#[actix::test]
async fn the_device_comes_from_the_token_and_a_made_up_one_is_refused() {
    let env = Env::new().await;
    assert!(env.config.matrix.device_id.is_empty(), "the tests run as a user who gives no device");
    let rt = env.start(None).await;
    let room = env.room_with_bot("Devices").await;
    env.alice.send_mention(&room, "Parachute, hello", &[&env.bot.user_id]).await;
    assert_eq!(env.bot_replies(&room, 1).await.len(), 1);
    let with_keys = env.alice.devices_with_keys(&env.bot.user_id).await;
    assert_eq!(with_keys, [env.bot.device_id.as_str()], "the bot published its keys for its token's device");
    drop(rt);

    let mut made_up = env.config.clone();
    made_up.matrix.device_id = "PARACHUTEBOT".into();
    let rt = TestRuntime::start_with(made_up, None, vec![Arc::new(parachute_matrix::MatrixFactory)]);
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| matches!(s.state, ConnectorState::Failed { .. })).await;
    let ConnectorState::Failed { reason } = status.state else { unreachable!() };
    let expected =
        format!("matrix.device_id is `PARACHUTEBOT`, but the access token belongs to device `{}`", env.bot.device_id);
    assert!(reason.contains(&expected), "{reason}");
    let tested = rt.handle.supervisor.send(Test(Platform::Matrix)).await.unwrap().unwrap_err();
    assert!(tested.to_string().contains(&expected), "{tested}");
}

#[actix::test]
async fn dm_users_pair_then_get_formatted_threaded_answers() {
    let env = Env::new().await;
    let rt = env.start(None).await;
    let dm = env.alice.create_dm(&env.bot.user_id).await;
    env.wait_bot_membership(&dm, "join").await;
    let first = env.alice.send_text(&dm, "hi bot").await;
    let replies = env.bot_replies(&dm, 1).await;
    assert_eq!(bodies(&replies), [texts::REQUEST_SENT]);
    assert_eq!(replies[0]["m.relates_to"]["m.in_reply_to"]["event_id"], first.as_str());
    let history = env.alice.history(&dm).await;
    assert!(!history.iter().any(|e| e["type"] == "m.reaction"), "a stranger's message gets no reaction");

    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!((request.kind, request.platform_user_id.as_str()), (PairingKind::User, env.alice.user_id.as_str()));
    rt.handle.pairing.send(Approve { id: request.id, trust_level: None }).await.unwrap().unwrap();
    assert_eq!(bodies(&env.bot_replies(&dm, 2).await)[1], texts::APPROVED);

    env.alice.send_text(&dm, "**bold** and `code`").await;
    let replies = env.bot_replies(&dm, 3).await;
    assert_eq!(replies[2]["body"], "bold and code");
    assert_eq!(replies[2]["format"], "org.matrix.custom.html");
    let html = replies[2]["formatted_body"].as_str().unwrap();
    assert!(html.contains("<strong>bold</strong>") && html.contains("<code>code</code>"), "{html}");

    // Someone else is denied and then ignored.
    let bob = MatrixUser::register(&env.synapse.url(), "bob").await;
    let bob_dm = bob.create_dm(&env.bot.user_id).await;
    bob.wait_until(&bob_dm, WAIT, |e| {
        e.iter().any(|e| e["state_key"] == env.bot.user_id.as_str() && e["content"]["membership"] == "join")
    })
    .await;
    bob.send_text(&bob_dm, "me too").await;
    bob.wait_messages_from(&bob_dm, &env.bot.user_id, 1, WAIT).await;
    let bob_request = rt
        .handle
        .pairing
        .send(ListPairing)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .find(|r| r.platform_user_id == bob.user_id)
        .unwrap();
    rt.handle.pairing.send(Deny { id: bob_request.id }).await.unwrap().unwrap();
    let denial = bob.wait_messages_from(&bob_dm, &env.bot.user_id, 2, WAIT).await;
    assert_eq!(bodies(&denial)[1], texts::DENIED);
}

#[actix::test]
async fn mention_only_rooms_answer_mentions_by_m_mentions_name_or_id() {
    let env = Env::new().await;
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Lounge").await;
    env.alice.send_text(&room, "just chatting").await;
    env.alice.send_mention(&room, "hey you", &[&env.bot.user_id]).await;
    env.alice.send_text(&room, "Parachute, are you there?").await;
    env.alice.send_text(&room, &format!("{} ping", env.bot.user_id)).await;
    env.alice.send_mention(&room, "Parachute is mentioned only in text", &["@someone:localhost"]).await;
    env.alice.send_text(&room, "!help").await;
    let replies = bodies(&env.bot_replies(&room, 4).await);
    assert_eq!(
        replies[..3],
        ["hey you".to_owned(), "Parachute, are you there?".to_owned(), format!("{} ping", env.bot.user_id)]
    );
    assert!(replies[3].contains("!new"), "{replies:?}");
    // Nothing else was answered: one more message that is answered proves the order.
    env.alice.send_mention(&room, "last", &[&env.bot.user_id]).await;
    let replies = bodies(&env.bot_replies(&room, 5).await);
    assert_eq!(replies.len(), 5);
    assert_eq!(replies[4], "last");
}

#[actix::test]
async fn all_messages_mode_answers_everything_in_rooms() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Busy").await;
    env.alice.send_text(&room, "one").await;
    env.alice.send_text(&room, "two").await;
    assert_eq!(bodies(&env.bot_replies(&room, 2).await), ["one", "two"]);
}

#[actix::test]
async fn allowed_rooms_by_id_and_alias_and_invites_to_other_rooms() {
    let mut env = Env::new().await;
    let by_id = env.alice.create_group("By id", &[], true).await;
    let by_alias = env.alice.create_group("By alias", &[], true).await;
    env.alice.set_alias(&by_alias, "#lounge:localhost").await;
    // Synapse creates room version 12 rooms, whose ids have no server part; a version 11
    // room's id has one. Both are listed by id (the runtime loads the config from bots.yaml).
    let old =
        env.alice.create_room(serde_json::json!({"preset": "public_chat", "name": "Old", "room_version": "11"})).await;
    assert!(!by_id.contains(':') && old.contains(':'), "a v12 and a v11 room id: {by_id}, {old}");
    env.config.matrix.allowed_rooms = vec![by_id.clone(), "#lounge:localhost".into(), old.clone()];
    let rt = env.start(None).await;
    env.wait_bot_membership(&by_id, "join").await;
    env.wait_bot_membership(&by_alias, "join").await;
    env.wait_bot_membership(&old, "join").await;
    env.alice.send_mention(&by_alias, "via alias", &[&env.bot.user_id]).await;
    assert_eq!(bodies(&env.bot_replies(&by_alias, 1).await), ["via alias"]);
    env.alice.send_mention(&by_id, "in a v12 room", &[&env.bot.user_id]).await;
    assert_eq!(bodies(&env.bot_replies(&by_id, 1).await), ["in a v12 room"]);
    env.alice.send_mention(&old, "in a v11 room", &[&env.bot.user_id]).await;
    assert_eq!(bodies(&env.bot_replies(&old, 1).await), ["in a v11 room"]);

    // A public room outside allowed_rooms: the invite is ignored.
    let public = env.alice.create_group("Public", &[&env.bot.user_id], true).await;
    // An invite-only room outside allowed_rooms: joined, but silent until the owner approves.
    let private = env.alice.create_group("Private", &[&env.bot.user_id], false).await;
    env.wait_bot_membership(&private, "join").await;
    assert!(
        wait_until(WAIT, || async {
            rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().iter().any(|r| r.kind == PairingKind::Room)
        })
        .await
    );
    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!(
        (request.platform_user_id.as_str(), request.platform_user_display.as_str()),
        (private.as_str(), "Private")
    );
    env.alice.send_mention(&private, "before approval", &[&env.bot.user_id]).await;
    rt.handle.pairing.send(Approve { id: request.id, trust_level: None }).await.unwrap().unwrap();
    env.alice.send_mention(&private, "after approval", &[&env.bot.user_id]).await;
    assert_eq!(bodies(&env.bot_replies(&private, 1).await), ["after approval"]);
    assert!(
        !env.alice
            .seen(&public)
            .iter()
            .any(|e| e["state_key"] == env.bot.user_id.as_str() && e["content"]["membership"] == "join"),
        "the bot did not join the public room"
    );

    // Another invite-only room, denied: the bot leaves.
    let denied = env.alice.create_group("Denied", &[&env.bot.user_id], false).await;
    env.wait_bot_membership(&denied, "join").await;
    assert!(
        wait_until(WAIT, || async {
            rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().iter().any(|r| r.platform_user_id == denied)
        })
        .await
    );
    let request = rt
        .handle
        .pairing
        .send(ListPairing)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .find(|r| r.platform_user_id == denied)
        .unwrap();
    let decided = rt.handle.pairing.send(Deny { id: request.id }).await.unwrap().unwrap();
    assert_eq!(decided.status, PairingStatus::Denied);
    env.wait_bot_membership(&denied, "leave").await;
}

#[actix::test]
async fn restart_resumes_without_reprocessing_and_catches_up() {
    let env = Env::new().await;
    let rt = env.start(None).await;
    let room = env.room_with_bot("Durable").await;
    env.alice.send_mention(&room, "before", &[&env.bot.user_id]).await;
    env.bot_replies(&room, 1).await;

    let stopped = rt.handle.supervisor.send(parachute_runtime::messages::Stop(Platform::Matrix)).await;
    stopped.unwrap().unwrap();
    env.alice.send_mention(&room, "while down 1", &[&env.bot.user_id]).await;
    env.alice.send_mention(&room, "while down 2", &[&env.bot.user_id]).await;
    let rt = rt.restart(None).await;
    rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected).await;
    let replies = bodies(&env.bot_replies(&room, 3).await);
    assert_eq!(replies, ["before", "while down 1", "while down 2"]);
    env.alice.send_mention(&room, "after", &[&env.bot.user_id]).await;
    let replies = bodies(&env.bot_replies(&room, 4).await);
    assert_eq!(replies, ["before", "while down 1", "while down 2", "after"], "nothing answered twice");
}

#[actix::test]
async fn first_start_ignores_history() {
    let env = Env::new().await;
    let room = env.alice.create_group("Old", &[&env.bot.user_id], false).await;
    env.alice.send_mention(&room, "old question", &[&env.bot.user_id]).await;
    // The bot account joins before parachute first runs, as when set up by hand.
    env.bot.join(&room).await;
    let _rt = env.start(None).await;
    env.alice.send_mention(&room, "new question", &[&env.bot.user_id]).await;
    let replies = bodies(&env.bot_replies(&room, 1).await);
    assert_eq!(replies, ["new question"]);
}

#[actix::test]
async fn long_replies_are_split_into_several_events() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Long").await;
    let paragraph = "word ".repeat(199) + "end.";
    let long = vec![paragraph; 45].join("\n\n");
    assert!(long.chars().count() > 44_000);
    env.alice.send_text(&room, &long).await;
    let replies = env.bot_replies(&room, 2).await;
    let total: usize = replies.iter().map(|r| r["body"].as_str().unwrap().chars().count()).sum();
    for reply in &replies {
        assert!(reply["body"].as_str().unwrap().chars().count() <= 25_000);
        assert!(reply["formatted_body"].as_str().unwrap().starts_with("<p>"));
    }
    assert!(total >= long.chars().count() - 100, "content kept: {total}");
}

#[actix::test]
async fn typing_and_ack_reaction_are_seen_by_the_person() {
    let env = Env::new().await;
    let brain = RecordingBrain::new();
    let _rt = env.start(Some(Arc::new(brain.clone()))).await;
    let room = env.room_with_bot("Watch").await;
    brain.delay_chat(&room, Duration::from_millis(1500));
    let question = env.alice.send_mention(&room, "think hard", &[&env.bot.user_id]).await;
    let bot = env.bot.user_id.clone();
    let events = env
        .alice
        .wait_until(&room, WAIT, |events| {
            let typing = events.iter().any(|e| {
                e["type"] == "m.typing"
                    && e["content"]["user_ids"].as_array().is_some_and(|u| u.iter().any(|u| u == bot.as_str()))
            });
            let reaction = events.iter().find(|e| e["type"] == "m.reaction" && e["sender"] == bot.as_str());
            let redacted = reaction.is_some_and(|r| {
                events.iter().any(|e| e["type"] == "m.room.redaction" && e["redacts"] == r["event_id"])
            });
            typing && redacted && events.iter().any(|e| e["type"] == "m.room.message" && e["sender"] == bot.as_str())
        })
        .await;
    let reaction = events.iter().find(|e| e["type"] == "m.reaction" && e["sender"] == bot.as_str()).unwrap();
    assert_eq!(reaction["content"]["m.relates_to"]["event_id"], question.as_str());
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "👀");
    assert!(
        !events.iter().any(|e| e["type"] == "m.receipt" && e.to_string().contains(bot.as_str())),
        "no read receipts"
    );
}

#[actix::test]
async fn new_and_help_commands() {
    let env = Env::new().await;
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Cmd").await;
    env.alice.send_text(&room, "!new").await;
    env.alice.send_text(&room, "!help").await;
    let replies = bodies(&env.bot_replies(&room, 2).await);
    assert_eq!(replies[0], NEW_SESSION_TEXT);
    assert!(replies[1].contains("!new") && replies[1].contains("!help"));
}

#[actix::test]
async fn voice_messages_are_downloaded_transcribed_and_answered() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let whisper = AiFake::start(None);
    whisper.set_transcript("turn the lights off");
    env.config.transcriber.base_url = Some(whisper.openai_url());
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Voice").await;
    let wav = sine_wav(300, 440.0);
    let mxc = upload(&env, "note.wav", "audio/wav", wav.clone()).await;
    env.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.audio", "body": "note.wav", "url": mxc, "info": {"mimetype": "audio/wav"}}),
        )
        .await;
    let reply = env.bot_replies(&room, 1).await.remove(0);
    let body = reply["body"].as_str().unwrap();
    assert!(body.contains("🎤 \"turn the lights off\""), "what was heard is quoted back: {body}");
    assert!(body.trim_end().ends_with("turn the lights off"), "the transcript is answered: {body}");
    let call = whisper.calls(Api::Transcription).remove(0);
    assert_eq!(call.rejected, None);
    assert_eq!(call.part("file").unwrap().data, wav, "the audio reaches the transcriber unchanged");
    // Synapse logs a request once it has finished sending it, which may be just after.
    assert!(wait_until(WAIT, || async { !bot_downloads(&env).is_empty() }).await);
    let downloads = bot_downloads(&env);
    assert_eq!(downloads.len(), 1, "one download, by the bot, with its token: {downloads:#?}");
    assert!(downloads[0].path.starts_with("/_matrix/client/v1/media/download/"), "authenticated media");
}

/// The media downloads Synapse served to the bot so far (from its access log).
fn bot_downloads(env: &Env) -> Vec<parachute_testkit::synapse::AccessLogEntry> {
    let bot = env.bot.user_id.as_str();
    env.synapse
        .requests()
        .into_iter()
        .filter(|r| r.is_media_download() && r.requester.as_deref() == Some(bot))
        .collect()
}

/// An `m.audio` event of an uploaded file; `size` is what `info.size` announces.
fn audio(mxc: &str, name: &str, mime_type: &str, size: Option<u64>) -> serde_json::Value {
    let mut content = json!({"msgtype": "m.audio", "body": name, "url": mxc, "info": {"mimetype": mime_type}});
    if let Some(size) = size {
        content["info"]["size"] = json!(size);
    }
    content
}

#[actix::test]
async fn a_strangers_voice_note_is_never_downloaded_and_gets_no_reaction() {
    let mut env = Env::new().await;
    let whisper = AiFake::start(None);
    env.config.transcriber.base_url = Some(whisper.openai_url());
    let rt = env.start(None).await;
    let dm = env.alice.create_dm(&env.bot.user_id).await;
    env.wait_bot_membership(&dm, "join").await;
    let mxc = upload(&env, "note.wav", "audio/wav", sine_wav(200, 440.0)).await;
    env.alice.send(&dm, "m.room.message", audio(&mxc, "note.wav", "audio/wav", Some(4_000))).await;
    assert_eq!(bodies(&env.bot_replies(&dm, 1).await), [texts::REQUEST_SENT]);
    let request = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap().remove(0);
    assert_eq!(request.first_message, "(voice message)");

    // In a mention-only room, a voice note that does not address the bot is context only.
    let room = env.room_with_bot("Chatter").await;
    let chatter = env.alice.send(&room, "m.room.message", audio(&mxc, "note.wav", "audio/wav", Some(4_000))).await;
    let done = || async {
        parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Matrix, chatter.as_str()).await
    };
    assert!(wait_until(WAIT, done).await);

    assert!(bot_downloads(&env).is_empty(), "Synapse served the bot no media: {:#?}", env.synapse.requests());
    for room in [&dm, &room] {
        let history = env.alice.history(room).await;
        assert!(!history.iter().any(|e| e["type"] == "m.reaction"), "no ack reaction: {history:#?}");
    }
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn voice_notes_over_the_limit_are_refused_by_announced_size_or_cut_off() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.max_media_bytes = 10_000;
    let whisper = AiFake::start(None);
    env.config.transcriber.base_url = Some(whisper.openai_url());
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Big").await;
    let small = upload(&env, "small.ogg", "audio/ogg", vec![0u8; 64]).await;
    env.alice.send(&room, "m.room.message", audio(&small, "big.ogg", "audio/ogg", Some(31_000_000))).await;
    assert_eq!(
        bodies(&env.bot_replies(&room, 1).await),
        ["That voice message is 31 MB; I can take files up to 10 kB."]
    );
    assert!(bot_downloads(&env).is_empty(), "refused by its announced size, not downloaded");

    // Announced as 1 kB, really 50 kB: the download stops at the homeserver's Content-Length.
    let liar = upload(&env, "liar.ogg", "audio/ogg", vec![0u8; 50_000]).await;
    env.alice.send(&room, "m.room.message", audio(&liar, "liar.ogg", "audio/ogg", Some(1_000))).await;
    let replies = bodies(&env.bot_replies(&room, 2).await);
    assert_eq!(replies[1], "That voice message is 50 kB; I can take files up to 10 kB.");
    assert!(wait_until(WAIT, || async { bot_downloads(&env).len() == 1 }).await, "{:#?}", env.synapse.requests());
    assert!(whisper.calls(Api::Transcription).is_empty());
}

#[actix::test]
async fn voice_without_a_transcriber_gets_a_helpful_reply() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let _rt = env.start(None).await;
    let room = env.room_with_bot("Voice").await;
    let mxc = upload(&env, "note.ogg", "audio/ogg", vec![0u8; 2048]).await;
    env.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.audio", "body": "note.ogg", "url": mxc, "info": {"mimetype": "audio/ogg"}}),
        )
        .await;
    assert_eq!(bodies(&env.bot_replies(&room, 1).await), [NO_TRANSCRIBER_TEXT]);
    assert!(bot_downloads(&env).is_empty());
}

/// Uploads a file as Alice and returns its `mxc://` URL.
async fn upload(env: &Env, name: &str, mime_type: &str, data: Vec<u8>) -> String {
    let upload: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_matrix/media/v3/upload?filename={name}", env.synapse.url()))
        .bearer_auth(&env.alice.access_token)
        .header("content-type", mime_type)
        .body(data)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    upload["content_uri"].as_str().unwrap().to_owned()
}

/// Encrypts `data` as a client does in an encrypted room, uploads the ciphertext as Alice and
/// returns the event's `file` (its URL, key, IV and hashes).
async fn upload_encrypted(env: &Env, name: &str, data: &[u8]) -> serde_json::Value {
    use std::io::Read;

    let mut plain = std::io::Cursor::new(data.to_vec());
    let mut encryptor = matrix_sdk_crypto::AttachmentEncryptor::new(&mut plain);
    let mut ciphertext = Vec::new();
    encryptor.read_to_end(&mut ciphertext).unwrap();
    let mut file = serde_json::to_value(encryptor.finish()).unwrap();
    file["url"] = json!(upload(env, name, "application/octet-stream", ciphertext).await);
    file
}

/// An encrypted invite-only room alice created with the bot in it (joined).
/// Alice's encrypting client in an encrypted room with the bot, synced until she sees the bot
/// joined.
struct EncryptedChat {
    alice: EncryptingUser,
    joined: matrix_sdk::Room,
    room: String,
}

impl EncryptedChat {
    async fn new(env: &Env) -> Self {
        // Alice's first sync uploads her device keys, before the room exists.
        let mut alice = EncryptingUser::new(&env.synapse.url(), &env.alice).await;
        let room = env.encrypted_room_with_bot().await;
        alice.wait_joined(&room, &env.bot.user_id, WAIT).await;
        let room_id = matrix_sdk::ruma::OwnedRoomId::try_from(room.as_str()).unwrap();
        let joined = alice.client.get_room(&room_id).unwrap();
        assert!(joined.latest_encryption_state().await.unwrap().is_encrypted());
        Self { alice, joined, room }
    }

    /// The bodies of the bot's next `n` messages, decrypted by Alice's client.
    async fn answers(&mut self, bot: &str, n: usize) -> Vec<String> {
        self.alice.next_messages(&self.room, bot, n, WAIT).await
    }
}

#[actix::test]
async fn encrypted_rooms_are_read_and_answered_encrypted() {
    use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let rt = env.start(None).await;
    let mut chat = EncryptedChat::new(&env).await;
    let room = chat.room.clone();
    chat.joined.send(RoomMessageEventContent::text_plain("a secret hello")).await.unwrap();

    // Alice's client decrypts the bot's answer.
    let answers = chat.answers(&env.bot.user_id, 1).await;
    assert!(answers[0].contains("a secret hello"), "{answers:?}");
    // On the wire the homeserver saw the answer only as ciphertext (the ack reaction is
    // plain, as reactions are in every Matrix client, and then redacted).
    let history = env.alice.history(&room).await;
    let from_bot: Vec<_> =
        history.iter().filter(|e| e["sender"] == env.bot.user_id.as_str() && e.get("state_key").is_none()).collect();
    assert!(from_bot.iter().any(|e| e["type"] == "m.room.encrypted"), "{from_bot:#?}");
    assert!(
        from_bot
            .iter()
            .all(|e| ["m.room.encrypted", "m.reaction", "m.room.redaction"].contains(&e["type"].as_str().unwrap())),
        "{from_bot:#?}"
    );
    assert!(rt.status(Platform::Matrix).warnings.is_empty());
}

#[actix::test]
async fn encrypted_voice_notes_are_downloaded_decrypted_and_checked() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    let whisper = AiFake::start(None);
    whisper.set_transcript("a secret voice");
    env.config.transcriber.base_url = Some(whisper.openai_url());
    env.config.transcriber.max_retries = 0;
    let _rt = env.start(None).await;
    let mut chat = EncryptedChat::new(&env).await;

    // As a client does in an encrypted room: the file is encrypted before the upload, and the
    // key travels in the (encrypted) event.
    let wav = sine_wav(300, 440.0);
    let file = upload_encrypted(&env, "note.wav", &wav).await;
    let content = json!({"msgtype": "m.audio", "body": "note.wav", "file": file,
        "info": {"mimetype": "audio/wav", "size": wav.len()}});
    chat.joined.send_raw("m.room.message", content.clone()).await.unwrap();
    let answers = chat.answers(&env.bot.user_id, 1).await;
    assert!(answers[0].contains("🎤 \"a secret voice\""), "{answers:?}");
    let call = whisper.calls(Api::Transcription).remove(0);
    assert_eq!(call.part("file").unwrap().data, wav, "decrypted back to the recorded audio");

    // A file that does not match its hash is not transcribed.
    let mut tampered = content;
    tampered["file"]["hashes"]["sha256"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    chat.joined.send_raw("m.room.message", tampered).await.unwrap();
    let answers = chat.answers(&env.bot.user_id, 1).await;
    assert_eq!(answers[0], DOWNLOAD_FAILED_TEXT);
    assert_eq!(whisper.calls(Api::Transcription).len(), 1);
    assert!(wait_until(WAIT, || async { bot_downloads(&env).len() == 2 }).await, "{:#?}", env.synapse.requests());
}

#[actix::test]
async fn undecryptable_events_are_reported_not_fatal() {
    let env = Env::new().await;
    let rt = env.start(None).await;
    let room = env.encrypted_room_with_bot().await;
    env.alice
        .send(&room, "m.room.encrypted", json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "sender_key": "k", "device_id": "D", "session_id": "s"}))
        .await;
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| !s.warnings.is_empty()).await;
    assert!(status.warnings[0].contains("could not be decrypted"), "{:?}", status.warnings);
    assert_eq!(status.state, ConnectorState::Connected);
}

/// Sends a marker (answered last: once its answer is there, nothing more is on its way),
/// records the scenario's row and asserts that every message in `sent` was answered once.
async fn record_answered_once(env: &Env, room: &str, sent: &[String], recovery: Duration, name: &'static str) {
    let marker = env.alice.send_text(room, "marker").await;
    let events = env
        .alice
        .wait_history(room, Duration::from_secs(90), |events| {
            messages_from(events, &env.bot.user_id)
                .iter()
                .any(|m| m["m.relates_to"]["m.in_reply_to"]["event_id"] == marker.as_str())
        })
        .await;
    let replies = messages_from(&events, &env.bot.user_id);
    let replied_to = replies.iter().filter_map(|r| r["m.relates_to"]["m.in_reply_to"]["event_id"].as_str());
    let result = ScenarioResult::from_answers(name, sent, replied_to, Some(recovery));
    result.record();
    assert_eq!((result.lost, result.duplicates), (0, 0), "every message answered exactly once");
}

#[actix::test]
async fn homeserver_killed_mid_conversation_answers_everything_once() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.matrix.ack_emoji = String::new();
    let rt = env.start(None).await;
    let room = env.room_with_bot("Outage").await;
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(env.alice.send_text(&room, &format!("before the outage {i}")).await);
    }
    // SIGKILL while the bot is still answering, down for a few seconds.
    env.synapse.kill();
    rt.wait_status(Platform::Matrix, WAIT, |s| matches!(s.state, ConnectorState::Reconnecting { .. })).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.synapse.restart();
    let back = Instant::now();
    // What people typed during the outage, sent by their clients as soon as the server is back.
    for i in 0..10 {
        sent.push(env.alice.send_text(&room, &format!("typed during the outage {i}")).await);
    }
    // Reconnects within the backoff cap (60 s) after the homeserver is healthy again.
    rt.wait_status(Platform::Matrix, Duration::from_secs(70), |s| s.state == ConnectorState::Connected).await;
    let recovery = back.elapsed();
    record_answered_once(&env, &room, &sent, recovery, "homeserver SIGKILL mid-conversation, down 3 s").await;
    assert!(recovery < Duration::from_secs(60), "connected again after {recovery:?}");
}

#[actix::test]
async fn a_frozen_homeserver_is_detected_as_stalled_and_nothing_is_lost_or_doubled() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.matrix.ack_emoji = String::new();
    let rt = env.start(None).await;
    let room = env.room_with_bot("Frozen").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(env.alice.send_text(&room, &format!("before the freeze {i}")).await);
    }
    // SIGSTOP: the socket still accepts, nothing answers, the bot's /sync is held. The bound
    // is the sync timeout (30 s) plus 15 s; the watchdog looks once a second.
    env.synapse.freeze();
    let frozen = Instant::now();
    let status = rt
        .wait_status(Platform::Matrix, Duration::from_secs(70), |s| matches!(s.state, ConnectorState::Stalled { .. }))
        .await;
    let detected = frozen.elapsed();
    assert!(detected <= Duration::from_secs(48), "stalled after {detected:?}");
    assert!(status.last_error.as_deref().is_some_and(|e| e.starts_with("stalled")), "{:?}", status.last_error);
    env.synapse.thaw();
    let back = Instant::now();
    for i in 0..5 {
        sent.push(env.alice.send_text(&room, &format!("after the thaw {i}")).await);
    }
    let status =
        rt.wait_status(Platform::Matrix, Duration::from_secs(70), |s| s.state == ConnectorState::Connected).await;
    let recovery = back.elapsed();
    assert_eq!((status.stalls, status.last_error.clone()), (1, None), "counted once, error cleared");
    record_answered_once(&env, &room, &sent, recovery, "homeserver frozen (SIGSTOP) past the sync bound").await;
}

#[actix::test]
async fn a_slow_brain_answers_a_busy_room_in_order_without_blocking_other_rooms() {
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.matrix.ack_emoji = String::new();
    let brain = RecordingBrain::new();
    let _rt = env.start(Some(Arc::new(brain.clone()))).await;
    let busy = env.room_with_bot("Busy").await;
    let quiet = env.room_with_bot("Quiet").await;
    brain.delay_chat(&busy, Duration::from_millis(80));
    let mut sent = Vec::new();
    for i in 0..100 {
        sent.push(env.alice.send_text(&busy, &format!("busy {i}")).await);
    }
    // The busy room needs at least 8 s of brain time; the quiet room is answered meanwhile.
    env.alice.send_text(&quiet, "anyone there?").await;
    env.bot_replies(&quiet, 1).await;
    let busy_answered = messages_from(&env.alice.history(&busy).await, &env.bot.user_id).len();
    assert!(busy_answered < 100, "the quiet room waited for the busy one ({busy_answered} answered first)");

    let replies = env.alice.wait_history_from(&busy, &env.bot.user_id, 100, Duration::from_secs(90)).await;
    let order: Vec<&str> =
        replies.iter().filter_map(|r| r["m.relates_to"]["m.in_reply_to"]["event_id"].as_str()).collect();
    let result = ScenarioResult::from_answers(
        "slow brain (80 ms), 100 messages in one room",
        &sent,
        order.iter().copied(),
        None,
    );
    result.record();
    assert_eq!(order, sent.iter().map(String::as_str).collect::<Vec<_>>(), "answered once each, in order");
}

#[actix::test]
async fn a_token_revoked_while_running_fails_fast_without_retrying() {
    let env = Env::new().await;
    let rt = env.start(None).await;
    env.bot.logout().await;
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| matches!(s.state, ConnectorState::Failed { .. })).await;
    let ConnectorState::Failed { reason } = &status.state else { unreachable!() };
    assert!(reason.contains("rejected the access token"), "{reason}");
    assert_eq!(status.reconnect_attempts, 0);
    assert_eq!(status.failure_count, 1, "one failure, no retry storm");
}

#[actix::test]
async fn homeserver_rate_limits_are_waited_out_and_nothing_is_lost() {
    use parachute_testkit::synapse::{RELAXED_RATE_LIMITS, Synapse};
    // PyYAML keeps the last of repeated keys: this tightens only rc_message.
    let synapse =
        Synapse::start_with(&format!("{RELAXED_RATE_LIMITS}\nrc_message: {{per_second: 0.5, burst_count: 2}}\n"));
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let mut config = parachute_core::config::BotsConfig::default();
    config.matrix.enabled = true;
    config.matrix.homeserver_url = synapse.url();
    config.matrix.user_id = bot.user_id.clone();
    config.matrix.access_token = Some(SecretString::from(bot.access_token.clone()));
    config.matrix.device_id = bot.device_id.clone();
    config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    config.matrix.ack_emoji = String::new();
    let rt = TestRuntime::start_with(config, None, vec![Arc::new(parachute_matrix::MatrixFactory)]);
    rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected).await;
    let room = alice.create_group("Busy", &[&bot.user_id], true).await;
    alice
        .wait_until(&room, WAIT, |e| {
            e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
        })
        .await;
    // Each person sends one message (their own budget), all at once: the bot must answer six
    // in a row, more than its burst of two allows.
    let mut people = Vec::new();
    for i in 0..6 {
        let person = MatrixUser::register(&synapse.url(), &format!("person{i}")).await;
        person.join(&room).await;
        people.push(person);
    }
    let sends = people.iter().enumerate().map(|(i, p)| {
        let room = room.clone();
        async move { p.send_text(&room, &format!("message {i}")).await }
    });
    let sent = futures_util::future::join_all(sends).await;
    let answers = alice.wait_history_from(&room, &bot.user_id, 6, Duration::from_secs(40)).await;
    let replied_to = answers.iter().filter_map(|r| r["m.relates_to"]["m.in_reply_to"]["event_id"].as_str());
    ScenarioResult::from_answers("homeserver rate limit (rc_message 0.5/s, burst 2)", &sent, replied_to, None).record();
    let replies = bodies(&answers);
    let mut sorted = replies.clone();
    sorted.sort();
    assert_eq!(sorted, (0..6).map(|i| format!("message {i}")).collect::<Vec<_>>(), "each answered exactly once");
    assert!(rt.handle.metrics.counts(Platform::Matrix).rate_limited >= 1, "the homeserver did rate limit the bot");
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Connected);
}

#[actix::test]
async fn images_plain_and_encrypted_are_shown_to_the_model_with_their_captions() {
    const KEY: &str = "sk-matrix-images-0123456789";
    let mut env = Env::new().await;
    env.config.matrix.group_mention_mode = GroupMentionMode::AllMessages;
    env.config.matrix.stream = parachute_core::config::StreamMode::Off;
    let ai = AiFake::start(Some(KEY));
    ai.configure_brain(&mut env.config.brain, parachute_core::config::BrainKind::Anthropic, KEY);
    ai.script(Api::Anthropic, parachute_testkit::ai_fake::Scripted::Answer("A plain picture.".into()));
    ai.script(Api::Anthropic, parachute_testkit::ai_fake::Scripted::Answer("A secret picture.".into()));
    let _rt = env.start(None).await;

    // An m.image with a caption (Matrix 1.10: body differs from filename), unencrypted.
    let room = env.room_with_bot("Pictures").await;
    let png = parachute_testkit::images::png(2000, 1000);
    let mxc = upload(&env, "plan.png", "image/png", png.clone()).await;
    let content = json!({"msgtype": "m.image", "body": "what is on this plan?", "filename": "plan.png", "url": mxc,
        "info": {"mimetype": "image/png", "size": png.len(), "w": 2000, "h": 1000}});
    env.alice.send(&room, "m.room.message", content).await;
    assert_eq!(bodies(&env.bot_replies(&room, 1).await), ["A plain picture."]);
    let call = ai.calls(Api::Anthropic).remove(0);
    assert_eq!(call.rejected, None);
    let shown = call.shown_image().expect("the image is in the request");
    assert_eq!(
        (shown.media_type.as_str(), shown.text.as_str()),
        ("image/jpeg", "alice: what is on this plan?"),
        "a group turn names its speaker"
    );
    let (width, height) = parachute_testkit::images::size_of(&shown.bytes).expect("a real image");
    assert!(width <= 1568 && u64::from(width * height) <= 1_150_000, "scaled to the model's limits: {width}x{height}");
    assert!(width.abs_diff(height * 2) <= 2, "the shape is kept: {width}x{height}");

    // The same in an encrypted room: the file is encrypted before the upload, as clients do.
    let mut chat = EncryptedChat::new(&env).await;
    let photo = parachute_testkit::images::png(300, 200);
    let file = upload_encrypted(&env, "photo.png", &photo).await;
    let content = json!({"msgtype": "m.image", "body": "photo.png", "file": file,
        "info": {"mimetype": "image/png", "size": photo.len()}});
    chat.joined.send_raw("m.room.message", content).await.unwrap();
    assert_eq!(chat.answers(&env.bot.user_id, 1).await, ["A secret picture."]);
    let call = ai.calls(Api::Anthropic).remove(1);
    assert_eq!(call.rejected, None);
    let shown = call.shown_image().expect("the decrypted image is in the request");
    assert_eq!(parachute_testkit::images::size_of(&shown.bytes), Some((300, 200)), "decrypted back to the picture");
    assert_eq!(shown.text, "alice: (an image, without a caption)", "a body that is the file name is no caption");
}
