//! The REST side: twilight's HTTP client pointed at `discord.api_url` (its "proxy" setting
//! takes a host and port and whether to speak plain HTTP), and `GET /users/@me`.

use std::time::Duration;

use parachute_runtime::connector::{ConnectorError, Identity};
use secrecy::{ExposeSecret, SecretString};
use twilight_http::Client;
use twilight_model::user::CurrentUser;

use crate::errors::{classify_http, unreadable_body};
use crate::translate::BotIdentity;

/// How long one REST request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the REST client sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTarget {
    /// `host` or `host:port`.
    pub authority: String,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
}

/// Reads `discord.api_url` (`https://discord.com`, `http://127.0.0.1:8080`).
pub fn api_target(api_url: &str) -> Result<ApiTarget, ConnectorError> {
    let bad = || ConnectorError::Config("discord.api_url must be an http(s) URL without a path".into());
    let url = reqwest::Url::parse(api_url).map_err(|_| bad())?;
    let plain_http = match url.scheme() {
        "http" => true,
        "https" => false,
        _ => return Err(bad()),
    };
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(bad());
    }
    let host = url.host_str().ok_or_else(bad)?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok(ApiTarget { authority, plain_http })
}

/// A REST client for `api_url` authenticating with `token`.
pub fn client(api_url: &str, token: &SecretString) -> Result<Client, ConnectorError> {
    let target = api_target(api_url)?;
    Ok(Client::builder()
        .token(token.expose_secret().to_owned())
        .proxy(target.authority, target.plain_http)
        .timeout(REQUEST_TIMEOUT)
        .build())
}

/// `GET /users/@me`: who the bot is.
pub async fn current_user(http: &Client) -> Result<(Identity, BotIdentity), ConnectorError> {
    let response = http.current_user().await.map_err(|e| classify_http(&e))?;
    let me: CurrentUser = response.model().await.map_err(|_| unreadable_body())?;
    let identity = Identity {
        user_id: me.id.to_string(),
        username: Some(me.name.clone()),
        display_name: Some(me.global_name.clone().unwrap_or_else(|| me.name.clone())),
    };
    Ok((identity, BotIdentity { id: me.id, username: me.name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_targets() {
        assert_eq!(
            api_target("https://discord.com").unwrap(),
            ApiTarget { authority: "discord.com".into(), plain_http: false }
        );
        assert_eq!(
            api_target("http://127.0.0.1:4567/").unwrap(),
            ApiTarget { authority: "127.0.0.1:4567".into(), plain_http: true }
        );
        for bad in ["https://discord.com/api", "ftp://x", "discord.com", "http://u:p@h"] {
            assert!(matches!(api_target(bad), Err(ConnectorError::Config(_))), "{bad}");
        }
    }
}
