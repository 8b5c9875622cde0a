//! The owner's settings for single chats (`chat_settings`): read by the gate with each
//! message's lookup, written through the API. A chat with nothing set has no row.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Db, StoreError, now_ms};
use parachute_core::chat_settings::{ChatSettings, ChatSettingsUpdate, InvalidChatSetting, check_chat_id};
use parachute_core::gating::GroupMentionMode;
use parachute_core::ids::Platform;

/// One chat's settings, with where and when. In JSON: `{platform, chat_id, system_prompt,
/// mention_mode, model, updated_at}` (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatSettingsRecord {
    /// The platform.
    pub platform: Platform,
    /// The chat's id on it.
    pub chat_id: String,
    /// What is set.
    #[serde(flatten)]
    pub settings: ChatSettings,
    /// When they were last changed (ms since the epoch).
    #[serde(rename = "updated_at", serialize_with = "super::pairing::ms_as_rfc3339")]
    pub updated_at_ms: i64,
}

fn settings_of(row: &Row<'_>, first: usize) -> Result<ChatSettings, rusqlite::Error> {
    let mode: Option<String> = row.get(first + 1)?;
    let mention_mode = match mode.as_deref() {
        None => None,
        Some(name) => Some(GroupMentionMode::from_name(name).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                first + 1,
                rusqlite::types::Type::Text,
                format!("unknown mention mode `{name}`").into(),
            )
        })?),
    };
    Ok(ChatSettings { system_prompt: row.get(first)?, mention_mode, model: row.get(first + 2)? })
}

impl Db {
    /// What the owner set for a chat (all unset when nothing is).
    pub fn chat_settings(&self, platform: Platform, chat: &str) -> Result<ChatSettings, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT system_prompt, mention_mode, model FROM chat_settings WHERE platform = ?1 AND chat_id = ?2",
            )?
            .query_row(params![platform.as_str(), chat], |row| settings_of(row, 0))
            .optional()?;
        Ok(found.unwrap_or_default())
    }

    /// Stores a chat's settings; settings with nothing set remove its row.
    pub fn set_chat_settings(&self, platform: Platform, chat: &str, settings: &ChatSettings) -> Result<(), StoreError> {
        if settings.is_empty() {
            self.conn
                .prepare_cached("DELETE FROM chat_settings WHERE platform = ?1 AND chat_id = ?2")?
                .execute(params![platform.as_str(), chat])?;
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO chat_settings (platform, chat_id, system_prompt, mention_mode, model, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (platform, chat_id) DO UPDATE SET system_prompt = excluded.system_prompt,
                   mention_mode = excluded.mention_mode, model = excluded.model, updated_at = excluded.updated_at",
            )?
            .execute(params![
                platform.as_str(),
                chat,
                settings.system_prompt,
                settings.mention_mode.map(GroupMentionMode::as_str),
                settings.model,
                now_ms()
            ])?;
        Ok(())
    }

    /// Applies the owner's change to a chat's settings (checked against what is stored, in
    /// the caller's job) and returns the result; a refused change stores nothing.
    pub fn update_chat_settings(
        &self,
        platform: Platform,
        chat: &str,
        update: &ChatSettingsUpdate,
    ) -> Result<Result<ChatSettingsRecord, InvalidChatSetting>, StoreError> {
        if let Err(invalid) = check_chat_id(platform, chat) {
            return Ok(Err(invalid));
        }
        let settings = match update.apply(self.chat_settings(platform, chat)?) {
            Ok(settings) => settings,
            Err(invalid) => return Ok(Err(invalid)),
        };
        self.set_chat_settings(platform, chat, &settings)?;
        Ok(Ok(ChatSettingsRecord { platform, chat_id: chat.to_owned(), settings, updated_at_ms: now_ms() }))
    }

    /// Every chat with something set, by platform and chat id.
    pub fn list_chat_settings(&self) -> Result<Vec<ChatSettingsRecord>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT platform, chat_id, system_prompt, mention_mode, model, updated_at FROM chat_settings
             ORDER BY platform, chat_id",
        )?;
        let rows = statement.query_map([], |row| {
            let platform: String = row.get(0)?;
            Ok((platform, row.get::<_, String>(1)?, settings_of(row, 2)?, row.get::<_, i64>(5)?))
        })?;
        rows.map(|row| {
            let (platform, chat_id, settings, updated_at_ms) = row?;
            let platform = platform
                .parse()
                .map_err(|_| StoreError::Corrupt { table: "chat_settings", value: format!("platform `{platform}`") })?;
            Ok(ChatSettingsRecord { platform, chat_id, settings, updated_at_ms })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_kept_per_chat_and_cleared_by_setting_nothing() {
        let db = Db::open_in_memory().unwrap();
        assert!(db.chat_settings(Platform::Matrix, "!a").unwrap().is_empty());
        let settings = ChatSettings {
            system_prompt: Some("Answer in French.".into()),
            mention_mode: Some(GroupMentionMode::AllMessages),
            model: None,
        };
        db.set_chat_settings(Platform::Matrix, "!a", &settings).unwrap();
        assert_eq!(db.chat_settings(Platform::Matrix, "!a").unwrap(), settings);
        assert!(db.chat_settings(Platform::Telegram, "!a").unwrap().is_empty(), "per platform");
        let model = ChatSettings { model: Some("small".into()), ..ChatSettings::default() };
        db.set_chat_settings(Platform::Telegram, "-100", &model).unwrap();
        let listed = db.list_chat_settings().unwrap();
        assert_eq!(
            listed.iter().map(|r| (r.platform, r.chat_id.as_str(), &r.settings)).collect::<Vec<_>>(),
            [(Platform::Matrix, "!a", &settings), (Platform::Telegram, "-100", &model)]
        );
        db.set_chat_settings(Platform::Matrix, "!a", &ChatSettings::default()).unwrap();
        assert_eq!(db.list_chat_settings().unwrap().len(), 1);
    }

    #[test]
    fn an_update_is_checked_against_what_is_stored_and_a_refused_one_stores_nothing() {
        let db = Db::open_in_memory().unwrap();
        let update = |json: &str| serde_json::from_str::<ChatSettingsUpdate>(json).unwrap();
        let set = db.update_chat_settings(Platform::Discord, "42", &update(r#"{"model": "big"}"#)).unwrap().unwrap();
        assert_eq!(set.settings.model.as_deref(), Some("big"));
        let more = update(r#"{"mention_mode": "all_messages"}"#);
        let both = db.update_chat_settings(Platform::Discord, "42", &more).unwrap().unwrap();
        assert_eq!(
            (both.settings.model.as_deref(), both.settings.mention_mode),
            (Some("big"), Some(GroupMentionMode::AllMessages))
        );
        let bad = db.update_chat_settings(Platform::Discord, "42", &update(r#"{"model": "a b"}"#)).unwrap();
        assert_eq!(bad.unwrap_err().field, "model");
        let not_a_channel = db.update_chat_settings(Platform::Discord, "general", &more).unwrap();
        assert_eq!(not_a_channel.unwrap_err().field, "chat");
        assert_eq!(db.chat_settings(Platform::Discord, "42").unwrap(), both.settings, "unchanged");
        assert_eq!(db.list_chat_settings().unwrap().len(), 1);
    }
}
