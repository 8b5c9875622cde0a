//! The raw Bot API calls: `getUpdates` (parsed one update at a time, so one malformed update
//! cannot poison a batch, which teloxide-core's typed `getUpdates` would) and file downloads
//! with a byte limit.

use std::time::Duration;

use parachute_runtime::connector::{ConnectorError, MediaError};
use parachute_runtime::media::{check_announced, read_limited};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::errors::{ApiFailure, classify_failure, classify_transport};

/// How long one `getUpdates` long poll waits on the server.
pub const POLL_TIMEOUT_SECS: u64 = 25;

/// The raw Bot API client.
pub struct RawApi {
    api_url: reqwest::Url,
    token: SecretString,
    client: reqwest::Client,
}

impl RawApi {
    /// A client for `api_url` with `token`.
    pub fn new(api_url: reqwest::Url, token: SecretString) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(POLL_TIMEOUT_SECS + 15))
            .build()
            .map_err(|_| ConnectorError::Config("cannot build the HTTP client".into()))?;
        Ok(Self { api_url, token, client })
    }

    /// The HTTP client (shared with teloxide-core).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The token as teloxide-core takes it.
    pub fn token_for_client(&self) -> String {
        self.token.expose_secret().to_owned()
    }

    /// `api_url` with `segments` appended (not `Url::join`: `bot123:abc` would read as a scheme).
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, ConnectorError> {
        let mut url = self.api_url.clone();
        url.path_segments_mut()
            .map_err(|_| ConnectorError::Config("telegram.api_url cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `getUpdates` from `offset`, waiting up to `timeout_secs`; the raw updates.
    pub async fn get_updates(&self, offset: i64, timeout_secs: u64) -> Result<Vec<Value>, ConnectorError> {
        let bot = format!("bot{}", self.token.expose_secret());
        let url = self.url(&[&bot, "getUpdates"])?;
        let body = json!({"offset": offset, "timeout": timeout_secs, "allowed_updates": ["message", "my_chat_member"]});
        let response = self.client.post(url).json(&body).send().await.map_err(classify_transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(classify_transport)?;
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(ConnectorError::Transient(format!(
                "getUpdates answered HTTP {status} with a body that is not JSON"
            )));
        };
        if value.get("ok").and_then(Value::as_bool) == Some(true) {
            return match value.get("result") {
                Some(Value::Array(updates)) => Ok(updates.clone()),
                _ => Err(ConnectorError::Transient("getUpdates answered without a result list".into())),
            };
        }
        let failure = ApiFailure {
            error_code: value.get("error_code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16())),
            description: value.get("description").and_then(Value::as_str).unwrap_or("").chars().take(300).collect(),
            retry_after: value.pointer("/parameters/retry_after").and_then(Value::as_u64),
        };
        Err(classify_failure(&failure))
    }

    /// Downloads `file_path` (from `getFile`), at most `limit` bytes: refused by its
    /// `Content-Length`, else cut off once the body passes the limit. No error names the URL
    /// (it holds the token).
    pub async fn download(&self, file_path: &str, limit: u64) -> Result<Vec<u8>, MediaError> {
        let failed = |err: ConnectorError| MediaError::Failed(err.to_string());
        let bot = format!("bot{}", self.token.expose_secret());
        let mut segments = vec!["file", bot.as_str()];
        segments.extend(file_path.split('/'));
        let url = self.url(&segments).map_err(failed)?;
        // Longer than the client's default, which is sized for long polls, not for files.
        let request = self.client.get(url).timeout(Duration::from_secs(120));
        let response = request.send().await.map_err(|e| failed(classify_transport(e)))?;
        if !response.status().is_success() {
            return Err(MediaError::Failed(format!("file download answered HTTP {}", response.status())));
        }
        check_announced(response.content_length(), limit)?;
        let chunks = futures_util::stream::try_unfold(response, |mut response| async move {
            let chunk = response.chunk().await.map_err(|e| failed(classify_transport(e)))?;
            Ok(chunk.map(|chunk| (chunk, response)))
        });
        read_limited(chunks, limit).await
    }
}
