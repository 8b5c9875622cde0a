//! Request guards: the checks that keep web pages of other sites out (cross-origin writes,
//! browser writes without the page's custom header, DNS-rebinding hosts), run before routing,
//! and the bearer token, required by the routes that are registered behind it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, ResponseError, web};
use secrecy::ExposeSecret;

use crate::ApiState;
use crate::error::ApiError;

/// Header the web page sends with every write (any value); required on writes from browsers.
pub const CLIENT_HEADER: &str = "x-parachute-client";

/// Runs before routing, on every request: host and cross-origin checks.
pub async fn check(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse, Error> {
    if let Some(state) = req.app_data::<web::Data<ApiState>>()
        && let Err(refusal) = verify_origin(&req, state)
    {
        return Ok(req.into_response(refusal.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Wraps the routes that need the bearer token (the `/api` scope and `/metrics`): it runs
/// only for requests the router already matched to them, whatever encoding their path had.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse, Error> {
    let state = req.app_data::<web::Data<ApiState>>().cloned();
    if let Err(refusal) = authorize(req.request(), state.as_ref().map(|data| data.get_ref())) {
        return Ok(req.into_response(refusal.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Checks the bearer token of a request, when the server has one. A server whose state is
/// missing refuses rather than answers.
pub fn authorize(req: &HttpRequest, state: Option<&ApiState>) -> Result<(), ApiError> {
    let Some(state) = state else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no_state", "the server is not configured"));
    };
    let Some(token) = &state.api_token else { return Ok(()) };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.trim().as_bytes(), token.expose_secret().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required"))
    }
}

fn verify_origin(req: &ServiceRequest, state: &ApiState) -> Result<(), ApiError> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    if state.loopback_only
        && let Some(host) = host
        && !is_loopback_host(host)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "requests must address this server as localhost or 127.0.0.1",
        ));
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let site = req.headers().get("sec-fetch-site").and_then(|h| h.to_str().ok());
        let origin = req.headers().get(header::ORIGIN).and_then(|h| h.to_str().ok());
        let cross_origin = site == Some("cross-site")
            || origin.is_some_and(|o| o != "null" && host.is_none_or(|h| origin_authority(o) != Some(h)))
            || origin == Some("null");
        if cross_origin {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_origin", "requests from other sites are refused"));
        }
        // Browsers send Origin or Sec-Fetch-Site on writes. A plain form or a cross-site page
        // cannot add a custom header without a CORS preflight (which this server never grants),
        // so browser writes must carry it; API clients that are not browsers are unaffected.
        let from_browser = site.is_some() || origin.is_some();
        if from_browser && !req.headers().contains_key(CLIENT_HEADER) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing_client_header",
                format!("writes from a browser must send the {CLIENT_HEADER} header"),
            ));
        }
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `http://host:port` → `host:port`.
fn origin_authority(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in ["127.0.0.1:3333", "localhost", "LOCALHOST:80", "[::1]:3333", "127.1.2.3"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:3333", "10.0.0.1", "localhost.evil.example", "[fe80::1]:1"] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_eq!(origin_authority("http://127.0.0.1:3333"), Some("127.0.0.1:3333"));
    }
}
