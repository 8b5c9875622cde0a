//! Audio and image attachments, fetched from Discord's CDN only when a message is answered: the size
//! Discord announced for the attachment (and the response's `Content-Length`) is checked
//! before reading, and the body while it streams in. No token is sent: attachment URLs are
//! signed.

use parachute_runtime::connector::MediaError;
use parachute_runtime::media::{check_announced, read_limited};
use parachute_runtime::messages::MediaRef;

use crate::Shared;

/// Fetches the attachment of `media` (its source is the attachment URL), at most `limit` bytes.
/// Errors never include the URL (its signature is a credential for the file).
pub async fn fetch(shared: &Shared, media: MediaRef, limit: u64) -> Result<Vec<u8>, MediaError> {
    check_announced(media.size, limit)?;
    let url =
        reqwest::Url::parse(&media.source).map_err(|_| MediaError::Failed("the attachment URL is invalid".into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(MediaError::Failed("the attachment URL is not http(s)".into()));
    }
    let response = shared
        .downloads
        .get(url)
        .send()
        .await
        .map_err(|_| MediaError::Failed("cannot download the attachment".into()))?;
    if !response.status().is_success() {
        return Err(MediaError::Failed(format!("the attachment download answered HTTP {}", response.status())));
    }
    check_announced(response.content_length(), limit)?;
    let chunks = futures_util::stream::try_unfold(response, |mut response| async move {
        let chunk =
            response.chunk().await.map_err(|_| MediaError::Failed("the attachment download broke off".into()))?;
        Ok(chunk.map(|chunk| (chunk, response)))
    });
    read_limited(chunks, limit).await
}
