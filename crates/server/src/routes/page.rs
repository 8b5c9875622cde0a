//! The web settings page: `GET /` and its assets, embedded in the binary, with a strict
//! Content-Security-Policy and revalidating cache headers (ETag of the embedded bytes).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get};

/// Only the page's own script, styles and API; no inline code, no framing, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file and how it is served.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: &'static str,
}

/// FNV-1a, 64 bit: a fingerprint of the embedded bytes for the ETag (not a security hash).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `"<16 hex digits>"`, computed at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {{
        const BODY: &[u8] = include_bytes!(concat!("../../assets/", $file));
        const ETAG: [u8; 18] = etag_of(BODY);
        Asset {
            body: BODY,
            content_type: $content_type,
            etag: match std::str::from_utf8(&ETAG) {
                Ok(tag) => tag,
                Err(_) => panic!("an ETag is ASCII"),
            },
        }
    }};
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
const SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
const STYLE: Asset = asset!("style.css", "text/css; charset=utf-8");
const ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// Answers the asset, or 304 when the browser's copy is current.
fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*"));
    let mut resp = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    resp.insert_header((header::ETAG, HeaderValue::from_static(asset.etag)))
        // Revalidate every time: the ETag makes that a cheap 304, and a new binary is seen at once.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));
    if fresh {
        return resp.finish();
    }
    resp.content_type(asset.content_type).body(asset.body)
}

#[get("/")]
pub(super) async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, &INDEX)
}

#[get("/app.js")]
pub(super) async fn script(req: HttpRequest) -> HttpResponse {
    serve(&req, &SCRIPT)
}

#[get("/style.css")]
pub(super) async fn style(req: HttpRequest) -> HttpResponse {
    serve(&req, &STYLE)
}

#[get("/icon.svg")]
pub(super) async fn icon(req: HttpRequest) -> HttpResponse {
    serve(&req, &ICON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_by_content_and_are_quoted_hex() {
        assert_ne!(INDEX.etag, SCRIPT.etag);
        assert_eq!(INDEX.etag.len(), 18);
        assert!(INDEX.etag.starts_with('"') && INDEX.etag.ends_with('"'));
        assert!(INDEX.etag[1..17].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
