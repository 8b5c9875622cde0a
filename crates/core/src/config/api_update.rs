//! What a config update through the HTTP API may not do, so that a stolen or leaked API token
//! is not a shell and not a way to take the platform tokens: keys that start programs need
//! the server's explicit opt-in, an endpoint that a stored secret is sent to moves only when
//! the same update carries that secret, and where the server listens and writes files (the
//! vault) is set in the file only.

use secrecy::SecretString;
use serde_json::Value;

use super::error::ConfigError;
use super::merge::is_placeholder;
use super::model::{BotsConfig, BrainKind};
use super::secret;

/// The `serve` flag that lets the API set the keys that start programs.
pub const ALLOW_PROGRAMS_FLAG: &str = "--allow-api-programs";

/// An endpoint and the secret sent to it: (endpoint key, secret key, the endpoint's value, the
/// secret's value).
type Endpoint<'a> = (&'static str, &'static str, Option<&'a str>, &'a Option<SecretString>);

fn endpoints(config: &BotsConfig) -> [Endpoint<'_>; 6] {
    let (telegram, discord, matrix) = (&config.telegram, &config.discord, &config.matrix);
    // Only the API brains send their key anywhere.
    let brain_url = matches!(config.brain.kind, BrainKind::Anthropic | BrainKind::Openai)
        .then(|| config.brain.effective_base_url());
    [
        ("telegram.api_url", "telegram.bot_token", Some(telegram.api_url.as_str()), &telegram.bot_token),
        ("discord.api_url", "discord.bot_token", Some(discord.api_url.as_str()), &discord.bot_token),
        ("discord.gateway_url", "discord.bot_token", Some(discord.gateway_url.as_str()), &discord.bot_token),
        ("matrix.homeserver_url", "matrix.access_token", Some(matrix.homeserver_url.as_str()), &matrix.access_token),
        ("brain.base_url", "brain.api_key", brain_url, &config.brain.api_key),
        (
            "transcriber.base_url",
            "transcriber.api_key",
            config.transcriber.effective_base_url(),
            &config.transcriber.api_key,
        ),
    ]
    .map(|(url_key, secret_key, url, secret)| (url_key, secret_key, url.filter(|u| !u.trim().is_empty()), secret))
}

fn program_refusal(key: &str) -> ConfigError {
    ConfigError::refused(
        key,
        format!(
            "this key starts programs on the server, so the API cannot set it; edit bots.yaml and restart, or start \
             the server with {ALLOW_PROGRAMS_FLAG}"
        ),
    )
}

/// Refuses an update that asks for a program brain before the update is read as a whole:
/// the answer names `brain.kind`, not `brain.command` (which the API may not set either).
pub fn refuse_program_brain(current: &BotsConfig, patch: &Value, allow_programs: bool) -> Result<(), ConfigError> {
    let wants_command = patch.pointer("/brain/kind").and_then(Value::as_str) == Some("command");
    if !allow_programs && wants_command && current.brain.kind != BrainKind::Command {
        return Err(program_refusal("brain.kind"));
    }
    Ok(())
}

/// Whether `patch` (the update as sent) carries a new value for the dotted `key`.
fn carries(patch: &Value, key: &str) -> bool {
    let pointer = format!("/{}", key.replace('.', "/"));
    patch.pointer(&pointer).and_then(Value::as_str).is_some_and(|s| !is_placeholder(s))
}

