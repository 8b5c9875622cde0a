//! The owner's settings for one chat: an addition to the system prompt, the group mention
//! mode and the model, each unset by default (the config's value applies). Changes arrive as
//! partial updates (absent keeps, `null` clears) and are checked here, naming the key.

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{is_matrix_room, is_snowflake, is_telegram_chat_id};
use crate::gating::GroupMentionMode;
use crate::ids::Platform;

/// The longest system prompt addition, in characters.
pub const MAX_CHAT_PROMPT_CHARS: usize = 4_000;
/// The longest model name, in characters.
pub const MAX_MODEL_CHARS: usize = 128;

/// What the owner set for one chat; `None` leaves the config's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// Added to the system prompt after `brain.system_prompt`.
    pub system_prompt: Option<String>,
    /// Which messages are answered in this group (replaces the platform's
    /// `group_mention_mode`; direct chats answer everything anyway).
    pub mention_mode: Option<GroupMentionMode>,
    /// The model asked for this chat's answers (replaces `brain.model`).
    pub model: Option<String>,
}

impl ChatSettings {
    /// Whether nothing is set (the chat follows the config).
    pub fn is_empty(&self) -> bool {
        self.system_prompt.is_none() && self.mention_mode.is_none() && self.model.is_none()
    }
}

/// A change to a chat's settings: a key left out keeps its value, `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettingsUpdate {
    /// The new system prompt addition (`Some(None)`: clear it).
    #[serde(default, deserialize_with = "present")]
    pub system_prompt: Option<Option<String>>,
    /// The new mention mode.
    #[serde(default, deserialize_with = "present")]
    pub mention_mode: Option<Option<GroupMentionMode>>,
    /// The new model.
    #[serde(default, deserialize_with = "present")]
    pub model: Option<Option<String>>,
}

/// A key given in an update, with its value (`null` included).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A chat setting or chat id that is not accepted; `field` is its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidChatSetting {
    /// `chat`, `system_prompt`, `mention_mode` or `model`.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidChatSetting {
    InvalidChatSetting { field, message: message.into() }
}

impl ChatSettingsUpdate {
    /// Clears every setting: the chat follows the config again.
    pub fn clear_all() -> Self {
        Self { system_prompt: Some(None), mention_mode: Some(None), model: Some(None) }
    }

    /// `current` with this update applied, checked. Texts are trimmed; an empty text clears.
    pub fn apply(&self, current: ChatSettings) -> Result<ChatSettings, InvalidChatSetting> {
        let mut next = current;
        if let Some(prompt) = &self.system_prompt {
            next.system_prompt = prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
            if let Some(prompt) = &next.system_prompt {
                let chars = prompt.chars().count();
                if chars > MAX_CHAT_PROMPT_CHARS {
                    return Err(invalid(
                        "system_prompt",
                        format!(
                            "{chars} characters; at most {MAX_CHAT_PROMPT_CHARS} (put longer text in the persona file)"
                        ),
                    ));
                }
                if prompt.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err(invalid("system_prompt", "control characters other than new lines and tabs"));
                }
            }
        }
        if let Some(mode) = self.mention_mode {
            next.mention_mode = mode;
        }
        if let Some(model) = &self.model {
            next.model = model.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
            if let Some(model) = &next.model {
                if model.chars().count() > MAX_MODEL_CHARS {
                    return Err(invalid("model", format!("at most {MAX_MODEL_CHARS} characters")));
                }
                if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid("model", "a model name has no spaces or control characters"));
                }
            }
        }
        Ok(next)
    }
}

