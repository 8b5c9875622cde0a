//! Key backup and recovery of the bot's Matrix account. The room keys the bot's device
//! receives are backed up (encrypted) on the homeserver; the backup key and the account's
//! cross-signing keys sit in its secret storage, which one recovery key opens.
//! [`Recovery::enable`] sets this up and signs the bot's device with its own identity;
//! [`Recovery::restore`] brings a new device (a lost store, a new machine) back to the room
//! keys and identity; [`restore_at_start`] does the same with `matrix.recovery_key`.
//!
//! The command line works on the connector's own store, so it needs the store to itself:
//! [`StoreLock`] keeps a running server and a command from using it at once.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::CrossSigningResetAuthType;
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::ruma::api::client::uiaa::{AuthData, Password, UiaaInfo};
use matrix_sdk::store::StateStoreDataKey;
use matrix_sdk::{Client, RoomState};
use parachute_core::config::MatrixConfig;
use parachute_runtime::connector::{ConnectorError, ConnectorLink};
use secrecy::{ExposeSecret, SecretString};

use crate::session::{self, Account};
use crate::{Shared, locked};

/// How long `enable` waits for the room keys the device has to reach the backup.
const UPLOAD_WAIT: Duration = Duration::from_secs(120);
/// The name of the lock file in the connector's store folder.
pub(crate) const LOCK_FILE: &str = "parachute.lock";

/// Why a recovery step failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The config does not describe a Matrix account (or the token is refused).
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// Another process (a running server, another command) uses the store.
    #[error(
        "the Matrix store {0} is in use by another parachute process: stop the running server first \
         (or put the recovery key into matrix.recovery_key, which the server reads at start)"
    )]
    StoreInUse(PathBuf),
    /// The store folder cannot be used.
    #[error("cannot use the Matrix store {0}: {1}")]
    Store(PathBuf, std::io::Error),
    /// Recovery is set up and this device has its secrets.
    #[error("key backup and recovery are already enabled for {0}: nothing to do")]
    AlreadyEnabled(String),
    /// The account has recovery, but this device lacks its secrets.
    #[error(
        "{0} already has key backup and recovery (set up on another device or before the store was lost): \
         run `parachute matrix recovery restore` with its recovery key; if that key is lost, \
         `parachute matrix recovery enable --reset` makes a new identity and key (older backed-up keys become unreadable)"
    )]
    SetUpElsewhere(String),
    /// The account has a cross-signing identity whose private keys this device lacks.
    #[error(
        "{0} already has a cross-signing identity whose keys this device does not have: restore them with \
         `parachute matrix recovery restore`, or replace the identity with `parachute matrix recovery enable --reset`"
    )]
    IdentityElsewhere(String),
    /// The recovery key does not open the account's secret storage.
    #[error("the recovery key does not open the key storage of {0}: {1}")]
    WrongKey(String, String),
    /// The account has no recovery to restore from.
    #[error(
        "{0} has no key backup to restore from: run `parachute matrix recovery enable` on the device that has the keys"
    )]
    NothingToRestore(String),
    /// The homeserver wants a password, and none was given.
    #[error("the homeserver asks for the account password to change the cross-signing keys: {0}")]
    Password(String),
    /// Another failure of the homeserver or the SDK.
    #[error("{0}")]
    Sdk(String),
}

fn sdk(err: impl std::fmt::Display) -> RecoveryError {
    RecoveryError::Sdk(err.to_string())
}

/// What the account's recovery looks like from this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryStatus {
    /// `enabled` (this device has every secret), `incomplete` (the account has recovery,
    /// this device lacks secrets), `disabled`, or `unknown`.
    pub recovery: &'static str,
    /// Whether room keys are backed up from this device.
    pub backup_enabled: bool,
    /// Whether this device has the private cross-signing keys.
    pub cross_signing_complete: bool,
    /// Whether the bot's own identity signed this device.
    pub device_verified: bool,
    /// The device id.
    pub device_id: String,
    /// The device's Ed25519 key (base64), which clients show as the session key.
    pub device_key: Option<String>,
}

/// What [`Recovery::restore`] brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Joined rooms whose keys were fetched from the backup.
    pub rooms: usize,
    /// Whether the device is now signed by the bot's identity.
    pub device_verified: bool,
}

