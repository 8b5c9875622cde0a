//! The gate: one pure decision, for every platform, of what happens to a message (answer it,
//! keep it as group context, ask the owner, or drop it) and to an invite into a room.
//!
//! Connectors report facts only ([`MessageFacts`]: where, who, whether and why the bot is
//! addressed); the owner's rules come from the config ([`GateRules`]); what the owner decided
//! earlier comes from the pairing table ([`KnownSender`]). [`decide`] puts them together.

use serde::{Deserialize, Serialize};

use crate::ids::ChatKind;
use crate::pairing::{KnownSender, PairingStatus};
use crate::trust::TrustLevel;

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

impl GroupMentionMode {
    /// The name used in `bots.yaml`, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MentionOnly => "mention_only",
            Self::AllMessages => "all_messages",
        }
    }

    /// The mode named `name` (as [`GroupMentionMode::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::MentionOnly, Self::AllMessages].into_iter().find(|mode| mode.as_str() == name)
    }
}

/// Whether a message addresses the bot, and how. The same meaning on every platform; a
/// direct chat is not "addressed" by itself (the gate answers direct chats anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Addressed {
    /// Not addressed to the bot.
    #[default]
    No,
    /// Mentions the bot (a pill or `m.mentions`, `@username`, the bot's role, its name).
    Mention,
    /// Replies to one of the bot's messages.
    Reply,
    /// A command for the bot (`!new`, `/help@this_bot`).
    Command,
}

impl Addressed {
    /// What a connector observed, in the order that names the reason: a command wins over a
    /// mention, a mention over a reply to the bot.
    pub fn from_observed(command: bool, mention: bool, reply: bool) -> Self {
        match (command, mention, reply) {
            (true, _, _) => Addressed::Command,
            (false, true, _) => Addressed::Mention,
            (false, false, true) => Addressed::Reply,
            (false, false, false) => Addressed::No,
        }
    }

    /// Whether the bot is addressed at all.
    pub fn is_addressed(self) -> bool {
        self != Addressed::No
    }

    /// The number stored for it (0 = not addressed; older rows stored 1 for "addressed").
    pub fn code(self) -> i64 {
        match self {
            Addressed::No => 0,
            Addressed::Mention => 1,
            Addressed::Reply => 2,
            Addressed::Command => 3,
        }
    }

    /// Reads back [`code`](Self::code); unknown numbers count as a mention.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Addressed::No,
            2 => Addressed::Reply,
            3 => Addressed::Command,
            _ => Addressed::Mention,
        }
    }
}

/// What a connector observed about one message. Facts, no decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFacts<'a> {
    /// Direct conversation or group.
    pub chat_kind: ChatKind,
    /// The chat: Matrix room id, Telegram chat id, Discord channel id.
    pub chat: &'a str,
    /// Other names of the chat the connector knows (Matrix room aliases).
    pub chat_aliases: &'a [String],
    /// The server the chat belongs to (a Discord guild), if any.
    pub guild: Option<&'a str>,
    /// The sender's platform id.
    pub sender: &'a str,
    /// The sender's username, where the platform has one.
    pub sender_username: Option<&'a str>,
    /// Whether and how the bot is addressed.
    pub addressed: Addressed,
    /// When the message was sent (ms since the epoch).
    pub sent_at_ms: i64,
}

/// Which groups the bot talks in without asking the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRule {
    /// Every group (Matrix with an empty `allowed_rooms`, Discord with empty
    /// `allowed_guilds` and `allowed_channels`): the platform is open to everyone.
    Everyone,
    /// Groups named in `chats` (ids or aliases). Any other group becomes a room pairing
    /// request; the owner's approval lets it in for messages sent after the approval.
    ListedOrApproved {
        /// Allowed chat ids or aliases.
        chats: Vec<String>,
    },
    /// Discord: channels of `guilds` (empty: any guild) that are in `channels` (empty: any
    /// channel). Anything else is ignored.
    Listed {
        /// Allowed guild ids; empty for any.
        guilds: Vec<String>,
        /// Allowed channel ids; empty for any.
        channels: Vec<String>,
    },
}

