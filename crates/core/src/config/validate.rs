//! Checks the values serde cannot: URLs, Matrix ids, usernames, emoji, ports.

use secrecy::ExposeSecret;

use super::error::ConfigError;
use super::model::{BotsConfig, BrainKind, MIN_STREAM_EDIT_INTERVAL, McpServerConfig};

/// The persona file's path and the tool lists: sandboxed senders get read-only tools at most.
fn validate_tools(config: &BotsConfig) -> Result<(), ConfigError> {
    if let Some(path) = &config.brain.persona_file
        && path.trim().is_empty()
    {
        return Err(ConfigError::invalid(
            "brain.persona_file",
            "must not be empty (leave the key out for the default)",
        ));
    }
    for (i, tool) in config.tools.sandboxed.iter().enumerate() {
        if !tool.read_only() {
            return Err(ConfigError::invalid(
                format!("tools.sandboxed[{i}]"),
                format!(
                    "`{}` changes the vault; sandboxed senders may only get search_notes, read_note or recent_journal",
                    tool.name()
                ),
            ));
        }
    }
    if !(1..=32).contains(&config.tools.max_steps) {
        return Err(ConfigError::invalid("tools.max_steps", "must be between 1 and 32"));
    }
    if config.tools.max_time.0.is_zero() {
        return Err(ConfigError::invalid("tools.max_time", "must be longer than zero"));
    }
    for (i, server) in config.tools.mcp.iter().enumerate() {
        validate_mcp_server(config, i, server)?;
    }
    Ok(())
}

