//! `GET /api/bots/status` and `POST /api/bots/{platform}/start|stop|test`.

use actix_web::{HttpResponse, get, post, web};
use parachute_core::ids::Platform;
use parachute_core::time::rfc3339_from_ms;
use parachute_runtime::messages::{ControlError, Start, Stop, Test};
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
