//! Trust levels: how much a sender may make the brain do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How far the brain may act for a sender. Travels with every brain request.
///
/// The older names of the original server are accepted on input: `untrusted` means
/// `sandboxed`, `trusted` and `full` mean `direct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    /// Conversation only; no tools that touch the vault or the machine (the default).
    #[default]
    #[serde(alias = "untrusted")]
    Sandboxed,
    /// The owner's own level: the brain may act on the vault.
    #[serde(alias = "trusted", alias = "full")]
    Direct,
}

impl TrustLevel {
    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Sandboxed => "sandboxed",
            TrustLevel::Direct => "direct",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trust level name that is none of the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trust level `{0}` (expected sandboxed or direct)")]
pub struct UnknownTrustLevel(pub String);

impl FromStr for TrustLevel {
    type Err = UnknownTrustLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandboxed" | "untrusted" => Ok(TrustLevel::Sandboxed),
            "direct" | "trusted" | "full" => Ok(TrustLevel::Direct),
            _ => Err(UnknownTrustLevel(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_names_map_to_current_levels() {
        assert_eq!("untrusted".parse(), Ok(TrustLevel::Sandboxed));
        assert_eq!("trusted".parse(), Ok(TrustLevel::Direct));
        assert_eq!("FULL".parse(), Ok(TrustLevel::Direct));
        assert!("root".parse::<TrustLevel>().is_err());
        let from_yaml: TrustLevel = serde_yaml::from_str("untrusted").unwrap();
        assert_eq!(from_yaml, TrustLevel::Sandboxed);
        assert_eq!(serde_yaml::to_string(&TrustLevel::Direct).unwrap().trim(), "direct");
    }
}
