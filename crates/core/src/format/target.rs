//! The platforms an answer can be formatted for, and their message size limits.

use std::fmt;
use std::str::FromStr;

/// A platform whose message format and size limit an answer must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Matrix: `body` (plain text) + `formatted_body` (`org.matrix.custom.html`).
    Matrix,
    /// Telegram Bot API, HTML parse mode.
    Telegram,
    /// Discord markdown.
    Discord,
}

impl Target {
    /// Every target, in a fixed order.
    pub const ALL: [Target; 3] = [Target::Matrix, Target::Telegram, Target::Discord];

    /// Longest message, as the platform counts it: Matrix characters of `body` (25,000),
    /// Telegram UTF-16 code units of the text after entity parsing (4,096), Discord
    /// characters (2,000).
    pub fn limit(self) -> usize {
        match self {
            Target::Matrix => 25_000,
            Target::Telegram => 4_096,
            Target::Discord => 2_000,
        }
    }

    /// The lower-case name used on the command line and in config.
    pub fn name(self) -> &'static str {
        match self {
            Target::Matrix => "matrix",
            Target::Telegram => "telegram",
            Target::Discord => "discord",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of `matrix`, `telegram`, `discord`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format target {0:?}: expected one of matrix, telegram, discord")]
pub struct UnknownTarget(pub String);

impl FromStr for Target {
    type Err = UnknownTarget;

    /// Reads `matrix`, `telegram` or `discord` (ASCII case and surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Target::ALL
            .into_iter()
            .find(|target| target.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownTarget(s.to_owned()))
    }
}
