//! Classifies Discord failures (REST answers, gateway close codes) into the runtime's
//! `ConnectorError` kinds, with messages that say what to do and never hold the token.

use parachute_runtime::connector::ConnectorError;
use twilight_http::error::ErrorType;

/// The message for a rejected token (REST 401 or gateway close code 4004).
pub const INVALID_TOKEN_MESSAGE: &str = "Discord rejected the bot token (HTTP 401 / gateway close code 4004 \
     Authentication failed); copy a fresh token from the developer portal (Bot → Reset Token) into discord.bot_token";

/// The message for close code 4014: the MESSAGE CONTENT intent is not enabled for the bot.
pub const DISALLOWED_INTENTS_MESSAGE: &str = "Discord refused the privileged MESSAGE CONTENT intent (gateway close \
     code 4014 Disallowed intent(s)); enable it in the developer portal under Bot → Privileged Gateway Intents → \
     Message Content Intent, then start the bot again";

/// The error a gateway close code means when it ends the session for good; `None` for codes
/// after which the session is resumed or re-identified.
pub fn classify_close(code: u16) -> Option<ConnectorError> {
    let config = |text: &str| Some(ConnectorError::Config(format!("{text} (gateway close code {code})")));
    match code {
        4004 => Some(ConnectorError::Auth(INVALID_TOKEN_MESSAGE.to_owned())),
        4014 => Some(ConnectorError::Config(DISALLOWED_INTENTS_MESSAGE.to_owned())),
        4010 => config("Discord rejected the shard sent on identify"),
        4011 => config("Discord requires sharding for a bot in this many guilds, which parachute does not do"),
        4012 => config("Discord no longer accepts the gateway API version parachute speaks"),
        4013 => config("Discord rejected the gateway intents"),
        _ => None,
    }
}

/// Kind of a failed REST request. The body of an error answer is not quoted beyond Discord's
/// own short message, and the request URL (which holds no token) is not shown either.
pub fn classify_http(err: &twilight_http::Error) -> ConnectorError {
    match err.kind() {
        ErrorType::Unauthorized => ConnectorError::Auth(INVALID_TOKEN_MESSAGE.to_owned()),
        ErrorType::Response { status, error, .. } => {
            let status = status.get();
            let detail: String = error.to_string().chars().take(200).collect();
            match status {
                401 => ConnectorError::Auth(INVALID_TOKEN_MESSAGE.to_owned()),
                403 => ConnectorError::Config(format!(
                    "Discord refused the request (HTTP 403: {detail}); check the bot's permissions in that channel"
                )),
                404 => ConnectorError::Config(format!(
                    "Discord does not know that channel or message (HTTP 404: {detail})"
                )),
                400 => ConnectorError::Config(format!("Discord rejected the request (HTTP 400: {detail})")),
                _ => ConnectorError::Transient(format!("the Discord REST API answered HTTP {status}")),
            }
        }
        ErrorType::RequestTimedOut => ConnectorError::Transient("the Discord REST API did not answer in time".into()),
        ErrorType::RequestError => ConnectorError::Transient("cannot reach the Discord REST API".into()),
        ErrorType::Parsing { .. } | ErrorType::Json => {
            ConnectorError::Transient("the Discord REST API sent an unreadable answer".into())
        }
        ErrorType::Validation => ConnectorError::Config("a request was invalid before it was sent".into()),
        _ => ConnectorError::Transient("a Discord REST request failed".into()),
    }
}

/// Kind of an answer body that did not deserialize into the expected model.
pub fn unreadable_body() -> ConnectorError {
    ConnectorError::Transient("the Discord REST API sent an unreadable answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_close_codes_fail_with_a_reason() {
        assert!(matches!(classify_close(4004), Some(ConnectorError::Auth(m)) if m.contains("4004")));
        assert!(
            matches!(classify_close(4014), Some(ConnectorError::Config(m)) if m.contains("Message Content Intent"))
        );
        for code in [4010, 4011, 4012, 4013] {
            assert!(classify_close(code).is_some_and(|e| e.is_fatal()), "{code}");
        }
    }

    #[test]
    fn other_close_codes_resume() {
        for code in [1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4007, 4008, 4009] {
            assert!(classify_close(code).is_none(), "{code}");
        }
    }
}
