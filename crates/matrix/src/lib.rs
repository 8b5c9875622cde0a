//! The Matrix connector of parachute, on matrix-sdk 0.18 with its SQLite store.
//!
//! [`MatrixFactory`] builds a [`MatrixConnector`] from the `matrix` config section. A run
//! ([`sync_loop`]) checks the token, joins the allowed rooms and long-polls `/sync`; each
//! room message becomes one `Inbound` ([`translate`]), invites are decided by [`invites`];
//! audio is fetched by [`media`] only when a message is answered;
//! replies, typing and the ack reaction of a message being answered go out through
//! [`outbound`]. An upgraded room goes on in its successor ([`upgrades`]). An encrypted
//! message whose key comes late waits in [`late_keys`]; [`recovery`] backs the room keys up
//! and brings them back to a new device; [`login`] signs the bot in once with its password.
//! [`log_filter`] keeps matrix-sdk's expected absences
//! out of the log.

pub mod bridge;
pub mod invites;
mod late_keys;
pub mod log_filter;
pub mod login;
mod media;
mod outbound;
pub mod recovery;
mod session;
mod sync_loop;
mod upgrades;

pub use sync_loop::SYNC_TOKEN;
pub mod translate;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use matrix_sdk::Client;
use parachute_core::config::{BotsConfig, MatrixConfig};
use parachute_core::ids::{ChatId, EventId, Platform};
use parachute_core::pairing::{PairingKind, PairingStatus};
use parachute_runtime::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity, MediaError, SignInRequest,
    SignedIn,
};
use parachute_runtime::messages::{Delivered, MediaRef, Reply};
use parachute_runtime::store::{PairingRecord, Store};

use session::Account;

/// Builds Matrix connectors.
#[derive(Debug, Default, Clone, Copy)]
pub struct MatrixFactory;

impl ConnectorFactory for MatrixFactory {
    fn platform(&self) -> Platform {
        Platform::Matrix
    }

    fn build(&self, config: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError> {
        let account = Account::from_config(&config.matrix)?;
        Ok(Arc::new(MatrixConnector {
            shared: Arc::new(Shared {
                store_dir: account.store_dir(&env.data_dir),
                account,
                config: config.matrix.clone(),
                store: env.store.clone(),
                client: tokio::sync::Mutex::new(None),
                acks: Default::default(),
                typing: Arc::default(),
                encrypted_warned: Mutex::new(HashSet::new()),
                upgrades_followed: Mutex::new(HashSet::new()),
                late_keys: Mutex::default(),
                store_lock: Mutex::new(None),
            }),
        }))
    }

    fn sign_in(&self, request: SignInRequest) -> BoxFuture<'static, Result<SignedIn, ConnectorError>> {
        Box::pin(async move {
            let session = login::log_in(&request.server_url, &request.user, &request.password).await?;
            Ok(SignedIn { user_id: session.user_id, access_token: session.access_token })
        })
    }
}

/// State shared by runs, deliveries and typing of one connector.
pub(crate) struct Shared {
    account: Account,
    config: MatrixConfig,
    store: Store,
    store_dir: PathBuf,
    client: tokio::sync::Mutex<Option<Client>>,
    acks: parachute_runtime::ack::PendingAcks<outbound::SentAck>,
    typing: Arc<parachute_runtime::typing::TypingRenewals>,
    encrypted_warned: Mutex<HashSet<String>>,
    /// Upgraded rooms whose successor the bot followed (or is following).
    upgrades_followed: Mutex<HashSet<matrix_sdk::ruma::OwnedRoomId>>,
    /// Encrypted messages waiting for their keys.
    late_keys: Mutex<late_keys::LateKeys>,
    /// Exclusive use of the store folder while the client uses it.
    store_lock: Mutex<Option<recovery::StoreLock>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The client of the current run, or an error while there is none.
    async fn client(&self) -> Result<Client, ConnectorError> {
        self.client
            .lock()
            .await
            .clone()
            .ok_or_else(|| ConnectorError::Transient("not connected to the homeserver".into()))
    }

    /// The client, built (and logged in) on first use; kept across reconnects.
    async fn client_or_connect(&self) -> Result<Client, ConnectorError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        if locked(&self.store_lock).is_none() {
            let lock =
                recovery::StoreLock::take(&self.store_dir).map_err(|e| ConnectorError::Transient(e.to_string()))?;
            *locked(&self.store_lock) = Some(lock);
        }
        let client = session::connect(&self.account, Some(&self.store_dir), false).await?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// True the first time a room is reported as encrypted.
    fn warned_encrypted(&self, room: &str) -> bool {
        locked(&self.encrypted_warned).insert(room.to_owned())
    }