/// Checks that `chat` is a chat id of `platform` as its connector reports it: a Telegram
/// chat id (an integer), a Discord channel id (a snowflake), a Matrix room id (`!…`; an
/// alias names a room but is not its id).
pub fn check_chat_id(platform: Platform, chat: &str) -> Result<(), InvalidChatSetting> {
    let valid = match platform {
        Platform::Telegram => is_telegram_chat_id(chat) && chat.trim() == chat,
        Platform::Discord => is_snowflake(chat),
        Platform::Matrix => chat.starts_with('!') && is_matrix_room(chat),
    };
    if valid {
        return Ok(());
    }
    Err(invalid(
        "chat",
        match platform {
            Platform::Telegram => format!("`{chat}` is not a Telegram chat id (an integer, negative for groups)"),
            Platform::Discord => format!("`{chat}` is not a Discord channel id (digits)"),
            Platform::Matrix if chat.starts_with('#') => {
                format!("`{chat}` is a room alias; use the room id (`!…`, shown in `parachute pairing list`)")
            }
            Platform::Matrix => format!("`{chat}` is not a Matrix room id (`!id` or `!id:server`)"),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> ChatSettingsUpdate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn absent_keeps_null_clears_a_value_sets() {
        let start = ChatSettings {
            system_prompt: Some("Speak French.".into()),
            mention_mode: Some(GroupMentionMode::AllMessages),
            model: Some("m-1".into()),
        };
        assert_eq!(update("{}").apply(start.clone()).unwrap(), start);
        let cleared = update(r#"{"system_prompt": null, "mention_mode": null}"#).apply(start.clone()).unwrap();
        assert_eq!(cleared, ChatSettings { model: Some("m-1".into()), ..ChatSettings::default() });
        let set = update(r#"{"model": " m-2 ", "mention_mode": "mention_only"}"#).apply(cleared).unwrap();
        assert_eq!(set.model.as_deref(), Some("m-2"));
        assert_eq!(set.mention_mode, Some(GroupMentionMode::MentionOnly));
        assert!(update(r#"{"model": "  ", "mention_mode": null}"#).apply(set).unwrap().is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        let long = format!(r#"{{"system_prompt": "{}"}}"#, "a".repeat(MAX_CHAT_PROMPT_CHARS + 1));
        assert_eq!(update(&long).apply(ChatSettings::default()).unwrap_err().field, "system_prompt");
        let control = update(r#"{"system_prompt": "a\u0007b"}"#).apply(ChatSettings::default());
        assert_eq!(control.unwrap_err().field, "system_prompt");
        let lines = update(r#"{"system_prompt": "one\n\ttwo"}"#).apply(ChatSettings::default()).unwrap();
        assert_eq!(lines.system_prompt.as_deref(), Some("one\n\ttwo"));
        assert_eq!(update(r#"{"model": "a b"}"#).apply(ChatSettings::default()).unwrap_err().field, "model");
        assert!(serde_json::from_str::<ChatSettingsUpdate>(r#"{"mention_mode": "sometimes"}"#).is_err());
        assert!(serde_json::from_str::<ChatSettingsUpdate>(r#"{"prompt": "x"}"#).is_err(), "unknown keys");
    }

    #[test]
    fn chat_ids_are_checked_per_platform() {
        for (platform, chat) in [
            (Platform::Telegram, "-1001234"),
            (Platform::Telegram, "42"),
            (Platform::Discord, "123456789012345678"),
            (Platform::Matrix, "!abc:example.org"),
            (Platform::Matrix, "!BPQzAkpbWp1mLaQ9CHPdVoBZy2HAPHpkTuTNiM8O7lM"),
        ] {
            assert_eq!(check_chat_id(platform, chat), Ok(()), "{platform} {chat}");
        }
        for (platform, chat) in [
            (Platform::Telegram, "group"),
            (Platform::Telegram, " 42"),
            (Platform::Discord, "12a"),
            (Platform::Matrix, "#lounge:example.org"),
            (Platform::Matrix, "!a b"),
            (Platform::Matrix, "lounge"),
        ] {
            let err = check_chat_id(platform, chat).unwrap_err();
            assert_eq!(err.field, "chat", "{platform} {chat}");
        }
        assert!(check_chat_id(Platform::Matrix, "#x:y").unwrap_err().message.contains("room id"));
    }
}
