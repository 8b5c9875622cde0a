//! One connector run: check the token, join the configured rooms, then long-poll `/sync`,
//! translating timeline events into `Inbound`s (facts only: the runtime's gate decides what
//! is answered) and acting on the gate's decision about invites. The sync token is stored
//! with each batch in the durable inbox, so a restart resumes exactly there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::filter::{Filter as EventFilter, FilterDefinition, RoomEventFilter, RoomFilter};
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UInt};
use matrix_sdk::sync::State;
use matrix_sdk::{Client, Room, RoomMemberships, RoomState};
use parachute_core::gating::InviteAction;
use parachute_core::ids::{ChatId, ChatKind, EventId, Platform, UserId};
use parachute_runtime::connector::{ConnectorError, ConnectorLink};
use parachute_runtime::messages::{Content, Inbound, MediaRef, RoomInvite};
use parachute_runtime::store::now_ms;
use serde_json::Value;

use crate::bridge::{self, BridgedRoom};
use crate::invites::read_invite_state;
use crate::late_keys::Waiting;
use crate::session::{classify, classify_sdk, identity};
use crate::translate::{Incoming, IncomingBody, RoomContext, Skip, translate};
use crate::upgrades;
use crate::{Shared, locked, recovery};

/// The cursor name of the stored sync token.
pub const SYNC_TOKEN: &str = "sync_token";
/// How long one `/sync` long-poll waits for news.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than its timeout a `/sync` may take before the run counts as stalled
/// (the keys the SDK uploads before the long poll take part of it).
const SYNC_GRACE: Duration = Duration::from_secs(15);
/// Timeline events per room per sync (enough to catch up after a short outage in one go).
const TIMELINE_LIMIT: u32 = 100;

/// Everything one run needs while it syncs (cloned for the late-key retries, which run
/// beside the sync).
#[derive(Clone)]
struct Run {
    shared: Arc<Shared>,
    client: Client,
    link: ConnectorLink,
    bot_display_name: Option<String>,
    cutoff_ms: i64,
    /// The aliases of `allowed_rooms` by the room they resolved to, reported with the
    /// room's messages so the gate recognizes a room listed by alias.
    configured_aliases: HashMap<OwnedRoomId, Vec<String>>,
    /// What the members of each room say about a bridge (see [`Run::bridged`]).
    bridged_rooms: HashMap<OwnedRoomId, Option<BridgedRoom>>,
}

/// Keys that arrived, as (room, session id); `None` when some were missed (the stream lagged).
type ArrivedKeys = Option<Vec<(OwnedRoomId, String)>>;

