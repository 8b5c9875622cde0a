//! Turns a [`BrainRequest`] into what chat LLM APIs take: a system prompt naming the platform
//! and the speaker, and alternating user / assistant turns starting and ending with the user.

use parachute_core::ids::{ChatKind, Platform};
use serde::Serialize;

use super::BrainRequest;
use crate::store::HistoryRole;

/// Who a turn is from, as the chat APIs spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The people in the chat.
    User,
    /// The bot.
    Assistant,
}

/// One message of the conversation sent to the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Turn {
    /// Its author.
    pub role: Role,
    /// Its text; in groups, people's messages start with `Name: `.
    pub content: String,
}

/// The system prompt: the persona (or a plain companion when there is none), where the
/// conversation happens and with whom, the configured instructions, the owner's instructions
/// for this chat, then the memory notes.
pub fn system_prompt(request: &BrainRequest) -> String {
    let platform = platform_name(request.platform);
    let name = &request.sender_display;
    let persona = request.persona.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let mut prompt = match persona {
        Some(persona) => format!("{persona}\n\n"),
        None => "You are parachute, a friendly companion. ".to_owned(),
    };
    prompt.push_str(&match request.chat_kind {
        ChatKind::Direct => format!("You are chatting on {platform}. This is a direct conversation with {name}."),
        ChatKind::Group => format!(
            "You are in a {platform} group chat. Messages from people start with their name; the latest one is from {name}."
        ),
    });
    prompt.push_str(" Answer in Markdown, as suits a chat message.");
    for extra in [&request.system_prompt, &request.chat_prompt] {
        if let Some(extra) = extra.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            prompt.push_str("\n\n");
            prompt.push_str(extra);
        }
    }
    if let Some(memory) = request.memory.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        prompt
            .push_str("\n\nYour memory notes (you wrote them with write_memory; they last across conversations):\n\n");
        prompt.push_str(memory);
    }
    prompt
}

/// The history and the message as alternating turns: consecutive messages of one side are
/// joined (group context, or a question whose answer failed), answers before the first
/// question are dropped, and the last turn is the message being answered.
pub fn turns(request: &BrainRequest) -> Vec<Turn> {
    let group = request.chat_kind == ChatKind::Group;
    let people = |sender: &str, text: &str| if group { format!("{sender}: {text}") } else { text.to_owned() };
    let history = request.history.iter().map(|entry| match entry.role {
        HistoryRole::Assistant => (Role::Assistant, entry.text.clone()),
        HistoryRole::User => (Role::User, people(&entry.sender, &entry.text)),
        // Context is always someone else in the group, so it always carries the name.
        HistoryRole::Context => (Role::User, format!("{}: {}", entry.sender, entry.text)),
    });
    let current = (Role::User, people(&request.sender_display, &request.message));
    let mut turns: Vec<Turn> = Vec::new();
    for (role, content) in history.chain(std::iter::once(current)) {
        match turns.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&content);
            }
            None if role == Role::Assistant => {}
            _ => turns.push(Turn { role, content }),
        }
    }
    turns
}

fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Telegram => "Telegram",
        Platform::Discord => "Discord",
        Platform::Matrix => "Matrix",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HistoryEntry;
    use parachute_core::ids::ChatId;
    use parachute_core::trust::TrustLevel;

    fn entry(role: HistoryRole, sender: &str, text: &str) -> HistoryEntry {
        HistoryEntry { role, sender: sender.into(), text: text.into(), at_ms: 0 }
    }

    fn request(kind: ChatKind, history: Vec<HistoryEntry>) -> BrainRequest {
        BrainRequest {
            session_id: 1,
            platform: Platform::Matrix,
            chat: ChatId::from("!r:x"),
            chat_kind: kind,
            sender_display: "Ann".into(),
            trust_level: TrustLevel::Sandboxed,
            persona: None,
            system_prompt: Some("Be brief.".into()),
            chat_prompt: None,
            model: None,
            memory: None,
            tools: None,
            history,
            message: "and now?".into(),
            images: Vec::new(),
        }
    }

    fn pairs(turns: &[Turn]) -> Vec<(Role, &str)> {
        turns.iter().map(|t| (t.role, t.content.as_str())).collect()
    }

    #[test]
    fn the_prompt_names_platform_speaker_and_adds_the_configured_text() {
        let direct = system_prompt(&request(ChatKind::Direct, Vec::new()));
        assert!(direct.contains("on Matrix") && direct.contains("direct conversation with Ann"), "{direct}");
        assert!(direct.ends_with("\n\nBe brief."), "{direct}");
        let group = system_prompt(&request(ChatKind::Group, Vec::new()));
        assert!(group.contains("Matrix group chat") && group.contains("latest one is from Ann"), "{group}");
    }

    #[test]
    fn the_persona_opens_the_prompt_and_memory_closes_it() {
        let shaped = BrainRequest {
            persona: Some("You are Ada, a calm gardener.\n".into()),
            chat_prompt: Some("In this chat, speak French.".into()),
            memory: Some("### cat\nMiso".into()),
            ..request(ChatKind::Direct, Vec::new())
        };
        let prompt = system_prompt(&shaped);
        assert!(prompt.starts_with("You are Ada, a calm gardener.\n\nYou are chatting on Matrix."), "{prompt}");
        assert!(!prompt.contains("parachute"), "{prompt}");
        assert!(
            prompt.contains("Be brief.\n\nIn this chat, speak French.\n\nYour memory notes")
                && prompt.ends_with("### cat\nMiso"),
            "{prompt}"
        );
    }

    #[test]
    fn direct_history_alternates_and_ends_with_the_message() {
        use HistoryRole::*;
        let history = vec![
            entry(Assistant, "parachute", "orphan answer"),
            entry(User, "Ann", "hi"),
            entry(Assistant, "parachute", "hello"),
            entry(User, "Ann", "unanswered"),
        ];
        let turns = turns(&request(ChatKind::Direct, history));
        assert_eq!(
            pairs(&turns),
            [(Role::User, "hi"), (Role::Assistant, "hello"), (Role::User, "unanswered\n\nand now?")]
        );
    }

    #[test]
    fn group_messages_carry_names_and_context_joins_the_next_question() {
        use HistoryRole::*;
        let history = vec![
            entry(User, "Bob", "hey bot"),
            entry(Assistant, "parachute", "hey Bob"),
            entry(Context, "Cid", "lunch?"),
        ];
        let turns = turns(&request(ChatKind::Group, history));
        assert_eq!(
            pairs(&turns),
            [(Role::User, "Bob: hey bot"), (Role::Assistant, "hey Bob"), (Role::User, "Cid: lunch?\n\nAnn: and now?")]
        );
    }
}
