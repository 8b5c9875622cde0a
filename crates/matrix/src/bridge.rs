//! Recognizes rooms bridged by mautrix bridges on the bot's own homeserver, from their
//! members' user ids alone. Pure: no I/O.
//!
//! A mautrix bridge owns a namespace of users on its homeserver: one bridge bot
//! (`@metabot:hs`, `@signalbot:hs`, …) and a ghost per person on the other network
//! (`@meta_1234:hs`, `@signal_<uuid>:hs`, …), as the bridges' default `username_template`s and
//! `bot.username`s name them. People on the other network write as ghosts and mention the bot
//! by name in plain text (no pills); the bridge bot writes status messages that are never for
//! the bot to answer.

/// One mautrix bridge: how its users are named and how it is talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bridge {
    /// The network, as people call it ("Meta", "WhatsApp").
    pub network: &'static str,
    /// Localpart prefixes of its ghosts (`meta_` for `@meta_1234:hs`).
    ghost_prefixes: &'static [&'static str],
    /// Localparts of its bridge bot.
    bot_localparts: &'static [&'static str],
    /// The prefix of its commands in a room (`!meta`).
    pub command_prefix: &'static str,
    /// Whether relay mode is the megabridges' `set-relay` command (otherwise the bridge has
    /// its own relay system: Telegram's relaybot).
    pub has_set_relay: bool,
}

/// The mautrix bridges, with their default names. Meta's bridge also bridged Facebook and
/// Instagram under their own names before it was one bridge.
pub const BRIDGES: &[Bridge] = &[
    Bridge {
        network: "Meta",
        ghost_prefixes: &["meta_", "facebook_", "instagram_"],
        bot_localparts: &["metabot", "facebookbot", "instagrambot"],
        command_prefix: "!meta",
        has_set_relay: true,
    },
    Bridge {
        network: "Signal",
        ghost_prefixes: &["signal_"],
        bot_localparts: &["signalbot"],
        command_prefix: "!signal",
        has_set_relay: true,
    },
    Bridge {
        network: "WhatsApp",
        ghost_prefixes: &["whatsapp_"],
        bot_localparts: &["whatsappbot"],
        command_prefix: "!wa",
        has_set_relay: true,
    },
    Bridge {
        network: "Telegram",
        ghost_prefixes: &["telegram_"],
        bot_localparts: &["telegrambot"],
        command_prefix: "!tg",
        has_set_relay: false,
    },
    Bridge {
        network: "Discord",
        ghost_prefixes: &["discord_"],
        bot_localparts: &["discordbot"],
        command_prefix: "!discord",
        has_set_relay: true,
    },
    Bridge {
        network: "Google Messages",
        ghost_prefixes: &["gmessages_"],
        bot_localparts: &["gmessagesbot"],
        command_prefix: "!gm",
        has_set_relay: true,
    },
    Bridge {
        network: "Slack",
        ghost_prefixes: &["slack_"],
        bot_localparts: &["slackbot"],
        command_prefix: "!slack",
        has_set_relay: true,
    },
];

/// What a user is to a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeRole {
    /// A person on the other network, puppeted on Matrix.
    Ghost,
    /// The bridge's own bot.
    BridgeBot,
}

/// The bridge and role of `user_id`, when it is a bridge user of `server` (the bot's own
/// homeserver: bridges are appservices of the homeserver they run on).
pub fn recognize(user_id: &str, server: &str) -> Option<(&'static Bridge, BridgeRole)> {
    let (localpart, user_server) = user_id.strip_prefix('@')?.split_once(':')?;
    if user_server != server {
        return None;
    }
    BRIDGES.iter().find_map(|bridge| {
        if bridge.bot_localparts.contains(&localpart) {
            Some((bridge, BridgeRole::BridgeBot))
        } else if bridge.ghost_prefixes.iter().any(|p| localpart.len() > p.len() && localpart.starts_with(p)) {
            Some((bridge, BridgeRole::Ghost))
        } else {
            None
        }
    })
}

/// The server part of a user id (`hs` of `@bot:hs`).
pub fn server_of(user_id: &str) -> &str {
    user_id.split_once(':').map_or("", |(_, server)| server)
}

/// What a room's members say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgedRoom {
    /// The bridge whose users are in the room.
    pub bridge: &'static Bridge,
    /// A one-to-one chat with one person on the other network: one ghost and at most one
    /// Matrix user (the bridge's owner) besides the bridge bot and the bot.
    pub one_to_one: bool,
}

