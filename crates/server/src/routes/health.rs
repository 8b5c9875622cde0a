//! `GET /api/health`: liveness, with connector states on `?detailed=true`.

use actix_web::{HttpResponse, get, web};
use parachute_core::time::rfc3339_from_ms;
use parachute_runtime::store::now_ms;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ApiState;

#[derive(Deserialize)]
struct HealthQuery {
    #[serde(default)]
    detailed: bool,
}

#[get("/api/health")]
pub(super) async fn health(state: web::Data<ApiState>, query: web::Query<HealthQuery>) -> HttpResponse {
    let mut body = json!({
        "status": "ok",
        "timestamp": rfc3339_from_ms(now_ms()),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if query.detailed {
        let bots: Map<String, Value> = state
            .runtime
            .router
            .statuses()
            .iter()
            .map(|s| (s.platform.as_str().to_owned(), json!({ "state": s.state.name() })))
            .collect();
        body["bots"] = Value::Object(bots);
        body["uptime"] = json!(state.runtime.started_at.elapsed().as_secs());
    }
    HttpResponse::Ok().json(body)
}
