//! The web settings page in real headless Chromium, driven through WebDriver (chromedriver +
//! fantoccini), against the real HTTP server and a real runtime (SQLite, actors) whose
//! platform connectors are the testkit's fakes. Needs Debian's `chromium` and
//! `chromium-driver` (`.ci/run` installs them); `CHROMEDRIVER` overrides the driver's path.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use parachute_core::config::{BotsConfig, StreamMode, load_file};
use parachute_core::ids::Platform;
use parachute_core::trust::TrustLevel;
use parachute_runtime::connector::ConnectorError;
use parachute_runtime::messages::ListPairing;
use parachute_runtime::status::ConnectorState;
use parachute_testkit::fake_connector::{FAKE_PASSWORD, FAKE_SIGNED_IN_TOKEN};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Bound for every wait on the page (the page polls every 2 s).
const WAIT: Duration = Duration::from_secs(15);
const OLD_MATRIX_TOKEN: &str = "syt_TEST_matrix_token_value";

// ---------------------------------------------------------------------------------------------
// Harness: chromedriver in its own process group (killed with its Chromium on drop), one
// headless Chromium session with a fresh profile, and the in-process server.

struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver, leading its own process group; killed with its Chromium when dropped (also
/// when a test panics before the browser session exists).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", self.0.id())).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn chromedriver_path() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium and chromium-driver (see .ci/run) or set CHROMEDRIVER",
        path.display()
    );
    path
}

