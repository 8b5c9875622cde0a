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
    let MatrixCommand::Recovery { command, vault } = command;
    let config = parachute_core::config::load_file(&parachute_core::config::config_path(&vault))?;
    let data_dir = vault.join(".parachute");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start Tokio")?;
    runtime.block_on(recovery(command, &config.matrix, &data_dir))
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
    let text = text.trim();
    if text.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "nothing was given on stdin"));
    }
    Ok(SecretString::from(text.to_owned()))
}
