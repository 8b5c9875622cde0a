//! Audio files and images, fetched from the homeserver only when a message is answered: the size the
//! event announced (`info.size`) and the response's `Content-Length` are checked before
//! reading, and the body while it streams in (matrix-sdk's own download buffers whole files,
//! so the request is made on its HTTP client directly). Files of encrypted rooms are
//! decrypted (and their hash checked) after the limited download.

use std::io::Read;
use std::time::Duration;

use matrix_sdk::ruma::api::Metadata;
use matrix_sdk::ruma::api::client::authenticated_media::get_content;
use matrix_sdk::ruma::events::room::EncryptedFile;
use matrix_sdk::ruma::{MxcUri, OwnedMxcUri};
use matrix_sdk_crypto::{AttachmentDecryptor, MediaEncryptionInfo};
use parachute_runtime::connector::MediaError;
use parachute_runtime::media::{check_announced, read_limited};
use parachute_runtime::messages::MediaRef;

use crate::Shared;
use crate::translate::MediaSource;

/// How long one download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

fn failed(text: impl Into<String>) -> MediaError {
    MediaError::Failed(text.into())
}

/// Fetches the file of `media` (its source is the event's media source), at most `limit` bytes.
pub async fn fetch(shared: &Shared, media: MediaRef, limit: u64) -> Result<Vec<u8>, MediaError> {
    check_announced(media.size, limit)?;
    let (uri, encrypted) = match MediaSource::from_source(&media.source) {
        Some(MediaSource::Plain(uri)) => (OwnedMxcUri::from(uri), None),
        Some(MediaSource::Encrypted(file)) => {
            let file: EncryptedFile =
                serde_json::from_value(file).map_err(|_| failed("the encrypted file has no usable key"))?;
            (file.url.clone(), Some(file))
        }
        None => return Err(failed("the message names no usable file")),
    };
    let data = download(shared, &uri, limit).await?;
    match encrypted {
        None => Ok(data),
        Some(file) => tokio::task::spawn_blocking(move || decrypt(data, file))
            .await
            .map_err(|_| failed("decrypting the file was interrupted"))?,
    }
}

/// `GET` of the media endpoint the homeserver supports (authenticated media when it has it),
/// read at most `limit` bytes far. No error names the URL or the access token.
async fn download(shared: &Shared, uri: &MxcUri, limit: u64) -> Result<Vec<u8>, MediaError> {
    let (server, media_id) = uri.parts().map_err(|_| failed("not an mxc:// URI"))?;
    let client = shared.client().await.map_err(|err| failed(err.to_string()))?;
    let versions = client.supported_versions().await.map_err(|_| failed("cannot read the homeserver's versions"))?;
    let authenticated = get_content::v1::Request::PATH_BUILDER.is_supported(&versions);
    let mut url = client.homeserver();
    let path: &[&str] = if authenticated {
        &["_matrix", "client", "v1", "media", "download"]
    } else {
        &["_matrix", "media", "v3", "download"]
    };
    url.path_segments_mut()
        .map_err(|_| failed("the homeserver URL cannot have a path"))?
        .pop_if_empty()
        .extend(path)
        .extend([server.as_str(), media_id]);
    let mut request = client.http_client().get(url).timeout(DOWNLOAD_TIMEOUT);
    if authenticated && let Some(token) = client.access_token() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|_| failed("cannot reach the homeserver"))?;
    if !response.status().is_success() {
        return Err(failed(format!("the media download answered HTTP {}", response.status())));
    }
    check_announced(response.content_length(), limit)?;
    let chunks = futures_util::stream::try_unfold(response, |mut response| async move {
        let chunk = response.chunk().await.map_err(|_| failed("the media download broke off"))?;
        Ok(chunk.map(|chunk| (chunk, response)))
    });
    read_limited(chunks, limit).await
}

/// Decrypts an attachment of an encrypted room; fails when its key or hash does not match.
fn decrypt(data: Vec<u8>, file: EncryptedFile) -> Result<Vec<u8>, MediaError> {
    let mut cursor = std::io::Cursor::new(data);
    let info = MediaEncryptionInfo::from(file);
    let mut reader = AttachmentDecryptor::new(&mut cursor, info)
        .map_err(|err| failed(format!("the encrypted file cannot be decrypted: {err}")))?;
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).map_err(|_| failed("the encrypted file does not match its hash"))?;
    Ok(plain)
}