/// The owner's rules for one platform, as the config sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRules {
    /// DM senders answered without pairing (ids or usernames).
    pub allowed_users: Vec<String>,
    /// Which groups are talked in.
    pub groups: GroupRule,
    /// Level of DM senders.
    pub dm_trust_level: TrustLevel,
    /// Level in groups.
    pub group_trust_level: TrustLevel,
    /// Which group messages are answered.
    pub group_mention_mode: GroupMentionMode,
    /// How finely the platform stamps messages (Telegram: to the second, 1000): a message is
    /// sent before an approval only if its latest possible send time is.
    pub timestamp_resolution_ms: i64,
}

impl GateRules {
    /// Whether every group the bot is added to is talked in, without the owner's approval.
    pub fn open_to_everyone(&self) -> bool {
        self.groups == GroupRule::Everyone
    }
}

/// Why a message is dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The DM sender's request waits for the owner (they were told when it was made).
    UserPending,
    /// The owner denied the DM sender.
    UserDenied,
    /// The group's request waits for the owner.
    RoomPending,
    /// The owner denied the group.
    RoomDenied,
    /// Sent in an approved group before the approval.
    BeforeApproval,
    /// A group outside the allow-lists, on a platform without room pairing.
    NotAllowed,
}

/// What happens to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer it, with the brain acting at this level.
    Answer(TrustLevel),
    /// An allowed group's message not addressed to the bot: kept as context, not answered.
    Context,
    /// An unknown DM sender: open a pairing request and tell them once.
    AskOwnerForUser,
    /// A group the owner has not decided on: open a room pairing request (silently).
    AskOwnerForRoom,
    /// Dropped without a word.
    Drop(DropReason),
}

impl Verdict {
    /// Whether the message gets an answer.
    pub fn answers(self) -> bool {
        matches!(self, Verdict::Answer(_))
    }
}

/// Whether `user` (a platform id, and optionally a username) is listed in `allowed`.
/// Entries are ids or usernames, with or without a leading `@`, usernames case-insensitive.
pub fn is_listed(allowed: &[String], user_id: &str, username: Option<&str>) -> bool {
    allowed.iter().map(|entry| entry.trim()).any(|entry| {
        entry == user_id
            || username
                .is_some_and(|name| entry.trim_start_matches('@').eq_ignore_ascii_case(name.trim_start_matches('@')))
    })
}

/// Whether a chat (by id or one of its aliases) is in `list`.
fn chat_listed(list: &[String], chat: &str, aliases: &[String]) -> bool {
    list.iter().map(|entry| entry.trim()).any(|entry| entry == chat || aliases.iter().any(|alias| alias == entry))
}

/// Whether `id` is in `list`, an empty list standing for any.
fn in_list_or_any(list: &[String], id: Option<&str>) -> bool {
    list.is_empty() || id.is_some_and(|id| list.iter().any(|entry| entry.trim() == id))
}