/// Runs until the connection fails (or the future is dropped by Stop).
pub(crate) async fn run(shared: Arc<Shared>, link: ConnectorLink) -> Result<(), ConnectorError> {
    let client = shared.client_or_connect().await?;
    client.whoami().await.map_err(|e| classify(e.client_api_error_kind(), &e.to_string()))?;
    let me = identity(&client, &shared.account.user_id).await;
    let stored_token = shared
        .store
        .call(|db| db.cursor(Platform::Matrix, SYNC_TOKEN))
        .await
        .map_err(|e| ConnectorError::Transient(e.to_string()))?;
    // A new SDK store (lost, or the bot moved to a new machine with its vault) knows no room:
    // it starts with a full sync, answering what is recent enough as after a restart.
    let sdk_has_synced = recovery::has_synced(&client).await;
    let started = now_ms();
    // First start: history is not ours to answer. With a stored token, what arrived while we
    // were away is answered if it is recent enough.
    let cutoff_ms = match stored_token {
        Some(_) => started - shared.config.catch_up_max_age.0.as_millis() as i64,
        None => started,
    };
    let mut run = Run {
        configured_aliases: HashMap::new(),
        bridged_rooms: HashMap::new(),
        bot_display_name: me.display_name.clone(),
        shared,
        client,
        link,
        cutoff_ms,
    };
    run.join_allowed_rooms().await;
    for room in run.client.joined_rooms() {
        if room.is_tombstoned() {
            run.follow_upgrade(room.room_id()).await;
        }
    }

    let mut settings =
        SyncSettings::default().timeout(SYNC_TIMEOUT).filter(timeline_filter(&run.shared.account.user_id));
    if let Some(token) = stored_token.filter(|_| sdk_has_synced) {
        settings = settings.token(token);
    }
    let mut arrived_keys = arrived_keys(&run.client).await;
    let mut connected = false;
    let link = run.link.clone();
    link.expect_answers_within(SYNC_TIMEOUT + SYNC_GRACE);
    loop {
        let client = run.client.clone();
        let sync = link.awaiting(client.sync_once(settings.clone()));
        tokio::pin!(sync);
        // Keys that come while the sync runs (from the key backup, or in the sync itself)
        // release their messages in a task of their own: the sync may be suspended holding
        // the SDK's locks that decrypting needs, so it must go on meanwhile.
        let response = loop {
            tokio::select! {
                response = &mut sync => break response.map_err(|e| classify_sdk(&e))?,
                Some(keys) = next_keys(&mut arrived_keys) => {
                    let mut retry = run.clone();
                    tokio::spawn(async move { retry.retry_with_keys(keys).await });
                }
            }
        };
        for (room_id, invite) in &response.rooms.invited {
            let events: Vec<Value> = invite
                .invite_state
                .events
                .iter()
                .filter_map(|raw| serde_json::from_str(raw.json().get()).ok())
                .collect();
            run.handle_invite(room_id, &events).await;
        }
        let mut batch = Vec::new();
        for (room_id, update) in &response.rooms.joined {
            // The SDK stored the whole response before handing it over: members read now are
            // those at the end of this batch.
            let (State::Before(state) | State::After(state)) = &update.state;
            if !state.is_empty() {
                run.bridged_rooms.remove(room_id);
            }
            let events: Vec<Value> = update
                .timeline
                .events
                .iter()
                .filter_map(|event| match serde_json::from_str::<Value>(event.raw().json().get()) {
                    Ok(value) => Some(value),
                    Err(err) => {
                        tracing::debug!(room = %room_id, error = %err, "unreadable event skipped");
                        None
                    }
                })
                .collect();
            // A replaced room is not answered after its tombstone: what was said before it in
            // this batch still is.
            let tombstoned = run.client.get_room(room_id).is_some_and(|room| room.is_tombstoned());
            let mut ended = tombstoned && !events.iter().any(is_tombstone);
            for value in &events {
                if value["type"] == "m.room.member" {
                    run.bridged_rooms.remove(room_id);
                }
                ended |= is_tombstone(value);
                if !ended {
                    batch.extend(run.handle_event(room_id, value, run.cutoff_ms).await);
                }
            }
            if tombstoned {
                run.follow_upgrade(room_id).await;
            }
        }
        // The batch and the token that moves past it are stored together: after a crash the
        // runtime resumes the batch from its inbox, and the homeserver is not asked again.
        let token = response.next_batch.clone();
        let batch = run
            .shared
            .store
            .call(move |db| db.accept_inbound(Platform::Matrix, &batch, Some((SYNC_TOKEN, &token))).map(|()| batch))
            .await
            .map_err(|e| ConnectorError::Transient(e.to_string()))?;
        for inbound in batch {
            run.link.inbound(inbound).await;
        }
        settings = settings.token(response.next_batch);
        if !connected {
            run.link.connected(me.clone());
            connected = true;
            if recovery::restore_at_start(&run.shared, &run.client, &run.link).await {
                // No sync runs now: what waited for keys from the backup is retried here.
                run.retry_with_keys(None).await;
            }
        }
    }
}

/// The stream of room keys the bot's device receives (from senders or the key backup).
async fn arrived_keys(client: &Client) -> Option<BoxStream<'static, ArrivedKeys>> {
    let keys = client.encryption().room_keys_received_stream().await?;
    Some(
        keys.map(|update| update.ok().map(|keys| keys.into_iter().map(|key| (key.room_id, key.session_id)).collect()))
            .boxed(),
    )
}

/// The next keys that arrived; never, without encryption.
async fn next_keys(keys: &mut Option<BoxStream<'static, ArrivedKeys>>) -> Option<ArrivedKeys> {
    match keys {
        Some(keys) => keys.next().await,
        None => std::future::pending().await,
    }
}

