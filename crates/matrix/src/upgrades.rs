//! Room upgrades: a room that was replaced (`m.room.tombstone`) goes on in its successor.
//!
//! The bot joins the replacement room through the server of the tombstone's sender, moves
//! the old room's conversation session and the owner's decision on it to the new room, and
//! stops answering in the old one. The new room is known as the same conversation by its
//! *verified* predecessors: a room counts as the successor of an old room only when the old
//! room's own tombstone (sent by someone allowed to end that room) names it. A room that
//! merely claims an allowed predecessor in its `m.room.create` is a stranger's room.

use matrix_sdk::deserialized_responses::SyncOrStrippedState;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::events::room::tombstone::RoomTombstoneEventContent;
use matrix_sdk::ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, RoomId};
use matrix_sdk::{Client, Room, RoomState};
use parachute_core::gating::InviteAction;
use parachute_core::ids::Platform;
use parachute_runtime::connector::ConnectorLink;
use parachute_runtime::messages::RoomInvite;

use crate::Shared;

/// How many upgrades back a room's history is followed (rooms are upgraded rarely; the
/// bound stops a loop of rooms that name each other).
const MAX_GENERATIONS: usize = 16;

/// The rooms `room` replaced, newest first: each one's tombstone names the next.
pub(crate) fn verified_predecessors(client: &Client, room: &Room) -> Vec<OwnedRoomId> {
    let mut found = Vec::new();
    let mut current = room.room_id().to_owned();
    let mut predecessor = room.predecessor_room().map(|p| p.room_id);
    while let Some(candidate) = predecessor.take() {
        if found.len() == MAX_GENERATIONS || found.contains(&candidate) || candidate == room.room_id() {
            break;
        }
        let Some(old) = client.get_room(&candidate) else { break };
        if !is_replaced_by(&old, &current) {
            break;
        }
        predecessor = old.predecessor_room().map(|p| p.room_id);
        current = candidate.clone();
        found.push(candidate);
    }
    found
}

/// Whether the invite into `new` comes from the successor of `claimed`, a room the bot knows:
/// `claimed`'s tombstone must name `new`.
pub(crate) fn verify_claimed_predecessor(client: &Client, new: &RoomId, claimed: &str) -> Option<OwnedRoomId> {
    let claimed = RoomId::parse(claimed).ok()?;
    let old = client.get_room(&claimed)?;
    is_replaced_by(&old, new).then_some(claimed)
}

fn is_replaced_by(old: &Room, new: &RoomId) -> bool {
    old.successor_room().is_some_and(|successor| successor.room_id == new)
}

/// What happened when the bot followed an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Followed {
    /// The bot is in the new room (it joined, or was there already).
    Joined(OwnedRoomId),
    /// The new room is invite-only: the bot waits for an invite, which is accepted without a
    /// new pairing.
    AwaitingInvite(OwnedRoomId),
    /// The gate keeps the bot out of the new room (the old room was denied).
    Declined,
    /// The join failed for another reason (the homeserver is away): tried again later.
    Failed,
}

/// Follows `old`'s upgrade once: moves the session and the decision, asks the gate about the
/// new room as about an invite from the tombstone's sender, and joins it.
pub(crate) async fn follow(shared: &Shared, client: &Client, link: &ConnectorLink, old: &Room) -> Option<Followed> {
    let successor = old.successor_room()?.room_id;
    if !shared.begin_following_upgrade(old.room_id()) {
        return None;
    }
    let followed = follow_to(shared, client, link, old, &successor).await;
    if followed == Followed::Failed {
        shared.forget_upgrade(old.room_id());
    }
    Some(followed)
}

async fn follow_to(
    shared: &Shared,
    client: &Client,
    link: &ConnectorLink,
    old: &Room,
    successor: &OwnedRoomId,
) -> Followed {
    if !carry_over(shared, old.room_id(), successor).await {
        return Followed::Failed;
    }
    if client.get_room(successor).is_some_and(|room| room.state() == RoomState::Joined) {
        return Followed::Joined(successor.clone());
    }
    let sender = tombstone_sender(old).await;
    let mut aliases = vec![old.room_id().to_string()];
    aliases.extend(verified_predecessors(client, old).into_iter().map(|id| id.to_string()));
    let is_direct = old.is_direct().await.unwrap_or(false);
    let invite = RoomInvite {
        platform: Platform::Matrix,
        room_id: successor.to_string(),
        room_aliases: aliases,
        room_name: old.name().unwrap_or_else(|| format!("the upgrade of {}", old.room_id())),
        inviter: sender.as_ref().map(ToString::to_string).unwrap_or_default(),
        is_direct,
        is_public: false,
    };
    if link.room_invite(invite).await == InviteAction::Ignore {
        return Followed::Declined;
    }
    let via: Vec<OwnedServerName> = sender.map(|user| user.server_name().to_owned()).into_iter().collect();
    match client.join_room_by_id_or_alias(<&matrix_sdk::ruma::RoomOrAliasId>::from(&**successor), &via).await {
        Ok(room) => {
            if is_direct && let Err(err) = room.set_is_direct(true).await {
                tracing::debug!(room = %successor, error = %err, "could not mark the room as direct");
            }
            Followed::Joined(successor.clone())
        }
        Err(err) if err.client_api_error_kind() == Some(&ErrorKind::Forbidden) => {
            link.warn(format!(
                "room {} was upgraded to {successor}, which the bot may not join: invite the bot to {successor} \
                 and it goes on there (no new approval needed)",
                old.room_id()
            ));
            Followed::AwaitingInvite(successor.clone())
        }
        Err(err) => {
            tracing::debug!(room = %successor, error = %err, "could not join the upgraded room yet");
            Followed::Failed
        }
    }
}

/// Moves the old room's session and the owner's decision on it to its successor (nothing
/// when they moved already); false when the store could not do it now.
pub(crate) async fn carry_over(shared: &Shared, old: &RoomId, new: &RoomId) -> bool {
    let (old_id, new_id) = (old.to_string(), new.to_string());
    match shared.store.call(move |db| db.carry_over_chat(Platform::Matrix, &old_id, &new_id)).await {
        Ok(carried) => {
            if carried != Default::default() {
                tracing::info!(old = %old, new = %new, ?carried, "the conversation moved to the upgraded room");
            }
            true
        }
        Err(err) => {
            tracing::debug!(error = %err, "the room's session could not be carried over yet");
            false
        }
    }
}

/// Who ended the room: their server is the one to join the new room through.
async fn tombstone_sender(room: &Room) -> Option<OwnedUserId> {
    let raw = room.get_state_event_static::<RoomTombstoneEventContent>().await.ok().flatten()?;
    let event: SyncOrStrippedState<RoomTombstoneEventContent> = raw.deserialize().ok()?;
    Some(event.sender().to_owned())
}
