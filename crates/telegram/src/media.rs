//! Voice notes, audio files and images, fetched by `file_id` only when a message is answered: the size
//! Telegram announced (in the message and again in `getFile`) is checked before the download,
//! and the body while it streams in.

use parachute_runtime::connector::MediaError;
use parachute_runtime::media::check_announced;
use parachute_runtime::messages::MediaRef;
use teloxide_core::prelude::Requester;
use teloxide_core::types::FileId;

use crate::Shared;
use crate::errors::classify_request_error;
use crate::translate::announced_size;

/// Fetches the file of `media` (its source is the `file_id`), at most `limit` bytes.
pub async fn fetch(shared: &Shared, media: MediaRef, limit: u64) -> Result<Vec<u8>, MediaError> {
    check_announced(media.size, limit)?;
    if media.source.is_empty() {
        return Err(MediaError::Failed("the message names no file".into()));
    }
    let file = shared
        .bot
        .get_file(FileId(media.source))
        .await
        .map_err(|err| MediaError::Failed(format!("getFile failed: {}", classify_request_error(&err))))?;
    check_announced(announced_size(file.meta.size), limit)?;
    shared.raw.download(&file.path, limit).await
}