/// One `tools.mcp` entry: a unique name that fits a tool name, one way to reach it.
fn validate_mcp_server(config: &BotsConfig, i: usize, server: &McpServerConfig) -> Result<(), ConfigError> {
    let key = |field: &str| format!("tools.mcp[{i}].{field}");
    let name_ok = (1..=MAX_MCP_NAME_CHARS).contains(&server.name.len())
        && server.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !server.name.contains("__")
        && !server.name.ends_with('_');
    if !name_ok {
        return Err(ConfigError::invalid(
            key("name"),
            format!(
                "must be 1 to {MAX_MCP_NAME_CHARS} lower-case letters, digits, `-` or `_`, without `__` or a `_` at \
                 the end (the model sees `<name>__<tool>`)"
            ),
        ));
    }
    if config.tools.mcp[..i].iter().any(|earlier| earlier.name == server.name) {
        return Err(ConfigError::invalid(key("name"), format!("`{}` names two servers", server.name)));
    }
    let command = server.command.as_deref().filter(|c| !c.trim().is_empty());
    let url = server.url.as_deref().filter(|u| !u.trim().is_empty());
    match (command, url) {
        (None, None) => {
            return Err(ConfigError::invalid(
                key("command"),
                "give command (a stdio server) or url (a streamable HTTP server)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(key("url"), "give command or url, not both"));
        }
        (None, Some(url)) => {
            if !is_http_url(url) {
                return Err(ConfigError::invalid(key("url"), "must be an http:// or https:// URL"));
            }
            if !server.args.is_empty() {
                return Err(ConfigError::invalid(key("args"), "only a stdio server (command) takes args"));
            }
        }
        (Some(_), None) => {
            if server.bearer_token_env.is_some() {
                return Err(ConfigError::invalid(key("bearer_token_env"), "only an HTTP server (url) takes a token"));
            }
        }
    }
    if url.is_some() && !server.env.is_empty() {
        return Err(ConfigError::invalid(key("env"), "only a stdio server (command) takes env"));
    }
    for (j, variable) in server.env.iter().enumerate() {
        if !is_variable_name(variable) {
            return Err(ConfigError::invalid(
                format!("tools.mcp[{i}].env[{j}]"),
                "must be the name of an environment variable (letters, digits, `_`, not starting with a digit)",
            ));
        }
    }
    if let Some(variable) = &server.bearer_token_env
        && !is_variable_name(variable)
    {
        return Err(ConfigError::invalid(
            key("bearer_token_env"),
            "must be the name of an environment variable (letters, digits, `_`)",
        ));
    }
    let timeout = server.timeout.0;
    if timeout < std::time::Duration::from_secs(1) || timeout > std::time::Duration::from_secs(600) {
        return Err(ConfigError::invalid(key("timeout"), "must be between 1s and 10m"));
    }
    Ok(())
}

/// An environment variable's name: letters, digits and `_`, not starting with a digit.
fn is_variable_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The longest MCP server name: with `__` and the tool's own name it must fit the models'
/// 64-character tool names.
const MAX_MCP_NAME_CHARS: usize = 24;

/// Checks every value; the first problem is returned with its key path.
pub fn validate(config: &BotsConfig) -> Result<(), ConfigError> {
    if config.server.port == 0 {
        return Err(ConfigError::invalid("server.port", "must be between 1 and 65535"));
    }
    if !config.server.bind.is_loopback() && config.server.api_token.is_none() {
        return Err(ConfigError::invalid("server.api_token", "is required when server.bind is not a loopback address"));
    }
    if let Some(vault) = &config.vault
        && vault.trim().is_empty()
    {
        return Err(ConfigError::invalid("vault", "must not be empty (leave the key out for the default)"));
    }
    if config.brain.history_messages > 500 {
        return Err(ConfigError::invalid("brain.history_messages", "must be at most 500"));
    }
    if config.brain.kind == BrainKind::Command && config.brain.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(ConfigError::invalid("brain.command", "is required when brain.kind is command"));
    }
    if config.brain.timeout.0.is_zero() {
        return Err(ConfigError::invalid("brain.timeout", "must be longer than zero"));
    }
    if config.brain.group_context_messages > 100 {
        return Err(ConfigError::invalid("brain.group_context_messages", "must be at most 100"));
    }
    validate_llm_brain(config)?;
    validate_tools(config)?;
    validate_transcriber(config)?;
    if config.pairing.expire_after.0.is_zero() {
        return Err(ConfigError::invalid("pairing.expire_after", "must be longer than zero"));
    }
    if !(1..=10_000).contains(&config.pairing.max_pending) {
        return Err(ConfigError::invalid("pairing.max_pending", "must be between 1 and 10000"));
    }
    if config.max_media_bytes == 0 {
        return Err(ConfigError::invalid(
            "max_media_bytes",
            "must be at least 1 (bytes; the default is 20000000, 20 MB)",
        ));
    }
    for (section, token) in [
        ("server.api_token", &config.server.api_token),
        ("brain.api_key", &config.brain.api_key),
        ("transcriber.api_key", &config.transcriber.api_key),
        ("telegram.bot_token", &config.telegram.bot_token),
        ("discord.bot_token", &config.discord.bot_token),
        ("matrix.access_token", &config.matrix.access_token),
    ] {
        if let Some(token) = token
            && token.expose_secret().chars().any(char::is_whitespace)
        {
            return Err(ConfigError::invalid(section, "must not contain white space"));
        }
    }
    validate_telegram(config)?;
    validate_discord(config)?;
    validate_matrix(config)?;
    for (i, user) in config.telegram.allowed_users.iter().enumerate() {
        if !is_telegram_user(user) {
            return Err(ConfigError::invalid(
                format!("telegram.allowed_users[{i}]"),
                format!("`{user}` is neither a numeric user id nor a @username"),
            ));
        }
    }
    for (i, group) in config.telegram.allowed_groups.iter().enumerate() {
        if !is_telegram_chat_id(group) {
            return Err(ConfigError::invalid(
                format!("telegram.allowed_groups[{i}]"),
                format!("`{group}` is not a numeric Telegram chat id (groups are negative, like -1001234567890)"),
            ));
        }
    }
    for (i, user) in config.discord.allowed_users.iter().enumerate() {
        if !is_snowflake(user) {
            return Err(ConfigError::invalid(
                format!("discord.allowed_users[{i}]"),
                format!("`{user}` is not a numeric Discord user id"),
            ));
        }
    }
    for (field, emoji) in [
        ("telegram.ack_emoji", &config.telegram.ack_emoji),
        ("discord.ack_emoji", &config.discord.ack_emoji),
        ("matrix.ack_emoji", &config.matrix.ack_emoji),
    ] {
        if emoji.chars().count() > 16 || emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::invalid(field, "must be one emoji (or empty for none)"));
        }
    }
    for (field, interval) in [
        ("telegram.stream_edit_interval", config.telegram.stream_edit_interval),
        ("discord.stream_edit_interval", config.discord.stream_edit_interval),
        ("matrix.stream_edit_interval", config.matrix.stream_edit_interval),
    ] {
        if interval.0 < MIN_STREAM_EDIT_INTERVAL {
            return Err(ConfigError::invalid(
                field,
                format!("must be at least {} ms (platforms rate-limit edits)", MIN_STREAM_EDIT_INTERVAL.as_millis()),
            ));
        }
    }
    Ok(())
}