    /// True the first time the upgrade of `room` is followed.
    fn begin_following_upgrade(&self, room: &matrix_sdk::ruma::RoomId) -> bool {
        locked(&self.upgrades_followed).insert(room.to_owned())
    }

    /// Lets the upgrade of `room` be followed again (the last try failed).
    fn forget_upgrade(&self, room: &matrix_sdk::ruma::RoomId) {
        locked(&self.upgrades_followed).remove(room);
    }
}

impl Drop for Shared {
    /// matrix-sdk's SQLite pool must be dropped inside a Tokio runtime (it spawns blocking
    /// clean-up). When the runtime is already gone (process exit), the client is leaked on
    /// purpose rather than panicking in a destructor.
    fn drop(&mut self) {
        self.typing.stop_all();
        let Some(client) = self.client.get_mut().take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move { drop(client) })),
            Err(_) => std::mem::forget(client),
        }
    }
}

/// The Matrix connector.
pub struct MatrixConnector {
    shared: Arc<Shared>,
}

impl Connector for MatrixConnector {
    fn platform(&self) -> Platform {
        Platform::Matrix
    }

    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>> {
        let account = self.shared.account.clone();
        Box::pin(async move {
            let client = session::connect(&account, None, false).await?;
            Ok(session::identity(&client, &account.user_id).await)
        })
    }

    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let _typing = shared.typing.stop_all_on_drop();
            sync_loop::run(shared, link).await
        })
    }

    fn deliver(&self, reply: Reply) -> BoxFuture<'static, Result<Delivered, ConnectorError>> {
        Box::pin(outbound::deliver(self.shared.clone(), reply))
    }

    fn fetch_media(&self, media: MediaRef, limit: u64) -> BoxFuture<'static, Result<Vec<u8>, MediaError>> {
        let shared = self.shared.clone();
        Box::pin(async move { media::fetch(&shared, media, limit).await })
    }

    fn acknowledge(&self, chat: ChatId, event: EventId) -> BoxFuture<'static, Result<(), ConnectorError>> {
        outbound::acknowledge(&self.shared, chat.0, event.0)
    }

    fn set_typing(&self, chat: ChatId, typing: bool) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(outbound::set_typing(self.shared.clone(), chat.0, typing))
    }

    fn pairing_decided(&self, record: PairingRecord) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if record.kind != PairingKind::Room {
                return Ok(());
            }
            let client = shared.client().await?;
            let room_id = matrix_sdk::ruma::RoomId::parse(&record.platform_chat_id)
                .map_err(|e| ConnectorError::Config(format!("bad room id in pairing request: {e}")))?;
            let Some(room) = client.get_room(&room_id) else { return Ok(()) };
            match record.status {
                PairingStatus::Denied => room.leave().await.map_err(|e| session::classify_sdk(&e)),
                PairingStatus::Approved => tell_how_to_relay(&room, shared.account.user_id.as_str()).await,
                PairingStatus::Pending => Ok(()),
            }
        })
    }
}

/// How long an approved room's join may take before the relay hint is given up.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether the bot is in `room`, waiting (at most `wait`) for a join under way.
async fn joined_within(room: &matrix_sdk::Room, wait: std::time::Duration) -> bool {
    let mut updates = room.subscribe_info();
    let joined = async {
        loop {
            if room.state() == matrix_sdk::RoomState::Joined {
                return true;
            }
            if updates.next_ref().await.is_none() {
                return false;
            }
        }
    };
    tokio::time::timeout(wait, joined).await.unwrap_or(false)
}

/// In an approved bridged group, says once how the bot's answers reach the other network
/// (the bridge relays a Matrix user's messages only in relay mode).
async fn tell_how_to_relay(room: &matrix_sdk::Room, bot_user_id: &str) -> Result<(), ConnectorError> {
    // The owner may approve while the bot's join is still under way (the room is known from
    // its invite, whose state shows none of the bridge's users).
    if !joined_within(room, JOIN_WAIT).await {
        tracing::debug!(room = %room.room_id(), "approved room not joined: no relay hint");
        return Ok(());
    }
    // The owner may approve before the join's state reached the bot's sync: asks the
    // homeserver for the members when they are not known yet.
    let members = room
        .members(matrix_sdk::RoomMemberships::JOIN | matrix_sdk::RoomMemberships::INVITE)
        .await
        .map_err(|e| ConnectorError::Transient(format!("cannot read the room's members: {e}")))?;
    match bridge::classify_room(members.iter().map(|m| m.user_id().as_str()), bot_user_id) {
        Some(bridged) if !bridged.one_to_one => outbound::send_notice(room, &bridge::relay_hint(bridged.bridge)).await,
        _ => Ok(()),
    }
}