async fn open_browser() -> Browser {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver_path())
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on port {port} within 20 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1280,2000".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut chrome_options = json!({ "args": args });
    if let Ok(binary) = std::env::var("CHROME") {
        chrome_options["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome_options);
    // WebDriver speaks plain HTTP on loopback: no TLS stack needed.
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    let client =
        match tokio::time::timeout(Duration::from_secs(30), builder.connect(&format!("http://127.0.0.1:{port}"))).await
        {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => panic!("Chromium did not start through chromedriver: {err}"),
            Err(_) => panic!("Chromium did not start within 30 s"),
        };
    Browser { client, _driver: driver, _profile: profile }
}

/// Runs the real HTTP server (real guard, real routes) on a free loopback port over `rt`.
fn serve(rt: &TestRuntime, api_token: Option<&str>) -> String {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let bound = parachute_server::bind(rt.handle.clone(), addr, api_token.map(|t| SecretString::from(t.to_owned())))
        .expect("bind the server");
    let url = format!("http://{}", bound.addrs[0]);
    actix_web::rt::spawn(bound.server);
    url
}

/// Waits until `script` (a function body) returns `true` in the page; panics with `what`.
async fn wait_js(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Value::Bool(true)) = c.execute(script, vec![]).await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the element's visible text satisfies `pred`; returns it.
async fn wait_text(c: &Client, css: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if pred(&text) {
                return text;
            }
            last = text;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {css}; last text: {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_badge(c: &Client, platform: &str, state: &str) {
    let script = format!("return document.getElementById('{platform}-state')?.dataset.state === '{state}';");
    wait_js(c, &format!("{platform} badge to show {state}"), &script).await;
    let text = c.find(Locator::Id(&format!("{platform}-state"))).await.unwrap().text().await.unwrap();
    assert!(text.contains(state), "the badge's text says {text:?}");
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("no #{id}: {e}")).click().await.unwrap();
}

async fn replace_text(c: &Client, id: &str, text: &str) {
    let input = c.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// The whole page as the browser holds it: markup, every form control's current value, and
/// both storages, so a token shown or kept anywhere is found.
async fn everything_in_the_page(c: &Client) -> String {
    let script = "return document.documentElement.outerHTML + '\\n' + \
        [...document.querySelectorAll('input, select, textarea')].map(e => e.value).join('\\n') + '\\n' + \
        JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage));";
    match c.execute(script, vec![]).await.unwrap() {
        Value::String(text) => text,
        other => panic!("unexpected page dump {other}"),
    }
}

/// Serves `rt` without a token, opens Chromium and loads the page: (browser, page URL).
async fn open_page(rt: &TestRuntime) -> (Browser, String) {
    let url = serve(rt, None);
    let browser = open_browser().await;
    load(&browser.client, &url).await;
    (browser, url)
}

async fn load(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    for platform in ["telegram", "discord", "matrix"] {
        wait_js(
            c,
            "the first status",
            &format!("return document.getElementById('{platform}-state')?.dataset.state !== 'unknown';"),
        )
        .await;
    }
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_path_buf()
}

// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn page_shows_three_platforms_with_their_status_and_settings() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;

    assert_eq!(c.title().await.unwrap(), "parachute settings");
    for (platform, title) in [("telegram", "Telegram"), ("discord", "Discord"), ("matrix", "Matrix")] {
        let heading = c.find(Locator::Id(&format!("{platform}-title"))).await.unwrap().text().await.unwrap();
        assert_eq!(heading, title);
        wait_badge(c, platform, "stopped").await;
        for button in ["start", "stop", "test", "save"] {
            assert!(c.find(Locator::Id(&format!("{platform}-{button}"))).await.is_ok(), "{platform} {button}");
        }
    }
    // Every field has a label the browser associates with it.
    let unlabelled: Value = c
        .execute(
            "return [...document.querySelectorAll('main input, main select')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.id);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "inputs without a label");
    let token_state = wait_text(c, "#matrix-access_token-state", |t| !t.is_empty()).await;
    assert_eq!(token_state, "set");
    assert_eq!(
        c.find(Locator::Id("matrix-homeserver_url")).await.unwrap().prop("value").await.unwrap().unwrap(),
        "http://127.0.0.1:9"
    );
    let selects = c.find(Locator::Id("telegram-group_mention_mode")).await.unwrap();
    assert_eq!(selects.prop("value").await.unwrap().as_deref(), Some("mention_only"));
    assert!(c.find(Locator::Id("pairing-empty")).await.unwrap().is_displayed().await.unwrap());

    // Keyboard only: Tab moves to the next field with a visible focus outline, Enter saves.
    c.execute("document.getElementById('matrix-homeserver_url').focus();", vec![]).await.unwrap();
    c.active_element().await.unwrap().send_keys(&char::from(Key::Tab).to_string()).await.unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("matrix-user_id"));
    assert_eq!(focused.css_value("outline-style").await.unwrap(), "solid", "focus is visible");
    focused.send_keys(&char::from(Key::Enter).to_string()).await.unwrap();
    wait_text(c, "#matrix-save-result", |t| t == "Saved.").await;

    let page = everything_in_the_page(c).await;
    for secret in ["123456:TEST-telegram-token-value", "TEST.discord.token-value-0123", OLD_MATRIX_TOKEN] {
        assert!(!page.contains(secret), "a stored secret reached the page");
    }
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn saving_matrix_settings_writes_the_file_and_never_renders_the_token() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;

    replace_text(c, "matrix-homeserver_url", "https://matrix.example.org").await;
    let add_room = c.find(Locator::Id("matrix-allowed_rooms")).await.unwrap();
    add_room.send_keys(&format!("#lounge:example.org{}", char::from(Key::Enter))).await.unwrap();
    add_room.send_keys("!abc:example.org").await.unwrap();
    c.find(Locator::Css("#matrix [data-field=allowed_rooms] .add-entry button")).await.unwrap().click().await.unwrap();
    let new_token = "syt_NEW_typed_token_from_the_page";
    c.find(Locator::Id("matrix-access_token")).await.unwrap().send_keys(new_token).await.unwrap();
    let dirty = c.find(Locator::Id("matrix-dirty")).await.unwrap();
    assert!(dirty.is_displayed().await.unwrap(), "edits mark the section as unsaved");
    click(c, "matrix-save").await;
    wait_text(c, "#matrix-save-result", |t| t == "Saved.").await;

    let saved = load_file(&rt.config_path).unwrap();
    assert_eq!(saved.matrix.homeserver_url, "https://matrix.example.org");
    assert_eq!(saved.matrix.allowed_rooms, ["#lounge:example.org", "!abc:example.org"]);
    assert_eq!(saved.matrix.access_token.as_ref().map(|t| t.expose_secret().to_owned()).as_deref(), Some(new_token));
    assert_eq!(
        saved.telegram.bot_token.as_ref().map(|t| t.expose_secret().to_owned()).as_deref(),
        Some("123456:TEST-telegram-token-value"),
        "other sections kept"
    );
    assert_eq!(rt.status(Platform::Matrix).allowed_count, 2);

    let entries: Value = c
        .execute(
            "return [...document.querySelectorAll('#matrix-allowed_rooms-entries input')].map(e => e.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(entries, json!(["#lounge:example.org", "!abc:example.org"]));
    assert_eq!(c.find(Locator::Id("matrix-access_token-state")).await.unwrap().text().await.unwrap(), "set");
    assert!(!c.find(Locator::Id("matrix-dirty")).await.unwrap().is_displayed().await.unwrap());
    // Also after the next poll has re-rendered the sections.
    wait_js(c, "a poll after saving", "return document.getElementById('connection').textContent.startsWith('Live');")
        .await;
    let page = everything_in_the_page(c).await;
    assert!(!page.contains(new_token), "the typed token stayed in the page after saving");
    assert!(!page.contains("NEW_typed"), "part of the typed token stayed in the page");
    assert!(!page.contains(OLD_MATRIX_TOKEN));
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn an_invalid_value_is_shown_next_to_its_field_and_the_file_is_unchanged() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;
    let before = std::fs::read(&rt.config_path).unwrap();

    replace_text(c, "matrix-homeserver_url", "not a url").await;
    click(c, "matrix-save").await;
    let error = wait_text(c, "#matrix-homeserver_url-error", |t| !t.is_empty()).await;
    assert!(error.contains("must be an http(s) URL"), "{error}");
    let input = c.find(Locator::Id("matrix-homeserver_url")).await.unwrap();
    assert_eq!(input.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let described = input.attr("aria-describedby").await.unwrap().unwrap_or_default();
    assert!(described.contains("matrix-homeserver_url-error"), "{described}");
    let focused = c.active_element().await.unwrap().attr("id").await.unwrap();
    assert_eq!(focused.as_deref(), Some("matrix-homeserver_url"), "focus moves to the field in error");
    let result = c.find(Locator::Id("matrix-save-result")).await.unwrap().text().await.unwrap();
    assert!(result.starts_with("Not saved"), "{result}");
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before, "a refused save leaves the file byte-identical");
    // The edit survives polling (the section is marked unsaved), so the owner can fix it.
    wait_js(c, "a poll", "return document.getElementById('connection').textContent.startsWith('Live');").await;
    assert_eq!(input.prop("value").await.unwrap().as_deref(), Some("not a url"));

    // A bad list entry is marked on that entry.
    replace_text(c, "matrix-homeserver_url", "https://matrix.example.org").await;
    let add_room = c.find(Locator::Id("matrix-allowed_rooms")).await.unwrap();
    add_room.send_keys(&format!("!ok:example.org{}", char::from(Key::Enter))).await.unwrap();
    add_room.send_keys(&format!("lounge{}", char::from(Key::Enter))).await.unwrap();
    click(c, "matrix-save").await;
    let error = wait_text(c, "#matrix-allowed_rooms-error", |t| !t.is_empty()).await;
    assert!(error.contains("`lounge` is neither a room id"), "{error}");
    assert!(c.find(Locator::Id("matrix-homeserver_url-error")).await.unwrap().text().await.unwrap().is_empty());
    let invalid: Value = c
        .execute("return [...document.querySelectorAll('#matrix [aria-invalid=true]')].map(e => e.value);", vec![])
        .await
        .unwrap();
    assert_eq!(invalid, json!(["lounge"]));
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before);

    // Fixing it (removing the entry with its button): the new homeserver URL is still refused,
    // since the stored access token would be sent there, and the page says what to do.
    c.find(Locator::Css("#matrix-allowed_rooms-entries li:nth-child(2) button")).await.unwrap().click().await.unwrap();
    click(c, "matrix-save").await;
    let error = wait_text(c, "#matrix-homeserver_url-error", |t| !t.is_empty()).await;
    assert!(error.contains("needs matrix.access_token in the same update: enter it again"), "{error}");
    let result = c.find(Locator::Id("matrix-save-result")).await.unwrap().text().await.unwrap();
    assert_eq!(result, "Not saved: fix the marked field.");
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before);
    // With the token typed again, it saves.
    c.find(Locator::Id("matrix-access_token")).await.unwrap().send_keys(OLD_MATRIX_TOKEN).await.unwrap();
    click(c, "matrix-save").await;
    wait_text(c, "#matrix-save-result", |t| t == "Saved.").await;
    let saved = load_file(&rt.config_path).unwrap();
    assert_eq!(saved.matrix.allowed_rooms, ["!ok:example.org"]);
    assert_eq!(saved.matrix.homeserver_url, "https://matrix.example.org");
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn start_stop_and_test_change_the_status_in_place() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;
    wait_badge(c, "matrix", "stopped").await;

    click(c, "matrix-start").await;
    wait_text(c, "#matrix-action-result", |t| t.contains("matrix connector starting")).await;
    wait_badge(c, "matrix", "connected").await;
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Connected);
    wait_text(c, "#matrix-status-since dd", |t| !t.is_empty()).await;
    assert!(!c.find(Locator::Id("matrix-start")).await.unwrap().is_enabled().await.unwrap(), "already running");

    click(c, "matrix-test").await;
    let result = wait_text(c, "#matrix-action-result", |t| t.starts_with("Token works")).await;
    assert!(result.contains("fake-matrix-bot"), "{result}");

    click(c, "matrix-stop").await;
    wait_badge(c, "matrix", "stopped").await;
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Stopped);
    wait_text(c, "#matrix-action-result", |t| t.contains("stopped")).await;

    // Test on a stopped connector shows who the bot is; a failing one shows why, redacted.
    click(c, "telegram-test").await;
    wait_text(c, "#telegram-action-result", |t| t.contains("@parachute_bot")).await;
    wait_text(c, "#telegram-status-bot dd", |t| t.contains("parachute_bot")).await;
    rt.fake(Platform::Telegram)
        .set_test_result(Err(ConnectorError::Auth("Unauthorized for 123456:TEST-telegram-token-value".into())));
    click(c, "telegram-test").await;
    let failed = wait_text(c, "#telegram-action-result", |t| t.starts_with("Test failed")).await;
    assert!(!failed.contains("TEST-telegram-token-value"), "{failed}");

    // A connector that fails shows the failure and its reason.
    rt.fake(Platform::Telegram).script([parachute_testkit::RunScript::Fail(ConnectorError::Auth("bad token".into()))]);
    click(c, "telegram-start").await;
    wait_badge(c, "telegram", "failed").await;
    wait_text(c, "#telegram-status-error dd", |t| t.contains("bad token")).await;

    // A connector waiting to reconnect shows the attempt and the time to the next try; Stop
    // ends the wait.
    rt.fake(Platform::Discord)
        .script([parachute_testkit::RunScript::Fail(ConnectorError::RateLimited(Duration::from_secs(120)))]);
    click(c, "discord-start").await;
    wait_badge(c, "discord", "reconnecting").await;
    let retry = wait_text(c, "#discord-status-retry dd", |t| !t.is_empty()).await;
    assert!(retry.starts_with("attempt 1, next try in 2 min"), "{retry}");
    assert!(!c.find(Locator::Id("discord-status-error")).await.unwrap().text().await.unwrap().is_empty());
    click(c, "discord-stop").await;
    wait_badge(c, "discord", "stopped").await;
    assert!(!c.find(Locator::Id("discord-status-retry")).await.unwrap().is_displayed().await.unwrap());
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn approving_a_pending_dm_user_from_the_page() {
    let mut config: BotsConfig = config_with_tokens();
    config.matrix.enabled = true;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Matrix);
    fake.wait_connected(1, WAIT).await;
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;
    wait_badge(c, "matrix", "connected").await;

    fake.inject(dm(Platform::Matrix, "@dora:example.org", "hello, can we talk?", "p1"));
    fake.inject(dm(Platform::Matrix, "@zed:example.org", "<img src=x onerror=alert(1)>", "p2"));
    fake.wait_delivered(2, WAIT).await;
    wait_js(c, "two pending requests", "return document.querySelectorAll('#pairing-list li').length === 2;").await;
    assert_eq!(c.find(Locator::Id("pairing-count")).await.unwrap().text().await.unwrap(), "2");
    let listed = c.find(Locator::Id("pairing-list")).await.unwrap().text().await.unwrap();
    assert!(listed.contains("@dora:example.org name") && listed.contains("hello, can we talk?"), "{listed}");
    assert!(listed.contains("<img src=x onerror=alert(1)>"), "a message is shown as text: {listed}");
    assert_eq!(
        c.execute("return document.querySelectorAll('#pairing-list img').length;", vec![]).await.unwrap(),
        json!(0)
    );

    save_screenshots(c).await;

    let dora = request_id(&rt, "@dora:example.org").await;
    let zed = request_id(&rt, "@zed:example.org").await;
    c.find(Locator::Id(&format!("pairing-{dora}-trust"))).await.unwrap().select_by_value("direct").await.unwrap();
    c.find(Locator::Css(&format!("#pairing-{dora} button.primary"))).await.unwrap().click().await.unwrap();
    wait_text(c, "#pairing-result", |t| t.starts_with("Approved")).await;
    wait_js(
        c,
        "dora's request to leave the list",
        "return document.querySelectorAll('#pairing-list li').length === 1;",
    )
    .await;
    c.find(Locator::Css(&format!("#pairing-{zed} button.danger"))).await.unwrap().click().await.unwrap();
    wait_text(c, "#pairing-result", |t| t.starts_with("Denied")).await;
    wait_js(c, "an empty list", "return document.querySelectorAll('#pairing-list li').length === 0;").await;
    assert!(c.find(Locator::Id("pairing-empty")).await.unwrap().is_displayed().await.unwrap());

    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    let record = requests.iter().find(|r| r.platform_user_id == "@dora:example.org").unwrap();
    assert_eq!(record.approved_trust_level, Some(TrustLevel::Direct));
    let replies = fake.wait_delivered(4, WAIT).await;
    assert!(replies.iter().any(|r| r.chat.as_str() == "dm-@dora:example.org" && r.text.contains("approved")));
    assert!(replies.iter().any(|r| r.chat.as_str() == "dm-@zed:example.org" && r.text.contains("not approved")));
    // A request that arrives while the page is open shows up without a reload.
    fake.inject(dm(Platform::Matrix, "@amy:example.org", "hi", "p3"));
    wait_js(c, "a new request", "return document.querySelectorAll('#pairing-list li').length === 1;").await;

    // Dora is listed as approved, and Revoke withdraws it.
    let approved = wait_text(c, "#approved-list", |t| t.contains("@dora:example.org")).await;
    assert!(approved.contains("approved as direct"), "{approved}");
    c.find(Locator::Css(&format!("#approved-list li[data-id='{dora}'] button.danger")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#approved-result", |t| t.starts_with("Revoked")).await;
    wait_js(c, "an empty approved list", "return document.querySelectorAll('#approved-list li').length === 0;").await;
    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    assert!(!requests.iter().any(|r| r.platform_user_id == "@dora:example.org"), "the approval is gone");
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn signing_matrix_in_with_a_password_saves_the_token_not_the_password() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;
    replace_text(c, "matrix-homeserver_url", "https://matrix.example.org").await;
    replace_text(c, "matrix-signin-user", "parachute").await;
    c.find(Locator::Id("matrix-signin-password")).await.unwrap().send_keys("not it").await.unwrap();
    click(c, "matrix-signin-submit").await;
    let error = wait_text(c, "#matrix-signin-password-error", |t| !t.is_empty()).await;
    assert!(error.contains("refused the user or password"), "{error}");
    let password = c.find(Locator::Id("matrix-signin-password")).await.unwrap();
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""), "the password is not kept in the page");

    password.send_keys(FAKE_PASSWORD).await.unwrap();
    click(c, "matrix-signin-submit").await;
    let result = wait_text(c, "#matrix-signin-result", |t| t.starts_with("Signed in")).await;
    assert!(result.contains("@parachute:example.org"), "{result}");
    wait_text(c, "#matrix-access_token-state", |t| t == "set").await;
    let saved = load_file(&rt.config_path).unwrap();
    assert_eq!(saved.matrix.access_token.unwrap().expose_secret(), FAKE_SIGNED_IN_TOKEN);
    assert_eq!(
        (saved.matrix.user_id.as_str(), saved.matrix.homeserver_url.as_str()),
        ("@parachute:example.org", "https://matrix.example.org")
    );
    let file = std::fs::read_to_string(&rt.config_path).unwrap();
    let page = everything_in_the_page(c).await;
    for text in [&file, &page] {
        assert!(!text.contains(FAKE_PASSWORD), "the password is nowhere");
    }
    assert!(!page.contains(FAKE_SIGNED_IN_TOKEN), "the token is never shown");
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn the_brain_and_server_sections_and_discarding_edits() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, url) = open_page(&rt).await;
    let c = &browser.client;
    let token = wait_text(c, "#server-token", |t| !t.is_empty()).await;
    assert!(token.starts_with("not required"), "{token}");
    let listen = wait_text(c, "#server-listen", |t| !t.is_empty()).await;
    assert!(url.contains(&listen), "the address this page reached: {listen} in {url}");
    let kind = c.find(Locator::Id("brain-kind")).await.unwrap();
    assert_eq!(kind.prop("value").await.unwrap().as_deref(), Some("echo"));
    let before = std::fs::read(&rt.config_path).unwrap();

    // A bad value is marked on its field; Discard brings the saved settings back.
    replace_text(c, "brain-timeout", "banana").await;
    click(c, "brain-save").await;
    let error = wait_text(c, "#brain-timeout-error", |t| !t.is_empty()).await;
    assert!(error.contains("not a duration"), "{error}");
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before);
    assert!(c.find(Locator::Id("brain-discard")).await.unwrap().is_displayed().await.unwrap());
    click(c, "brain-discard").await;
    let timeout = c.find(Locator::Id("brain-timeout")).await.unwrap();
    assert_eq!(timeout.prop("value").await.unwrap().as_deref(), Some("2m"));
    assert!(c.find(Locator::Id("brain-timeout-error")).await.unwrap().text().await.unwrap().is_empty());
    assert!(!c.find(Locator::Id("brain-dirty")).await.unwrap().is_displayed().await.unwrap());

    // A program brain is for the file only.
    kind.select_by_value("command").await.unwrap();
    click(c, "brain-save").await;
    let error = wait_text(c, "#brain-kind-error", |t| !t.is_empty()).await;
    assert!(error.contains("the API cannot set it"), "{error}");
    click(c, "brain-discard").await;

    // A model and a prompt of several lines are saved; an empty base URL stays unset.
    replace_text(c, "brain-model", "claude-test").await;
    c.find(Locator::Id("brain-system_prompt")).await.unwrap().send_keys("Be brief.\nBe kind.").await.unwrap();
    click(c, "brain-save").await;
    wait_text(c, "#brain-save-result", |t| t == "Saved.").await;
    let saved = load_file(&rt.config_path).unwrap();
    assert_eq!(saved.brain.model.as_deref(), Some("claude-test"));
    assert_eq!(saved.brain.system_prompt.as_deref(), Some("Be brief.\nBe kind."));
    assert_eq!(saved.brain.base_url, None);
    browser.client.clone().close().await.unwrap();
}

