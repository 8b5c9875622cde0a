//! `parachute matrix login` (a new device from the password, its token saved in bots.yaml) and
//! `parachute matrix recovery …`: key backup and recovery of the bot's Matrix account, on the
//! vault's own Matrix store (so the server must be stopped; the store's lock says so). Secrets
//! read here (the account password, the recovery key) come from stdin, hidden on a terminal,
//! and are never stored; the recovery key `enable` makes is printed once, alone on stdout.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use secrecy::SecretString;

use crate::cli::{MatrixCommand, RecoveryCommand};

/// Runs a `parachute matrix …` command.
pub fn run(command: MatrixCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start Tokio")?;
    match command {
        MatrixCommand::Recovery { command, vault } => {
            let config = parachute_core::config::load_file(&parachute_core::config::config_path(&vault))?;
            let data_dir = vault.join(".parachute");
            runtime.block_on(recovery(command, &config.matrix, &data_dir))
        }
        MatrixCommand::Login { homeserver, user, vault } => runtime.block_on(login(homeserver, user, &vault)),
    }
}

/// `parachute matrix login`: a new device for the bot, its token saved in bots.yaml.
#[cfg(feature = "matrix")]
async fn login(homeserver: Option<String>, user: Option<String>, vault: &std::path::Path) -> anyhow::Result<()> {
    use parachute_core::config::{Saved, config_path, load_file, save_keeping_comments};
    use parachute_matrix::login::log_in;

    let path = config_path(vault);
    let data_dir = vault.join(".parachute");
    if crate::serve::ensure_config(&data_dir, &path)? {
        eprintln!("wrote the example config {}", path.display());
    }
    let config = load_file(&path).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let homeserver = homeserver.unwrap_or_else(|| config.matrix.homeserver_url.clone());
    let user = user.unwrap_or_else(|| config.matrix.user_id.clone());
    anyhow::ensure!(!homeserver.is_empty(), "no homeserver: pass --homeserver https://matrix.example.org");
    anyhow::ensure!(!user.is_empty(), "no user: pass --user @bot:example.org");
    // Checked before signing in, so nothing leaves an unused device behind: a running server
    // (which would not see the new token; the page and POST /api/bots/matrix/login sign in
    // through it) and a homeserver URL the config refuses.
    anyhow::ensure!(
        !parachute_runtime::store::Db::in_use(&data_dir.join("parachute.db")),
        "a parachute server is serving {}: sign in on its settings page (Matrix → Sign in with a password), or stop \
         it first",
        vault.display()
    );
    let mut updated = config.clone();
    updated.matrix.homeserver_url = homeserver.clone();
    updated.matrix.access_token = Some(SecretString::from("placeholder"));
    updated.matrix.device_id = String::new();
    if user.starts_with('@') {
        updated.matrix.user_id = user.clone();
    }
    parachute_core::config::validate(&updated).map_err(|err| anyhow::anyhow!("{err} (nothing was saved)"))?;
    let password = read_secret(&format!("Password of {user} (used once, never stored): "))?;
    let session = log_in(&homeserver, &user, &password).await?;
    drop(password);
    updated.matrix.user_id = session.user_id.clone();
    updated.matrix.access_token = Some(session.access_token);
    let how = match save_keeping_comments(&path, &config, &updated)? {
        Saved::Edited => "the matrix keys were edited in place",
        Saved::Rewritten => "the file was written anew",
    };
    println!(
        "Signed in as {} on a new device {} (named \"parachute\"); its access token is in {} ({how}); the password was not kept.",
        session.user_id,
        session.device_id,
        path.display()
    );
    if data_dir.join("matrix").exists() {
        println!(
            "A Matrix store of an earlier device is set aside at the next start: the new device has no room keys \
             yet. With key backup on, matrix.recovery_key or `parachute matrix recovery restore` brings them back."
        );
    }
    if !updated.matrix.enabled {
        println!("Matrix is not enabled yet: `parachute bot config set matrix.enabled true`, then `parachute serve`.");
    }
    Ok(())
}

#[cfg(not(feature = "matrix"))]
async fn login(_: Option<String>, _: Option<String>, _: &std::path::Path) -> anyhow::Result<()> {
    anyhow::bail!("this parachute was built without the Matrix connector (cargo feature `matrix`)")
}

#[cfg(feature = "matrix")]
async fn recovery(
    command: RecoveryCommand,
    config: &parachute_core::config::MatrixConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    use parachute_matrix::recovery::Recovery;
    use secrecy::ExposeSecret;

    let account = Recovery::open(config, data_dir).await?;
    match command {
        RecoveryCommand::Status => {
            let status = account.status().await;
            println!("recovery:       {}", status.recovery);
            println!("key backup:     {}", if status.backup_enabled { "on" } else { "off" });
            println!(
                "cross-signing:  {}",
                if status.cross_signing_complete { "set up on this device" } else { "not on this device" }
            );
            println!(
                "device {}:  {}",
                status.device_id,
                if status.device_verified { "signed by the bot's identity" } else { "not signed" }
            );
            if let Some(key) = status.device_key {
                println!("session key:    {key}");
            }
        }
        RecoveryCommand::Enable { reset } => {
            let prompt = format!("Password of {} (asked once, never stored): ", config.user_id);
            let key = account.enable(reset, &mut || read_secret(&prompt)).await?;
            let status = account.status().await;
            eprintln!(
                "Key backup and recovery are on for {}; device {} is {}.\n\
                 The recovery key follows, shown this once: keep it somewhere safe. With it, \
                 `parachute matrix recovery restore` (or matrix.recovery_key in bots.yaml) brings the \
                 bot's room keys and identity back on a new device.",
                config.user_id,
                status.device_id,
                if status.device_verified { "signed by the bot's identity" } else { "not signed yet" },
            );
            println!("{}", key.expose_secret());
        }
        RecoveryCommand::Restore => {
            let key = read_secret("Recovery key: ")?;
            let restored = account.restore(&key).await?;
            println!(
                "Restored: the room keys of {} joined room(s) came from the key backup; the device is {}.",
                restored.rooms,
                if restored.device_verified { "signed by the bot's identity" } else { "not signed" }
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "matrix"))]
async fn recovery(
    _: RecoveryCommand,
    _: &parachute_core::config::MatrixConfig,
    _: &std::path::Path,
) -> anyhow::Result<()> {
    anyhow::bail!("this parachute was built without the Matrix connector (cargo feature `matrix`)")
}

/// A secret from stdin: asked with `prompt` and not echoed on a terminal, else one line.
#[cfg_attr(not(feature = "matrix"), allow(dead_code))]
fn read_secret(prompt: &str) -> std::io::Result<SecretString> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    // Only the line's end goes: a password may begin or end with spaces.
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "nothing was given on stdin"));
    }
    Ok(SecretString::from(text.to_owned()))
}
