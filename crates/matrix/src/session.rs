//! Builds a matrix-sdk client for the configured account and classifies its errors into the
//! runtime's failure policy (bad token fails fast, rate limits wait, the rest reconnects).

use std::path::{Path, PathBuf};
use std::time::Duration;

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::ruma::{OwnedDeviceId, OwnedUserId};
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use parachute_core::config::MatrixConfig;
use parachute_runtime::connector::{ConnectorError, Identity};
use secrecy::ExposeSecret;

/// Per-request timeout (the sync long-poll adds its own timeout to this).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Device id used while asking the homeserver which device a token belongs to.
const PROVISIONAL_DEVICE: &str = "PARACHUTE";

/// The settings the connector needs, taken from the config once per build.
#[derive(Clone)]
pub(crate) struct Account {
    /// Homeserver base URL.
    pub homeserver_url: String,
    /// The bot's user id.
    pub user_id: OwnedUserId,
    /// The access token.
    pub access_token: secrecy::SecretString,
    /// The device id from the config, if given: only checked against the token's device.
    pub device_id: Option<OwnedDeviceId>,
}

impl Account {
    /// Reads the Matrix section; fails with a config error when something is missing.
    pub fn from_config(config: &MatrixConfig) -> Result<Self, ConnectorError> {
        let missing = |what: &str| ConnectorError::Config(format!("matrix.{what} is not set"));
        if config.homeserver_url.is_empty() {
            return Err(missing("homeserver_url"));
        }
        let user_id = OwnedUserId::try_from(config.user_id.as_str()).map_err(|_| {
            ConnectorError::Config(format!("matrix.user_id `{}` is not a Matrix user id", config.user_id))
        })?;
        let access_token = config.access_token.clone().ok_or_else(|| missing("access_token"))?;
        let device_id = (!config.device_id.is_empty()).then(|| OwnedDeviceId::from(config.device_id.as_str()));
        Ok(Self { homeserver_url: config.homeserver_url.clone(), user_id, access_token, device_id })
    }

    /// Where this account's SDK state (sync state, room info) lives.
    pub fn store_dir(&self, data_dir: &Path) -> PathBuf {
        Self::store_dir_of(&self.user_id, data_dir)
    }

    /// The store folder of `user_id` under `data_dir`.
    pub fn store_dir_of(user_id: &OwnedUserId, data_dir: &Path) -> PathBuf {
        let safe: String =
            user_id.as_str().chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
        data_dir.join("matrix").join(safe)
    }
}

/// Builds a client logged in as `account` on the device its token belongs to (as `whoami`
/// names it), with its state in `store_dir` (or in memory). `retry` lets the SDK retry failed
/// requests itself; the sync loop wants errors at once.
///
/// A store made by another device of the account (the token is of a new login) cannot serve
/// this one: its contents are set aside next to it, before anything opens it, and the device
/// starts with a fresh store. The store names its device in a [`DEVICE_FILE`]; a store without
/// one (made by an older version) is recognised by the SDK's refusal instead, set aside, and
/// the connection is tried again through the normal backoff, once the refused store's files
/// are closed.
pub async fn connect(account: &Account, store_dir: Option<&Path>, retry: bool) -> Result<Client, ConnectorError> {
    let (_, device_id) = whoami(account).await?;
    let Some(dir) = store_dir else {
        return build(account, device_id, None, retry).await.map_err(Built::into_error);
    };
    let recorded = std::fs::read_to_string(dir.join(DEVICE_FILE)).ok();
    if recorded.as_deref().is_some_and(|d| d.trim() != device_id.as_str()) {
        set_aside(dir, &device_id)?;
    }
    match build(account, device_id.clone(), Some(dir), retry).await {
        Ok(client) => {
            if recorded.as_deref().map(str::trim) != Some(device_id.as_str()) {
                std::fs::write(dir.join(DEVICE_FILE), device_id.as_str()).map_err(|e| {
                    ConnectorError::Config(format!("cannot write {}: {e}", dir.join(DEVICE_FILE).display()))
                })?;
            }
            Ok(client)
        }
        Err(Built::OtherDevice(_)) => {
            set_aside(dir, &device_id)?;
            Err(ConnectorError::Transient(
                "the Matrix store of an earlier device was set aside; connecting again".into(),
            ))
        }
        Err(Built::Failed(err)) => Err(err),
    }
}

