//! Signing the bot in with its password once (`parachute matrix login`): the homeserver gives
//! a new device and its access token; the password is used for that one request and never
//! kept. A Matrix store left by an earlier device is set aside by the connector when it first
//! runs as the new device ([`set_contents_aside`]), since its keys belong to that device; the
//! new device starts clean (and `parachute matrix recovery restore` brings the room keys back
//! when key backup is on).

use std::path::{Path, PathBuf};

use matrix_sdk::Client;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::ruma::api::client::session::login::v3::{LoginInfo, Password, Request};
use matrix_sdk::ruma::api::client::uiaa::{MatrixUserIdentifier, UserIdentifier};
use parachute_runtime::connector::ConnectorError;
use secrecy::{ExposeSecret, SecretString};

use crate::session;

/// The device name others see in their device lists.
const DEVICE_NAME: &str = "parachute";

/// A fresh session of the bot's account.
#[derive(Debug)]
pub struct LoggedIn {
    /// The account, as the homeserver spells it.
    pub user_id: String,
    /// The new device.
    pub device_id: String,
    /// Its access token.
    pub access_token: SecretString,
}

/// Logs `user` (a full user id or a localpart) in on `homeserver_url` with `password`, as a
/// new device named "parachute". Nothing is stored here: no session is kept in the client
/// (so no keys are uploaded for the device before its own store exists).
pub async fn log_in(homeserver_url: &str, user: &str, password: &SecretString) -> Result<LoggedIn, ConnectorError> {
    let client = Client::builder()
        .homeserver_url(homeserver_url)
        .request_config(RequestConfig::new().timeout(session::REQUEST_TIMEOUT).disable_retry())
        .build()
        .await
        .map_err(|e| ConnectorError::Config(format!("matrix.homeserver_url {homeserver_url}: {e}")))?;
    let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(user.to_owned()));
    let mut request = Request::new(LoginInfo::Password(Password::new(identifier, password.expose_secret().to_owned())));
    request.initial_device_display_name = Some(DEVICE_NAME.to_owned());
    let answer = client.send(request).await.map_err(|e| {
        let text = e.to_string();
        match e.client_api_error_kind() {
            Some(matrix_sdk::ruma::api::error::ErrorKind::Forbidden) => {
                ConnectorError::Auth(format!("the homeserver refused the user or password ({text})"))
            }
            kind => session::classify(kind, &text),
        }
    })?;
    Ok(LoggedIn {
        user_id: answer.user_id.to_string(),
        device_id: answer.device_id.to_string(),
        access_token: SecretString::from(answer.access_token),
    })
}

/// Moves everything in the store folder `dir` but its lock file (held by this process) into a
/// new folder next to it named with `suffix` and the time; returns that folder.
pub(crate) fn set_contents_aside(dir: &Path, suffix: &str) -> std::io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".{suffix}-{stamp}"));
    let aside = PathBuf::from(name);
    std::fs::create_dir_all(&aside)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == crate::recovery::LOCK_FILE {
            continue;
        }
        match std::fs::rename(entry.path(), aside.join(entry.file_name())) {
            // A file SQLite removed meanwhile (a closing connection's -wal or -shm).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(aside)
}
