//! The API's views of the config: a masked document without secrets, and partial updates.

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::load::parse_str;
use super::model::BotsConfig;

/// (section, secret key, flag the masked view shows instead).
const SECRETS: [(&str, &str, &str); 7] = [
    ("server", "api_token", "has_api_token"),
    ("brain", "api_key", "has_api_key"),
    ("transcriber", "api_key", "has_api_key"),
    ("telegram", "bot_token", "has_token"),
    ("discord", "bot_token", "has_token"),
    ("matrix", "access_token", "has_token"),
    ("matrix", "recovery_key", "has_recovery_key"),
];

/// The config as the API shows it: every key, secrets replaced by `has_token` flags.
pub fn masked_json(config: &BotsConfig) -> Value {
    let mut doc = serde_json::to_value(config).unwrap_or(Value::Null);
    for (section, key, flag) in SECRETS {
        if let Some(Value::Object(map)) = doc.get_mut(section) {
            let set = map.remove(key).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()));
            map.insert(flag.to_owned(), Value::Bool(set));
        }
    }
    doc
}

/// Applies a partial document (`{"matrix": {"allowed_rooms": [...]}}`) to `current`: objects
/// merge key by key, other values replace, `null` resets a key to its default. A secret that
/// is missing, empty, `null` or masked keeps the stored one; the read-only `has_token` flags
/// of the masked view are ignored. The merged result is validated as a whole.
pub fn apply_patch(current: &BotsConfig, patch: &Value) -> Result<BotsConfig, ConfigError> {
    let Value::Object(patch) = patch else {
        return Err(ConfigError::invalid("", "the config update must be a JSON object"));
    };
    let mut patch = patch.clone();
    for (section, key, flag) in SECRETS {
        if let Some(Value::Object(map)) = patch.get_mut(section) {
            map.remove(flag);
            let keep_stored = match map.get(key) {
                Some(Value::String(s)) => is_placeholder(s),
                Some(Value::Null) => true,
                _ => false,
            };
            if keep_stored {
                map.remove(key);
            }
        }
    }
    let mut merged = serde_json::to_value(current).unwrap_or_else(|_| Value::Object(Map::new()));
    merge_into(&mut merged, Value::Object(patch));
    let yaml = serde_yaml::to_string(&merged)
        .map_err(|err| ConfigError::invalid("", format!("cannot read the update: {err}")))?;
    parse_str(&yaml).map_err(ConfigError::without_location)
}

/// Whether a secret sent in an update stands for "keep the stored one": empty, or masked
/// (`****`, `••••`) as a form shows it.
pub(super) fn is_placeholder(secret: &str) -> bool {
    secret.trim().is_empty() || secret.chars().all(|c| c == '*' || c == '•')
}