/// Checks an update the API is about to apply: `current` is the running config, `merged` the
/// result of the update, `patch` the update as sent. `allow_programs` is the server's opt-in
/// ([`ALLOW_PROGRAMS_FLAG`]). Each refusal names the key and says what to do instead.
pub fn check_api_update(
    current: &BotsConfig,
    merged: &BotsConfig,
    patch: &Value,
    allow_programs: bool,
) -> Result<(), ConfigError> {
    if !allow_programs {
        let program = [
            ("brain.kind", merged.brain.kind == BrainKind::Command && current.brain.kind != BrainKind::Command),
            ("brain.command", merged.brain.command != current.brain.command),
            ("brain.args", merged.brain.args != current.brain.args),
            // Its servers are programs, or endpoints that get the owner's tool calls.
            ("tools.mcp", merged.tools.mcp != current.tools.mcp),
        ];
        if let Some((key, _)) = program.iter().find(|(_, changed)| *changed) {
            return Err(program_refusal(key));
        }
    }
    let file_only = [
        ("vault", current.vault != merged.vault),
        ("server.bind", current.server.bind != merged.server.bind),
        ("server.port", current.server.port != merged.server.port),
    ];
    if let Some((key, _)) = file_only.iter().find(|(_, changed)| *changed) {
        return Err(ConfigError::refused(
            *key,
            "where the server listens and where it writes files are set in bots.yaml only; edit it and restart",
        ));
    }
    for ((url_key, secret_key, old_url, old_secret), (_, _, new_url, _)) in
        endpoints(current).into_iter().zip(endpoints(merged))
    {
        // An endpoint that goes away (unset, or a brain kind that sends no key) sends nothing.
        let moved = new_url.is_some_and(|new| old_url != Some(new));
        if moved && secret::is_set(old_secret) && !carries(patch, secret_key) {
            return Err(ConfigError::refused(
                url_key,
                format!(
                    "the stored {secret_key} is sent to this address, so changing it needs {secret_key} in the same \
                     update: enter it again"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::apply_patch;
    use serde_json::json;

    fn configured() -> BotsConfig {
        let mut config = BotsConfig::default();
        config.telegram.bot_token = Some(SecretString::from("123:stored"));
        config.telegram.api_url = "http://127.0.0.1:8081".into();
        config.discord.api_url = "http://127.0.0.1:8082".into();
        config.discord.gateway_url = "ws://127.0.0.1:8083".into();
        config.brain.base_url = Some("http://127.0.0.1:8084".into());
        config.discord.bot_token = Some(SecretString::from("discord-stored"));
        config.matrix.access_token = Some(SecretString::from("syt_stored"));
        config.matrix.homeserver_url = "https://matrix.example.org".into();
        config.brain.kind = BrainKind::Anthropic;
        config.brain.model = Some("claude-sonnet-4-5".into());
        config.brain.api_key = Some(SecretString::from("sk-stored"));
        config.transcriber.base_url = Some("http://127.0.0.1:8000/v1".into());
        config.transcriber.api_key = Some(SecretString::from("sk-whisper"));
        config
    }

    fn check(current: &BotsConfig, patch: Value, allow_programs: bool) -> Result<BotsConfig, ConfigError> {
        let merged = apply_patch(current, &patch)?;
        check_api_update(current, &merged, &patch, allow_programs).map(|()| merged)
    }

    #[test]
    fn program_keys_need_the_servers_opt_in() {
        let current = configured();
        for (patch, key) in [
            (json!({"brain": {"kind": "command", "command": "/bin/sh"}}), "brain.kind"),
            (json!({"brain": {"command": "/bin/sh"}}), "brain.command"),
            (json!({"brain": {"args": ["-c", "id"]}}), "brain.args"),
        ] {
            let err = check(&current, patch.clone(), false).unwrap_err();
            assert_eq!(err.field(), Some(key), "{err}");
            assert!(err.is_refusal() && err.to_string().contains(ALLOW_PROGRAMS_FLAG), "{err}");
            let allowed = check(&current, patch, true);
            assert!(allowed.is_ok(), "{allowed:?}");
        }
        assert!(check(&current, json!({"brain": {"max_tokens": 50, "kind": "anthropic"}}), false).is_ok());
        let mut command = configured();
        command.brain.kind = BrainKind::Command;
        command.brain.command = Some("my-brain".into());
        assert!(check(&command, json!({"brain": {"timeout": "30s"}}), false).is_ok(), "other keys stay settable");
        assert!(check(&command, json!({"brain": {"kind": "echo"}}), false).is_ok(), "leaving it is fine");
    }

    #[test]
    fn the_listening_address_and_the_vault_are_set_in_the_file_only() {
        let current = configured();
        for (patch, key) in [
            (json!({"vault": "/etc"}), "vault"),
            (json!({"server": {"bind": "0.0.0.0", "api_token": "new-token"}}), "server.bind"),
            (json!({"server": {"port": 8080}}), "server.port"),
        ] {
            let err = check(&current, patch, true).unwrap_err();
            assert_eq!(err.field(), Some(key), "{err}");
            assert!(err.to_string().contains("bots.yaml"), "{err}");
        }
        assert!(check(&current, json!({"server": {"port": 3333}}), false).is_ok(), "the same value is no change");
    }

    #[test]
    fn an_endpoint_moves_only_with_its_secret() {
        let current = configured();
        for (url_key, secret_key, url) in [
            ("telegram.api_url", "telegram.bot_token", "https://evil.example"),
            ("discord.api_url", "discord.bot_token", "https://evil.example"),
            ("discord.gateway_url", "discord.bot_token", "wss://evil.example"),
            ("matrix.homeserver_url", "matrix.access_token", "https://evil.example"),
            ("brain.base_url", "brain.api_key", "https://evil.example"),
            ("transcriber.base_url", "transcriber.api_key", "https://evil.example/v1"),
        ] {
            let (section, key) = url_key.split_once('.').unwrap();
            let secret = secret_key.split_once('.').unwrap().1;
            let err = check(&current, json!({section: {key: url}}), false).unwrap_err();
            assert_eq!(err.field(), Some(url_key), "{err}");
            assert!(err.to_string().contains(secret_key), "{err}");
            for masked in ["", "********"] {
                let err = check(&current, json!({section: {key: url, secret: masked}}), false).unwrap_err();
                assert_eq!(err.field(), Some(url_key), "a masked secret is not the secret: {err}");
            }
            assert!(check(&current, json!({section: {key: url, secret: "new-secret"}}), false).is_ok(), "{url_key}");
            let reset = check(&current, json!({section: {key: null}}), false);
            if matches!(section, "matrix" | "transcriber") {
                assert!(reset.is_ok(), "unset, it sends the secret nowhere: {reset:?}");
            } else {
                assert_eq!(reset.unwrap_err().field(), Some(url_key), "a reset to the hosted API moves it too");
            }
        }
        assert!(
            check(&current, json!({"matrix": {"homeserver_url": "https://matrix.example.org"}}), false).is_ok(),
            "the same value is no change"
        );
        let fresh = BotsConfig::default();
        assert!(
            check(&fresh, json!({"matrix": {"homeserver_url": "https://m.example.org"}}), false).is_ok(),
            "with no stored secret there is nothing to send elsewhere"
        );
    }

    #[test]
    fn mcp_servers_are_set_in_the_file_unless_the_server_allows_programs() {
        let current = configured();
        let patch = json!({"tools": {"mcp": [{"name": "shell", "command": "/bin/sh"}]}});
        let merged = apply_patch(&current, &patch).unwrap();
        let err = check_api_update(&current, &merged, &patch, false).unwrap_err();
        assert!(err.to_string().contains("tools.mcp") && err.to_string().contains(ALLOW_PROGRAMS_FLAG), "{err}");
        assert!(check_api_update(&current, &merged, &patch, true).is_ok());
        let unchanged = json!({"tools": {"max_steps": 4}});
        let merged = apply_patch(&current, &unchanged).unwrap();
        assert!(check_api_update(&current, &merged, &unchanged, false).is_ok(), "other tool keys stay open");
    }
}
