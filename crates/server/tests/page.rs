//! The embedded web page: served at `/` with its security and cache headers, no inline code,
//! open without the API token (it holds no data), but behind the same Host check as the API.

use actix_web::App;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use parachute_server::{ApiState, configure};
use parachute_testkit::TestRuntime;
use parachute_testkit::runtime::config_with_tokens;
use secrecy::SecretString;

async fn app(
    rt: &TestRuntime,
    api_token: Option<&str>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let state = ApiState {
        runtime: rt.handle.clone(),
        api_token: api_token.map(|t| SecretString::from(t.to_owned())),
        loopback_only: true,
    };
    init_service(App::new().wrap(from_fn(parachute_server::guard::check)).configure(configure(state))).await
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path).insert_header(("host", "127.0.0.1:3333"))
}

fn header(resp: &ServiceResponse, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn page_and_assets_carry_security_and_cache_headers() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, Some("page-test-api-token")).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let resp = call_service(&app, get(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path} is served without the API token");
        assert_eq!(header(&resp, "content-type"), content_type, "{path}");
        let csp = header(&resp, "content-security-policy");
        for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        assert_eq!(header(&resp, "x-frame-options"), "DENY");
        assert_eq!(header(&resp, "cache-control"), "no-cache");
        let etag = header(&resp, "etag");
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");

        let again = call_service(&app, get(path).insert_header(("if-none-match", etag.as_str())).to_request()).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(read_body(again).await.is_empty());
        let stale = call_service(&app, get(path).insert_header(("if-none-match", "\"0000\"")).to_request()).await;
        assert_eq!(stale.status(), StatusCode::OK);
    }
    let rebinding = TestRequest::get().uri("/").insert_header(("host", "evil.example:3333"));
    assert_eq!(call_service(&app, rebinding.to_request()).await.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn page_has_no_inline_code_and_labels_its_token_field() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, None).await;
    let html = String::from_utf8(read_body(call_service(&app, get("/").to_request()).await).await.to_vec()).unwrap();
    for tag in html.split("<script").skip(1) {
        let open_tag = tag.split('>').next().unwrap();
        assert!(open_tag.contains("src=\"/app.js\""), "inline script: <script{open_tag}>");
        assert!(tag.split_once('>').unwrap().1.trim_start().starts_with("</script>"), "script with a body");
    }
    for forbidden in [" style=", " onclick=", " onload=", "javascript:", "http://", "https://"] {
        assert!(!html.contains(forbidden), "index.html contains {forbidden}");
    }
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("name=\"viewport\""));
    assert!(html.contains("<label for=\"token-input\">"));
    let script =
        String::from_utf8(read_body(call_service(&app, get("/app.js").to_request()).await).await.to_vec()).unwrap();
    assert!(!script.contains("innerHTML"), "the script builds the page from text, never from HTML strings");
    assert!(!script.contains("eval("));
    assert!(script.contains("X-Parachute-Client"));
}