/// Most retries allowed for an HTTP brain or the transcriber.
const MAX_RETRIES: u32 = 10;

fn validate_llm_brain(config: &BotsConfig) -> Result<(), ConfigError> {
    let brain = &config.brain;
    if let Some(url) = &brain.base_url
        && !is_http_url(url.trim())
    {
        return Err(ConfigError::invalid("brain.base_url", "must be an http(s) URL"));
    }
    if brain.max_retries > MAX_RETRIES {
        return Err(ConfigError::invalid("brain.max_retries", format!("must be at most {MAX_RETRIES}")));
    }
    if !matches!(brain.kind, BrainKind::Anthropic | BrainKind::Openai) {
        return Ok(());
    }
    let kind = brain.kind.as_str();
    if brain.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err(ConfigError::invalid("brain.model", format!("is required when brain.kind is {kind}")));
    }
    if brain.max_tokens == 0 {
        return Err(ConfigError::invalid("brain.max_tokens", "must be at least 1"));
    }
    if brain.kind == BrainKind::Anthropic && brain.api_key.is_none() {
        return Err(ConfigError::invalid("brain.api_key", "is required when brain.kind is anthropic"));
    }
    Ok(())
}

fn validate_transcriber(config: &BotsConfig) -> Result<(), ConfigError> {
    let t = &config.transcriber;
    if let Some(url) = &t.base_url
        && !is_http_url(url.trim())
    {
        return Err(ConfigError::invalid("transcriber.base_url", "must be an http(s) URL"));
    }
    if t.model.trim().is_empty() {
        return Err(ConfigError::invalid("transcriber.model", "must not be empty"));
    }
    if t.timeout.0.is_zero() {
        return Err(ConfigError::invalid("transcriber.timeout", "must be longer than zero"));
    }
    if t.max_retries > MAX_RETRIES {
        return Err(ConfigError::invalid("transcriber.max_retries", format!("must be at most {MAX_RETRIES}")));
    }
    if let Some(language) = &t.language
        && (!(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_lowercase()))
    {
        return Err(ConfigError::invalid("transcriber.language", "must be a language code like en or de"));
    }
    Ok(())
}

fn validate_telegram(config: &BotsConfig) -> Result<(), ConfigError> {
    if !is_http_url(&config.telegram.api_url) {
        return Err(ConfigError::invalid("telegram.api_url", "must be an http(s) URL"));
    }
    Ok(())
}

fn validate_discord(config: &BotsConfig) -> Result<(), ConfigError> {
    let d = &config.discord;
    if !is_http_url(&d.api_url) || url_has_path(&d.api_url) {
        return Err(ConfigError::invalid(
            "discord.api_url",
            "must be an http(s) URL without a path, like https://discord.com",
        ));
    }
    if !is_ws_url(&d.gateway_url) {
        return Err(ConfigError::invalid("discord.gateway_url", "must be a ws(s) URL, like wss://gateway.discord.gg"));
    }
    for (key, ids) in [("discord.allowed_guilds", &d.allowed_guilds), ("discord.allowed_channels", &d.allowed_channels)]
    {
        for (i, id) in ids.iter().enumerate() {
            if !is_snowflake(id) {
                return Err(ConfigError::invalid(format!("{key}[{i}]"), format!("`{id}` is not a numeric Discord id")));
            }
        }
    }
    Ok(())
}