/// Reads the members of a room (joined and invited; the bot itself may be among them).
/// `None` when no bridge user is in it.
pub fn classify_room<'a>(members: impl IntoIterator<Item = &'a str>, bot_user_id: &str) -> Option<BridgedRoom> {
    let server = server_of(bot_user_id);
    let (mut bridge, mut ghosts, mut people) = (None, 0usize, 0usize);
    for member in members {
        if member == bot_user_id {
            continue;
        }
        match recognize(member, server) {
            Some((found, role)) => {
                bridge.get_or_insert(found);
                if role == BridgeRole::Ghost {
                    ghosts += 1;
                }
            }
            None => people += 1,
        }
    }
    Some(BridgedRoom { bridge: bridge?, one_to_one: ghosts == 1 && people <= 1 })
}

/// The room's label in a pairing request: its name and the bridge ("Family (Meta bridge)"),
/// or for an unnamed room just the bridge.
pub fn room_label(name: Option<&str>, bridge: &Bridge) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} ({} bridge)", bridge.network),
        None => format!("a chat bridged from {}", bridge.network),
    }
}

/// What the bot says once when a bridged group room is approved: how its answers reach the
/// other network.
pub fn relay_hint(bridge: &Bridge) -> String {
    if bridge.has_set_relay {
        format!(
            "I'm here. My answers reach {network} only when this room relays Matrix messages: a room admin \
             with a {network} login on the bridge can send `{prefix} set-relay` here (relay mode must be \
             enabled in the bridge's config).",
            network = bridge.network,
            prefix = bridge.command_prefix,
        )
    } else {
        format!(
            "I'm here. My answers reach {network} only through the bridge's relay bot: the bridge admin sets \
             up its relaybot (see the bridge's docs, `{prefix} help`).",
            network = bridge.network,
            prefix = bridge.command_prefix,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_ghosts_and_bridge_bots_of_the_own_server_only() {
        assert_eq!(recognize("@meta_1234:hs", "hs").map(|(b, r)| (b.network, r)), Some(("Meta", BridgeRole::Ghost)));
        assert_eq!(recognize("@metabot:hs", "hs").map(|(b, r)| (b.network, r)), Some(("Meta", BridgeRole::BridgeBot)));
        assert_eq!(
            recognize("@whatsapp_4915112345:hs", "hs").map(|(b, r)| (b.command_prefix, r)),
            Some(("!wa", BridgeRole::Ghost))
        );
        assert_eq!(recognize("@signalbot:hs", "hs").map(|(b, _)| b.network), Some("Signal"));
        // Another server's bridge users are people like any other.
        assert_eq!(recognize("@meta_1234:elsewhere", "hs"), None);
        // A bare prefix, a look-alike and people are not bridge users.
        assert_eq!(recognize("@meta_:hs", "hs"), None);
        assert_eq!(recognize("@metadata:hs", "hs"), None);
        assert_eq!(recognize("@alice:hs", "hs"), None);
        assert_eq!(recognize("not a user id", "hs"), None);
        assert_eq!(recognize("@telegrambot:hs", "hs").map(|(_, r)| r), Some(BridgeRole::BridgeBot));
        assert_eq!(recognize("@discord_1:hs", "hs").map(|(_, r)| r), Some(BridgeRole::Ghost));
    }

    #[test]
    fn a_bridged_one_to_one_is_one_ghost_and_at_most_the_owner() {
        let bot = "@bot:hs";
        let room = |members: &[&str]| classify_room(members.iter().copied(), bot);
        assert_eq!(room(&["@alice:hs", "@bob:hs", bot]), None);
        let dm = room(&["@metabot:hs", "@meta_1:hs", bot]).unwrap();
        assert_eq!((dm.bridge.network, dm.one_to_one), ("Meta", true));
        assert!(room(&["@metabot:hs", "@meta_1:hs", "@alice:hs", bot]).unwrap().one_to_one);
        assert!(room(&["@meta_1:hs", bot]).unwrap().one_to_one);
        assert!(!room(&["@metabot:hs", "@meta_1:hs", "@meta_2:hs", bot]).unwrap().one_to_one);
        assert!(!room(&["@meta_1:hs", "@alice:hs", "@bob:hs", bot]).unwrap().one_to_one);
        // Only the bridge bot: a management room, not a chat with anyone.
        assert!(!room(&["@metabot:hs", "@alice:hs", bot]).unwrap().one_to_one);
    }

    #[test]
    fn labels_and_hints_name_the_network_and_its_commands() {
        let meta = &BRIDGES[0];
        assert_eq!(room_label(Some("Family"), meta), "Family (Meta bridge)");
        assert_eq!(room_label(Some("  "), meta), "a chat bridged from Meta");
        assert_eq!(room_label(None, meta), "a chat bridged from Meta");
        assert!(relay_hint(meta).contains("`!meta set-relay`"));
        let telegram = BRIDGES.iter().find(|b| b.network == "Telegram").unwrap();
        assert!(relay_hint(telegram).contains("relaybot") && !relay_hint(telegram).contains("set-relay"));
    }
}
