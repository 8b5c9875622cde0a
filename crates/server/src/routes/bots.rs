//! `GET /api/bots/status` and `POST /api/bots/{platform}/start|stop|test`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use parachute_core::ids::Platform;
use parachute_core::time::rfc3339_from_ms;
use parachute_runtime::connector::SignInRequest;
use parachute_runtime::messages::{ControlError, SignIn, Start, Stop, Test, UpdateConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::platform;
use crate::views::status_json;
use crate::{ApiError, ApiState};

/// Read from the connectors' status channels on the HTTP worker: the answer never waits
/// behind the actors' work.
#[get("/bots/status")]
pub(super) async fn status(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let mut body = status_json(&state.runtime.router.statuses());
    body["config_reload"] = state.runtime.config_reload.borrow().as_ref().map_or(
        Value::Null,
        |reload| json!({ "time": rfc3339_from_ms(reload.time), "ok": reload.error.is_none(), "error": reload.error }),
    );
    // As this process enforces it (read at start), which the file may since have changed.
    body["server"] = json!({ "api_token_required": state.api_token.is_some() });
    let config = state.runtime.config.borrow().clone();
    body["mcp"] = json!(state.runtime.mcp.status(&config.tools.mcp));
    Ok(HttpResponse::Ok().json(body))
}

#[post("/bots/{platform}/start")]
pub(super) async fn start(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let platform = platform(&path)?;
    state.runtime.supervisor.send(Start(platform)).await?.map_err(|e| ApiError::from(e).with_success())?;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": format!("{platform} connector starting") })))
}

#[post("/bots/{platform}/stop")]
pub(super) async fn stop(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let platform = platform(&path)?;
    state.runtime.supervisor.send(Stop(platform)).await?.map_err(|e| ApiError::from(e).with_success())?;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": format!("{platform} connector stopped") })))
}

/// Answers the original's shapes: Matrix `user_id`, Telegram `bot_name`/`bot_username`,
/// Discord `bot_name`/`bot_id`; a failed check is `{success: false, error}`.
#[post("/bots/{platform}/test")]
pub(super) async fn test(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let platform = platform(&path)?;
    match state.runtime.supervisor.send(Test(platform)).await? {
        Ok(identity) => {
            let name = identity.display_name.clone().or_else(|| identity.username.clone());
            let body = match platform {
                Platform::Matrix => {
                    json!({ "success": true, "user_id": identity.user_id, "display_name": identity.display_name })
                }
                Platform::Telegram => json!({ "success": true, "bot_name": name, "bot_username": identity.username }),
                Platform::Discord => json!({ "success": true, "bot_name": name, "bot_id": identity.user_id }),
            };
            Ok(HttpResponse::Ok().json(body))
        }
        Err(err @ ControlError::Connector(_)) => {
            Ok(HttpResponse::Ok().json(json!({ "success": false, "error": err.to_string() })))
        }
        Err(err) => {
            let api = ApiError::from(err);
            Ok(HttpResponse::build(api.status)
                .json(json!({ "success": false, "error": api.message, "code": api.code })))
        }
    }
}

/// `POST /api/bots/{platform}/login` body: the password is used once and never stored.
#[derive(Deserialize)]
pub(super) struct SignInBody {
    /// Default: the section's `homeserver_url`.
    #[serde(default)]
    homeserver_url: Option<String>,
    /// A full user id or a localpart; default: the section's `user_id`.
    #[serde(default)]
    user: Option<String>,
    password: SecretString,
}

/// Signs the bot in with its password (Matrix), saves the new device's token with the
/// homeserver and user (as a config update), and starts the connector when it is enabled.
#[post("/bots/{platform}/login")]
pub(super) async fn sign_in(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<SignInBody>,
) -> Result<HttpResponse, ApiError> {
    let platform = platform(&path)?;
    if platform != Platform::Matrix {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "sign_in_not_supported",
            format!("{platform} bots sign in with a token, not a password: set {platform}.bot_token"),
        ));
    }
    let body = body.into_inner();
    let current = state.runtime.config.borrow().clone();
    let server_url =
        body.homeserver_url.filter(|u| !u.trim().is_empty()).unwrap_or_else(|| current.matrix.homeserver_url.clone());
    let user = body.user.filter(|u| !u.trim().is_empty()).unwrap_or_else(|| current.matrix.user_id.clone());
    let missing = |field: &str, what: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", format!("{what} is needed to sign in"))
            .field(field)
    };
    if server_url.trim().is_empty() {
        return Err(missing("homeserver_url", "the homeserver URL"));
    }
    if user.trim().is_empty() {
        return Err(missing("user", "the bot's user id"));
    }
    if body.password.expose_secret().is_empty() {
        return Err(missing("password", "the password"));
    }
    let request = SignInRequest { server_url: server_url.clone(), user, password: body.password };
    let signed_in = state.runtime.supervisor.send(SignIn(platform, request)).await?.map_err(|err| match err {
        ControlError::Connector(text) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "sign_in_failed", text).field("password")
        }
        other => ApiError::from(other),
    })?;
    let patch = json!({ platform.as_str(): {
        "homeserver_url": server_url,
        "user_id": signed_in.user_id,
        "access_token": signed_in.access_token.expose_secret(),
        "device_id": null,
    }});
    let config = state.runtime.supervisor.send(UpdateConfig(patch)).await??;
    let enabled = state.runtime.config.borrow().policy(platform).enabled;
    let running = state.runtime.router.statuses().iter().any(|s| s.platform == platform && s.state.is_running());
    if enabled && !running {
        state.runtime.supervisor.send(Start(platform)).await?.map_err(ApiError::from)?;
    }
    let next = if enabled { "the connector is starting on the new device" } else { "enable Matrix to start it" };
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "user_id": signed_in.user_id,
        "message": format!("signed in as {}: the new device's token is saved; {next}", signed_in.user_id),
        "config": config,
    })))
}
