//! HTTP calls to AI services (LLM and speech-to-text APIs): one attempt bounded by a timeout,
//! timeouts, connection failures, 429 and 5xx retried with bounded backoff (the delays of
//! `backoff_policy`, honouring `retry-after`, capped), other answers final. Failure details
//! go to the log, redacted.

use std::time::Duration;

use parachute_core::redact::redact;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::backoff_policy::Delays;

/// Longest excerpt of an error body put into the log, in characters.
const DETAIL_CHARS: usize = 400;

/// How often and how long to wait before trying a failed request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_delay: Duration,
    /// Longest computed wait.
    pub max_delay: Duration,
    /// Longest wait a server's `retry-after` may ask for.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// `max_retries` retries waiting 1 s, 2 s, 4 s, … (at most 8 s; `retry-after` up to 30 s).
    pub fn with_retries(max_retries: u32) -> Self {
        Self {
            max_retries,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }

    /// The computed waits of one call: `initial_delay` doubling up to `max_delay`, no jitter.
    pub fn delays(&self) -> Delays {
        Delays::new(self.initial_delay, self.max_delay, 2.0, 0.0)
    }

    /// The wait before the next retry: the server's request (capped at `max_retry_after`) or
    /// else the next computed wait. The computed waits grow either way.
    pub fn delay(&self, delays: &mut Delays, retry_after: Option<Duration>) -> Duration {
        let computed = delays.next_delay();
        retry_after.map_or(computed, |asked| asked.min(self.max_retry_after))
    }
}

/// Why a call to an AI service failed. The texts are short and fit for users; the details
/// (error bodies) were logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The service did not answer within the timeout.
    #[error("no answer in time")]
    Timeout,
    /// The service could not be reached (connection refused, DNS, TLS, reset).
    #[error("cannot reach the service")]
    Connect,
    /// 429, still after the retries.
    #[error("rate limited (HTTP 429)")]
    RateLimited,
    /// 401 or 403: the key is missing, wrong or lacks access.
    #[error("the service refused the API key (HTTP {0})")]
    Unauthorized(u16),
    /// Any other non-success status (5xx after the retries, or a 4xx).
    #[error("the service answered HTTP {0}")]
    Status(u16),
    /// A success status with a body that does not have the expected shape.
    #[error("unexpected answer from the service: {0}")]
    Malformed(String),
    /// A streamed answer's connection broke, or ended before the answer was complete.
    #[error("the connection to the service broke")]
    StreamBroken,
    /// The request could not be built (e.g. a malformed MIME type).
    #[error("bad request: {0}")]
    Request(String),
}

/// One attempt's outcome, before deciding whether to retry.
pub(crate) enum Attempt<T> {
    /// A success status; the body (or the response whose body is still to be read).
    Success(T),
    /// A failure worth another attempt (timeouts, connection failures, 429, 5xx).
    Retryable {
        /// What failed.
        error: ServiceError,
        /// How long the service asked to wait.
        retry_after: Option<Duration>,
    },
    /// A failure another attempt cannot mend.
    Final(ServiceError),
}

/// Sends the request `build` makes (once per attempt) and returns the body of the first
/// success. `service` names the service in the log; `secret` is removed from logged texts.
pub async fn send_with_retry(
    service: &str,
    policy: &RetryPolicy,
    timeout: Duration,
    secret: Option<&SecretString>,
    build: impl Fn() -> Result<RequestBuilder, ServiceError>,
) -> Result<Vec<u8>, ServiceError> {
    let mut retries = Retries::new(service, policy);
    loop {
        let request = build()?;
        match attempt(service, request, timeout, secret).await {
            Attempt::Success(body) => return Ok(body),
            Attempt::Final(error) => return Err(error),
            Attempt::Retryable { error, retry_after } => retries.wait(error, retry_after).await?,
        }
    }
}

/// The retries of one request under a policy: each failure either waits before the next
/// attempt or, once the retries are spent, is the final error.
pub(crate) struct Retries<'a> {
    service: &'a str,
    policy: &'a RetryPolicy,
    done: u32,
    delays: Delays,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(service: &'a str, policy: &'a RetryPolicy) -> Self {
        Self { service, policy, done: 0, delays: policy.delays() }
    }

    /// After a retryable `error`: waits (as long as the service asked, or the policy's next
    /// delay) and returns, or returns `error` when no retry is left.
    pub(crate) async fn wait(
        &mut self,
        error: ServiceError,
        retry_after: Option<Duration>,
    ) -> Result<(), ServiceError> {
        let service = self.service;
        if self.done >= self.policy.max_retries {
            tracing::warn!(service, attempts = self.done + 1, %error, "giving up");
            return Err(error);
        }
        let delay = self.policy.delay(&mut self.delays, retry_after);
        tracing::info!(service, attempt = self.done + 1, %error, ?delay, "retrying");
        tokio::time::sleep(delay).await;
        self.done += 1;
        Ok(())
    }
}

