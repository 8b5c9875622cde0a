//! Every API endpoint against a real runtime (fake connectors), through the real guard.

use std::sync::Arc;
use std::time::Duration;

use actix_web::App;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use parachute_core::config::BotsConfig;
use parachute_core::ids::Platform;
use parachute_runtime::status::ConnectorState;
use parachute_server::{ApiState, configure};
use parachute_testkit::logs::{capture_logs, captured_logs};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm, wait_until};
use secrecy::SecretString;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);
const SECRETS: [&str; 3] = ["TEST-telegram-token-value", "TEST.discord.token-value", "syt_TEST_matrix_token_value"];

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

async fn json_of(resp: ServiceResponse) -> (StatusCode, Value) {
    let status = resp.status();
    let body = read_body(resp).await;
    let text = String::from_utf8_lossy(&body).to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked into an API response: {text}");
    }
    (status, serde_json::from_slice(&body).unwrap_or(Value::String(text)))
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path).insert_header(("host", "127.0.0.1:3333"))
}

fn post(path: &str) -> TestRequest {
    TestRequest::post().uri(path).insert_header(("host", "127.0.0.1:3333"))
}

fn put_json(path: &str, body: Value) -> TestRequest {
    TestRequest::put().uri(path).insert_header(("host", "127.0.0.1:3333")).set_json(body)
}

