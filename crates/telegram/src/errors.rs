//! Classifies Bot API failures into the runtime's `ConnectorError` kinds, with no token in
//! any message.

use std::time::Duration;

use parachute_runtime::connector::ConnectorError;
use teloxide_core::{ApiError, RequestError};

/// The message for a 409 from `getUpdates`.
pub const CONFLICT_MESSAGE: &str = "another program is polling updates with the same bot token (HTTP 409 Conflict); \
     stop the other instance or remove its webhook";

/// The message for a 401/404 from the Bot API.
pub const INVALID_TOKEN_MESSAGE: &str =
    "Telegram rejected the bot token (HTTP 401 Unauthorized); check telegram.bot_token from @BotFather";

/// An error answer of the Bot API as it is sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// `error_code` (the HTTP status).
    pub error_code: i64,
    /// `description`.
    pub description: String,
    /// `parameters.retry_after` in seconds, if any.
    pub retry_after: Option<u64>,
}

/// Kind of a raw `{"ok":false,...}` answer.
pub fn classify_failure(failure: &ApiFailure) -> ConnectorError {
    match failure.error_code {
        401 | 404 => ConnectorError::Auth(INVALID_TOKEN_MESSAGE.to_owned()),
        409 => ConnectorError::Config(CONFLICT_MESSAGE.to_owned()),
        429 => ConnectorError::RateLimited(Duration::from_secs(failure.retry_after.unwrap_or(1))),
        code => ConnectorError::Transient(format!("Bot API error {code}: {}", failure.description)),
    }
}

/// Kind of a teloxide-core request error. Network errors from teloxide-core already have the
/// token replaced in their URL; their URL is dropped here as well.
pub fn classify_request_error(err: &RequestError) -> ConnectorError {
    match err {
        RequestError::Api(ApiError::InvalidToken) => ConnectorError::Auth(INVALID_TOKEN_MESSAGE.to_owned()),
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => ConnectorError::Config(CONFLICT_MESSAGE.to_owned()),
        RequestError::RetryAfter(seconds) => ConnectorError::RateLimited(seconds.duration()),
        RequestError::Api(api) => ConnectorError::Transient(format!("Bot API error: {api}")),
        RequestError::MigrateToChatId(_) => ConnectorError::Transient("the group was migrated to a supergroup".into()),
        RequestError::Network(_) => ConnectorError::Transient("network error talking to the Bot API".into()),
        RequestError::InvalidJson { .. } => ConnectorError::Transient("the Bot API sent an unreadable answer".into()),
        RequestError::Io(_) => ConnectorError::Transient("I/O error talking to the Bot API".into()),
    }
}

/// Kind of a transport error of the raw client; the URL (which holds the token) is dropped.
pub fn classify_transport(err: reqwest::Error) -> ConnectorError {
    let err = err.without_url();
    if err.is_timeout() {
        ConnectorError::Transient("the Bot API did not answer in time".into())
    } else if err.is_connect() {
        ConnectorError::Transient("cannot connect to the Bot API".into())
    } else {
        ConnectorError::Transient(format!("network error talking to the Bot API: {err}"))
    }
}

/// Whether a teloxide-core error says Telegram could not parse the HTML of a message.
pub fn is_markup_rejected(err: &RequestError) -> bool {
    match err {
        RequestError::Api(ApiError::CantParseEntities(_)) => true,
        RequestError::Api(ApiError::Unknown(text)) => text.contains("can't parse entities"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i64, retry_after: Option<u64>) -> ApiFailure {
        ApiFailure { error_code: code, description: "x".into(), retry_after }
    }

    #[test]
    fn raw_failures_map_to_kinds() {
        assert!(matches!(classify_failure(&failure(401, None)), ConnectorError::Auth(_)));
        assert!(matches!(classify_failure(&failure(409, None)), ConnectorError::Config(m) if m.contains("another")));
        assert_eq!(classify_failure(&failure(429, Some(3))), ConnectorError::RateLimited(Duration::from_secs(3)));
        assert!(matches!(classify_failure(&failure(502, None)), ConnectorError::Transient(_)));
        assert!(!classify_failure(&failure(500, None)).is_fatal());
    }

    #[test]
    fn teloxide_errors_map_to_kinds() {
        assert!(classify_request_error(&RequestError::Api(ApiError::InvalidToken)).is_fatal());
        assert!(matches!(
            classify_request_error(&RequestError::Api(ApiError::TerminatedByOtherGetUpdates)),
            ConnectorError::Config(_)
        ));
        assert!(is_markup_rejected(&RequestError::Api(ApiError::CantParseEntities(
            "Bad Request: can't parse entities: x".into()
        ))));
        assert!(!is_markup_rejected(&RequestError::Api(ApiError::MessageTextIsEmpty)));
    }
}
