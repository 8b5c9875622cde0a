//! What an invite says about its room: the reading of its stripped state (the gate decides
//! what the bot does with it).

use serde_json::Value;

/// What an invite says about its room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteInfo {
    /// The inviter marked it as a direct chat.
    pub is_direct: bool,
    /// `public`, `invite`, `knock`, … when the stripped state says.
    pub join_rule: Option<String>,
    /// The room's name, if set.
    pub name: Option<String>,
    /// Who invited the bot.
    pub inviter: Option<String>,
    /// Who created the room (`m.room.create`'s sender): a bridge's bot or ghost for a
    /// bridged portal room.
    pub creator: Option<String>,
    /// The room this one replaced, as its `m.room.create` claims (an upgrade).
    pub predecessor: Option<String>,
}

/// Reads the stripped state events of an invite.
pub fn read_invite_state(events: &[Value], bot_user_id: &str) -> InviteInfo {
    let mut info = InviteInfo::default();
    for event in events {
        let content = event.get("content");
        match event.get("type").and_then(Value::as_str) {
            Some("m.room.join_rules") => {
                info.join_rule = content.and_then(|c| c.get("join_rule")).and_then(Value::as_str).map(str::to_owned);
            }
            Some("m.room.create") => {
                info.creator = event.get("sender").and_then(Value::as_str).map(str::to_owned);
                info.predecessor = content
                    .and_then(|c| c.get("predecessor"))
                    .and_then(|p| p.get("room_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            Some("m.room.name") => {
                info.name = content.and_then(|c| c.get("name")).and_then(Value::as_str).map(str::to_owned);
            }
            Some("m.room.member") if event.get("state_key").and_then(Value::as_str) == Some(bot_user_id) => {
                info.is_direct = content.and_then(|c| c.get("is_direct")).and_then(Value::as_bool).unwrap_or(false);
                info.inviter = event.get("sender").and_then(Value::as_str).map(str::to_owned);
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_stripped_state() {
        let events = vec![
            json!({"type": "m.room.create", "state_key": "", "sender": "@metabot:x",
                   "content": {"room_version": "12", "predecessor": {"room_id": "!old"}}}),
            json!({"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}}),
            json!({"type": "m.room.name", "state_key": "", "content": {"name": "Ops"}}),
            json!({"type": "m.room.member", "state_key": "@bot:x", "sender": "@ann:x", "content": {"membership": "invite", "is_direct": true}}),
            json!({"type": "m.room.member", "state_key": "@ann:x", "sender": "@ann:x", "content": {"membership": "join"}}),
            json!("garbage"),
        ];
        let info = read_invite_state(&events, "@bot:x");
        assert_eq!(
            info,
            InviteInfo {
                is_direct: true,
                join_rule: Some("invite".into()),
                name: Some("Ops".into()),
                inviter: Some("@ann:x".into()),
                creator: Some("@metabot:x".into()),
                predecessor: Some("!old".into()),
            }
        );
    }
}