/// Decides one message. `known` is the pairing table's record of the DM sender (direct
/// chats) or of the group (groups); a pending request made before `expired_before_ms`
/// counts as none (the owner did not decide within `pairing.expire_after`).
pub fn decide(
    rules: &GateRules,
    facts: &MessageFacts<'_>,
    known: Option<KnownSender>,
    expired_before_ms: i64,
) -> Verdict {
    let expired = |k: &KnownSender| k.status == PairingStatus::Pending && k.created_at_ms < expired_before_ms;
    let known = known.filter(|k| !expired(k));
    match facts.chat_kind {
        ChatKind::Direct => {
            let listed = is_listed(&rules.allowed_users, facts.sender, facts.sender_username);
            match known {
                Some(KnownSender { status: PairingStatus::Approved, approved_trust_level, .. }) => {
                    Verdict::Answer(approved_trust_level.unwrap_or(rules.dm_trust_level))
                }
                _ if listed => Verdict::Answer(rules.dm_trust_level),
                None => Verdict::AskOwnerForUser,
                Some(KnownSender { status: PairingStatus::Pending, .. }) => Verdict::Drop(DropReason::UserPending),
                Some(KnownSender { status: PairingStatus::Denied, .. }) => Verdict::Drop(DropReason::UserDenied),
            }
        }
        ChatKind::Group => {
            let level = match (&rules.groups, known) {
                (GroupRule::Everyone, _) => rules.group_trust_level,
                (GroupRule::Listed { guilds, channels }, _) => {
                    if !(in_list_or_any(guilds, facts.guild) && in_list_or_any(channels, Some(facts.chat))) {
                        return Verdict::Drop(DropReason::NotAllowed);
                    }
                    rules.group_trust_level
                }
                (GroupRule::ListedOrApproved { chats }, _) if chat_listed(chats, facts.chat, facts.chat_aliases) => {
                    rules.group_trust_level
                }
                (GroupRule::ListedOrApproved { .. }, None) => return Verdict::AskOwnerForRoom,
                (GroupRule::ListedOrApproved { .. }, Some(room)) => match room.status {
                    PairingStatus::Pending => return Verdict::Drop(DropReason::RoomPending),
                    PairingStatus::Denied => return Verdict::Drop(DropReason::RoomDenied),
                    PairingStatus::Approved
                        if room.resolved_at_ms.is_some_and(|at| {
                            facts.sent_at_ms + rules.timestamp_resolution_ms.saturating_sub(1) < at
                        }) =>
                    {
                        return Verdict::Drop(DropReason::BeforeApproval);
                    }
                    PairingStatus::Approved => room.approved_trust_level.unwrap_or(rules.group_trust_level),
                },
            };
            let answered = rules.group_mention_mode == GroupMentionMode::AllMessages || facts.addressed.is_addressed();
            if answered { Verdict::Answer(level) } else { Verdict::Context }
        }
    }
}

/// What an invite into a room says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteFacts<'a> {
    /// The room's id.
    pub chat: &'a str,
    /// Other names of the room the connector knows (aliases).
    pub chat_aliases: &'a [String],
    /// The inviter marked it as a direct chat.
    pub is_direct: bool,
    /// Anyone may join (a public room): joining unasked would let anyone draw the bot in.
    pub is_public: bool,
}

/// What the bot does with an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteAction {
    /// Join and take part.
    Join,
    /// Join, and open a room pairing request: nothing is answered until the owner approves.
    JoinAndAskOwner,
    /// Leave the invite alone.
    Ignore,
}