/// The file in a store folder that names the device the store belongs to.
pub(crate) const DEVICE_FILE: &str = "parachute-device";

fn set_aside(dir: &Path, device_id: &OwnedDeviceId) -> Result<(), ConnectorError> {
    let aside = crate::login::set_contents_aside(dir, &format!("before-{device_id}"))
        .map_err(|e| ConnectorError::Config(format!("cannot set the store of the earlier device aside: {e}")))?;
    tracing::info!(
        device = %device_id,
        aside = %aside.display(),
        "the Matrix store belonged to an earlier device of the account; it was set aside and this device starts with a fresh store"
    );
    Ok(())
}

/// Why a client could not be built.
enum Built {
    /// The store holds the keys of another device of the account.
    OtherDevice(String),
    /// Anything else.
    Failed(ConnectorError),
}

impl Built {
    fn into_error(self) -> ConnectorError {
        match self {
            Self::OtherDevice(text) => ConnectorError::Config(text),
            Self::Failed(err) => err,
        }
    }
}

/// Whether the SDK refused the store because it belongs to another device (its crypto
/// store's `MismatchedAccount`), looked for along the error's causes.
fn is_other_device(err: &matrix_sdk::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains("the account in the store doesn't match") {
            return true;
        }
        cause = e.source();
    }
    false
}

async fn build(
    account: &Account,
    device_id: OwnedDeviceId,
    store_dir: Option<&Path>,
    retry: bool,
) -> Result<Client, Built> {
    let mut requests = RequestConfig::new().timeout(REQUEST_TIMEOUT);
    if !retry {
        requests = requests.disable_retry();
    }
    // A message whose key is missing asks the key backup for it (when the device has the
    // backup key, see `recovery`).
    let encryption = EncryptionSettings {
        backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
        ..EncryptionSettings::default()
    };
    let mut builder = Client::builder()
        .homeserver_url(&account.homeserver_url)
        .request_config(requests)
        .with_encryption_settings(encryption);
    if let Some(dir) = store_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Built::Failed(ConnectorError::Config(format!("cannot create {}: {e}", dir.display()))))?;
        // A bot reads little back from the SDK's stores: small page caches and a bounded
        // WAL keep it light on the small machines it runs on.
        builder = builder.sqlite_store_with_config_and_cache_path(
            matrix_sdk::SqliteStoreConfig::with_low_memory_config(dir),
            None::<&Path>,
        );
    }
    let client = builder
        .build()
        .await
        .map_err(|e| Built::Failed(ConnectorError::Config(format!("cannot set up the Matrix client: {e}"))))?;
    let session = MatrixSession {
        meta: SessionMeta { user_id: account.user_id.clone(), device_id },
        tokens: SessionTokens { access_token: account.access_token.expose_secret().to_owned(), refresh_token: None },
    };
    client.matrix_auth().restore_session(session, RoomLoadSettings::default()).await.map_err(|e| {
        let text = format!("cannot restore the Matrix session: {e}");
        if is_other_device(&e) { Built::OtherDevice(text) } else { Built::Failed(ConnectorError::Config(text)) }
    })?;
    Ok(client)
}

/// Asks the homeserver who the token belongs to: (user id, device id). Fails fast, and fails
/// with a config error when the token is another user's or `matrix.device_id` names another
/// device (encryption keys uploaded for a device the token does not own are refused).
pub async fn whoami(account: &Account) -> Result<(OwnedUserId, OwnedDeviceId), ConnectorError> {
    let client =
        build(account, OwnedDeviceId::from(PROVISIONAL_DEVICE), None, false).await.map_err(Built::into_error)?;
    let answer = client.whoami().await.map_err(|e| classify(e.client_api_error_kind(), &e.to_string()))?;
    if answer.user_id != account.user_id {
        return Err(ConnectorError::Config(format!(
            "the access token belongs to {}, not to matrix.user_id {}",
            answer.user_id, account.user_id
        )));
    }
    let device = device_of_token(account.device_id.as_ref(), answer.device_id)?;
    Ok((answer.user_id, device))
}

