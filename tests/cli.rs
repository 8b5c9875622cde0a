//! End to end: the real binary serving, and the CLI talking to it over HTTP.

mod common;

use std::time::Duration;

use common::{Server, cli_at, cli_in, text, wait_bounded};

#[test]
fn serve_on_a_new_vault_then_bot_status_lists_every_platform() {
    let mut server = Server::start(None);
    let out = server.cli(&["bot", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    let listing = text(&out);
    for platform in ["telegram", "discord", "matrix"] {
        assert!(listing.lines().any(|l| l.starts_with(platform) && l.contains("stopped")), "{listing}");
    }
    // The new vault got the commented example config, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(server.config_path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let db = std::fs::metadata(server.vault.join(".parachute/parachute.db")).unwrap();
    assert_eq!(db.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(server.config_path()).unwrap().contains("catch_up_max_age"));

    let out = server.cli(&["--json", "bot", "status", "matrix"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["connectors"]["matrix"]["state"], "stopped");

    let out = server.cli(&["pairing", "list"]);
    assert_eq!(text(&out).trim(), "no pairing requests");
    let out = server.cli(&["pairing", "approve", "17"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no pairing request with id 17"), "{}", text(&out));
    let out = server.cli(&["bot", "stop", "irc"]);
    assert!(text(&out).contains("unknown platform `irc`"), "{}", text(&out));

    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    assert!(server.logs().contains("shutting down"));
}

#[test]
fn client_commands_say_when_no_server_runs() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = cli_at(&url, &["bot", "status"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("parachute is not running at"), "{}", text(&out));
}

#[test]
fn config_updates_through_the_api_land_on_disk_and_flags_are_not_saved() {
    let server = Server::start(Some("matrix:\n  homeserver_url: https://old.example.org\n"));
    let out = server.cli(&["bot", "config"]);
    assert!(text(&out).contains("https://old.example.org"));
    let put = |body: serde_json::Value| {
        let url = format!("{}/api/bots/config", server.url);
        actix_web::rt::System::new().block_on(async move {
            let response = reqwest::Client::new().put(url).json(&body).send().await.expect("PUT");
            (response.status().as_u16(), response.json::<serde_json::Value>().await.expect("json"))
        })
    };
    let (status, body) = put(serde_json::json!({"matrix": {"homeserver_url": "https://new.example.org"}}));
    assert_eq!(status, 200, "{body}");
    let saved = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(saved.contains("https://new.example.org"), "{saved}");
    assert!(!saved.contains("port"), "the --port flag is not written into the file: {saved}");
    let (status, body) = put(serde_json::json!({"matrix": {"homeserver_url": "nope"}}));
    assert_eq!((status, body["field"].as_str()), (422, Some("matrix.homeserver_url")));
    assert_eq!(std::fs::read_to_string(server.config_path()).unwrap(), saved, "a rejected update changes nothing");
    // A value its own type refuses names its full key, so the page can mark the field.
    for bad in ["banana", "-5s"] {
        let (status, body) = put(serde_json::json!({"discord": {"catch_up_max_age": bad}}));
        assert_eq!((status, body["field"].as_str()), (422, Some("discord.catch_up_max_age")), "{body}");
    }
    assert_eq!(std::fs::read_to_string(server.config_path()).unwrap(), saved, "a rejected update changes nothing");
}

#[test]
fn bot_config_set_goes_through_the_running_server_and_keeps_the_comments() {
    let server = Server::start(None);
    let example = std::fs::read_to_string(server.config_path()).unwrap();
    let out = server.cli(&["bot", "config", "set", "telegram.allowed_users", "[\"@alice\", 42]"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("saved by the running server and applied"), "{}", text(&out));
    let out = server.cli(&["--json", "bot", "config"]);
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["telegram"]["allowed_users"], serde_json::json!(["@alice", "42"]));
    let saved = std::fs::read_to_string(server.config_path()).unwrap();
    let comments = |t: &str| t.lines().filter(|l| l.trim_start().starts_with('#')).count();
    assert_eq!(comments(&saved), comments(&example), "the example's comments are kept: {saved}");

    // A value that is plain text for a text key, and the API's refusals with the full key.
    let out = server.cli(&["bot", "config", "set", "telegram.allowed_groups", "[-1001234567890]"]);
    assert!(out.status.success(), "{}", text(&out));
    let saved = std::fs::read_to_string(server.config_path()).unwrap();
    for (key, value) in
        [("discord.catch_up_max_age", "banana"), ("discord.catch_up_max_age", "-5s"), ("telegram.colour", "red")]
    {
        let out = server.cli(&["bot", "config", "set", key, value]);
        assert!(!out.status.success(), "{key} {value}: {}", text(&out));
        assert!(text(&out).contains(&format!("field {key}")), "{key} {value}: {}", text(&out));
    }
    let out = server.cli(&["bot", "config", "set", "telegram", "true"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(server.config_path()).unwrap(), saved, "a refused value changes nothing");
}

#[test]
fn bot_config_set_edits_the_file_when_no_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    std::fs::create_dir_all(vault.join(".parachute")).unwrap();
    let path = vault.join(".parachute/bots.yaml");
    let original = "# my settings\ntelegram:\n  # on when the token is here\n  enabled: false\n";
    std::fs::write(&path, original).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let set = |args: &[&str]| {
        let mut all = vec!["bot", "config", "set"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--vault", vault.to_str().unwrap()]);
        cli_at(&url, &all)
    };

    let out = set(&["telegram.enabled", "true"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the next start applies it"), "{}", text(&out));
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(saved, "# my settings\ntelegram:\n  # on when the token is here\n  enabled: true\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let out = set(&["telegram.allowed_users", "[@alice, @bob]"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&path).unwrap().contains("  allowed_users: [\"@alice\",\"@bob\"]\n"));
    let saved = std::fs::read_to_string(&path).unwrap();

    let out = set(&["discord.catch_up_max_age", "banana"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("discord.catch_up_max_age"), "{}", text(&out));
    assert!(text(&out).contains("nothing was saved"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), saved, "a refused value changes nothing");

    // A token from stdin never shows in the process list; the file keeps it.
    let mut child = std::process::Command::new(common::BIN)
        .args(["bot", "config", "set", "telegram.bot_token", "-", "--vault", vault.to_str().unwrap()])
        .env("PARACHUTE_URL", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"123456:AAH-secret\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("AAH-secret"));
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("  bot_token: \"123456:AAH-secret\"\n") && saved.starts_with("# my settings\n"), "{saved}");
}

#[test]
fn api_token_is_required_and_accepted() {
    let server = Server::start(Some("server:\n  api_token: tok-0123456789abcdef\n"));
    let out = server.cli(&["bot", "status"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("requires its API token"), "{}", text(&out));
    let out = server.cli(&["--token", "tok-0123456789abcdef", "bot", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!server.logs().contains("tok-0123456789abcdef"));
}

#[test]
fn config_check_reports_the_key_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bots.yaml");
    std::fs::write(&file, "matrix:\n  enabled: true\n  user_id: \"@b:x\"\n  homeserver_url: ftp://x\n").unwrap();
    let out = cli_in(dir.path(), &["config", "check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("matrix.homeserver_url: must be an http(s) URL (line 4, column 19)"), "{}", text(&out));
    std::fs::write(&file, "telegram:\n  bot_tokn: x\n").unwrap();
    let out = cli_in(dir.path(), &["config", "check", file.to_str().unwrap()]);
    assert!(text(&out).contains("unknown field `bot_tokn`"), "{}", text(&out));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/bots.example.yaml");
    let out = cli_in(dir.path(), &["config", "check", example]);
    assert!(out.status.success(), "the shipped example is valid: {}", text(&out));
}

#[test]
fn serve_refuses_bad_config_and_open_network_binds() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    std::fs::create_dir_all(vault.join(".parachute")).unwrap();
    let config = vault.join(".parachute/bots.yaml");
    std::fs::write(&config, "server:\n  port: lots\n").unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .args(["serve", "--vault"])
        .arg(&vault)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(15));
    assert!(!status.success());
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.port"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "server:\n  port: lots\n", "the file is left as it was");

    std::fs::write(&config, "").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--vault"])
        .arg(&vault)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without server.api_token"), "{stderr}");
    assert!(!stderr.contains("panicked"), "refused before anything started: {stderr}");

    // An address in use is refused the same way.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--port", &port, "--vault"])
        .arg(&vault)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on 127.0.0.1:") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn format_previews_each_platform_and_splits() {
    use std::io::Write;
    let run = |args: &[&str], input: &str| {
        let mut child = std::process::Command::new(common::BIN)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&["format", "--to", "matrix"], "Some **bold** <script>x</script>");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["body"], "Some bold <script>x</script>");
    assert!(json["formatted_body"].as_str().unwrap().contains("<strong>bold</strong> &lt;script&gt;"));
    let out = run(&["format", "--to", "telegram"], "*hi*");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "<i>hi</i>");
    let long = "word ".repeat(1000);
    let out = run(&["format", "--to", "discord", "--split"], &long);
    let chunks: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(chunks.len() >= 3 && chunks.iter().all(|c| c.chars().count() <= 2000), "{}", chunks.len());
    let out = run(&["format", "--to", "irc"], "x");
    assert!(!out.status.success());
}

#[test]
fn a_second_server_on_the_same_vault_is_refused() {
    let first = Server::start(None);
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--port", "0", "--vault"])
        .arg(&first.vault)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another parachute is already serving the vault"), "{stderr}");
    assert!(first.cli(&["bot", "status"]).status.success(), "the first server is unharmed");
}

#[test]
fn chat_settings_are_set_listed_reset_and_kept_across_a_restart() {
    let mut server = Server::start(None);
    let out = server.cli(&["chat", "list"]);
    assert_eq!(text(&out).trim(), "no chat has settings of its own");
    let out = server.cli(&[
        "chat",
        "set",
        "telegram",
        "-1001234567890",
        "--mention-mode",
        "all_messages",
        "--model",
        "small-model",
        "--system-prompt",
        "Answer in French.",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).trim(),
        "telegram -1001234567890: mention mode all_messages, model small-model, prompt \"Answer in French.\""
    );
    let refused = server.cli(&["chat", "set", "matrix", "#lounge:example.org", "--model", "m"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("room alias") && text(&refused).contains("field chat"), "{}", text(&refused));
    let refused = server.cli(&["chat", "set", "telegram", "-1001234567890", "--mention-mode", "often"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    let nothing = server.cli(&["chat", "set", "telegram", "-1001234567890"]);
    assert!(text(&nothing).contains("nothing to set"), "{}", text(&nothing));

    assert!(server.terminate().success());
    server.restart();
    let out = server.cli(&["chat", "list"]);
    let listing = text(&out);
    assert!(listing.lines().any(|l| l.starts_with("telegram") && l.contains("model small-model")), "{listing}");
    let out = server.cli(&["chat", "reset", "telegram", "-1001234567890", "--model"]);
    assert!(
        text(&out).contains("mention mode all_messages, prompt") && !text(&out).contains("model"),
        "{}",
        text(&out)
    );
    let out = server.cli(&["--json", "chat", "show", "telegram", "-1001234567890"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((shown["model"].is_null(), &shown["mention_mode"]), (true, &serde_json::json!("all_messages")));
    let out = server.cli(&["chat", "reset", "telegram", "-1001234567890"]);
    assert_eq!(text(&out).trim(), "telegram -1001234567890: follows the config");
    assert_eq!(text(&server.cli(&["chat", "list"])).trim(), "no chat has settings of its own");
}