fn validate_matrix(config: &BotsConfig) -> Result<(), ConfigError> {
    let m = &config.matrix;
    if !m.homeserver_url.is_empty() && !is_http_url(&m.homeserver_url) {
        return Err(ConfigError::invalid("matrix.homeserver_url", "must be an http(s) URL"));
    }
    if !m.user_id.is_empty() && !is_matrix_user_id(&m.user_id) {
        return Err(ConfigError::invalid(
            "matrix.user_id",
            format!("`{}` is not a Matrix user id like @bot:example.org", m.user_id),
        ));
    }
    if m.enabled && m.homeserver_url.is_empty() {
        return Err(ConfigError::invalid("matrix.homeserver_url", "is required when matrix is enabled"));
    }
    if m.enabled && m.user_id.is_empty() {
        return Err(ConfigError::invalid("matrix.user_id", "is required when matrix is enabled"));
    }
    if m.device_id.chars().any(char::is_whitespace) {
        return Err(ConfigError::invalid("matrix.device_id", "must not contain white space"));
    }
    if let Some(key) = &m.recovery_key
        && !is_recovery_key(key.expose_secret())
    {
        return Err(ConfigError::invalid(
            "matrix.recovery_key",
            "is not a recovery key: it is the 48 letters and digits `parachute matrix recovery enable` printed \
             (the spaces between groups may stay)",
        ));
    }
    for (i, room) in m.allowed_rooms.iter().enumerate() {
        if !is_matrix_room(room) {
            return Err(ConfigError::invalid(
                format!("matrix.allowed_rooms[{i}]"),
                format!("`{room}` is neither a room id (!id or !id:server) nor an alias (#name:server)"),
            ));
        }
    }
    Ok(())
}

/// A Matrix recovery key as clients show it: 48 base58 characters, in groups or not.
fn is_recovery_key(text: &str) -> bool {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let key: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    key.len() == 48 && key.iter().all(|c| BASE58.contains(*c))
}

/// A Telegram chat id: an integer, negative for groups and supergroups.
pub(crate) fn is_telegram_chat_id(text: &str) -> bool {
    text.trim().parse::<i64>().is_ok()
}

/// `http://host…` or `https://host…` with a non-empty host and no white space.
pub(crate) fn is_http_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.starts_with(':') && !r.chars().any(char::is_whitespace)
    })
}

/// `ws://host…` or `wss://host…` with a non-empty host and no white space.
pub(crate) fn is_ws_url(text: &str) -> bool {
    let rest = text.strip_prefix("wss://").or_else(|| text.strip_prefix("ws://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.starts_with(':') && !r.chars().any(char::is_whitespace)
    })
}

/// Whether an http(s) URL has anything after its host and port but a single `/`.
fn url_has_path(text: &str) -> bool {
    let rest = text.split_once("://").map_or(text, |(_, r)| r);
    match rest.find(['/', '?', '#']) {
        Some(i) => &rest[i..] != "/",
        None => false,
    }
}

