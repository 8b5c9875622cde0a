//! Route table: one module per resource, and the web page.

mod bots;
mod config;
mod health;
mod metrics;
mod page;
mod pairing;

use actix_web::web;

/// Registers every route.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(page::index)
        .service(page::script)
        .service(page::style)
        .service(page::icon)
        .service(health::health)
        .service(metrics::metrics)
        .service(bots::status)
        .service(config::get_config)
        .service(config::put_config)
        .service(pairing::list)
        .service(pairing::count)
        .service(pairing::approve)
        .service(pairing::deny)
        .service(pairing::revoke)
        .service(bots::start)
        .service(bots::stop)
        .service(bots::test)
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
