//! Typed identifiers: which platform, which chat, which user, which event.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A chat platform parachute connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Telegram Bot API.
    Telegram,
    /// Discord gateway + REST.
    Discord,
    /// A Matrix homeserver.
    Matrix,
}

impl Platform {
    /// Every platform, in the order status listings show them.
    pub const ALL: [Platform; 3] = [Platform::Telegram, Platform::Discord, Platform::Matrix];

    /// The lowercase name used in config keys, URLs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
            Platform::Matrix => "matrix",
        }
    }

    /// The prefix this platform's users type before a command (`!new` or `/new`).
    pub fn command_prefix(self) -> char {
        match self {
            Platform::Matrix | Platform::Discord => '!',
            Platform::Telegram => '/',
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is not one of telegram, discord, matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}` (expected telegram, discord or matrix)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "telegram" => Ok(Platform::Telegram),
            "discord" => Ok(Platform::Discord),
            "matrix" => Ok(Platform::Matrix),
            _ => Err(UnknownPlatform(s.to_owned())),
        }
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as the platform spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A chat on one platform: a Matrix room id, a Telegram chat id, a Discord channel id.
    ChatId
);
string_id!(
    /// A user on one platform: a Matrix user id, a Telegram user id, a Discord user id.
    UserId
);
string_id!(
    /// One event/message on one platform, used to never answer the same event twice.
    EventId
);

/// Whether a chat is a direct conversation with the bot or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A one-to-one conversation with the bot.
    Direct,
    /// A room, group or guild channel with several people.
    Group,
}

/// A chat across platforms: the key of sessions and of the per-chat queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatKey {
    /// The platform the chat lives on.
    pub platform: Platform,
    /// The chat on that platform.
    pub chat: ChatId,
}

impl fmt::Display for ChatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.chat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_round_trips_through_its_name() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
        }
        assert_eq!(" Matrix ".parse::<Platform>(), Ok(Platform::Matrix));
        let err = "irc".parse::<Platform>().unwrap_err();
        assert!(err.to_string().contains("irc"));
    }
}