/// Whether `text` has no white space or control characters (which the spec's grammar allows
/// in some opaque parts, but which in a config file are always a mistake).
fn is_printable(text: &str) -> bool {
    !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A Matrix user id (`@user:server`), by the spec's rules as ruma checks them.
fn is_matrix_user_id(text: &str) -> bool {
    ruma_identifiers_validation::user_id::validate(text).is_ok() && is_printable(text)
}

/// A Matrix room id or alias, by the spec's rules as ruma checks them: `!opaque:server`, or
/// since room version 12 (Matrix 1.16) `!opaque` without a server, and `#alias:server`.
pub(crate) fn is_matrix_room(text: &str) -> bool {
    let valid = match text.as_bytes().first() {
        Some(b'!') => text.len() > 1 && ruma_identifiers_validation::room_id::validate(text).is_ok(),
        Some(b'#') => ruma_identifiers_validation::room_alias_id::validate(text).is_ok(),
        _ => false,
    };
    valid && is_printable(text)
}

fn is_telegram_user(text: &str) -> bool {
    let name = text.strip_prefix('@').unwrap_or(text);
    is_snowflake(text)
        || (text.starts_with('@') || name.chars().any(|c| c.is_ascii_alphabetic()))
            && (3..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn is_snowflake(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && text.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn defaults_are_valid() {
        validate(&BotsConfig::default()).unwrap();
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            ("server:\n  port: 0\n", "server.port"),
            ("server:\n  bind: 0.0.0.0\n", "server.api_token"),
            ("matrix:\n  user_id: bot\n", "matrix.user_id"),
            ("matrix:\n  enabled: true\n  user_id: '@b:x'\n", "matrix.homeserver_url"),
            ("matrix:\n  allowed_rooms: ['!ok:x', 'lounge']\n", "matrix.allowed_rooms[1]"),
            ("matrix:\n  allowed_rooms: ['!']\n", "matrix.allowed_rooms[0]"),
            ("matrix:\n  allowed_rooms: ['#lounge']\n", "matrix.allowed_rooms[0]"),
            ("matrix:\n  allowed_rooms: ['!a b:x']\n", "matrix.allowed_rooms[0]"),
            ("matrix:\n  recovery_key: my passphrase\n", "matrix.recovery_key"),
            (
                "matrix:\n  recovery_key: EsT0 zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz\n",
                "matrix.recovery_key",
            ),
            ("telegram:\n  allowed_users: ['al ice']\n", "telegram.allowed_users[0]"),
            ("telegram:\n  allowed_groups: [-100123, '@family']\n", "telegram.allowed_groups[1]"),
            ("discord:\n  allowed_users: ['@bob']\n", "discord.allowed_users[0]"),
            ("discord:\n  ack_emoji: 'two words'\n", "discord.ack_emoji"),
            ("matrix:\n  stream_edit_interval: 100ms\n", "matrix.stream_edit_interval"),
            ("telegram:\n  stream_edit_interval: 0s\n", "telegram.stream_edit_interval"),
            ("telegram:\n  bot_token: 'a b'\n", "telegram.bot_token"),
            ("brain:\n  kind: command\n", "brain.command"),
            ("brain:\n  timeout: 0s\n", "brain.timeout"),
            ("telegram:\n  api_url: 'ftp://x'\n", "telegram.api_url"),
            ("discord:\n  api_url: 'https://discord.com/api/v10'\n", "discord.api_url"),
            ("discord:\n  gateway_url: 'https://gateway.discord.gg'\n", "discord.gateway_url"),
            ("discord:\n  allowed_guilds: ['my server']\n", "discord.allowed_guilds[0]"),
            ("discord:\n  allowed_channels: [1, 'x']\n", "discord.allowed_channels[1]"),
            ("brain:\n  kind: anthropic\n  api_key: k\n", "brain.model"),
            ("brain:\n  kind: openai\n  model: ' '\n", "brain.model"),
            ("brain:\n  kind: anthropic\n  model: m\n", "brain.api_key"),
            ("brain:\n  kind: openai\n  model: m\n  max_tokens: 0\n", "brain.max_tokens"),
            ("brain:\n  base_url: localhost:8080\n", "brain.base_url"),
            ("brain:\n  max_retries: 50\n", "brain.max_retries"),
            ("brain:\n  api_key: 'a b'\n", "brain.api_key"),
            ("transcriber:\n  base_url: 'whisper'\n", "transcriber.base_url"),
            ("transcriber:\n  model: ''\n", "transcriber.model"),
            ("transcriber:\n  timeout: 0s\n", "transcriber.timeout"),
            ("transcriber:\n  language: English\n", "transcriber.language"),
            ("transcriber:\n  max_retries: 11\n", "transcriber.max_retries"),
            ("pairing:\n  expire_after: 0s\n", "pairing.expire_after"),
            ("pairing:\n  expire_after: soon\n", "pairing.expire_after"),
            ("pairing:\n  max_pending: 0\n", "pairing.max_pending"),
            ("pairing:\n  max_pending: -3\n", "pairing.max_pending"),
            ("max_media_bytes: 0\n", "max_media_bytes"),
            ("max_media_bytes: -5\n", "max_media_bytes"),
            ("log:\n  format: xml\n", "log.format"),
            ("log:\n  level: loud\n", "log.level"),
            ("log:\n  colour: true\n", "log.colour"),
        ];
        for (text, field) in cases {
            let err = parse_str(text).unwrap_err();
            assert_eq!(err.field(), Some(field), "{text} → {err}");
        }
    }

    #[test]
    fn recovery_keys_are_accepted_grouped_or_not() {
        let grouped = "EsTc 8Mzz ZJr3 pjmu PNbX eGFV bbsk jE4U 7iCD Rt5M n4Sj 2MmC";
        for key in [grouped, &grouped.replace(' ', "")] {
            let config = parse_str(&format!("matrix:\n  recovery_key: {key}\n")).unwrap();
            assert_eq!(config.matrix.recovery_key.unwrap().expose_secret(), key);
        }
    }

    #[test]
    fn brain_and_transcriber_errors_carry_their_position() {
        let err = parse_str("brain:\n  kind: openai\n  model: m\n  base_url: localhost:11434\n").unwrap_err();
        assert_eq!(err.to_string(), "brain.base_url: must be an http(s) URL (line 4, column 13)");
        let err = parse_str("transcriber:\n  model: small\n  timeout: 0s\n").unwrap_err();
        assert_eq!(err.to_string(), "transcriber.timeout: must be longer than zero (line 3, column 12)");
    }

    #[test]
    fn sandboxed_senders_may_be_given_readers_only_and_each_error_names_its_entry() {
        let config = parse_str("tools:\n  sandboxed: [read_note, search_notes]\n  max_steps: 4\n").unwrap();
        assert_eq!(config.tools.sandboxed.len(), 2);
        let err = parse_str("tools:\n  sandboxed:\n    - read_note\n    - write_memory\n").unwrap_err().to_string();
        assert!(err.starts_with("tools.sandboxed[1]: `write_memory` changes the vault"), "{err}");
        let err = parse_str("tools:\n  direct: [run_shell]\n").unwrap_err().to_string();
        assert!(err.contains("tools.direct") && err.contains("run_shell"), "{err}");
        let err = parse_str("tools:\n  max_steps: 0\n").unwrap_err().to_string();
        assert!(err.starts_with("tools.max_steps: must be between 1 and 32"), "{err}");
        let err = parse_str("brain:\n  persona_file: ' '\n").unwrap_err().to_string();
        assert!(err.starts_with("brain.persona_file: must not be empty"), "{err}");
    }

    #[test]
    fn the_media_limit_is_a_positive_byte_count_at_the_top_level() {
        assert_eq!(BotsConfig::default().max_media_bytes, 20_000_000);
        assert_eq!(parse_str("max_media_bytes: 1048576\n").unwrap().max_media_bytes, 1_048_576);
        let err = parse_str("server:\n  port: 3333\nmax_media_bytes: 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_media_bytes: must be at least 1 (bytes; the default is 20000000, 20 MB) (line 3, column 18)"
        );
        assert!(parse_str("max_media_bytes: 20MB\n").unwrap_err().to_string().contains("max_media_bytes"));
    }

    #[test]
    fn accepts_ids_aliases_and_usernames() {
        parse_str("matrix:\n  allowed_rooms: ['!abc:x.org', '#room:x.org']\ntelegram:\n  allowed_users: [42, '@alice_b', bob_c]\n")
            .unwrap();
        // Room version 12 (Matrix 1.16): the id is the create event's hash, without a server.
        let v12 = "!Mgth3DfVu8pfhb2YTr8uwkO0R1Qq7bwcuJ4sbW8pfhb";
        let config = parse_str(&format!("matrix:\n  allowed_rooms: ['{v12}', '!old:x.org']\n")).unwrap();
        assert_eq!(config.matrix.allowed_rooms, [v12, "!old:x.org"]);
        parse_str(
            "brain:\n  kind: command\n  command: my-agent\n  args: [--json]\n  timeout: 2m\n  allow_sandboxed: true\n",
        )
        .unwrap();
        parse_str(
            "discord:\n  api_url: 'http://127.0.0.1:8080/'\n  gateway_url: 'ws://127.0.0.1:8081'\n  allowed_guilds: ['81384788765712384']\n",
        )
        .unwrap();
        assert!(is_ws_url("wss://gateway.discord.gg/?v=10"));
        assert!(!is_ws_url("ws://"));
        assert!(url_has_path("https://discord.com/api"));
        assert!(!url_has_path("https://discord.com/") && !url_has_path("http://127.0.0.1:1"));
        parse_str("brain:\n  kind: anthropic\n  model: claude-x\n  api_key: sk-ant-x\n  max_tokens: 2048\n").unwrap();
        parse_str("brain:\n  kind: openai\n  model: llama\n  base_url: http://127.0.0.1:8080/v1\n").unwrap();
        parse_str("transcriber:\n  base_url: http://127.0.0.1:8000/v1\n  model: small\n  language: de\n").unwrap();
        assert!(is_http_url("http://127.0.0.1:8008"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("matrix.org"));
    }

    #[test]
    fn mcp_servers_are_checked_with_their_full_keys() {
        let ok = "tools:\n  mcp:\n    - name: notes\n      command: python3\n      args: [server.py]\n      env: [NOTES_KEY]\n    \
                  - name: web-search\n      url: http://127.0.0.1:8000/mcp\n      bearer_token_env: SEARCH_TOKEN\n";
        let config = parse_str(ok).unwrap();
        assert_eq!(config.tools.mcp.len(), 2);
        assert_eq!(config.tools.mcp[1].timeout.0, std::time::Duration::from_secs(30));
        for (yaml, key) in [
            ("- name: Notes\n  command: x\n", "tools.mcp[0].name"),
            ("- name: a__b\n  command: x\n", "tools.mcp[0].name"),
            ("- name: a_\n  command: x\n", "tools.mcp[0].name"),
            ("- name: a\n  command: x\n- name: a\n  url: http://h/mcp\n", "tools.mcp[1].name"),
            ("- name: a\n", "tools.mcp[0].command"),
            ("- name: a\n  command: x\n  url: http://h/mcp\n", "tools.mcp[0].url"),
            ("- name: a\n  url: ftp://h/mcp\n", "tools.mcp[0].url"),
            ("- name: a\n  url: http://h/mcp\n  args: [x]\n", "tools.mcp[0].args"),
            ("- name: a\n  command: x\n  bearer_token_env: T\n", "tools.mcp[0].bearer_token_env"),
            ("- name: a\n  url: http://h/mcp\n  bearer_token_env: 'not a name'\n", "tools.mcp[0].bearer_token_env"),
            ("- name: a\n  command: x\n  timeout: 0s\n", "tools.mcp[0].timeout"),
            ("- name: a\n  command: x\n  env: [API_KEY, 2FAST]\n", "tools.mcp[0].env[1]"),
            ("- name: a\n  url: http://h/mcp\n  env: [API_KEY]\n", "tools.mcp[0].env"),
        ] {
            let indented: String = yaml.lines().map(|line| format!("    {line}\n")).collect();
            let err = parse_str(&format!("tools:\n  mcp:\n{indented}")).unwrap_err();
            assert!(err.to_string().contains(key), "{yaml}: {err}");
        }
    }
}
