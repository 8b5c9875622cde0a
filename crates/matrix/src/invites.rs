//! What to do with an invite: join, join and ask the owner, or ignore. Pure decision plus the
//! reading of the invite's stripped state.

use parachute_core::pairing::PairingStatus;
use serde_json::Value;

/// What the bot does with an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteAction {
    /// Join and take part.
    Join,
    /// Join, but answer nothing until the owner approves the room.
    JoinAndAskOwner,
    /// Leave the invite alone.
    Ignore,
}

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

/// Decides an invite. `accept_all` is an empty `allowed_rooms`; `listed` means the room is in
/// it (by id or alias); `decision` is the owner's earlier decision on this room, if any.
pub fn decide_invite(
    accept_all: bool,
    listed: bool,
    info: &InviteInfo,
    decision: Option<PairingStatus>,
) -> InviteAction {
    if accept_all || listed || info.is_direct || decision == Some(PairingStatus::Approved) {
        return InviteAction::Join;
    }
    if decision == Some(PairingStatus::Denied) {
        return InviteAction::Ignore;
    }
    match info.join_rule.as_deref() {
        Some("public") => InviteAction::Ignore,
        _ => InviteAction::JoinAndAskOwner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(join_rule: &str, is_direct: bool) -> InviteInfo {
        InviteInfo { is_direct, join_rule: Some(join_rule.into()), name: None, inviter: None }
    }

    #[test]
    fn allowed_listed_and_direct_invites_are_joined() {
        assert_eq!(decide_invite(true, false, &info("invite", false), None), InviteAction::Join);
        assert_eq!(decide_invite(false, true, &info("public", false), None), InviteAction::Join);
        assert_eq!(decide_invite(false, false, &info("invite", true), None), InviteAction::Join);
        let approved = Some(PairingStatus::Approved);
        assert_eq!(decide_invite(false, false, &info("invite", false), approved), InviteAction::Join);
    }

    #[test]
    fn other_invites_ask_the_owner_unless_public_or_denied() {
        assert_eq!(decide_invite(false, false, &info("invite", false), None), InviteAction::JoinAndAskOwner);
        assert_eq!(decide_invite(false, false, &info("knock", false), None), InviteAction::JoinAndAskOwner);
        assert_eq!(decide_invite(false, false, &info("public", false), None), InviteAction::Ignore);
        let denied = Some(PairingStatus::Denied);
        assert_eq!(decide_invite(false, false, &info("invite", false), denied), InviteAction::Ignore);
    }

    #[test]
    fn reads_stripped_state() {
        let events = vec![
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
                inviter: Some("@ann:x".into())
            }
        );
    }
}