/// One request and its whole body, within `timeout`.
async fn attempt(
    service: &str,
    request: RequestBuilder,
    timeout: Duration,
    secret: Option<&SecretString>,
) -> Attempt<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let response = match attempt_response(service, request, timeout, secret).await {
        Attempt::Success(response) => response,
        Attempt::Retryable { error, retry_after } => return Attempt::Retryable { error, retry_after },
        Attempt::Final(error) => return Attempt::Final(error),
    };
    match tokio::time::timeout_at(deadline, response.bytes()).await {
        Err(_) => Attempt::Retryable { error: ServiceError::Timeout, retry_after: None },
        Ok(Err(err)) => failed_exchange(service, &err, secret),
        Ok(Ok(body)) => Attempt::Success(body.to_vec()),
    }
}

/// One request up to its response's head, within `timeout`: the response of a success
/// status (its body still to be read), else the failure, classified (its body read and
/// logged, within the same timeout).
pub(crate) async fn attempt_response(
    service: &str,
    request: RequestBuilder,
    timeout: Duration,
    secret: Option<&SecretString>,
) -> Attempt<reqwest::Response> {
    let deadline = tokio::time::Instant::now() + timeout;
    let response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Attempt::Retryable { error: ServiceError::Timeout, retry_after: None },
        Ok(Err(err)) => return failed_exchange(service, &err, secret),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::Success(response);
    }
    let retry_after = retry_after(response.headers());
    let body = match tokio::time::timeout_at(deadline, response.bytes()).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => Default::default(),
    };
    let detail = clean(&String::from_utf8_lossy(&body), secret);
    tracing::warn!(service, status = status.as_u16(), detail = %detail, "the service answered with an error");
    match status {
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retryable { error: ServiceError::RateLimited, retry_after },
        s if s.is_server_error() => Attempt::Retryable { error: ServiceError::Status(s.as_u16()), retry_after },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Attempt::Final(ServiceError::Unauthorized(status.as_u16())),
        s => Attempt::Final(ServiceError::Status(s.as_u16())),
    }
}

/// A request or body that failed in transport: logged (redacted) and classified.
fn failed_exchange<T>(service: &str, err: &reqwest::Error, secret: Option<&SecretString>) -> Attempt<T> {
    let text = clean(&err.to_string(), secret);
    tracing::warn!(service, error = %text, "request failed");
    if err.is_builder() {
        return Attempt::Final(ServiceError::Request(text));
    }
    let error = if err.is_timeout() { ServiceError::Timeout } else { ServiceError::Connect };
    Attempt::Retryable { error, retry_after: None }
}

/// The wait a server asks for: `retry-after-ms` (milliseconds, as some OpenAI-compatible
/// servers send), or `retry-after` in seconds or as an HTTP date (a date in the past means
/// now).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let number = |name: &str| text(name)?.parse::<f64>().ok();
    let valid = |v: f64| v.is_finite() && v >= 0.0;
    if let Some(ms) = number("retry-after-ms").filter(|v| valid(*v)) {
        return Some(Duration::from_secs_f64((ms / 1000.0).min(86_400.0)));
    }
    if let Some(seconds) = number("retry-after") {
        return valid(seconds).then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = httpdate::parse_http_date(text("retry-after")?).ok()?;
    Some(date.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A log-safe excerpt: the secret and token-looking fragments removed, bounded in length.
fn clean(text: &str, secret: Option<&SecretString>) -> String {
    let secrets: Vec<&str> = secret.map(|s| s.expose_secret()).into_iter().collect();
    let redacted = redact(text, &secrets);
    let mut excerpt: String = redacted.chars().take(DETAIL_CHARS).collect();
    if excerpt.len() < redacted.len() {
        excerpt.push('…');
    }
    excerpt.replace(['\n', '\r'], " ")
}

/// Builds the HTTP client the AI services are called with (rustls, no overall timeout: each
/// attempt is bounded by the caller's).
pub fn http_client() -> Result<reqwest::Client, ServiceError> {
    reqwest::Client::builder()
        .user_agent(concat!("parachute/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| ServiceError::Request(format!("cannot create the HTTP client: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn delays_double_up_to_the_cap_and_retry_after_is_capped() {
        let policy = RetryPolicy::with_retries(5);
        let mut delays = policy.delays();
        let waits: Vec<_> = (0..5).map(|_| policy.delay(&mut delays, None).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8]);
        let mut delays = policy.delays();
        assert_eq!(policy.delay(&mut delays, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(policy.delay(&mut delays, Some(Duration::from_secs(3600))), Duration::from_secs(30));
        assert_eq!(policy.delay(&mut delays, None).as_secs(), 4, "the computed waits kept growing");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        dated.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&dated), Some(Duration::ZERO), "a date in the past: now");
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(20));
        dated.insert("retry-after", HeaderValue::from_str(&soon).unwrap());
        let wait = retry_after(&dated).unwrap();
        assert!(wait > Duration::from_secs(18) && wait <= Duration::from_secs(20), "{wait:?}");
        dated.insert("retry-after", HeaderValue::from_static("-3"));
        assert_eq!(retry_after(&dated), None);
        dated.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&dated), None);
    }

    #[test]
    fn logged_details_lose_the_key_and_stay_short() {
        let key = SecretString::from("sk-live-0123456789abcdef");
        let text = clean("Incorrect API key provided: sk-live-0123456789abcdef.\nBye", Some(&key));
        assert_eq!(text, "Incorrect API key provided: [redacted]. Bye");
        assert!(clean(&"x".repeat(1000), None).chars().count() <= DETAIL_CHARS + 1);
    }
}
