//! Reading `bots.yaml`: YAML errors and validation errors both name the key and the position.

use std::path::Path;

use super::error::ConfigError;
use super::locate::locate;
use super::model::BotsConfig;
use super::validate::validate;

/// Parses and validates a config document. An empty document means the defaults.
pub fn parse_str(text: &str) -> Result<BotsConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(BotsConfig::default());
    }
    let config: BotsConfig = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| from_yaml_error(e, text))?;
    validate(&config).map_err(|err| match err {
        ConfigError::Invalid { field, message, location: None } => {
            let location = locate(text, &field);
            ConfigError::Invalid { field, message, location }
        }
        other => other,
    })?;
    Ok(config)
}

/// Loads the config file; a missing file means the defaults (every connector disabled).
pub fn load_file(path: &Path) -> Result<BotsConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BotsConfig::default()),
        Err(err) => Err(ConfigError::Io { path: path.display().to_string(), message: err.to_string() }),
    }
}

/// Turns serde_yaml's `path: message at line L column C` into a located `ConfigError`. The key
/// path comes from `serde_path_to_error`, which follows the deserializer into every value:
/// serde_yaml alone names only the section when a value's own type refuses it (a duration,
/// say), so the error would name `pairing` instead of `pairing.expire_after`.
fn from_yaml_error(err: serde_path_to_error::Error<serde_yaml::Error>, source: &str) -> ConfigError {
    let path = err.path().to_string();
    let err = err.into_inner();
    let location = err.location().map(|loc| (loc.line(), loc.column()));
    let mut text = err.to_string();
    if let Some(pos) = text.rfind(" at line ") {
        text.truncate(pos);
    }
    let (field, message) = match text.split_once(": ") {
        Some((yaml_path, rest)) if looks_like_path(yaml_path) => (yaml_path.to_owned(), rest.to_owned()),
        _ => (String::new(), text),
    };
    if path != "." && path.len() > field.len() && looks_like_path(&path) {
        // serde_yaml's position is then the section's; the key's own is found in the text.
        let location = if message.starts_with("unknown field") { location } else { locate(source, &path).or(location) };
        return ConfigError::Invalid { field: path, message, location };
    }
    ConfigError::Invalid { field, message, location }
}

fn looks_like_path(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn empty_and_missing_files_mean_defaults() {
        let config = parse_str("   \n").unwrap();
        assert!(!config.matrix.enabled && !config.telegram.enabled && !config.discord.enabled);
        let dir = tempfile::tempdir().unwrap();
        let config = load_file(&dir.path().join("nope.yaml")).unwrap();
        assert_eq!(config.server.port, 3333);
    }

    #[test]
    fn reads_a_full_document_with_older_trust_names() {
        let text = "\
server:
  port: 4000
matrix:
  enabled: true
  homeserver_url: https://matrix.example.org
  user_id: \"@bot:example.org\"
  access_token: syt_secret_value
  allowed_rooms: ['!abc:example.org', '#lounge:example.org']
  dm_trust_level: trusted
  group_mention_mode: all_messages
  catch_up_max_age: 5m
telegram:
  allowed_users: [123456, '@alice']
";
        let config = parse_str(text).unwrap();
        assert_eq!(config.server.port, 4000);
        assert_eq!(config.matrix.access_token.as_ref().unwrap().expose_secret(), "syt_secret_value");
        assert_eq!(config.matrix.dm_trust_level, crate::trust::TrustLevel::Direct);
        assert_eq!(config.matrix.catch_up_max_age.0.as_secs(), 300);
        assert_eq!(config.telegram.allowed_users, vec!["123456".to_owned(), "@alice".to_owned()]);
        assert!(!format!("{config:?}").contains("syt_secret_value"));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name_with_position() {
        let err = parse_str("matrix:\n  enabled: true\n  homeserver: x\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("matrix.homeserver: unknown field `homeserver`"), "{text}");
        assert!(text.contains("(line 3, column 3)"), "{text}");
        assert_eq!(err.field(), Some("matrix.homeserver"), "the full key");
    }

    #[test]
    fn bad_types_name_the_key() {
        let err = parse_str("server:\n  port: lots\n").unwrap_err();
        assert_eq!(err.field(), Some("server.port"), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_str("telegram:\n  dm_trust_level: root\n").unwrap_err();
        assert_eq!(err.field(), Some("telegram.dm_trust_level"), "{err}");
        let err = parse_str("discord:\n  enabled: false\n  catch_up_max_age: soon\n").unwrap_err();
        assert_eq!(err.field(), Some("discord.catch_up_max_age"), "a value its type refused: {err}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn validation_errors_carry_the_value_position() {
        let text = "matrix:\n  enabled: true\n  user_id: \"@bot:example.org\"\n  homeserver_url: ftp://example.org\n";
        let err = parse_str(text).unwrap_err();
        assert_eq!(err.to_string(), "matrix.homeserver_url: must be an http(s) URL (line 4, column 19)");
    }

    #[test]
    fn malformed_yaml_reports_a_position() {
        let err = parse_str("matrix:\n  enabled: [true\n").unwrap_err();
        assert!(err.to_string().contains("line"), "{err}");
    }
}
