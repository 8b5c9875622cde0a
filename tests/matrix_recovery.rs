//! Key backup and recovery, as an operator uses them: the real `parachute` process on a real
//! Synapse, `parachute matrix recovery enable` while the server is stopped, then the Matrix
//! store is lost twice. Each time a message arrives meanwhile whose key only the lost device
//! got; the bot logs in as a new device and gets the key back from the backup, once with
//! `matrix.recovery_key` in bots.yaml and once with `parachute matrix recovery restore`, and
//! answers that message (and nothing twice). The new devices are signed by the bot's own
//! identity, as Alice's client sees.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, text};
use parachute_testkit::encrypting_user::EncryptingUser;
use parachute_testkit::matrix_user::{MatrixUser, PASSWORD};
use parachute_testkit::synapse::Synapse;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// `parachute matrix recovery ARGS` on `vault`, with `stdin` as its input.
fn recovery(vault: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["matrix", "recovery"])
        .args(args)
        .arg("--vault")
        .arg(vault)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parachute matrix recovery");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn bots_yaml(synapse: &Synapse, bot: &str, token: &str, recovery_key: Option<&str>) -> String {
    let mut yaml = format!(
        "matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{bot}\"\n  access_token: {token}\n  group_mention_mode: all_messages\n",
        synapse.url()
    );
    if let Some(key) = recovery_key {
        yaml.push_str(&format!("  recovery_key: \"{key}\"\n"));
    }
    yaml
}

fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + WAIT;
    while !server.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no `{needle}` in the log within {WAIT:?}:\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the server and loses its Matrix store (the crypto keys of its device with it).
fn stop_and_lose_the_store(server: &mut Server) {
    assert!(server.terminate().success());
    std::fs::remove_dir_all(server.vault.join(".parachute/matrix")).expect("remove the Matrix store");
}

#[actix::test]
async fn lost_stores_get_their_keys_back_from_the_backup() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    bot.set_display_name("Parachute").await;
    let alice_http = MatrixUser::register(&synapse.url(), "alice").await;
    let mut server = Server::start(Some(&bots_yaml(&synapse, &bot.user_id, &bot.access_token, None)));
    wait_for_log(&server, "connected");
    let vault = server.vault.clone();

    // The server holds the store: the command refuses to work on it meanwhile.
    let busy = recovery(&vault, &["enable"], "");
    assert!(!busy.status.success() && text(&busy).contains("in use by another parachute process"), "{}", text(&busy));

    // Alice talks to the bot in an encrypted room.
    let mut alice = EncryptingUser::new(&synapse.url(), &alice_http).await;
    let room = alice_http
        .create_room(json!({"preset": "private_chat", "name": "Secret", "invite": [bot.user_id],
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    alice.wait_joined(&room, &bot.user_id, WAIT).await;
    alice.send_text(&room, "first secret").await;
    let answers = alice.next_messages(&room, &bot.user_id, 1, WAIT).await;
    assert!(answers[0].contains("first secret"), "{answers:?}");

    // Backup and recovery, turned on while the server is stopped: the key alone on stdout.
    assert!(server.terminate().success());
    let enabled = recovery(&vault, &["enable"], &format!("{PASSWORD}\n"));
    assert!(enabled.status.success(), "{}", text(&enabled));
    let key = String::from_utf8(enabled.stdout.clone()).unwrap().trim().to_owned();
    assert_eq!(key.split_whitespace().collect::<String>().len(), 48, "a recovery key: {}", text(&enabled));
    assert!(text(&enabled).contains("signed by the bot's identity"), "{}", text(&enabled));
    assert!(
        alice.sees_signed_by_owner(&bot.user_id, &bot.device_id, WAIT).await,
        "alice sees the bot's device verified"
    );
    let status = text(&recovery(&vault, &["status"], ""));
    assert!(status.contains("recovery:       enabled") && status.contains("key backup:     on"), "{status}");
    assert!(status.contains(&format!("device {}:  signed by the bot's identity", bot.device_id)), "{status}");
    assert!(status.contains("session key:"), "{status}");
    let again = recovery(&vault, &["enable"], "");
    assert!(!again.status.success() && text(&again).contains("already enabled"), "{}", text(&again));
    server.restart();
    wait_for_log(&server, "connected");

    // The store is lost while Alice writes: only the lost device got her key.
    stop_and_lose_the_store(&mut server);
    alice.send_text(&room, "second secret, while the bot was away").await;
    // A new device, with the recovery key in bots.yaml.
    let (token, device) = bot.login_new_device().await;
    std::fs::write(server.config_path(), bots_yaml(&synapse, &bot.user_id, &token, Some(&key))).unwrap();
    server.restart();
    let answers = alice.next_messages(&room, &bot.user_id, 1, WAIT).await;
    assert!(answers[0].contains("second secret"), "{answers:?}");
    assert!(
        alice.sees_signed_by_owner(&bot.user_id, &device, WAIT).await,
        "the new device is signed by the bot's identity"
    );

    // Lost again; this time the key goes in through the command line, not the config.
    stop_and_lose_the_store(&mut server);
    alice.send_text(&room, "third secret, while the bot was away again").await;
    let (token, device) = bot.login_new_device().await;
    std::fs::write(server.config_path(), bots_yaml(&synapse, &bot.user_id, &token, None)).unwrap();
    let wrong = recovery(&vault, &["restore"], "EsTc 8Mzz ZJr3 pjmu PNbX eGFV bbsk jE4U 7iCD Rt5M n4Sj 2MmC\n");
    assert!(!wrong.status.success() && text(&wrong).contains("does not open"), "{}", text(&wrong));
    let restored = recovery(&vault, &["restore"], &format!("{key}\n"));
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(text(&restored).contains("signed by the bot's identity"), "{}", text(&restored));
    server.restart();
    let answers = alice.next_messages(&room, &bot.user_id, 1, WAIT).await;
    assert!(answers[0].contains("third secret"), "{answers:?}");
    assert!(alice.sees_signed_by_owner(&bot.user_id, &device, WAIT).await);

    // Nothing was answered twice: a last message gets the only further answer.
    alice.send_text(&room, "last one").await;
    let answers = alice.next_messages(&room, &bot.user_id, 1, WAIT).await;
    assert!(answers[0].contains("last one"), "an earlier message was answered again: {answers:?}");
    // The last start found its keys restored: nothing to warn about.
    let complaints: Vec<_> =
        server.logs().lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).map(str::to_owned).collect();
    assert!(complaints.is_empty(), "{}", complaints.join("\n"));

    // A lost recovery key: `--reset` replaces identity and backup, which Synapse lets only
    // the account's password do.
    assert!(server.terminate().success());
    let refused = recovery(&vault, &["enable", "--reset"], "");
    assert!(!refused.status.success() && text(&refused).contains("password"), "{}", text(&refused));
    let reset = recovery(&vault, &["enable", "--reset"], &format!("{PASSWORD}\n"));
    assert!(reset.status.success(), "{}", text(&reset));
    let new_key = String::from_utf8(reset.stdout.clone()).unwrap().trim().to_owned();
    assert!(new_key.len() > 40 && new_key != key, "a new recovery key: {}", text(&reset));
    assert!(alice.sees_signed_by_owner(&bot.user_id, &device, WAIT).await, "signed by the new identity");
}
