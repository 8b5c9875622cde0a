//! Should the bot answer this message? Group mention gating as a pure decision.

use serde::{Deserialize, Serialize};

use crate::ids::ChatKind;

/// How the bot behaves in group chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMentionMode {
    /// Answer only messages that mention the bot, reply to it, or are commands (the default).
    #[default]
    MentionOnly,
    /// Answer every message in the group.
    AllMessages,
}

/// Whether a message gets an answer: always in a direct chat; in a group, when it addresses
/// the bot (mention or reply to the bot), is a command, or the mode is `all_messages`.
/// Messages that are not answered still count as group context for later answers.
pub fn should_answer(kind: ChatKind, mode: GroupMentionMode, addresses_bot: bool, is_command: bool) -> bool {
    match kind {
        ChatKind::Direct => true,
        ChatKind::Group => mode == GroupMentionMode::AllMessages || addresses_bot || is_command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_answer_mentions_and_commands_only_in_mention_mode() {
        use ChatKind::*;
        use GroupMentionMode::*;
        assert!(should_answer(Direct, MentionOnly, false, false));
        assert!(!should_answer(Group, MentionOnly, false, false));
        assert!(should_answer(Group, MentionOnly, true, false));
        assert!(should_answer(Group, MentionOnly, false, true));
        assert!(should_answer(Group, AllMessages, false, false));
    }
}
