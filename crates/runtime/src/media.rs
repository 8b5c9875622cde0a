//! Downloading media with a byte limit, shared by the connectors: the check of the size a
//! platform announces (before any request) and of the body as it streams in, which stops
//! reading as soon as the limit is passed, so at most the limit plus one chunk is held.

use futures_util::{Stream, StreamExt};
use parachute_core::media::over_limit;

use crate::connector::MediaError;

/// Refuses a file whose announced size (message, `getFile`, `Content-Length`) is over `limit`.
pub fn check_announced(size: Option<u64>, limit: u64) -> Result<(), MediaError> {
    if over_limit(size, limit) {
        return Err(MediaError::TooLarge { size, limit });
    }
    Ok(())
}

/// Collects a body from its chunks, failing with [`MediaError::TooLarge`] (size unknown) as
/// soon as more than `limit` bytes arrived: no further chunk is read, and the chunk that
/// passed the limit is not kept. Errors of the body are the caller's (mapped without secrets).
pub async fn read_limited<S, B>(chunks: S, limit: u64) -> Result<Vec<u8>, MediaError>
where
    S: Stream<Item = Result<B, MediaError>>,
    B: AsRef<[u8]>,
{
    let mut chunks = std::pin::pin!(chunks);
    let mut data = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        let chunk = chunk.as_ref();
        if data.len() as u64 + chunk.len() as u64 > limit {
            return Err(MediaError::TooLarge { size: None, limit });
        }
        data.extend_from_slice(chunk);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::stream;

    use super::*;

    /// An endless body of `chunk`-byte chunks that counts how many were pulled.
    fn endless(chunk: usize, pulled: Arc<AtomicUsize>) -> impl Stream<Item = Result<Vec<u8>, MediaError>> {
        stream::repeat_with(move || {
            pulled.fetch_add(1, Ordering::SeqCst);
            Ok(vec![7u8; chunk])
        })
    }

    #[tokio::test]
    async fn reading_stops_at_the_chunk_that_passes_the_limit() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let err = read_limited(endless(1000, pulled.clone()), 4_500).await.unwrap_err();
        assert_eq!(err, MediaError::TooLarge { size: None, limit: 4_500 });
        assert_eq!(pulled.load(Ordering::SeqCst), 5, "not one chunk more than needed to see it is too large");
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_kept_whole() {
        let body = stream::iter([Ok::<_, MediaError>(vec![1u8, 2]), Ok(vec![3]), Ok(vec![])]);
        assert_eq!(read_limited(body, 3).await.unwrap(), [1, 2, 3], "exactly the limit is allowed");
        let empty = stream::iter(Vec::<Result<Vec<u8>, MediaError>>::new());
        assert!(read_limited(empty, 1).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_broken_body_is_the_callers_error() {
        let body = stream::iter([Ok(vec![1u8]), Err(MediaError::Failed("broke off".into()))]);
        assert_eq!(read_limited(body, 10).await.unwrap_err(), MediaError::Failed("broke off".into()));
    }

    #[test]
    fn announced_sizes_over_the_limit_are_refused_unknown_ones_are_not() {
        assert_eq!(check_announced(Some(11), 10), Err(MediaError::TooLarge { size: Some(11), limit: 10 }));
        assert_eq!(check_announced(Some(10), 10), Ok(()));
        assert_eq!(check_announced(None, 10), Ok(()));
    }
}
