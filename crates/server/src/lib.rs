//! The HTTP API of parachute (actix-web). Paths and JSON shapes follow the original Parachute
//! server so its clients keep working. Handlers only send typed messages to the actors.

mod error;
pub mod guard;
mod routes;
mod views;

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};
use parachute_runtime::RuntimeHandle;
use secrecy::SecretString;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The running actors.
    pub runtime: RuntimeHandle,
    /// Bearer token required on every API request, when set.
    pub api_token: Option<SecretString>,
    /// Whether the server listens on loopback only (then Host must be a loopback name).
    pub loopback_only: bool,
}

/// Largest request body accepted (config updates are small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Registers every route on an actix-web app; used by `serve` and by in-process tests.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(error::json_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
            .configure(routes::register);
    }
}

/// A bound, not yet running server and the address it got (port 0 picks a free one).
pub struct BoundServer {
    /// Await this to run the server until it stops.
    pub server: actix_web::dev::Server,
    /// The addresses it listens on.
    pub addrs: Vec<SocketAddr>,
}

/// Why the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Off loopback without a token the API would be open to the network.
    #[error("refusing to listen on {0} without server.api_token: set one in bots.yaml or bind to 127.0.0.1")]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Takes the socket for the API: refuses a non-loopback address without a bearer token, and
/// an address that cannot be bound. Done before the runtime starts, so a refusal leaves
/// nothing half started.
pub fn listen(addr: SocketAddr, api_token: Option<&SecretString>) -> Result<std::net::TcpListener, ServeError> {
    if !addr.ip().is_loopback() && api_token.is_none() {
        return Err(ServeError::TokenRequired(addr));
    }
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
}

/// Serves the API on a socket from [`listen`].
pub fn serve_on(
    runtime: RuntimeHandle,
    listener: std::net::TcpListener,
    api_token: Option<SecretString>,
) -> Result<BoundServer, ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: ([0, 0, 0, 0], 0).into(), source })?;
    let loopback_only = addr.ip().is_loopback();
    let state = ApiState { runtime, api_token, loopback_only };
    let http = HttpServer::new(move || {
        App::new().wrap(actix_web::middleware::from_fn(guard::check)).configure(configure(state.clone()))
    })
    .workers(2)
    .shutdown_timeout(5)
    .disable_signals()
    .listen(listener)
    .map_err(|source| ServeError::Bind { addr, source })?;
    let addrs = http.addrs();
    Ok(BoundServer { server: http.run(), addrs })
}

/// Binds the API to `addr` ([`listen`], then [`serve_on`]).
pub fn bind(
    runtime: RuntimeHandle,
    addr: SocketAddr,
    api_token: Option<SecretString>,
) -> Result<BoundServer, ServeError> {
    let listener = listen(addr, api_token.as_ref())?;
    serve_on(runtime, listener, api_token)
}
