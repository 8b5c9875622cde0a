//! Signing the bot in with its password, as a new user does: `parachute matrix login` on a
//! fresh vault against a real Synapse, then `bot config set matrix.enabled true` and
//! `parachute serve`; the bot answers in a room. A wrong password saves nothing, the password
//! is never in the file or the output, and a second login while the server runs is refused
//! before any device is made.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, Server, text};
use parachute_testkit::matrix_user::{MatrixUser, PASSWORD};
use parachute_testkit::synapse::Synapse;

const WAIT: Duration = Duration::from_secs(30);

/// `parachute ARGS --vault VAULT` with `stdin` as its input, no server to talk to.
fn run(vault: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--vault")
        .arg(vault)
        .env("PARACHUTE_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parachute");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Waits (bounded) until the server's Matrix connector is connected.
async fn wait_connected(server: &Server) {
    let deadline = std::time::Instant::now() + WAIT;
    while !server.logs().contains("connected platform=matrix") {
        assert!(std::time::Instant::now() < deadline, "not connected within {WAIT:?}:\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix::test]
async fn login_saves_a_new_device_token_and_the_bot_answers() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    let config = vault.join(".parachute/bots.yaml");
    let login = |stdin: &str| run(&vault, &["matrix", "login", "--homeserver", &synapse.url(), "--user", "bot"], stdin);

    let refused = login("not-the-password\n");
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("refused the user or password"), "{}", text(&refused));
    let example = std::fs::read_to_string(&config).expect("the example config was written");
    assert!(parachute_core::config::load_file(&config).unwrap().matrix.access_token.is_none(), "nothing was saved");

    let out = login(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("Signed in as {}", bot.user_id)), "{}", text(&out));
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(!saved.contains(PASSWORD) && !text(&out).contains(PASSWORD), "the password is never kept");
    let comments = |t: &str| t.lines().filter(|l| l.trim_start().starts_with('#')).count();
    assert_eq!(comments(&saved), comments(&example), "the example's comments stay");
    let parsed = parachute_core::config::load_file(&config).unwrap();
    assert_eq!(parsed.matrix.user_id, bot.user_id);
    assert_eq!(parsed.matrix.homeserver_url, synapse.url());
    assert!(parsed.matrix.access_token.is_some());
    assert!(text(&out).contains("bot config set matrix.enabled true"), "{}", text(&out));

    let out = run(&vault, &["bot", "config", "set", "matrix.enabled", "true"], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&vault, &["bot", "config", "set", "matrix.group_mention_mode", "all_messages"], "");
    assert!(out.status.success(), "{}", text(&out));
    let server = Server::start_in(&vault);
    wait_connected(&server).await;
    let room = alice.create_group("Login", &[&bot.user_id], false).await;
    // What was said before the bot joined is history it does not answer at its first start.
    alice
        .wait_until(&room, WAIT, |e| {
            e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
        })
        .await;
    alice.send_text(&room, "hello after login").await;
    let replies = alice.wait_messages_from(&room, &bot.user_id, 1, WAIT).await;
    assert_eq!(replies[0]["body"], "hello after login", "{replies:?}");
    let logs = server.logs();
    let unexpected: Vec<&str> = logs.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    assert!(unexpected.is_empty(), "a new device on a fresh store logs no WARN or ERROR: {unexpected:#?}");

    // While a server serves the vault: refused before a device is made (it would not see
    // the new token; its page signs in instead).
    let devices = bot.device_ids().await;
    let busy = login(&format!("{PASSWORD}\n"));
    assert!(!busy.status.success(), "{}", text(&busy));
    assert!(text(&busy).contains("a parachute server is serving"), "{}", text(&busy));
    assert_eq!(bot.device_ids().await, devices, "no device was added");

    // With the server stopped, a new login; the next start sets the earlier device's store aside.
    let mut server = server;
    assert!(server.terminate().success());
    let out = login(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("set aside at the next start"), "{}", text(&out));
    assert_eq!(bot.device_ids().await.len(), devices.len() + 1, "one new device");
    let server = Server::start_in(&vault);
    // A new device's first sync: what came before it is history it does not answer.
    wait_connected(&server).await;
    alice.send_text(&room, "hello from the new device").await;
    let replies = alice.wait_messages_from(&room, &bot.user_id, 2, WAIT).await;
    assert_eq!(replies[1]["body"], "hello from the new device", "{replies:?}");
    assert!(server.logs().contains("belonged to an earlier device"), "{}", server.logs());

    // A token of yet another device put into the file by hand: the server sets the store of
    // the earlier device aside by itself and answers on the new one.
    let mut server = server;
    assert!(server.terminate().success());
    let (token, device) = bot.login_new_device().await;
    let out = run(&vault, &["bot", "config", "set", "matrix.access_token", "-"], &format!("{token}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let server = Server::start_in(&vault);
    wait_connected(&server).await;
    alice.send_text(&room, "hello from a token set by hand").await;
    let replies = alice.wait_messages_from(&room, &bot.user_id, 3, WAIT).await;
    assert_eq!(replies[2]["body"], "hello from a token set by hand", "{replies:?}");
    let logs = server.logs();
    assert!(logs.contains("belonged to an earlier device") && logs.contains(&device), "{logs}");
    let unexpected: Vec<&str> = logs.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    drop(server);
}

#[actix::test]
async fn the_api_signs_in_with_a_password_and_the_connector_uses_the_new_device() {
    let synapse = Synapse::start();
    let bot = MatrixUser::register(&synapse.url(), "bot").await;
    let alice = MatrixUser::register(&synapse.url(), "alice").await;
    let server = Server::start(Some("matrix:\n  group_mention_mode: all_messages\n"));
    let before = std::fs::read(server.config_path()).unwrap();
    let http = reqwest::Client::new();
    let sign_in = |password: &str| {
        http.post(format!("{}/api/bots/matrix/login", server.url))
            .json(&serde_json::json!({"homeserver_url": synapse.url(), "user": "bot", "password": password}))
            .send()
    };

    let refused = sign_in("wrong").await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "password", "{body}");
    assert_eq!(std::fs::read(server.config_path()).unwrap(), before, "a refused sign-in saves nothing");

    let answer = sign_in(PASSWORD).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!((&body["success"], body["user_id"].as_str()), (&serde_json::json!(true), Some(bot.user_id.as_str())));
    assert_eq!(body["config"]["matrix"]["has_token"], true, "{body}");
    let saved = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(saved.contains("group_mention_mode: all_messages") && !saved.contains(PASSWORD), "{saved}");

    // Enabling it starts the connector on the new device; it answers.
    let enable = http
        .put(format!("{}/api/bots/config", server.url))
        .json(&serde_json::json!({"matrix": {"enabled": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(enable.status(), 200);
    let room = alice.create_group("Signed in", &[&bot.user_id], false).await;
    alice
        .wait_until(&room, WAIT, |e| {
            e.iter().any(|e| e["state_key"] == bot.user_id.as_str() && e["content"]["membership"] == "join")
        })
        .await;
    alice.send_text(&room, "hello").await;
    let replies = alice.wait_messages_from(&room, &bot.user_id, 1, WAIT).await;
    assert_eq!(replies[0]["body"], "hello");
    assert!(!server.logs().contains(PASSWORD), "the password stays out of the log");
}
