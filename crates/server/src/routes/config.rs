//! `GET /api/bots/config` (masked, never secrets) and `PUT` (partial update, validated,
//! saved atomically; running connectors whose section changed restart).

use actix_web::{HttpResponse, get, put, web};
use parachute_runtime::messages::{GetConfig, UpdateConfig};
use serde_json::Value;

use crate::{ApiError, ApiState};

#[get("/bots/config")]
pub(super) async fn get_config(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.runtime.supervisor.send(GetConfig).await?))
}

#[put("/bots/config")]
pub(super) async fn put_config(state: web::Data<ApiState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let masked = state.runtime.supervisor.send(UpdateConfig(body.into_inner())).await??;
    Ok(HttpResponse::Ok().json(masked))
}
