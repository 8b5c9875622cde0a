//! Pairing: list (with each chat's settings), count, approve (optionally at a trust level),
//! deny, revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use parachute_core::trust::TrustLevel;
use parachute_runtime::messages::{Approve, CountPending, Deny, ListChatSettings, ListPairing, Revoke, RevokeApproval};
use serde_json::{Value, json};

use super::platform;
use crate::{ApiError, ApiState};

/// Every request, each with the owner's settings for its chat (`chat_settings`, `null` when
/// none are set).
#[get("/bots/pairing")]
pub(super) async fn list(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let requests = state.runtime.pairing.send(ListPairing).await??;
    let chats = state.runtime.pairing.send(ListChatSettings).await??;
    let requests: Vec<Value> = requests
        .into_iter()
        .map(|request| {
            let settings =
                chats.iter().find(|chat| chat.platform == request.platform && chat.chat_id == request.platform_chat_id);
            let mut value = json!(request);
            value["chat_settings"] = settings.map_or(Value::Null, |chat| json!(chat.settings));
            value
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "requests": requests })))
}

#[get("/bots/pairing/count")]
pub(super) async fn count(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let pending = state.runtime.pairing.send(CountPending).await??;
    Ok(HttpResponse::Ok().json(json!({ "pending": pending })))
}

/// Reads the optional `{"trust_level": "..."}` body of approve.
fn trust_level_from(body: &[u8]) -> Result<Option<TrustLevel>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("the request body is not valid JSON: {e}"))
    })?;
    match value.get("trust_level") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(level)) => level.parse().map(Some).map_err(|e: parachute_core::trust::UnknownTrustLevel| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trust_level", e.to_string()).field("trust_level")
        }),
        Some(_) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trust_level", "trust_level must be a string")
                .field("trust_level"))
        }
    }
}

#[post("/bots/pairing/{id}/approve")]
pub(super) async fn approve(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let trust_level = trust_level_from(&body)?;
    let record = state.runtime.pairing.send(Approve { id: *id, trust_level }).await??;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "request": record })))
}

#[post("/bots/pairing/{id}/deny")]
pub(super) async fn deny(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let record = state.runtime.pairing.send(Deny { id: *id }).await??;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "request": record })))
}

#[delete("/bots/pairing/{platform}/{user_id}")]
pub(super) async fn revoke(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (platform_name, user_id) = path.into_inner();
    let platform = platform(&platform_name)?;
    if !state.runtime.pairing.send(Revoke { platform, user_id: user_id.clone() }).await?? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{user_id} has no approval on {platform}"),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": format!("{user_id} revoked on {platform}") })))
}

#[delete("/bots/pairing/{id}")]
pub(super) async fn revoke_approval(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state.runtime.pairing.send(RevokeApproval { id }).await?? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no approved pairing request with id {id}"),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": format!("approval {id} revoked") })))
}