/// The device the bot runs as: the one the homeserver names for the token; the configured
/// one must agree. Homeservers that name no device (application-service tokens) get the
/// configured one, or a fixed name.
fn device_of_token(
    configured: Option<&OwnedDeviceId>,
    of_token: Option<OwnedDeviceId>,
) -> Result<OwnedDeviceId, ConnectorError> {
    match (configured, of_token) {
        (Some(configured), Some(of_token)) if *configured != of_token => Err(ConnectorError::Config(format!(
            "matrix.device_id is `{configured}`, but the access token belongs to device `{of_token}`: \
             remove matrix.device_id (the device is then taken from the token) or set it to `{of_token}`"
        ))),
        (_, Some(of_token)) => Ok(of_token),
        (Some(configured), None) => Ok(configured.clone()),
        (None, None) => Ok(OwnedDeviceId::from(PROVISIONAL_DEVICE)),
    }
}

/// Who the bot is, with its display name when the profile has one.
pub async fn identity(client: &Client, user_id: &OwnedUserId) -> Identity {
    let display_name = client.account().get_display_name().await.ok().flatten();
    Identity { user_id: user_id.to_string(), username: None, display_name }
}

/// Maps an SDK failure to the runtime's failure kinds.
pub fn classify(kind: Option<&ErrorKind>, text: &str) -> ConnectorError {
    match kind {
        Some(
            ErrorKind::UnknownToken(_) | ErrorKind::MissingToken | ErrorKind::UserDeactivated | ErrorKind::Forbidden,
        ) => ConnectorError::Auth(format!("the homeserver rejected the access token ({text})")),
        Some(ErrorKind::LimitExceeded(data)) => {
            let wait = match data.retry_after {
                Some(RetryAfter::Delay(delay)) => delay,
                Some(RetryAfter::DateTime(at)) => at.duration_since(std::time::SystemTime::now()).unwrap_or_default(),
                None => Duration::from_secs(5),
            };
            ConnectorError::RateLimited(wait.max(Duration::from_millis(100)))
        }
        _ => ConnectorError::Transient(text.to_owned()),
    }
}

/// Classifies a matrix-sdk error.
pub fn classify_sdk(err: &matrix_sdk::Error) -> ConnectorError {
    classify(err.client_api_error_kind(), &err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::ruma::api::error::{LimitExceededErrorData, UnknownTokenErrorData};

    #[test]
    fn token_errors_fail_fast_and_rate_limits_wait() {
        let err = classify(Some(&ErrorKind::UnknownToken(UnknownTokenErrorData::new())), "M_UNKNOWN_TOKEN");
        assert!(err.is_fatal());
        let mut limit = LimitExceededErrorData::new();
        limit.retry_after = Some(RetryAfter::Delay(Duration::from_millis(1500)));
        assert_eq!(
            classify(Some(&ErrorKind::LimitExceeded(limit)), "429"),
            ConnectorError::RateLimited(Duration::from_millis(1500))
        );
        assert_eq!(
            classify(Some(&ErrorKind::LimitExceeded(LimitExceededErrorData::new())), "429"),
            ConnectorError::RateLimited(Duration::from_secs(5))
        );
        assert_eq!(classify(None, "connection refused"), ConnectorError::Transient("connection refused".into()));
    }

    #[test]
    fn the_device_is_the_tokens_and_a_different_configured_one_is_refused() {
        let device = |d: &str| OwnedDeviceId::from(d);
        assert_eq!(device_of_token(None, Some(device("REAL"))).unwrap(), device("REAL"));
        assert_eq!(device_of_token(Some(&device("REAL")), Some(device("REAL"))).unwrap(), device("REAL"));
        assert_eq!(device_of_token(Some(&device("MINE")), None).unwrap(), device("MINE"));
        assert_eq!(device_of_token(None, None).unwrap(), device(PROVISIONAL_DEVICE));
        let ConnectorError::Config(reason) =
            device_of_token(Some(&device("MADEUP")), Some(device("REAL"))).unwrap_err()
        else {
            panic!("a config error")
        };
        assert!(reason.contains("matrix.device_id is `MADEUP`") && reason.contains("device `REAL`"), "{reason}");
    }
}