/// Decides an invite (Matrix invites, the bot being added to a Telegram group). `known` is
/// the pairing table's record of the room.
pub fn decide_invite(
    rules: &GateRules,
    facts: &InviteFacts<'_>,
    known: Option<KnownSender>,
    expired_before_ms: i64,
) -> InviteAction {
    let listed = match &rules.groups {
        GroupRule::Everyone => true,
        GroupRule::ListedOrApproved { chats } => chat_listed(chats, facts.chat, facts.chat_aliases),
        GroupRule::Listed { channels, .. } => in_list_or_any(channels, Some(facts.chat)),
    };
    let decided = known.filter(|k| !(k.status == PairingStatus::Pending && k.created_at_ms < expired_before_ms));
    match decided.map(|k| k.status) {
        _ if listed || facts.is_direct => InviteAction::Join,
        Some(PairingStatus::Approved) => InviteAction::Join,
        Some(PairingStatus::Denied) => InviteAction::Ignore,
        _ if facts.is_public => InviteAction::Ignore,
        _ => InviteAction::JoinAndAskOwner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Platform;
    use ChatKind::{Direct, Group};
    use TrustLevel::{Direct as Full, Sandboxed};

    const NOW: i64 = 1_000_000_000;
    const EXPIRED_BEFORE: i64 = NOW - 7 * 86_400_000;

    fn rules(platform: Platform, groups: GroupRule) -> GateRules {
        let allowed_users = match platform {
            Platform::Matrix => Vec::new(),
            _ => vec!["42".to_owned(), "@Ann".to_owned()],
        };
        GateRules {
            allowed_users,
            groups,
            dm_trust_level: Full,
            group_trust_level: Sandboxed,
            group_mention_mode: GroupMentionMode::MentionOnly,
            timestamp_resolution_ms: if platform == Platform::Telegram { 1_000 } else { 1 },
        }
    }

    fn listed(chats: &[&str]) -> GroupRule {
        GroupRule::ListedOrApproved { chats: chats.iter().map(|c| c.to_string()).collect() }
    }

    fn discord(guilds: &[&str], channels: &[&str]) -> GroupRule {
        GroupRule::Listed {
            guilds: guilds.iter().map(|c| c.to_string()).collect(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn record(status: PairingStatus, level: Option<TrustLevel>, created: i64, resolved: Option<i64>) -> KnownSender {
        KnownSender { status, approved_trust_level: level, created_at_ms: created, resolved_at_ms: resolved }
    }

    struct Case {
        name: &'static str,
        platform: Platform,
        groups: GroupRule,
        mode: GroupMentionMode,
        kind: ChatKind,
        chat: &'static str,
        aliases: &'static [&'static str],
        guild: Option<&'static str>,
        sender: &'static str,
        username: Option<&'static str>,
        addressed: Addressed,
        known: Option<KnownSender>,
        expect: Verdict,
    }

    fn case(name: &'static str, platform: Platform, groups: GroupRule, kind: ChatKind, expect: Verdict) -> Case {
        Case {
            name,
            platform,
            groups,
            mode: GroupMentionMode::MentionOnly,
            kind,
            chat: "c1",
            aliases: &[],
            guild: None,
            sender: "7",
            username: None,
            addressed: Addressed::Mention,
            known: None,
            expect,
        }
    }

    /// One table over all three platforms: the same facts lead to the same verdict
    /// wherever the platform's rules say the same.
    #[test]
    fn one_decision_for_every_platform() {
        use PairingStatus::{Approved, Denied, Pending};
        use Platform::{Discord, Matrix, Telegram};
        let approved = |level| Some(record(Approved, level, NOW - 10, Some(NOW - 5)));
        let cases = vec![
            // Direct chats: allowed users, approvals, strangers, on every platform.
            Case { sender: "42", ..case("telegram listed id", Telegram, listed(&[]), Direct, Verdict::Answer(Full)) },
            Case {
                username: Some("ann"),
                ..case("telegram listed username", Telegram, listed(&[]), Direct, Verdict::Answer(Full))
            },
            Case {
                sender: "42",
                ..case("discord listed id", Discord, discord(&[], &[]), Direct, Verdict::Answer(Full))
            },
            case("telegram stranger", Telegram, listed(&[]), Direct, Verdict::AskOwnerForUser),
            case("discord stranger", Discord, discord(&[], &[]), Direct, Verdict::AskOwnerForUser),
            case("matrix stranger", Matrix, GroupRule::Everyone, Direct, Verdict::AskOwnerForUser),
            Case {
                addressed: Addressed::No,
                ..case("a DM needs no mention", Matrix, GroupRule::Everyone, Direct, Verdict::AskOwnerForUser)
            },
            Case {
                known: approved(Some(Sandboxed)),
                sender: "42",
                ..case("approved level wins", Telegram, listed(&[]), Direct, Verdict::Answer(Sandboxed))
            },
            Case {
                known: approved(None),
                addressed: Addressed::No,
                ..case("approved at the default", Matrix, GroupRule::Everyone, Direct, Verdict::Answer(Full))
            },
            Case {
                known: Some(record(Pending, None, NOW, None)),
                ..case("pending user", Discord, discord(&[], &[]), Direct, Verdict::Drop(DropReason::UserPending))
            },
            Case {
                known: Some(record(Pending, None, EXPIRED_BEFORE - 1, None)),
                ..case("expired request", Matrix, GroupRule::Everyone, Direct, Verdict::AskOwnerForUser)
            },
            Case {
                known: Some(record(Denied, None, EXPIRED_BEFORE - 1, Some(NOW))),
                ..case("denied user", Telegram, listed(&[]), Direct, Verdict::Drop(DropReason::UserDenied))
            },
            Case {
                known: Some(record(Pending, None, NOW, None)),
                sender: "42",
                ..case("listed user with a pending request", Telegram, listed(&[]), Direct, Verdict::Answer(Full))
            },
            // Groups open to everyone: the mention rule alone.
            case("matrix open room, mention", Matrix, GroupRule::Everyone, Group, Verdict::Answer(Sandboxed)),
            Case {
                addressed: Addressed::No,
                ..case("matrix open room, chatter", Matrix, GroupRule::Everyone, Group, Verdict::Context)
            },
            Case {
                addressed: Addressed::No,
                mode: GroupMentionMode::AllMessages,
                ..case("all_messages", Discord, discord(&[], &[]), Group, Verdict::Answer(Sandboxed))
            },
            Case {
                addressed: Addressed::Reply,
                ..case("reply to the bot", Telegram, listed(&["c1"]), Group, Verdict::Answer(Sandboxed))
            },
            Case {
                addressed: Addressed::Command,
                ..case("command", Matrix, listed(&["c1"]), Group, Verdict::Answer(Sandboxed))
            },
            // Listed groups, and groups the owner decides on.
            case("telegram listed group", Telegram, listed(&["c1"]), Group, Verdict::Answer(Sandboxed)),
            case("telegram stranger's group", Telegram, listed(&[]), Group, Verdict::AskOwnerForRoom),
            Case {
                addressed: Addressed::No,
                ..case("unlisted chatter asks too", Telegram, listed(&["c2"]), Group, Verdict::AskOwnerForRoom)
            },
            Case {
                aliases: &["#ops:x"],
                ..case("matrix room listed by alias", Matrix, listed(&["#ops:x"]), Group, Verdict::Answer(Sandboxed))
            },
            case("matrix unlisted room", Matrix, listed(&["!other"]), Group, Verdict::AskOwnerForRoom),
            Case {
                known: Some(record(Pending, None, NOW, None)),
                ..case("room pending", Telegram, listed(&[]), Group, Verdict::Drop(DropReason::RoomPending))
            },
            Case {
                known: Some(record(Denied, None, NOW, Some(NOW))),
                ..case("room denied", Matrix, listed(&["!x"]), Group, Verdict::Drop(DropReason::RoomDenied))
            },
            Case {
                known: Some(record(Approved, None, NOW - 10, Some(NOW + 1_000))),
                ..case("before the approval", Telegram, listed(&[]), Group, Verdict::Drop(DropReason::BeforeApproval))
            },
            Case {
                known: Some(record(Approved, None, NOW - 10, Some(NOW + 999))),
                ..case("stamped to the second", Telegram, listed(&[]), Group, Verdict::Answer(Sandboxed))
            },
            Case {
                known: Some(record(Approved, None, NOW - 10, Some(NOW + 1))),
                ..case(
                    "matrix stamps to the ms",
                    Matrix,
                    listed(&["!x"]),
                    Group,
                    Verdict::Drop(DropReason::BeforeApproval),
                )
            },
            Case {
                known: approved(Some(Full)),
                ..case("approved room at its level", Telegram, listed(&[]), Group, Verdict::Answer(Full))
            },
            Case {
                known: approved(None),
                addressed: Addressed::No,
                ..case("approved room, chatter", Matrix, listed(&["!x"]), Group, Verdict::Context)
            },
            // Discord's guild and channel lists.
            Case {
                guild: Some("g1"),
                ..case("listed guild", Discord, discord(&["g1"], &[]), Group, Verdict::Answer(Sandboxed))
            },
            Case {
                guild: Some("g2"),
                ..case("other guild", Discord, discord(&["g1"], &[]), Group, Verdict::Drop(DropReason::NotAllowed))
            },
            Case {
                guild: Some("g1"),
                chat: "c9",
                ..case("other channel", Discord, discord(&[], &["c1"]), Group, Verdict::Drop(DropReason::NotAllowed))
            },
            Case {
                guild: Some("g1"),
                addressed: Addressed::No,
                ..case("listed channel, chatter", Discord, discord(&["g1"], &["c1"]), Group, Verdict::Context)
            },
        ];
        for c in cases {
            let mut rules = rules(c.platform, c.groups.clone());
            rules.group_mention_mode = c.mode;
            let aliases: Vec<String> = c.aliases.iter().map(|a| a.to_string()).collect();
            let facts = MessageFacts {
                chat_kind: c.kind,
                chat: c.chat,
                chat_aliases: &aliases,
                guild: c.guild,
                sender: c.sender,
                sender_username: c.username,
                addressed: c.addressed,
                sent_at_ms: NOW,
            };
            assert_eq!(decide(&rules, &facts, c.known, EXPIRED_BEFORE), c.expect, "{} on {}", c.name, c.platform);
        }
    }

    #[test]
    fn invites_join_listed_rooms_and_ask_the_owner_for_private_ones() {
        let facts = |is_direct, is_public| InviteFacts { chat: "!r", chat_aliases: &[], is_direct, is_public };
        let matrix = |groups| rules(Platform::Matrix, groups);
        let decide = |rules: &GateRules, facts, known| decide_invite(rules, &facts, known, EXPIRED_BEFORE);
        assert_eq!(decide(&matrix(GroupRule::Everyone), facts(false, true), None), InviteAction::Join);
        assert_eq!(decide(&matrix(listed(&["!r"])), facts(false, true), None), InviteAction::Join);
        assert_eq!(decide(&matrix(listed(&[])), facts(true, false), None), InviteAction::Join, "a DM");
        assert_eq!(decide(&matrix(listed(&[])), facts(false, false), None), InviteAction::JoinAndAskOwner);
        assert_eq!(decide(&matrix(listed(&[])), facts(false, true), None), InviteAction::Ignore, "public");
        let approved = record(PairingStatus::Approved, None, NOW, Some(NOW));
        assert_eq!(decide(&matrix(listed(&[])), facts(false, false), Some(approved)), InviteAction::Join);
        let denied = record(PairingStatus::Denied, None, NOW, Some(NOW));
        assert_eq!(decide(&matrix(listed(&[])), facts(false, false), Some(denied)), InviteAction::Ignore);
        let expired = record(PairingStatus::Pending, None, EXPIRED_BEFORE - 1, None);
        assert_eq!(decide(&matrix(listed(&[])), facts(false, false), Some(expired)), InviteAction::JoinAndAskOwner);
        let aliases = ["#fam:x".to_owned()];
        let by_alias = InviteFacts { chat: "!r", chat_aliases: &aliases, is_direct: false, is_public: false };
        assert_eq!(decide(&matrix(listed(&["#fam:x"])), by_alias, None), InviteAction::Join);
    }

    #[test]
    fn addressing_round_trips_through_its_code() {
        for a in [Addressed::No, Addressed::Mention, Addressed::Reply, Addressed::Command] {
            assert_eq!(Addressed::from_code(a.code()), a);
        }
        assert_eq!(Addressed::from_code(1), Addressed::Mention, "older rows stored 1 for addressed");
        assert!(!Addressed::No.is_addressed() && Addressed::Reply.is_addressed());
        assert_eq!(Addressed::from_observed(true, true, true), Addressed::Command);
        assert_eq!(Addressed::from_observed(false, true, true), Addressed::Mention);
        assert_eq!(Addressed::from_observed(false, false, true), Addressed::Reply);
        assert_eq!(Addressed::from_observed(false, false, false), Addressed::No);
        assert!(rules(Platform::Matrix, GroupRule::Everyone).open_to_everyone());
        assert!(!rules(Platform::Telegram, listed(&[])).open_to_everyone());
    }

    #[test]
    fn listed_users_match_ids_and_usernames() {
        let allowed = vec![" 42 ".to_owned(), "@Ann".to_owned(), "bob".to_owned()];
        assert!(is_listed(&allowed, "42", None));
        assert!(is_listed(&allowed, "1", Some("ann")));
        assert!(is_listed(&allowed, "1", Some("@BOB")));
        assert!(!is_listed(&allowed, "4", Some("carol")));
        assert!(!is_listed(&[], "42", None));
    }
}