async fn request_id(rt: &TestRuntime, user: &str) -> i64 {
    let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
    requests.iter().find(|r| r.platform_user_id == user).map(|r| r.id).expect("a pairing request")
}

/// `target/web-page.png` (desktop) and `target/web-page-phone.png` (a phone's width).
async fn save_screenshots(c: &Client) {
    c.set_window_size(1280, 2600).await.unwrap();
    let desktop = c.screenshot().await.unwrap();
    std::fs::write(target_dir().join("web-page.png"), &desktop).unwrap();
    c.set_window_size(412, 2400).await.unwrap();
    let overflow: Value = c
        .execute("return document.documentElement.scrollWidth <= document.documentElement.clientWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(overflow, json!(true), "the page scrolls sideways on a phone");
    std::fs::write(target_dir().join("web-page-phone.png"), c.screenshot().await.unwrap()).unwrap();
    c.set_window_size(1280, 2000).await.unwrap();
}

#[actix_web::test]
async fn the_page_asks_for_the_api_token_and_sends_it() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let api_token = "page-api-token-0123456789";
    let url = serve(&rt, Some(api_token));
    let browser = open_browser().await;
    let c = &browser.client;
    c.goto(&url).await.unwrap();

    wait_js(c, "the token dialog", "return document.getElementById('token-dialog').open === true;").await;
    let input = c.find(Locator::Id("token-input")).await.unwrap();
    let focused = c.active_element().await.unwrap().attr("id").await.unwrap();
    assert_eq!(focused.as_deref(), Some("token-input"));
    input.send_keys(&format!("wrong-token{}", char::from(Key::Enter))).await.unwrap();
    wait_text(c, "#token-error", |t| t.contains("not accepted")).await;
    input.send_keys(&format!("{api_token}{}", char::from(Key::Enter))).await.unwrap();
    wait_js(c, "the dialog to close", "return document.getElementById('token-dialog').open === false;").await;
    wait_badge(c, "matrix", "stopped").await;

    // Writes carry the token (and the page's header) too.
    click(c, "discord-start").await;
    wait_badge(c, "discord", "connected").await;
    let markup = c.source().await.unwrap();
    assert!(!markup.contains(api_token), "the token is not rendered");
    let kept: Value = c.execute("return sessionStorage.getItem('parachute.apiToken');", vec![]).await.unwrap();
    assert_eq!(kept, json!(api_token), "kept for this tab only");
    let local: Value = c.execute("return localStorage.length;", vec![]).await.unwrap();
    assert_eq!(local, json!(0));
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn a_page_of_another_origin_cannot_drive_the_api() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let url = serve(&rt, None);
    let port = url.rsplit(':').next().unwrap().to_owned();
    let browser = open_browser().await;
    let c = &browser.client;
    // Another site: a page without parachute's CSP on another loopback port.
    let other_site = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async {
            actix_web::HttpResponse::Ok().content_type("text/html").body("<!doctype html><title>elsewhere</title>")
        }))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let other_addr = other_site.addrs()[0];
    actix_web::rt::spawn(other_site.run());
    c.goto(&format!("http://{other_addr}/")).await.unwrap();
    let attacks = format!(
        "const done = arguments[arguments.length - 1];
         const target = 'http://127.0.0.1:{port}/api/bots/matrix/start';
         const tries = [
           fetch(target, {{ method: 'POST', mode: 'no-cors', body: 'x' }}).then(r => 'opaque ' + r.type),
           fetch(target, {{ method: 'POST', headers: {{ 'X-Parachute-Client': 'web' }} }}).then(r => 'read ' + r.status),
           fetch(target, {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: '{{}}' }})
             .then(r => 'read ' + r.status),
         ].map(p => p.catch(e => 'blocked'));
         Promise.all(tries).then(done);"
    );
    let outcomes = c.execute_async(&attacks, vec![]).await.unwrap();
    assert_eq!(outcomes, json!(["opaque opaque", "blocked", "blocked"]), "no cross-origin answer is readable");
    // The simple request reached the server and was refused there.
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Stopped, "a cross-origin write started a bot");
    assert_eq!(rt.fake(Platform::Matrix).runs(), 0);
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn streaming_is_chosen_per_platform_and_a_too_short_interval_is_refused() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;

    let stream = c.find(Locator::Id("discord-stream")).await.unwrap();
    assert_eq!(stream.prop("value").await.unwrap().as_deref(), Some("edit"), "streaming is on by default");
    replace_text(c, "discord-stream_edit_interval", "100ms").await;
    let before = std::fs::read(&rt.config_path).unwrap();
    click(c, "discord-save").await;
    let error = wait_text(c, "#discord-stream_edit_interval-error", |t| !t.is_empty()).await;
    assert!(error.contains("at least 250 ms"), "{error}");
    assert_eq!(std::fs::read(&rt.config_path).unwrap(), before, "a refused save leaves the file byte-identical");

    stream.select_by_value("off").await.unwrap();
    replace_text(c, "discord-stream_edit_interval", "2s").await;
    click(c, "discord-save").await;
    wait_text(c, "#discord-save-result", |t| t == "Saved.").await;
    let saved = load_file(&rt.config_path).unwrap();
    assert_eq!(saved.discord.stream, StreamMode::Off);
    assert_eq!(saved.discord.stream_edit_interval.0, Duration::from_secs(2));
    assert_eq!(saved.telegram.stream, StreamMode::Edit, "other platforms keep theirs");
    browser.client.clone().close().await.unwrap();
}