fn is_tombstone(event: &Value) -> bool {
    event["type"] == "m.room.tombstone" && event["state_key"] == ""
}

/// What the bot syncs: room timelines, state and account data, but no presence, no
/// ephemeral events (typing, receipts) and not the bot's own timeline events. Those would
/// wake the sync loop (and the SDK's state and crypto stores, which the SDK writes on every
/// sync) for every typing notification in every room and for the echo of every reply, while
/// the bot reads none of them. Its own state events (a join, a display name) still come,
/// in the rooms' `state`.
fn timeline_filter(me: &OwnedUserId) -> Filter {
    let mut timeline = RoomEventFilter::default();
    timeline.limit = Some(UInt::from(TIMELINE_LIMIT));
    timeline.not_senders = vec![me.clone()];
    let mut room = RoomFilter::default();
    room.timeline = timeline;
    room.ephemeral = RoomEventFilter::ignore_all();
    let mut filter = FilterDefinition::default();
    filter.room = room;
    filter.presence = EventFilter::ignore_all();
    Filter::FilterDefinition(filter)
}

impl Run {
    /// Resolves `allowed_rooms` (ids and aliases) and joins those the bot is not in yet.
    async fn join_allowed_rooms(&mut self) {
        for entry in self.shared.config.allowed_rooms.clone() {
            let room_id = if entry.starts_with('#') {
                let resolved = match RoomAliasId::parse(&entry) {
                    Ok(alias) => {
                        self.client.resolve_room_alias(&alias).await.map(|r| r.room_id).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                match resolved {
                    Ok(id) => id,
                    Err(err) => {
                        self.link.warn(format!("allowed room {entry} could not be resolved: {err}"));
                        continue;
                    }
                }
            } else {
                match RoomId::parse(&entry) {
                    Ok(id) => id,
                    Err(e) => {
                        self.link.warn(format!("allowed room {entry} is not a room id: {e}"));
                        continue;
                    }
                }
            };
            let joined = self.client.get_room(&room_id).is_some_and(|r| r.state() == RoomState::Joined);
            if !joined && let Err(err) = self.client.join_room_by_id(&room_id).await {
                self.link.warn(format!("could not join allowed room {entry}: {err}"));
            }
            let aliases = self.configured_aliases.entry(room_id).or_default();
            if entry.starts_with('#') {
                aliases.push(entry);
            }
        }
    }

    /// The room's other names: the aliases of `allowed_rooms` that resolved to it, the
    /// canonical and alternative aliases its state names, and the rooms it replaced (so an
    /// allowed room's upgrade is allowed too).
    fn aliases(&self, room_id: &RoomId, room: Option<&Room>) -> Vec<String> {
        let mut aliases = self.configured_aliases.get(room_id).cloned().unwrap_or_default();
        if let Some(room) = room {
            aliases.extend(room.canonical_alias().map(|alias| alias.to_string()));
            aliases.extend(room.alt_aliases().into_iter().map(|alias| alias.to_string()));
            for predecessor in upgrades::verified_predecessors(&self.client, room) {
                aliases.extend(self.configured_aliases.get(&predecessor).into_iter().flatten().cloned());
                aliases.push(predecessor.to_string());
            }
        }
        aliases.dedup();
        aliases
    }

    /// Follows the upgrade of a replaced room (once).
    async fn follow_upgrade(&self, room_id: &RoomId) {
        let Some(old) = self.client.get_room(room_id) else { return };
        let followed = upgrades::follow(&self.shared, &self.client, &self.link, &old).await;
        tracing::debug!(room = %room_id, ?followed, "room upgrade");
    }

    /// Asks the gate about an invite and acts on its answer.
    async fn handle_invite(&mut self, room_id: &OwnedRoomId, state: &[Value]) {
        let bot = self.shared.account.user_id.as_str();
        let info = read_invite_state(state, bot);
        // A portal room of a bridge is created by its bot (or a ghost); the invite shows
        // nothing else of its members. An unnamed portal is a one-to-one chat: bridges name
        // their group portals after the group.
        let server = bridge::server_of(bot);
        let bridged = [info.creator.as_deref(), info.inviter.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|user| bridge::recognize(user, server).map(|(found, _)| found));
        let room_name = match (bridged, &info.name) {
            (Some(found), name) => bridge::room_label(name.as_deref(), found),
            (None, Some(name)) => name.clone(),
            (None, None) => match &info.inviter {
                Some(inviter) => format!("an unnamed room {inviter} invited the bot to"),
                None => room_id.to_string(),
            },
        };
        let is_direct = info.is_direct || (bridged.is_some() && info.name.is_none());
        let mut room_aliases = self.aliases(room_id, None);
        // The upgrade of a room the bot was in: the same conversation, under the old room's
        // allowance and approval.
        if let Some(predecessor) = info
            .predecessor
            .as_deref()
            .and_then(|claimed| upgrades::verify_claimed_predecessor(&self.client, room_id, claimed))
        {
            if let Some(old) = self.client.get_room(&predecessor) {
                room_aliases.extend(self.aliases(&predecessor, Some(&old)));
                upgrades::carry_over(&self.shared, &predecessor, room_id).await;
            }
            room_aliases.push(predecessor.to_string());
        }
        let invite = RoomInvite {
            platform: Platform::Matrix,
            room_id: room_id.to_string(),
            room_aliases,
            room_name,
            inviter: info.inviter.clone().unwrap_or_default(),
            is_direct,
            is_public: info.join_rule.as_deref() == Some("public"),
        };
        if self.link.room_invite(invite).await == InviteAction::Ignore {
            return;
        }
        match self.client.join_room_by_id(room_id).await {
            Ok(room) => {
                if is_direct && let Err(err) = room.set_is_direct(true).await {
                    tracing::debug!(room = %room_id, error = %err, "could not mark the room as direct");
                }
            }
            Err(err) => self.link.warn(format!("could not join {room_id}: {err}")),
        }
    }

    /// What the room's members say about a bridge in it, read once per room and again after
    /// its membership changed.
    async fn bridged(&mut self, room: &Room) -> Option<BridgedRoom> {
        if let Some(known) = self.bridged_rooms.get(room.room_id()) {
            return *known;
        }
        let members = match room.members_no_sync(RoomMemberships::JOIN | RoomMemberships::INVITE).await {
            Ok(members) => members,
            Err(err) => {
                tracing::debug!(room = %room.room_id(), error = %err, "members not readable");
                return None;
            }
        };
        let found =
            bridge::classify_room(members.iter().map(|m| m.user_id().as_str()), self.shared.account.user_id.as_str());
        self.bridged_rooms.insert(room.room_id().to_owned(), found);
        found
    }

    /// Hands on the messages that waited for the keys that arrived (all, when `keys` is
    /// `None`): decrypted now, they are handled as if they had just come, answered if still
    /// within `matrix.catch_up_max_age`; those still without a key wait on.
    async fn retry_with_keys(&mut self, keys: ArrivedKeys) {
        let released = locked(&self.shared.late_keys).take(|room, session| match &keys {
            Some(keys) => keys.iter().any(|(r, s)| r == room && s == session),
            None => true,
        });
        if released.is_empty() {
            return;
        }
        let cutoff_ms = self.cutoff_ms.max(now_ms() - self.shared.config.catch_up_max_age.0.as_millis() as i64);
        let mut batch = Vec::new();
        for waiting in released {
            let Some(room) = self.client.get_room(&waiting.room_id) else { continue };
            let event = match room.decrypt_event(&waiting.raw, None).await {
                Ok(event) => event,
                Err(err) => {
                    tracing::debug!(room = %waiting.room_id, event = %waiting.event_id, error = %err, "not decrypted");
                    locked(&self.shared.late_keys).keep(waiting);
                    continue;
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(event.raw().json().get()) else { continue };
            tracing::debug!(room = %waiting.room_id, event = %waiting.event_id, decrypted = value["type"] != "m.room.encrypted", "late key");
            batch.extend(self.handle_event(&waiting.room_id, &value, cutoff_ms).await);
        }
        match self.shared.store.call(move |db| db.accept_inbound(Platform::Matrix, &batch, None).map(|()| batch)).await
        {
            Ok(batch) => {
                for inbound in batch {
                    self.link.inbound(inbound).await;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "messages decrypted late could not be stored, so they are not answered")
            }
        }
    }

    /// Keeps an encrypted message the bot's device has no key for until the key comes (if it
    /// is recent enough to be answered), and says so once per room.
    fn wait_for_key(&self, room_id: &OwnedRoomId, event: &Value, cutoff_ms: i64) {
        let Some(waiting) = Waiting::of(room_id, event) else { return };
        if waiting.timestamp_ms < cutoff_ms || event["sender"] == self.shared.account.user_id.as_str() {
            return;
        }
        let mut late_keys = locked(&self.shared.late_keys);
        late_keys.expire(cutoff_ms);
        if late_keys.keep(waiting) && self.shared.warned_encrypted(room_id.as_str()) {
            self.link.warn(format!(
                "an end-to-end encrypted message in room {room_id} could not be decrypted: the sender's device has not shared its key with the bot's device (yet); it is answered if the key arrives within matrix.catch_up_max_age"
            ));
        }
    }

    /// Translates one event into an `Inbound`, if it is one the runtime should see (sent at
    /// or after `cutoff_ms`).
    async fn handle_event(&mut self, room_id: &OwnedRoomId, event: &Value, cutoff_ms: i64) -> Option<Inbound> {
        let ctx = RoomContext {
            bot_user_id: self.shared.account.user_id.as_str(),
            bot_display_name: self.bot_display_name.as_deref(),
            cutoff_ms,
        };
        let incoming = match translate(event, &ctx) {
            Ok(incoming) => incoming,
            Err(Skip::Encrypted) => {
                self.wait_for_key(room_id, event, cutoff_ms);
                return None;
            }
            Err(skip) => {
                tracing::trace!(room = %room_id, ?skip, "event skipped");
                return None;
            }
        };
        let room = self.client.get_room(room_id)?;
        let is_direct = match self.bridged(&room).await {
            Some(bridged) => bridged.one_to_one,
            None => is_direct(&room).await,
        };
        let sender_display = display_name(&room, &incoming.sender).await;
        let content = content(&incoming);
        Some(Inbound {
            platform: Platform::Matrix,
            chat: ChatId::from(room_id.as_str()),
            chat_kind: if is_direct { ChatKind::Direct } else { ChatKind::Group },
            chat_name: room.name(),
            chat_aliases: self.aliases(room_id, Some(&room)),
            guild: None,
            sender: UserId::from(incoming.sender.as_str()),
            sender_username: None,
            sender_display,
            content,
            addressed: incoming.addressed,
            event_id: EventId::from(incoming.event_id.as_str()),
            timestamp_ms: incoming.timestamp_ms,
        })
    }
}

/// What the runtime gets of a message. An audio file or image stays on the homeserver (its
/// media source): it is fetched only when the message is answered.
fn content(incoming: &Incoming) -> Content {
    match &incoming.body {
        IncomingBody::Text(text) => Content::Text(text.clone()),
        IncomingBody::Audio { source, mime_type, file_name, size } => Content::Voice(MediaRef {
            mime_type: mime_type.clone(),
            file_name: file_name.clone(),
            size: *size,
            source: source.to_source(),
        }),
        IncomingBody::Image { source, mime_type, file_name, size, caption } => Content::image(
            MediaRef {
                mime_type: mime_type.clone(),
                file_name: file_name.clone(),
                size: *size,
                source: source.to_source(),
            },
            caption.clone(),
        ),
    }
}

/// The sender's display name in the room, falling back to the user id.
async fn display_name(room: &Room, sender: &str) -> String {
    let Ok(user) = <&matrix_sdk::ruma::UserId>::try_from(sender) else { return sender.to_owned() };
    match room.get_member_no_sync(user).await {
        Ok(Some(member)) => member.display_name().map(str::to_owned).unwrap_or_else(|| sender.to_owned()),
        _ => sender.to_owned(),
    }
}

/// A DM: marked direct (m.direct), or an unnamed room of the bot and one other person.
async fn is_direct(room: &Room) -> bool {
    room.is_direct().await.unwrap_or(false)
        || (room.joined_members_count() <= 2 && room.name().is_none() && room.canonical_alias().is_none())
}