/// Exclusive use of the connector's store folder, for as long as it is held.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the folder's lock, or fails with [`RecoveryError::StoreInUse`] when a running
    /// server holds it.
    pub fn take(store_dir: &Path) -> Result<Self, RecoveryError> {
        std::fs::create_dir_all(store_dir).map_err(|e| RecoveryError::Store(store_dir.to_owned(), e))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(store_dir.join(LOCK_FILE))
            .map_err(|e| RecoveryError::Store(store_dir.to_owned(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(RecoveryError::StoreInUse(store_dir.to_owned())),
            Err(TryLockError::Error(e)) => Err(RecoveryError::Store(store_dir.to_owned(), e)),
        }
    }
}

/// Whether the SDK's store has synced before (a new store knows no room yet).
pub(crate) async fn has_synced(client: &Client) -> bool {
    matches!(client.state_store().get_kv_data(StateStoreDataKey::SyncToken).await, Ok(Some(_)))
}

/// The bot's account opened on its own store, for the recovery commands.
pub struct Recovery {
    client: Client,
    user_id: String,
    _lock: StoreLock,
}

impl Recovery {
    /// Opens the account of `config` on its store under `data_dir` (the server's data folder),
    /// syncs once so the device's keys are on the homeserver, and waits for the encryption
    /// set-up.
    pub async fn open(config: &MatrixConfig, data_dir: &Path) -> Result<Self, RecoveryError> {
        let account = Account::from_config(config)?;
        let store_dir = account.store_dir(data_dir);
        let lock = StoreLock::take(&store_dir)?;
        let client = session::connect(&account, Some(&store_dir), true).await?;
        client.sync_once(SyncSettings::default().timeout(Duration::ZERO)).await.map_err(sdk)?;
        client.encryption().wait_for_e2ee_initialization_tasks().await;
        Ok(Self { client, user_id: account.user_id.to_string(), _lock: lock })
    }

    /// The account's recovery as this device sees it.
    pub async fn status(&self) -> RecoveryStatus {
        let encryption = self.client.encryption();
        // The homeserver's view of the device's signatures (a signature uploaded by this
        // process is not in the local copy until the keys are queried again).
        if let Some(own) = self.client.user_id()
            && let Err(err) = encryption.request_user_identity(own).await
        {
            tracing::debug!(error = %err, "own keys not queried");
        }
        let recovery = match encryption.recovery().state() {
            RecoveryState::Enabled => "enabled",
            RecoveryState::Incomplete => "incomplete",
            RecoveryState::Disabled => "disabled",
            RecoveryState::Unknown => "unknown",
        };
        let own_device = encryption.get_own_device().await.ok().flatten();
        RecoveryStatus {
            device_verified: own_device.as_ref().is_some_and(|device| device.is_cross_signed_by_owner()),
            device_key: own_device.and_then(|device| device.ed25519_key()).map(|key| key.to_base64()),
            recovery,
            backup_enabled: encryption.backups().are_enabled().await,
            cross_signing_complete: encryption.cross_signing_status().await.is_some_and(|s| s.is_complete()),
            device_id: self.client.device_id().map(|d| d.to_string()).unwrap_or_default(),
        }
    }

    /// Creates the bot's cross-signing identity (signing its device) if it has none, turns on
    /// the key backup and secret storage, waits until the device's room keys are backed up,
    /// and returns the new recovery key: it is shown once and never stored. With `reset`, an
    /// existing identity and backup are replaced. `password` is asked only when the homeserver
    /// wants it for the cross-signing keys.
    pub async fn enable(
        &self,
        reset: bool,
        password: &mut dyn FnMut() -> std::io::Result<SecretString>,
    ) -> Result<SecretString, RecoveryError> {
        let encryption = self.client.encryption();
        if reset {
            self.reset_identity(password).await?;
        } else {
            match encryption.recovery().state() {
                RecoveryState::Enabled => return Err(RecoveryError::AlreadyEnabled(self.user_id.clone())),
                RecoveryState::Incomplete => return Err(RecoveryError::SetUpElsewhere(self.user_id.clone())),
                RecoveryState::Disabled | RecoveryState::Unknown => {}
            }
            self.bootstrap_cross_signing(password).await?;
        }
        let key = encryption
            .recovery()
            .enable()
            .wait_for_backups_to_upload()
            .await
            .map_err(|e| RecoveryError::Sdk(format!("cannot turn on key backup: {e}")))?;
        // enable() waited for the upload it started; room keys it did not know of yet are
        // uploaded by the backup task, which is given a bounded while to finish.
        let _ = tokio::time::timeout(UPLOAD_WAIT, encryption.backups().wait_for_steady_state()).await;
        Ok(SecretString::from(key))
    }

    /// Opens the account's secret storage with `key`: imports the cross-signing keys (the
    /// device is then signed by the bot's identity) and the backup key, and fetches the room
    /// keys of every joined room from the backup.
    pub async fn restore(&self, key: &SecretString) -> Result<Restored, RecoveryError> {
        restore(&self.client, &self.user_id, key).await?;
        let mut rooms = 0;
        for room in self.client.joined_rooms() {
            if room.state() == RoomState::Joined {
                self.client.encryption().backups().download_room_keys_for_room(room.room_id()).await.map_err(sdk)?;
                rooms += 1;
            }
        }
        Ok(Restored { rooms, device_verified: self.status().await.device_verified })
    }

    async fn bootstrap_cross_signing(
        &self,
        password: &mut dyn FnMut() -> std::io::Result<SecretString>,
    ) -> Result<(), RecoveryError> {
        let encryption = self.client.encryption();
        if encryption.cross_signing_status().await.is_some_and(|s| s.is_complete()) {
            return Ok(());
        }
        let own = self.client.user_id().map(ToOwned::to_owned);
        if let Some(own) = own
            && encryption.request_user_identity(&own).await.map_err(sdk)?.is_some()
        {
            return Err(RecoveryError::IdentityElsewhere(self.user_id.clone()));
        }
        match encryption.bootstrap_cross_signing(None).await {
            Ok(()) => Ok(()),
            Err(err) => {
                let Some(uiaa) = err.as_uiaa_response() else { return Err(sdk(err)) };
                let auth = self.password_auth(uiaa, password)?;
                encryption.bootstrap_cross_signing(Some(auth)).await.map_err(sdk)
            }
        }
    }

    async fn reset_identity(
        &self,
        password: &mut dyn FnMut() -> std::io::Result<SecretString>,
    ) -> Result<(), RecoveryError> {
        let Some(handle) = self.client.encryption().recovery().reset_identity().await.map_err(sdk)? else {
            return Ok(());
        };
        let auth = match handle.auth_type() {
            CrossSigningResetAuthType::Uiaa(uiaa) => Some(self.password_auth(uiaa, password)?),
            CrossSigningResetAuthType::OAuth(oauth) => {
                return Err(RecoveryError::Password(format!(
                    "this homeserver uses OAuth: approve the reset at {} and run this again",
                    oauth.approval_url
                )));
            }
        };
        handle.reset(auth).await.map_err(sdk)
    }

    /// Answers the homeserver's interactive authentication with the account password.
    fn password_auth(
        &self,
        uiaa: &UiaaInfo,
        password: &mut dyn FnMut() -> std::io::Result<SecretString>,
    ) -> Result<AuthData, RecoveryError> {
        let offers_password =
            uiaa.flows.iter().any(|flow| flow.stages.iter().any(|s| s.as_ref() == "m.login.password"));
        if !offers_password {
            return Err(RecoveryError::Password("it offers no password login for this step".into()));
        }
        let secret = password().map_err(|e| RecoveryError::Password(format!("no password was read ({e})")))?;
        let user = self.client.user_id().map(ToOwned::to_owned).ok_or_else(|| sdk("not logged in"))?;
        let mut auth = Password::new(user.into(), secret.expose_secret().to_owned());
        auth.session = uiaa.session.clone();
        Ok(AuthData::Password(auth))
    }
}

async fn restore(client: &Client, user_id: &str, key: &SecretString) -> Result<(), RecoveryError> {
    let recovery = client.encryption().recovery();
    if recovery.state() == RecoveryState::Disabled {
        return Err(RecoveryError::NothingToRestore(user_id.to_owned()));
    }
    recovery.recover(key.expose_secret()).await.map_err(|e| RecoveryError::WrongKey(user_id.to_owned(), e.to_string()))
}

/// With `matrix.recovery_key` set, a device that lacks the account's secrets (a new store)
/// restores them once after its first sync, then fetches from the backup the keys of the
/// messages waiting for one; true when it did. A key that does not fit is reported (the bot
/// goes on without the old keys).
pub(crate) async fn restore_at_start(shared: &Shared, client: &Client, link: &ConnectorLink) -> bool {
    let Some(key) = &shared.config.recovery_key else { return false };
    client.encryption().wait_for_e2ee_initialization_tasks().await;
    if client.encryption().recovery().state() != RecoveryState::Enabled {
        match restore(client, shared.account.user_id.as_str(), key).await {
            Ok(()) => tracing::info!("room keys and identity restored with matrix.recovery_key"),
            Err(err) => {
                link.warn(format!("matrix.recovery_key was not used: {err}"));
                return false;
            }
        }
    }
    let sessions = locked(&shared.late_keys).sessions();
    for (room, session) in sessions {
        if let Err(err) = client.encryption().backups().download_room_key(&room, &session).await {
            tracing::debug!(room = %room, error = %err, "key not in the backup");
        }
    }
    true
}
