//! Streamed answers of AI services (server-sent events): the request retried like any other
//! (`service_http`) until the first text arrives, the events decoded as they come, the text so
//! far published for the preview, each wait for the next event bounded by the timeout and the
//! whole answer by [`STREAM_TOTAL_LIMIT`]. A stream that breaks after some text ends with that
//! text ([`Streamed::Cut`]); one that breaks before any text is tried again.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::RequestBuilder;
use secrecy::SecretString;
use sse_stream::{Sse, SseByteStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::service_http::{Attempt, Retries, RetryPolicy, ServiceError, attempt_response};

/// The longest a streamed answer may take from its request to its last event.
pub const STREAM_TOTAL_LIMIT: Duration = Duration::from_secs(600);

/// Reads one service's events into the answer's text.
pub trait StreamDecoder {
    /// Takes one event: `Ok(true)` once the answer is complete, an error for an event that
    /// reports a failure (an `error` event) or cannot be read.
    fn event(&mut self, event: &Sse) -> Result<bool, ServiceError>;

    /// The answer's text so far.
    fn text(&self) -> String;

    /// Forgets what was read (before the request is tried again).
    fn reset(&mut self);

    /// Reads an answer the service sent whole instead of as events (a server that does not
    /// stream), as if its events had come.
    fn whole(&mut self, body: &[u8]) -> Result<(), ServiceError>;
}

/// How a streamed answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streamed {
    /// The service said the answer was complete.
    Complete(String),
    /// The stream broke after this much text (the connection dropped, an event did not
    /// come in time, the service sent an error event).
    Cut {
        /// What was received.
        text: String,
        /// Why it ended.
        error: ServiceError,
    },
}

/// Where a streamed answer's text is shown as it grows: `partial` gets the text so far,
/// after the `earlier` text of the answer's previous rounds.
pub struct Publish<'a> {
    /// The receiver of the text so far.
    pub partial: &'a watch::Sender<String>,
    /// What the answer said before this request (empty for the first).
    pub earlier: &'a str,
}

/// Sends the request `build` makes and decodes its event stream with `decoder`, publishing
/// the text so far whenever it grows. Failures before the first text (error statuses,
/// connection failures, a stream that ends early) are retried as `policy` says.
pub async fn stream_with_retry(
    service: &str,
    policy: &RetryPolicy,
    timeout: Duration,
    secret: Option<&SecretString>,
    build: impl Fn() -> Result<RequestBuilder, ServiceError>,
    decoder: &mut (dyn StreamDecoder + Send),
    publish: Publish<'_>,
) -> Result<Streamed, ServiceError> {
    let mut retries = Retries::new(service, policy);
    loop {
        decoder.reset();
        let (error, retry_after) = match attempt_response(service, build()?, timeout, secret).await {
            Attempt::Final(error) => return Err(error),
            Attempt::Retryable { error, retry_after } => (error, retry_after),
            Attempt::Success(response) if !is_event_stream(&response) => {
                let body = tokio::time::timeout(timeout, response.bytes()).await;
                let body = body.map_err(|_| ServiceError::Timeout)?.map_err(|_| ServiceError::Connect)?;
                decoder.whole(&body)?;
                return Ok(Streamed::Complete(decoder.text()));
            }
            Attempt::Success(response) => match read_events(response, timeout, decoder, &publish).await {
                Ok(text) => return Ok(Streamed::Complete(text)),
                Err(error) if !decoder.text().trim().is_empty() => {
                    tracing::warn!(service, %error, "the answer's stream broke after some text");
                    return Ok(Streamed::Cut { text: decoder.text(), error });
                }
                Err(error) => (error, None),
            },
        };
        retries.wait(error, retry_after).await?;
    }
}

/// Whether the answer is a stream of server-sent events.
fn is_event_stream(response: &reqwest::Response) -> bool {
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE);
    content_type.and_then(|value| value.to_str().ok()).is_some_and(|value| value.starts_with("text/event-stream"))
}

/// Decodes the events of a successful answer until the decoder calls it complete; the
/// complete text, or why the stream ended before.
async fn read_events(
    response: reqwest::Response,
    timeout: Duration,
    decoder: &mut (dyn StreamDecoder + Send),
    publish: &Publish<'_>,
) -> Result<String, ServiceError> {
    let deadline = Instant::now() + STREAM_TOTAL_LIMIT;
    let mut events = SseByteStream::new(response.bytes_stream());
    let mut shown_len = 0;
    loop {
        let next_by = (Instant::now() + timeout).min(deadline);
        let event = match tokio::time::timeout_at(next_by, events.next()).await {
            Err(_) => return Err(ServiceError::Timeout),
            Ok(None) => return Err(ServiceError::StreamBroken),
            Ok(Some(Err(err))) => {
                tracing::debug!(error = %err, "the answer's stream broke");
                return Err(ServiceError::StreamBroken);
            }
            Ok(Some(Ok(event))) => event,
        };
        let complete = decoder.event(&event)?;
        let text = decoder.text();
        if text.len() != shown_len {
            shown_len = text.len();
            publish.partial.send_replace(crate::brain::joined(publish.earlier, &text));
        }
        if complete {
            return Ok(text);
        }
    }
}

/// Feeds raw event-stream bytes through the same framing the service's answer goes through.
#[cfg(test)]
pub(crate) mod decode_for_tests {
    use super::*;

    /// The decoder's text after each event of `body`, which arrives cut at the byte offsets
    /// `cuts` (as a network would cut it), and whether that event completed the answer.
    pub(crate) async fn decode(
        decoder: &mut dyn StreamDecoder,
        body: &str,
        cuts: &[usize],
    ) -> Result<Vec<(String, bool)>, ServiceError> {
        let mut offsets: Vec<usize> = cuts.iter().map(|cut| cut % (body.len() + 1)).collect();
        offsets.extend([0, body.len()]);
        offsets.sort_unstable();
        offsets.dedup();
        let pieces: Vec<std::io::Cursor<Vec<u8>>> =
            offsets.windows(2).map(|pair| std::io::Cursor::new(body.as_bytes()[pair[0]..pair[1]].to_vec())).collect();
        let chunks = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
        let mut events = SseByteStream::new(chunks);
        let mut seen = Vec::new();
        while let Some(event) = events.next().await {
            let event = event.map_err(|_| ServiceError::StreamBroken)?;
            let complete = decoder.event(&event)?;
            seen.push((decoder.text(), complete));
        }
        Ok(seen)
    }
}