#[actix_web::test]
async fn health_and_status_list_all_three_platforms() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, None).await;
    let (status, body) = json_of(call_service(&app, get("/api/health").to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("bots").is_none());
    let (_, body) = json_of(call_service(&app, get("/api/health?detailed=true").to_request()).await).await;
    assert_eq!(body["bots"]["matrix"]["state"], "stopped");
    assert_eq!((&body["bots"]["matrix"]["reconnects"], &body["bots"]["matrix"]["stalls"]), (&json!(0), &json!(0)));
    assert!(body["bots"]["matrix"]["seconds_since_progress"].is_null(), "never connected: {body}");
    assert!(body["uptime"].is_u64());

    let (status, body) = json_of(call_service(&app, get("/api/bots/status").to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    for p in ["telegram", "discord", "matrix"] {
        let c = &body["connectors"][p];
        for key in [
            "enabled",
            "has_token",
            "state",
            "running",
            "failure_count",
            "failed_replies",
            "reconnect_attempts",
            "last_error",
            "last_error_time",
            "uptime",
            "last_message_time",
        ] {
            assert!(c.get(key).is_some(), "{p} lacks {key}: {c}");
        }
        assert_eq!(c["has_token"], true);
    }
    assert!(body["connectors"]["matrix"].get("allowed_rooms_count").is_some());
    assert!(body["connectors"]["telegram"].get("allowed_users_count").is_some());
}

#[actix_web::test]
async fn start_stop_test_and_their_refusals() {
    let mut config = config_with_tokens();
    config.discord.bot_token = None;
    let rt = TestRuntime::start(config, None);
    let app = app(&rt, None).await;

    let (status, body) = json_of(call_service(&app, post("/api/bots/matrix/start").to_request()).await).await;
    assert_eq!((status, body["success"].clone()), (StatusCode::OK, json!(true)));
    rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected).await;
    let (status, body) = json_of(call_service(&app, post("/api/bots/matrix/start").to_request()).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "already_running");

    let (status, body) = json_of(call_service(&app, post("/api/bots/discord/start").to_request()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "no_token");

    let (status, body) = json_of(call_service(&app, post("/api/bots/irc/start").to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::NOT_FOUND, json!("unknown_platform")));

    let (_, body) = json_of(call_service(&app, post("/api/bots/matrix/test").to_request()).await).await;
    assert_eq!(body, json!({"success": true, "user_id": "fake-matrix-bot", "display_name": "Parachute"}));
    let (_, body) = json_of(call_service(&app, post("/api/bots/telegram/test").to_request()).await).await;
    assert_eq!(body, json!({"success": true, "bot_name": "Parachute", "bot_username": "parachute_bot"}));
    let (_, body) = json_of(call_service(&app, post("/api/bots/discord/test").to_request()).await).await;
    assert_eq!(body["success"], false);
    assert!(body["error"].as_str().unwrap().contains("no discord token"));
    rt.fake(Platform::Telegram).set_test_result(Err(parachute_runtime::connector::ConnectorError::Auth(
        "Unauthorized for 123456:TEST-telegram-token-value".into(),
    )));
    let (status, body) = json_of(call_service(&app, post("/api/bots/telegram/test").to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], false);

    let (status, _) = json_of(call_service(&app, post("/api/bots/matrix/stop").to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Stopped);
}

#[actix_web::test]
async fn config_get_is_masked_and_put_merges_validates_and_saves() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, None).await;
    let (_, body) = json_of(call_service(&app, get("/api/bots/config").to_request()).await).await;
    assert_eq!(body["matrix"]["has_token"], true);
    assert!(body["matrix"].get("access_token").is_none());

    let moved = json!({"matrix": {"homeserver_url": "https://matrix.example.org", "access_token": ""}});
    let file_before = std::fs::read(&rt.config_path).unwrap();
    let (status, body) = json_of(call_service(&app, put_json("/api/bots/config", moved).to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::FORBIDDEN, json!("refused_key")), "{body}");
    assert_eq!(body["field"], "matrix.homeserver_url");
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), file_before, "a refused update changes nothing");
    let with_secret = json!({"matrix": {"homeserver_url": "https://matrix.example.org", "access_token": "syt_TEST_matrix_token_value"}});
    let (status, body) =
        json_of(call_service(&app, put_json("/api/bots/config", with_secret).to_request()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let command = json!({"brain": {"kind": "command", "command": "/bin/sh"}});
    let (status, body) = json_of(call_service(&app, put_json("/api/bots/config", command).to_request()).await).await;
    assert_eq!((status, body["field"].clone()), (StatusCode::FORBIDDEN, json!("brain.kind")), "{body}");

    let patch = json!({"matrix": {"allowed_rooms": ["#lounge:example.org"], "access_token": ""}});
    let (status, body) = json_of(call_service(&app, put_json("/api/bots/config", patch).to_request()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["matrix"]["allowed_rooms"], json!(["#lounge:example.org"]));
    let saved = parachute_core::config::load_file(&rt.config_path).unwrap();
    assert_eq!(saved.matrix.homeserver_url, "https://matrix.example.org");
    assert!(saved.matrix.access_token.is_some(), "an empty secret keeps the stored one");
    assert!(saved.telegram.bot_token.is_some(), "other sections untouched");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&rt.config_path).unwrap().permissions().mode() & 0o777, 0o600);

    let before = std::fs::read(&rt.config_path).unwrap();
    let bad = json!({"matrix": {"homeserver_url": "not a url"}});
    let (status, body) = json_of(call_service(&app, put_json("/api/bots/config", bad).to_request()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "invalid_config");
    assert_eq!(body["field"], "matrix.homeserver_url");
    let unknown = json!({"telegram": {"tokne": "x"}});
    let (status, body) = json_of(call_service(&app, put_json("/api/bots/config", unknown).to_request()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("unknown field `tokne`"));
    let malformed = TestRequest::put()
        .uri("/api/bots/config")
        .insert_header(("host", "127.0.0.1:3333"))
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"matrix\": ");
    let (status, body) = json_of(call_service(&app, malformed.to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_json")));
    let (status, _) = json_of(call_service(&app, put_json("/api/bots/config", json!([1, 2])).to_request()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before, "rejected updates leave the file byte-identical");
}

#[actix_web::test]
async fn saving_enabled_starts_and_stops_the_connector() {
    let rt = TestRuntime::start_yaml("telegram:\n  enabled: false\n", None);
    let fake = rt.fake(Platform::Telegram);
    let app = app(&rt, None).await;
    assert_eq!(rt.status(Platform::Telegram).state, ConnectorState::Stopped);
    let on = json!({"telegram": {"enabled": true}});
    let (status, _) = json_of(call_service(&app, put_json("/api/bots/config", on).to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    fake.wait_connected(1, WAIT).await;
    let off = json!({"telegram": {"enabled": false}});
    call_service(&app, put_json("/api/bots/config", off).to_request()).await;
    assert!(wait_until(WAIT, || async { rt.status(Platform::Telegram).state == ConnectorState::Stopped }).await);
    assert_eq!(fake.runs(), 1, "started once, by the save");
}

#[actix_web::test]
async fn an_enabled_connector_starts_once_its_token_is_saved_unless_the_owner_stopped_it() {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.bot_token = None;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Telegram);
    let app = app(&rt, None).await;
    let token = json!({"telegram": {"bot_token": "123456:fresh-token"}});
    let (status, _) = json_of(call_service(&app, put_json("/api/bots/config", token).to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    fake.wait_connected(1, WAIT).await;
    // Stopped by the owner: a later change of its settings leaves it stopped.
    call_service(&app, post("/api/bots/telegram/stop").to_request()).await;
    assert!(wait_until(WAIT, || async { rt.status(Platform::Telegram).state == ConnectorState::Stopped }).await);
    let change = json!({"telegram": {"ack_emoji": "✅"}});
    call_service(&app, put_json("/api/bots/config", change).to_request()).await;
    // A round trip through the harness, queued behind the reload the change handed it: a
    // start the change caused would have set the state by now.
    call_service(&app, post("/api/bots/telegram/test").to_request()).await;
    assert_eq!(rt.status(Platform::Telegram).state, ConnectorState::Stopped);
    assert_eq!(fake.runs(), 1);
}

#[actix_web::test]
async fn a_config_change_restarts_a_running_connector() {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    let app = app(&rt, None).await;
    let patch = json!({"telegram": {"allowed_users": ["@bob_b"]}});
    let (status, _) = json_of(call_service(&app, put_json("/api/bots/config", patch).to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    fake.wait_connected(2, WAIT).await;
    assert_eq!(rt.status(Platform::Telegram).allowed_count, 1);
    // An unrelated section's change leaves it alone.
    let patch = json!({"discord": {"ack_emoji": "✅"}});
    call_service(&app, put_json("/api/bots/config", patch).to_request()).await;
    assert_eq!(fake.runs(), 2);
}

#[actix_web::test]
async fn pairing_endpoints_run_the_whole_flow() {
    let mut config = config_with_tokens();
    config.matrix.enabled = true;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Matrix);
    fake.wait_connected(1, WAIT).await;
    let app = app(&rt, None).await;
    fake.inject(dm(Platform::Matrix, "@dora:x", "hello", "p1"));
    fake.inject(dm(Platform::Matrix, "@zed:x", "hey", "p2"));
    fake.wait_delivered(2, WAIT).await;

    let (_, body) = json_of(call_service(&app, get("/api/bots/pairing/count").to_request()).await).await;
    assert_eq!(body, json!({"pending": 2}));
    let (_, body) = json_of(call_service(&app, get("/api/bots/pairing").to_request()).await).await;
    let requests = body["requests"].as_array().unwrap();
    let dora = requests.iter().find(|r| r["platform_user_id"] == "@dora:x").unwrap();
    for key in [
        "id",
        "platform",
        "platform_user_id",
        "platform_user_display",
        "platform_chat_id",
        "kind",
        "status",
        "approved_trust_level",
        "created_at",
        "resolved_at",
    ] {
        assert!(dora.get(key).is_some(), "request lacks {key}: {dora}");
    }
    assert_eq!(dora["kind"], "user");
    assert_eq!(dora["status"], "pending");
    let dora_id = dora["id"].as_str().unwrap().to_owned();
    let zed_id =
        requests.iter().find(|r| r["platform_user_id"] == "@zed:x").unwrap()["id"].as_str().unwrap().to_owned();

    let bad_level = post(&format!("/api/bots/pairing/{dora_id}/approve")).set_json(json!({"trust_level": "root"}));
    let (status, body) = json_of(call_service(&app, bad_level.to_request()).await).await;
    assert_eq!((status, body["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("trust_level")));
    let approve = post(&format!("/api/bots/pairing/{dora_id}/approve")).set_json(json!({"trust_level": "trusted"}));
    let (status, body) = json_of(call_service(&app, approve.to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["request"]["approved_trust_level"], "direct");
    let (status, _) =
        json_of(call_service(&app, post(&format!("/api/bots/pairing/{dora_id}/approve")).to_request()).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) =
        json_of(call_service(&app, post(&format!("/api/bots/pairing/{zed_id}/deny")).to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    // Revoking by request id: only an approval can be revoked.
    let revoke = |id: &str| {
        TestRequest::delete().uri(&format!("/api/bots/pairing/{id}")).insert_header(("host", "localhost:3333"))
    };
    let (status, body) = json_of(call_service(&app, revoke(&zed_id).to_request()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a denial is not an approval: {body}");
    let (status, _) = json_of(call_service(&app, post("/api/bots/pairing/424242/deny").to_request()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = json_of(call_service(&app, post("/api/bots/pairing/abc/deny").to_request()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let replies = fake.wait_delivered(4, WAIT).await;
    assert!(replies.iter().any(|r| r.chat.as_str() == "dm-@dora:x" && r.text.contains("approved")));
    fake.inject(dm(Platform::Matrix, "@dora:x", "now?", "p3"));
    assert_eq!(fake.wait_delivered(5, WAIT).await[4].text, "now?");

    let revoke =
        TestRequest::delete().uri("/api/bots/pairing/matrix/@dora:x").insert_header(("host", "localhost:3333"));
    let (status, _) = json_of(call_service(&app, revoke.to_request()).await).await;
    assert_eq!(status, StatusCode::OK);
    let revoke =
        TestRequest::delete().uri("/api/bots/pairing/matrix/@dora:x").insert_header(("host", "localhost:3333"));
    let (status, _) = json_of(call_service(&app, revoke.to_request()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn metrics_are_prometheus_text() {
    let rt = TestRuntime::start_yaml("telegram:\n  enabled: true\n  allowed_users: ['@alice']\n", None);
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    let app = app(&rt, None).await;
    fake.inject(dm(Platform::Telegram, "@alice", "hello", "m1"));
    fake.wait_delivered(1, WAIT).await;
    // The delivery is counted once the connector has taken it, just after the fake saw it.
    let metrics = rt.handle.metrics.clone();
    assert!(wait_until(WAIT, || async { metrics.counts(Platform::Telegram).answered == 1 }).await);
    let resp = call_service(&app, get("/metrics").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = String::from_utf8(read_body(resp).await.to_vec()).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("parachute_replies_sent_total{platform=\"telegram\"} 1"), "{text}");
    assert!(text.contains("parachute_brain_seconds_count{platform=\"telegram\"} 1"), "{text}");
    assert!(text.contains("parachute_brain_seconds_count{platform=\"discord\"} 0"), "{text}");
    assert!(text.contains("parachute_queue_depth{platform=\"telegram\"} 0"), "{text}");
    let (_, health) = json_of(call_service(&app, get("/api/health?detailed=true").to_request()).await).await;
    assert_eq!(
        (&health["bots"]["telegram"]["replies_sent"], &health["bots"]["telegram"]["queue_depth"]),
        (&json!(1), &json!(0))
    );
    assert!(text.contains("# TYPE parachute_replies_sent counter"));
    assert!(text.contains("parachute_connector_up{platform=\"telegram\",state=\"connected\"} 1"), "{text}");
    assert!(text.contains("parachute_connector_reconnects_total{platform=\"matrix\"} 0"), "{text}");
    assert!(text.contains("# TYPE parachute_connector_stalls counter"), "{text}");
    assert!(text.contains("# TYPE parachute_connector_seconds_since_progress gauge"), "{text}");
    assert!(text.contains("parachute_pairing_pending 0"));
}

#[actix_web::test]
async fn bearer_token_cross_origin_and_host_checks() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let guarded = app(&rt, Some("s3cret-api-token")).await;
    let (status, body) = json_of(call_service(&guarded, get("/api/bots/status").to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));
    let wrong = get("/api/bots/status").insert_header(("authorization", "Bearer nope"));
    assert_eq!(call_service(&guarded, wrong.to_request()).await.status(), StatusCode::UNAUTHORIZED);
    let right = get("/api/bots/status").insert_header(("authorization", "Bearer s3cret-api-token"));
    assert_eq!(call_service(&guarded, right.to_request()).await.status(), StatusCode::OK);
    assert_eq!(call_service(&guarded, get("/api/health").to_request()).await.status(), StatusCode::OK);
    assert_eq!(
        call_service(&guarded, get("/api/health?detailed=true").to_request()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call_service(&guarded, get("/metrics").to_request()).await.status(), StatusCode::UNAUTHORIZED);

    let rt2 = TestRuntime::start(config_with_tokens(), None);
    let open = app(&rt2, None).await;
    let cross = post("/api/bots/matrix/stop").insert_header(("origin", "https://evil.example"));
    let (status, body) = json_of(call_service(&open, cross.to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::FORBIDDEN, json!("cross_origin")));
    let same = post("/api/bots/matrix/stop").insert_header(("origin", "http://127.0.0.1:3333"));
    let (status, body) = json_of(call_service(&open, same.to_request()).await).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("missing_client_header")),
        "a browser write without the page's header is refused"
    );
    let fetched = post("/api/bots/matrix/stop").insert_header(("sec-fetch-site", "same-origin"));
    assert_eq!(call_service(&open, fetched.to_request()).await.status(), StatusCode::FORBIDDEN);
    let page = post("/api/bots/matrix/stop")
        .insert_header(("origin", "http://127.0.0.1:3333"))
        .insert_header(("sec-fetch-site", "same-origin"))
        .insert_header(("x-parachute-client", "web"));
    assert_eq!(call_service(&open, page.to_request()).await.status(), StatusCode::OK);
    let cross_with_header = post("/api/bots/matrix/stop")
        .insert_header(("origin", "https://evil.example"))
        .insert_header(("x-parachute-client", "web"));
    assert_eq!(call_service(&open, cross_with_header.to_request()).await.status(), StatusCode::FORBIDDEN);
    // Clients that are not browsers (CLI, curl) send neither Origin nor Sec-Fetch-Site.
    assert_eq!(call_service(&open, post("/api/bots/matrix/stop").to_request()).await.status(), StatusCode::OK);
    let browser_read = get("/api/bots/status").insert_header(("sec-fetch-site", "same-origin"));
    assert_eq!(call_service(&open, browser_read.to_request()).await.status(), StatusCode::OK);
    let rebinding = TestRequest::get().uri("/api/bots/config").insert_header(("host", "evil.example:3333"));
    assert_eq!(call_service(&open, rebinding.to_request()).await.status(), StatusCode::FORBIDDEN);
    let (status, body) = json_of(call_service(&open, get("/api/nothing-here").to_request()).await).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
}

#[actix_web::test]
async fn tokens_never_reach_logs_debug_or_responses_at_trace() {
    capture_logs();
    let mut config: BotsConfig = config_with_tokens();
    config.telegram.enabled = true;
    config.matrix.enabled = true;
    let rt = TestRuntime::start(config.clone(), Some(Arc::new(parachute_testkit::brains::RecordingBrain::new())));
    let app = app(&rt, None).await;
    rt.fake(Platform::Telegram).wait_connected(1, WAIT).await;
    rt.fake(Platform::Telegram).fail_deliveries([parachute_runtime::connector::ConnectorError::Transient(
        "POST https://api.telegram.org/bot123456:TEST-telegram-token-value/sendMessage failed".into(),
    )]);
    rt.fake(Platform::Telegram).inject(dm(Platform::Telegram, "9", "hi", "t1"));
    rt.fake(Platform::Telegram).drop_connection(Err(parachute_runtime::connector::ConnectorError::Auth(
        "token syt_TEST_matrix_token_value and 123456:TEST-telegram-token-value rejected".into(),
    )));
    rt.wait_status(Platform::Telegram, WAIT, |s| matches!(s.state, ConnectorState::Failed { .. })).await;
    for path in ["/api/bots/status", "/api/bots/config", "/api/health?detailed=true", "/api/bots/pairing", "/metrics"] {
        json_of(call_service(&app, get(path).to_request()).await).await;
    }
    for p in ["telegram", "matrix", "discord"] {
        json_of(call_service(&app, post(&format!("/api/bots/{p}/test")).to_request()).await).await;
    }
    let debug = format!("{config:?} {:?}", rt.status(Platform::Telegram));
    assert!(wait_until(WAIT, || async { captured_logs().contains("connector error") }).await);
    let logs = captured_logs();
    for secret in SECRETS {
        assert!(!debug.contains(secret), "secret in Debug output");
        assert!(!logs.contains(secret), "secret {secret} in TRACE logs:\n{logs}");
    }
}

#[actix_web::test]
async fn hostile_config_payloads_get_clear_errors_and_change_nothing() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, None).await;
    let before = std::fs::read(&rt.config_path).unwrap();
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!("{{\"matrix\": {{\"homeserver_url\": \"https://{}\"}}}}", "a".repeat(300 * 1024));
    let payloads: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"matrix\": 5}".to_vec(),
        b"{\"matrix\": {\"allowed_rooms\": \"!a:x\"}}".to_vec(),
        b"{\"matrix\": {\"enabled\": \"yes\"}}".to_vec(),
        b"{\"server\": {\"port\": 70000}}".to_vec(),
        b"{\"server\": {\"bind\": \"0.0.0.0\"}}".to_vec(),
        b"{\"telegram\": {\"allowed_users\": [\"a b\", \"\\u0000\"]}}".to_vec(),
        vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        deep.into_bytes(),
        huge.into_bytes(),
    ];
    for payload in payloads {
        let request = TestRequest::put()
            .uri("/api/bots/config")
            .insert_header(("host", "127.0.0.1:3333"))
            .insert_header(("content-type", "application/json"))
            .set_payload(payload.clone());
        let (status, body) = json_of(call_service(&app, request.to_request()).await).await;
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(60)]).to_string();
        assert!(status.is_client_error(), "{shown}: {status}");
        assert!(
            body["error"].is_string() && body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{shown}: {body}"
        );
        assert_eq!(std::fs::read(&rt.config_path).unwrap(), before, "{shown} changed the file");
    }
    let (status, _) = json_of(call_service(&app, get("/api/health").to_request()).await).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

fn request(method: &str, raw_path: &str, body: &str, token: Option<&str>) -> Option<actix_http::Request> {
    raw_path.parse::<actix_web::http::Uri>().ok()?;
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).ok()?;
    let mut req = TestRequest::default().method(method).uri(raw_path).insert_header(("host", "127.0.0.1:3333"));
    if !body.is_empty() {
        req = req.insert_header(("content-type", "application/json")).set_payload(body.to_owned());
    }
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    Some(req.to_request())
}

/// Whether a response came from a route's handler (not the router's 404, not the token check).
fn routed(status: StatusCode, body: &Value) -> bool {
    let router_404 = status == StatusCode::NOT_FOUND && body["message"] == "no such endpoint";
    !router_404 && status != StatusCode::UNAUTHORIZED
}

#[actix_web::test]
async fn no_spelling_of_a_guarded_path_passes_without_the_token() {
    const TOKEN: &str = "s3cret-api-token";
    let rt = TestRuntime::start(config_with_tokens(), None);
    let app = app(&rt, Some(TOKEN)).await;
    let file_before = std::fs::read(&rt.config_path).unwrap();
    let mut checked = 0;
    for (method, path, body) in parachute_testkit::path_variants::GUARDED_ROUTES {
        for variant in parachute_testkit::path_variants::sample(path, 64) {
            // A target that is not even a URI never reaches routing (the HTTP layer refuses it;
            // the test of the real binary sends those too).
            let Some(anonymous) = request(method, &variant.raw, body, None) else { continue };
            let (status, answer) = json_of(call_service(&app, anonymous).await).await;
            assert!(
                status == StatusCode::UNAUTHORIZED || !routed(status, &answer),
                "{method} {} answered {status} without the token: {answer}",
                variant.raw
            );
            if variant.same_route {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {} reaches {path}", variant.raw);
                let with_token = request(method, &variant.raw, "", Some(TOKEN)).expect("parsed before");
                let (status, answer) = json_of(call_service(&app, with_token).await).await;
                assert!(routed(status, &answer), "{method} {} must reach {path}: {status} {answer}", variant.raw);
            }
            checked += 1;
        }
    }
    assert!(
        checked > 50 * parachute_testkit::path_variants::GUARDED_ROUTES.len(),
        "only {checked} spellings were sent"
    );
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), file_before, "no update was written");

    for query in ["detailed=%74rue", "detailed=true&detailed=false", "detailed=TRUE", "detailed=1", "xdetailed=true"] {
        for path in ["/api/health", "/%61pi/health", "/api/%68ealth"] {
            let resp = call_service(&app, get(&format!("{path}?{query}")).to_request()).await;
            let (status, answer) = json_of(resp).await;
            assert!(answer.get("bots").is_none() && answer.get("uptime").is_none(), "{path}?{query}: {answer}");
            assert!(status.is_success() || status.is_client_error(), "{path}?{query}: {status}");
        }
    }
    let (status, _) = json_of(call_service(&app, get("/api/health?detailed=%74rue").to_request()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an encoded value is read as the value");
    let authorized = get("/api/health?detailed=%74rue").insert_header(("authorization", format!("Bearer {TOKEN}")));
    let (status, answer) = json_of(call_service(&app, authorized.to_request()).await).await;
    assert_eq!((status, answer["bots"]["matrix"]["state"].clone()), (StatusCode::OK, json!("stopped")));
    let (status, answer) = json_of(call_service(&app, get("/api/health?xdetailed=true").to_request()).await).await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("ok")), "the plain check stays open");
}

#[actix_web::test]
async fn chat_settings_shape_their_chat_only_and_bad_ones_change_nothing() {
    use parachute_core::config::BrainKind;
    use parachute_testkit::ai_fake::{AiFake, Api};
    use parachute_testkit::group;

    let fake_ai = AiFake::start(Some("sk-test"));
    let yaml = format!(
        "{}  system_prompt: Be kind.\ntelegram:\n  allowed_groups: ['-1001', '-1002']\n  stream: 'off'\n",
        fake_ai.brain_yaml(BrainKind::Anthropic, "sk-test")
    );
    let rt = TestRuntime::start_yaml(&yaml, None);
    let telegram = rt.fake(Platform::Telegram);
    telegram.wait_connected(1, WAIT).await;
    let app = app(&rt, None).await;
    let put = |path: &str, body: Value| {
        TestRequest::put().uri(path).insert_header(("host", "127.0.0.1:3333")).set_json(body).to_request()
    };

    let settings = json!({"system_prompt": "Talk like a pirate.", "mention_mode": "all_messages", "model": "tiny-1"});
    let (status, body) = json_of(call_service(&app, put("/api/bots/chats/telegram/-1001", settings)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chat"]["model"], "tiny-1");
    assert!(body["chat"]["updated_at"].as_str().unwrap().ends_with('Z'));

    // Refused: each error names its key, and nothing changes.
    for (path, body, field) in [
        ("/api/bots/chats/telegram/-1001", json!({"model": "two words"}), "model"),
        ("/api/bots/chats/telegram/-1001", json!({"mention_mode": "sometimes"}), ""),
        ("/api/bots/chats/telegram/-1001", json!({"prompt": "x"}), ""),
        ("/api/bots/chats/telegram/-1001", json!({"system_prompt": "x".repeat(4_001)}), "system_prompt"),
        ("/api/bots/chats/telegram/lounge", json!({"model": "m"}), "chat"),
        ("/api/bots/chats/matrix/%23lounge:x", json!({"model": "m"}), "chat"),
    ] {
        let (status, answer) = json_of(call_service(&app, put(path, body)).await).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_chat_settings"))
        );
        assert_eq!(answer["field"].as_str().unwrap_or(""), field, "{answer}");
    }
    let (status, _) = json_of(call_service(&app, put("/api/bots/chats/irc/-1001", json!({}))).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, shown) = json_of(call_service(&app, get("/api/bots/chats/telegram/-1001").to_request()).await).await;
    assert_eq!(
        (&shown["system_prompt"], &shown["mention_mode"], &shown["model"]),
        (&json!("Talk like a pirate."), &json!("all_messages"), &json!("tiny-1"))
    );
    let (_, listed) = json_of(call_service(&app, get("/api/bots/chats").to_request()).await).await;
    assert_eq!(listed["chats"].as_array().unwrap().len(), 1, "{listed}");

    // The chat with settings: a message that does not mention the bot is answered, by its
    // model, with its prompt after the config's; the other group keeps the config.
    telegram.inject(group(Platform::Telegram, "-1001", "7", "ahoy there", "t1", false));
    telegram.inject(group(Platform::Telegram, "-1002", "7", "no mention here", "t2", false));
    telegram.inject(group(Platform::Telegram, "-1002", "7", "and a mention", "t3", true));
    let calls = fake_ai.wait_calls(Api::Anthropic, 2, WAIT).await;
    let call_in = |text: &str| {
        calls.iter().find(|c| c.body["messages"].to_string().contains(text)).cloned().expect("a call for the message")
    };
    let pirate = call_in("ahoy there");
    assert_eq!(pirate.body["model"], "tiny-1");
    let system = pirate.body["system"].as_str().unwrap();
    assert!(system.ends_with("Be kind.\n\nTalk like a pirate."), "{system}");
    let plain = call_in("and a mention");
    assert_eq!(plain.body["model"], "test-model");
    assert!(!plain.body["system"].as_str().unwrap().contains("pirate"));
    assert!(!plain.body["messages"].to_string().contains("no mention here\"}]"), "context only");
    assert_eq!(telegram.wait_delivered(2, WAIT).await.len(), 2);

    // Cleared: the chat follows the config again.
    let clear = TestRequest::delete().uri("/api/bots/chats/telegram/-1001").insert_header(("host", "localhost:3333"));
    let (status, body) = json_of(call_service(&app, clear.to_request()).await).await;
    assert_eq!((status, &body["chat"]["model"]), (StatusCode::OK, &Value::Null));
    let (_, listed) = json_of(call_service(&app, get("/api/bots/chats").to_request()).await).await;
    assert_eq!(listed["chats"], json!([]));
    telegram.inject(group(Platform::Telegram, "-1001", "7", "unheard now", "t4", false));
    telegram.inject(group(Platform::Telegram, "-1001", "7", "heard again", "t5", true));
    let calls = fake_ai.wait_calls(Api::Anthropic, 3, WAIT).await;
    assert_eq!(calls[2].body["model"], "test-model");
    assert!(calls[2].body["messages"].to_string().contains("unheard now"), "kept as context");
    assert_eq!(fake_ai.calls(Api::Anthropic).len(), 3);

    // A group waiting for the owner shows its settings with its pairing request.
    telegram.inject(group(Platform::Telegram, "-1003", "7", "hello?", "t6", true));
    let pending = || async {
        let (_, body) = json_of(call_service(&app, get("/api/bots/pairing").to_request()).await).await;
        body["requests"].as_array().and_then(|r| r.first().cloned())
    };
    assert!(wait_until(WAIT, || async { pending().await.is_some() }).await);
    assert_eq!(pending().await.unwrap()["chat_settings"], Value::Null);
    let model = json!({"model": "tiny-2"});
    let (status, _) = json_of(call_service(&app, put("/api/bots/chats/telegram/-1003", model)).await).await;
    assert_eq!(status, StatusCode::OK);
    let request = pending().await.unwrap();
    assert_eq!((&request["platform_chat_id"], &request["chat_settings"]["model"]), (&json!("-1003"), &json!("tiny-2")));
}
