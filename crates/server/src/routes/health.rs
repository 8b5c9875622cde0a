//! `GET /api/health`: liveness for anyone; connector states on `?detailed=true`, which needs
//! the bearer token like the rest of the API.

use actix_web::{HttpRequest, HttpResponse, get, web};
use parachute_core::time::rfc3339_from_ms;
use parachute_runtime::store::now_ms;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::guard::authorize;
use crate::views::seconds_since;
use crate::{ApiError, ApiState};

/// The query, parsed as a query (percent-decoded; a repeated `detailed` is a 400).
#[derive(Deserialize)]
struct HealthQuery {
    #[serde(default)]
    detailed: bool,
}

#[get("/api/health")]
pub(super) async fn health(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut body = json!({
        "status": "ok",
        "timestamp": rfc3339_from_ms(now_ms()),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if query.detailed {
        authorize(&req, Some(&state))?;
        let bots: Map<String, Value> = state
            .runtime
            .router
            .statuses()
            .iter()
            .map(|s| {
                let counts = state.runtime.metrics.counts(s.platform);
                let connector = json!({
                    "state": s.state.name(),
                    "seconds_since_progress": seconds_since(s.last_progress_time),
                    "reconnects": s.reconnects,
                    "stalls": s.stalls,
                    "failed_replies": s.failed_replies,
                    "replies_sent": counts.answered,
                    "queue_depth": counts.queue_depth,
                });
                (s.platform.as_str().to_owned(), connector)
            })
            .collect();
        body["bots"] = Value::Object(bots);
        body["uptime"] = json!(state.runtime.started_at.elapsed().as_secs());
    }
    Ok(HttpResponse::Ok().json(body))
}
