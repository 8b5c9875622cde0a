//! The companion's built-in vault tools and who may use them: the catalog and the policy
//! (pure decisions; the tools themselves run in the runtime).

use serde::{Deserialize, Serialize};

use crate::config::ToolsConfig;
use crate::trust::TrustLevel;

/// A built-in tool over the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaultTool {
    /// Finds notes whose text contains the words asked for.
    SearchNotes,
    /// Reads one note.
    ReadNote,
    /// Lists the latest journal entries.
    RecentJournal,
    /// Adds an entry to today's journal.
    AppendJournal,
    /// Writes a note under `memory/` that the companion reads in later conversations.
    WriteMemory,
}

impl VaultTool {
    /// Every built-in tool, readers first.
    pub const ALL: [VaultTool; 5] = [
        VaultTool::SearchNotes,
        VaultTool::ReadNote,
        VaultTool::RecentJournal,
        VaultTool::AppendJournal,
        VaultTool::WriteMemory,
    ];

    /// The name the model calls it by (and the config spells).
    pub fn name(self) -> &'static str {
        match self {
            VaultTool::SearchNotes => "search_notes",
            VaultTool::ReadNote => "read_note",
            VaultTool::RecentJournal => "recent_journal",
            VaultTool::AppendJournal => "append_journal",
            VaultTool::WriteMemory => "write_memory",
        }
    }

    /// The tool called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }

    /// Whether it only reads the vault (the most a `sandboxed` sender may be given).
    pub fn read_only(self) -> bool {
        matches!(self, VaultTool::SearchNotes | VaultTool::ReadNote | VaultTool::RecentJournal)
    }
}

/// The tools the brain may call while answering a sender of `trust`: the configured list of
/// that level, and for `sandboxed` senders never one that writes (validation refuses such a
/// config; this holds even for a config that skipped it).
pub fn allowed_tools(config: &ToolsConfig, trust: TrustLevel) -> Vec<VaultTool> {
    let configured = match trust {
        TrustLevel::Direct => &config.direct,
        TrustLevel::Sandboxed => &config.sandboxed,
    };
    let mut tools: Vec<VaultTool> =
        configured.iter().copied().filter(|tool| trust == TrustLevel::Direct || tool.read_only()).collect();
    tools.sort_by_key(|tool| VaultTool::ALL.iter().position(|t| t == tool));
    tools.dedup();
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_readers_are_read_only() {
        for tool in VaultTool::ALL {
            assert_eq!(VaultTool::from_name(tool.name()), Some(tool));
        }
        assert_eq!(VaultTool::from_name("run_shell"), None);
        let readers: Vec<&str> = VaultTool::ALL.into_iter().filter(|t| t.read_only()).map(VaultTool::name).collect();
        assert_eq!(readers, ["search_notes", "read_note", "recent_journal"]);
    }

    #[test]
    fn direct_senders_get_all_by_default_and_sandboxed_none() {
        let config = ToolsConfig::default();
        assert_eq!(allowed_tools(&config, TrustLevel::Direct), VaultTool::ALL);
        assert_eq!(allowed_tools(&config, TrustLevel::Sandboxed), []);
    }

    #[test]
    fn a_sandboxed_sender_never_gets_a_writing_tool() {
        let config = ToolsConfig {
            sandboxed: vec![VaultTool::WriteMemory, VaultTool::ReadNote, VaultTool::AppendJournal, VaultTool::ReadNote],
            ..ToolsConfig::default()
        };
        assert_eq!(allowed_tools(&config, TrustLevel::Sandboxed), [VaultTool::ReadNote]);
    }
}
