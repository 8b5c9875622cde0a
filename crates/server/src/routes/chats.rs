//! The owner's settings for single chats: list, read, change, clear.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, put, web};
use parachute_core::chat_settings::{ChatSettingsUpdate, check_chat_id};
use parachute_core::ids::Platform;
use parachute_runtime::messages::{ListChatSettings, UpdateChatSettings};
use serde_json::{Value, json};

use super::platform;
use crate::{ApiError, ApiState};

#[get("/bots/chats")]
pub(super) async fn list_chats(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let chats = state.runtime.pairing.send(ListChatSettings).await??;
    Ok(HttpResponse::Ok().json(json!({ "chats": chats })))
}

/// The chat of a path, checked like an update would check it.
fn chat_of(path: (String, String)) -> Result<(Platform, String), ApiError> {
    let (platform_name, chat) = path;
    let platform = platform(&platform_name)?;
    check_chat_id(platform, &chat).map_err(|invalid| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_chat_settings", invalid.to_string())
            .field(invalid.field)
    })?;
    Ok((platform, chat))
}

#[get("/bots/chats/{platform}/{chat}")]
pub(super) async fn show_chat(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (platform, chat) = chat_of(path.into_inner())?;
    let chats = state.runtime.pairing.send(ListChatSettings).await??;
    let found = chats.into_iter().find(|record| record.platform == platform && record.chat_id == chat);
    Ok(HttpResponse::Ok().json(match found {
        Some(record) => json!(record),
        None => json!({
            "platform": platform, "chat_id": chat, "system_prompt": null, "mention_mode": null, "model": null,
            "updated_at": null,
        }),
    }))
}

#[put("/bots/chats/{platform}/{chat}")]
pub(super) async fn change_chat(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (platform, chat) = chat_of(path.into_inner())?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("the request body is not valid JSON: {e}"))
    })?;
    let update: ChatSettingsUpdate = serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_chat_settings",
            format!("{e} (keys: system_prompt, mention_mode: mention_only | all_messages, model)"),
        )
    })?;
    let record = state.runtime.pairing.send(UpdateChatSettings { platform, chat, update }).await??;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "chat": record })))
}

#[delete("/bots/chats/{platform}/{chat}")]
pub(super) async fn clear_chat(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (platform, chat) = chat_of(path.into_inner())?;
    let update = ChatSettingsUpdate::clear_all();
    let record = state.runtime.pairing.send(UpdateChatSettings { platform, chat, update }).await??;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "chat": record })))
}
