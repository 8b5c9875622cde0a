//! Route table: one module per resource, and the web page.

mod bots;
mod chats;
mod config;
mod health;
mod metrics;
mod page;
mod pairing;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::guard;

/// Registers every route. Which routes need the bearer token is decided by where a route is
/// registered, on the path the router matched (percent-decoded), never on the raw request
/// path: the page and the plain health check are open; everything else under `/api` sits in
/// one scope behind [`guard::require_token`], as does `/metrics`. The health handler itself
/// asks for the token when its parsed query requests the detailed form.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(page::index)
        .service(page::script)
        .service(page::style)
        .service(page::icon)
        .service(health::health)
        .service(
            web::scope("/api")
                .wrap(from_fn(guard::require_token))
                .service(bots::status)
                .service(config::get_config)
                .service(config::put_config)
                .service(pairing::list)
                .service(pairing::count)
                .service(pairing::approve)
                .service(pairing::deny)
                .service(pairing::revoke)
                .service(pairing::revoke_approval)
                .service(chats::list_chats)
                .service(chats::show_chat)
                .service(chats::change_chat)
                .service(chats::clear_chat)
                .service(bots::start)
                .service(bots::stop)
                .service(bots::test)
                .service(bots::sign_in)
                .default_service(web::to(not_found)),
        )
        .service(
            web::resource("/metrics")
                .wrap(from_fn(guard::require_token))
                .route(web::get().to(metrics::metrics))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, crate::ApiError> {
    Err(crate::ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such endpoint"))
}

/// Reads a platform path segment or answers 404.
pub(crate) fn platform(name: &str) -> Result<parachute_core::ids::Platform, crate::ApiError> {
    name.parse().map_err(|err: parachute_core::ids::UnknownPlatform| {
        crate::ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "unknown_platform", err.to_string())
    })
}