fn merge_into(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match value {
                    Value::Null => {
                        target.remove(&key);
                    }
                    Value::Object(_) if target.get(&key).is_some_and(Value::is_object) => {
                        if let Some(slot) = target.get_mut(&key) {
                            merge_into(slot, value);
                        }
                    }
                    other => {
                        target.insert(key, other);
                    }
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use serde_json::json;

    fn with_token() -> BotsConfig {
        let mut config = BotsConfig::default();
        config.matrix.access_token = Some(SecretString::from("syt_stored_token"));
        config.matrix.homeserver_url = "https://old.example.org".into();
        config
    }

    #[test]
    fn masked_view_has_flags_and_no_secrets() {
        let doc = masked_json(&with_token());
        let text = doc.to_string();
        assert!(!text.contains("syt_stored_token"));
        assert_eq!(doc["matrix"]["has_token"], json!(true));
        assert_eq!(doc["telegram"]["has_token"], json!(false));
        assert_eq!(doc["server"]["has_api_token"], json!(false));
        assert!(doc["matrix"].get("access_token").is_none());
        assert_eq!(doc["max_media_bytes"], json!(20_000_000), "the media limit is shown at the top level");
    }

    #[test]
    fn the_media_limit_is_updated_and_checked_like_any_key() {
        let merged = apply_patch(&with_token(), &json!({"max_media_bytes": 5_000_000})).unwrap();
        assert_eq!(merged.max_media_bytes, 5_000_000);
        let err = apply_patch(&with_token(), &json!({"max_media_bytes": 0})).unwrap_err();
        assert_eq!(err.field(), Some("max_media_bytes"), "{err}");
        let reset = apply_patch(&merged, &json!({"max_media_bytes": null})).unwrap();
        assert_eq!(reset.max_media_bytes, 20_000_000);
    }

    #[test]
    fn brain_and_transcriber_keys_are_masked_and_kept() {
        let mut config = BotsConfig::default();
        config.brain.api_key = Some(SecretString::from("sk-brain-secret"));
        config.transcriber.api_key = Some(SecretString::from("sk-whisper-secret"));
        let doc = masked_json(&config);
        let text = doc.to_string();
        assert!(!text.contains("sk-brain-secret") && !text.contains("sk-whisper-secret"), "{text}");
        assert_eq!(doc["brain"]["has_api_key"], json!(true));
        assert_eq!(doc["transcriber"]["has_api_key"], json!(true));
        let patch = json!({"brain": {"api_key": "", "max_tokens": 99}, "transcriber": {"api_key": null}});
        let merged = apply_patch(&config, &patch).unwrap();
        assert_eq!(merged.brain.max_tokens, 99);
        assert_eq!(merged.brain.api_key.unwrap().expose_secret(), "sk-brain-secret");
        assert_eq!(merged.transcriber.api_key.unwrap().expose_secret(), "sk-whisper-secret");
    }

    #[test]
    fn partial_update_changes_only_given_keys_and_keeps_secrets() {
        let patch =
            json!({"matrix": {"homeserver_url": "https://new.example.org", "access_token": "", "has_token": true}});
        let merged = apply_patch(&with_token(), &patch).unwrap();
        assert_eq!(merged.matrix.homeserver_url, "https://new.example.org");
        assert_eq!(merged.matrix.access_token.unwrap().expose_secret(), "syt_stored_token");
        assert_eq!(merged.server.port, 3333);
        let masked = json!({"matrix": {"access_token": "********"}});
        let merged = apply_patch(&with_token(), &masked).unwrap();
        assert_eq!(merged.matrix.access_token.unwrap().expose_secret(), "syt_stored_token");
        let replaced = apply_patch(&with_token(), &json!({"matrix": {"access_token": "syt_new"}})).unwrap();
        assert_eq!(replaced.matrix.access_token.unwrap().expose_secret(), "syt_new");
    }

    #[test]
    fn null_resets_and_bad_values_name_the_field() {
        let reset = apply_patch(&with_token(), &json!({"matrix": {"homeserver_url": null}})).unwrap();
        assert_eq!(reset.matrix.homeserver_url, "");
        let err = apply_patch(&with_token(), &json!({"matrix": {"homeserver_url": "gopher://x"}})).unwrap_err();
        assert_eq!(err.field(), Some("matrix.homeserver_url"));
        assert!(!err.to_string().contains("line"), "{err}");
        let err = apply_patch(&with_token(), &json!({"matrix": {"colour": "red"}})).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = apply_patch(&with_token(), &json!({"matrix": {"allowed_rooms": ["!a:x", 7]}})).unwrap_err();
        assert!(err.field().is_some_and(|f| f.starts_with("matrix.allowed_rooms")), "{err}");
        assert!(apply_patch(&with_token(), &json!([1])).is_err());
        for (section, key, value) in [
            ("discord", "catch_up_max_age", json!("banana")),
            ("discord", "catch_up_max_age", json!("-5s")),
            ("telegram", "catch_up_max_age", json!(-5)),
            ("pairing", "expire_after", json!("soon")),
            ("brain", "timeout", json!("forever")),
            ("server", "port", json!("lots")),
        ] {
            let err = apply_patch(&with_token(), &json!({section: {key: value}})).unwrap_err();
            assert_eq!(err.field(), Some(format!("{section}.{key}").as_str()), "the full key: {err}");
        }
    }
}