#[actix_web::test]
async fn a_chat_gets_its_own_settings_from_the_page() {
    use parachute_runtime::messages::{Approve, ListChatSettings};
    use parachute_testkit::group;

    let mut config: BotsConfig = config_with_tokens();
    config.telegram.enabled = true;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    // A group outside the allow-list asks the owner; once approved it is listed with a button.
    fake.inject(group(Platform::Telegram, "-1002", "7", "hi bot", "g1", true));
    let room = loop {
        let requests = rt.handle.pairing.send(ListPairing).await.unwrap().unwrap();
        if let Some(room) = requests.first() {
            break room.id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    rt.handle.pairing.send(Approve { id: room, trust_level: None }).await.unwrap().unwrap();
    let (browser, _) = open_page(&rt).await;
    let c = &browser.client;
    assert!(c.find(Locator::Id("chats-empty")).await.unwrap().is_displayed().await.unwrap());

    let settings_button = format!("#approved-list li[data-id='{room}'] button:first-of-type");
    wait_js(c, "the approved room", &format!("return !!document.querySelector(\"{settings_button}\");")).await;
    c.find(Locator::Css(&settings_button)).await.unwrap().click().await.unwrap();
    wait_js(c, "the chat's form, focused", "return document.activeElement?.id?.endsWith('-system_prompt') === true;")
        .await;
    let form = c.find(Locator::Css("#chat-list li[data-key='telegram/-1002']")).await.unwrap();
    let id = form.attr("id").await.unwrap().unwrap();
    replace_text(c, &format!("{id}-system_prompt"), "Answer in rhymes.").await;
    c.find(Locator::Id(&format!("{id}-mention_mode"))).await.unwrap().select_by_value("all_messages").await.unwrap();
    replace_text(c, &format!("{id}-model"), "two words").await;
    click(c, &format!("{id}-save")).await;
    let error = wait_text(c, &format!("#{id}-model-error"), |t| !t.is_empty()).await;
    assert!(error.contains("no spaces"), "{error}");
    let invalid = c.find(Locator::Id(&format!("{id}-model"))).await.unwrap().attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    assert!(rt.handle.pairing.send(ListChatSettings).await.unwrap().unwrap().is_empty(), "nothing saved");

    replace_text(c, &format!("{id}-model"), "tiny-1").await;
    click(c, &format!("{id}-save")).await;
    wait_text(c, &format!("#{id}-result"), |t| t == "Saved.").await;
    let approved = wait_text(c, "#approved-list", |t| t.contains("own settings")).await;
    assert!(approved.contains("own settings: mention mode all_messages, model tiny-1, instructions"), "{approved}");
    let chats = rt.handle.pairing.send(ListChatSettings).await.unwrap().unwrap();
    assert_eq!(chats.len(), 1);
    let saved = &chats[0].settings;
    assert_eq!(
        (saved.system_prompt.as_deref(), saved.mention_mode.map(|m| m.as_str()), saved.model.as_deref()),
        (Some("Answer in rhymes."), Some("all_messages"), Some("tiny-1"))
    );
    // The mention mode works at once: a message without a mention is answered.
    let before = fake.delivered().len();
    fake.inject(group(Platform::Telegram, "-1002", "7", "no mention", "g2", false));
    let replies = fake.wait_delivered(before + 1, WAIT).await;
    assert!(replies.last().unwrap().text.contains("no mention"));

    // Added by id: a chat with nothing saved yet; a bad id is named.
    replace_text(c, "chat-add-id", "lounge").await;
    click(c, "chat-add-button").await;
    let draft = c.find(Locator::Css("#chat-list li[data-key='telegram/lounge']")).await.unwrap();
    let draft_id = draft.attr("id").await.unwrap().unwrap();
    replace_text(c, &format!("{draft_id}-model"), "m").await;
    click(c, &format!("{draft_id}-save")).await;
    let result = wait_text(c, &format!("#{draft_id}-result"), |t| t.starts_with("Not saved")).await;
    assert!(result.contains("not a Telegram chat id"), "{result}");

    // Reset: the chat follows the config again.
    click(c, &format!("{id}-reset")).await;
    wait_text(c, "#chats-result", |t| t.contains("follows the settings above")).await;
    assert!(rt.handle.pairing.send(ListChatSettings).await.unwrap().unwrap().is_empty());
    browser.client.clone().close().await.unwrap();
}
