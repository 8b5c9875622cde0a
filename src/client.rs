//! The client commands: talk to a running server over its HTTP API and print the answer.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use parachute_core::config::{Saved, apply_patch, config_path, load_file, save_keeping_comments};
use parachute_core::ids::Platform;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::cli::{BotCommand, BotConfigAction, Command, PairingCommand};

/// A connection to the running server.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|err| {
            if err.is_connect() || err.is_timeout() {
                anyhow!("parachute is not running at {} (start it with `parachute serve`)", self.base)
            } else {
                anyhow!("request to {} failed: {err}", self.base)
            }
        })?;
        let status = response.status();
        let text = response.text().await.context("the server's answer could not be read")?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// Whether a server answers at this address (`/api/health` needs no token).
    async fn is_running(&self) -> bool {
        self.http.get(format!("{}/api/health", self.base)).send().await.is_ok()
    }

    /// Calls and turns an error answer into an error with the server's message.
    pub(crate) async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, value) = self.call(method, path, body).await?;
        if status.is_success() {
            return Ok(value);
        }
        if status == StatusCode::UNAUTHORIZED {
            bail!("the server requires its API token: pass --token or set PARACHUTE_API_TOKEN");
        }
        let message = value.get("message").and_then(Value::as_str).unwrap_or("no details");
        match value.get("field").and_then(Value::as_str) {
            Some(field) => bail!("{message} (field {field}, HTTP {status})"),
            None => bail!("{message} (HTTP {status})"),
        }
    }
}

fn platforms(arg: Option<&str>) -> anyhow::Result<Vec<Platform>> {
    match arg {
        Some(name) => Ok(vec![name.parse()?]),
        None => Ok(Platform::ALL.to_vec()),
    }
}

/// Runs a client command against the server at `url`.
pub async fn run(url: String, token: Option<SecretString>, as_json: bool, command: Command) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let api = Api { http, base: url.trim_end_matches('/').to_owned(), token };
    match command {
        Command::Bot(cmd) => bot(&api, as_json, cmd).await,
        Command::Pairing(cmd) => pairing(&api, as_json, cmd).await,
        Command::Chat(cmd) => crate::chat_client::run(&api, as_json, cmd).await,
        Command::Serve(_) | Command::Config(_) | Command::Format { .. } | Command::Matrix(_) => {
            unreachable!("handled without a server")
        }
    }
}

async fn bot(api: &Api, as_json: bool, cmd: BotCommand) -> anyhow::Result<()> {
    match cmd {
        BotCommand::Status { platform } => {
            let wanted = platforms(platform.as_deref())?;
            let status = api.ok(Method::GET, "/api/bots/status", None).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&status)?);
                return Ok(());
            }
            println!(
                "{:<9} {:<13} {:<7} {:<5} {:<8} {:<14} LAST ERROR",
                "PLATFORM", "STATE", "ENABLED", "TOKEN", "ATTEMPTS", "FAILED REPLIES"
            );
            let mut open = Vec::new();
            for p in wanted {
                let c = &status["connectors"][p.as_str()];
                if c["open_to_everyone"].as_bool() == Some(true) {
                    open.push(p);
                }
                let yes_no = |v: &Value| if v.as_bool() == Some(true) { "yes" } else { "no" };
                println!(
                    "{:<9} {:<13} {:<7} {:<5} {:<8} {:<14} {}",
                    p.as_str(),
                    c["state"].as_str().unwrap_or("?"),
                    yes_no(&c["enabled"]),
                    yes_no(&c["has_token"]),
                    c["reconnect_attempts"].as_u64().unwrap_or(0),
                    c["failed_replies"].as_u64().unwrap_or(0),
                    c["last_error"].as_str().unwrap_or("-"),
                );
            }
            for p in open {
                println!("{p}: open to everyone: every group or room the bot is added to is answered");
            }
            Ok(())
        }
        BotCommand::Start { platform } => lifecycle(api, as_json, "start", platform).await,
        BotCommand::Stop { platform } => lifecycle(api, as_json, "stop", platform).await,
        BotCommand::Test { platform } => lifecycle(api, as_json, "test", platform).await,
        BotCommand::Config { action: None } => {
            let config = api.ok(Method::GET, "/api/bots/config", None).await?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        BotCommand::Config { action: Some(BotConfigAction::Set { key, value, vault }) } => {
            config_set(api, &key, &value, &vault).await
        }
    }
}

/// start/stop/test for one platform, or for every platform where it makes sense.
async fn lifecycle(api: &Api, as_json: bool, action: &str, platform: Option<String>) -> anyhow::Result<()> {
    let targets = match platform {
        Some(name) => vec![name.parse::<Platform>()?],
        None => {
            let status = api.ok(Method::GET, "/api/bots/status", None).await?;
            let pick = |p: &Platform| {
                let c = &status["connectors"][p.as_str()];
                match action {
                    "stop" => c["running"].as_bool() == Some(true),
                    "start" => c["has_token"].as_bool() == Some(true) && c["running"].as_bool() != Some(true),
                    _ => c["has_token"].as_bool() == Some(true),
                }
            };
            let picked: Vec<_> = Platform::ALL.into_iter().filter(pick).collect();
            if picked.is_empty() {
                println!("nothing to {action}");
            }
            picked
        }
    };
    let mut failed = false;
    for p in targets {
        let (status, answer) = api.call(Method::POST, &format!("/api/bots/{p}/{action}"), None).await?;
        if status == StatusCode::UNAUTHORIZED {
            bail!("the server requires its API token: pass --token or set PARACHUTE_API_TOKEN");
        }
        let success = answer["success"].as_bool() == Some(true);
        failed |= !success;
        if as_json {
            println!("{}", json!({ "platform": p, "status": status.as_u16(), "answer": answer }));
        } else if success {
            let detail = answer["message"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| answer["user_id"].as_str().map(|u| format!("credentials ok, bot is {u}")))
                .or_else(|| answer["bot_username"].as_str().map(|u| format!("credentials ok, bot is @{u}")))
                .or_else(|| answer["bot_id"].as_str().map(|u| format!("credentials ok, bot id {u}")))
                .unwrap_or_else(|| "ok".to_owned());
            println!("{p}: {detail}");
        } else {
            let reason = answer["message"].as_str().or_else(|| answer["error"].as_str()).unwrap_or("failed");
            println!("{p}: {reason}");
        }
    }
    if failed {
        bail!("{action} did not succeed everywhere");
    }
    Ok(())
}

async fn pairing(api: &Api, as_json: bool, cmd: PairingCommand) -> anyhow::Result<()> {
    let answer = match cmd {
        PairingCommand::List => {
            let list = api.ok(Method::GET, "/api/bots/pairing", None).await?;
            if !as_json {
                print_requests(&list);
                return Ok(());
            }
            list
        }
        PairingCommand::Approve { id, trust_level } => {
            let body = trust_level.map(|level| json!({ "trust_level": level }));
            api.ok(Method::POST, &format!("/api/bots/pairing/{id}/approve"), body).await?
        }
        PairingCommand::Deny { id } => api.ok(Method::POST, &format!("/api/bots/pairing/{id}/deny"), None).await?,
        PairingCommand::Revoke { platform, user_id } => {
            let platform: Platform = platform.parse()?;
            let user = percent_encode(&user_id);
            api.ok(Method::DELETE, &format!("/api/bots/pairing/{platform}/{user}"), None).await?
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else if let Some(request) = answer.get("request") {
        println!(
            "request {} ({} {}) is now {}",
            request["id"].as_str().unwrap_or("?"),
            request["platform"].as_str().unwrap_or("?"),
            request["platform_user_display"].as_str().unwrap_or("?"),
            request["status"].as_str().unwrap_or("?")
        );
    } else {
        println!("{}", answer["message"].as_str().unwrap_or("done"));
    }
    Ok(())
}

fn print_requests(list: &Value) {
    let requests = list["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        println!("no pairing requests");
        return;
    }
    println!("{:<5} {:<9} {:<5} {:<9} {:<28} FIRST MESSAGE", "ID", "PLATFORM", "KIND", "STATUS", "WHO");
    let mut sorted = requests;
    sorted.sort_by_key(|r| r["status"].as_str() != Some("pending"));
    for r in sorted {
        let who = format!(
            "{} ({})",
            r["platform_user_display"].as_str().unwrap_or(""),
            r["platform_user_id"].as_str().unwrap_or("")
        );
        let first: String = r["first_message"].as_str().unwrap_or("").chars().take(40).collect();
        println!(
            "{:<5} {:<9} {:<5} {:<9} {:<28} {}",
            r["id"].as_str().unwrap_or("?"),
            r["platform"].as_str().unwrap_or("?"),
            r["kind"].as_str().unwrap_or("?"),
            r["status"].as_str().unwrap_or("?"),
            who,
            first.replace('\n', " ")
        );
        if let Some(settings) = r.get("chat_settings").filter(|s| !s.is_null()) {
            println!("      chat settings: {}", crate::chat_client::summary(settings));
        }
    }
}

/// Encodes a user id for a URL path segment (Matrix ids contain `@` and `:`, fine; `/`,
/// `?`, `#`, `%` and spaces are not).
pub(crate) fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' | b':' | b'!' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `parachute config check [FILE]`: validates without a running server.
pub fn config_check(file: Option<PathBuf>, vault: PathBuf) -> anyhow::Result<()> {
    let path = file.unwrap_or_else(|| config_path(&vault));
    if !path.exists() {
        bail!("{} does not exist (a missing file means the defaults: every connector off)", path.display());
    }
    let config = load_file(&path).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    let enabled: Vec<_> =
        Platform::ALL.into_iter().filter(|p| config.policy(*p).enabled).map(Platform::as_str).collect();
    println!(
        "{}: ok (enabled: {})",
        path.display(),
        if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
    );
    Ok(())
}

/// `parachute bot config set KEY VALUE`: through the running server's API, or in the file.
async fn config_set(api: &Api, key: &str, value: &str, vault: &std::path::Path) -> anyhow::Result<()> {
    let raw = if value == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("cannot read the value from stdin")?;
        text.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        value.to_owned()
    };
    let candidates = if value == "-" { vec![Value::String(raw)] } else { value_candidates(&raw) };
    if api.is_running().await {
        let mut first_error = None;
        for candidate in &candidates {
            match api.ok(Method::PUT, "/api/bots/config", Some(key_patch(key, candidate.clone())?)).await {
                Ok(_) => {
                    println!("{key}: saved by the running server and applied (its connector restarts if it runs)");
                    return Ok(());
                }
                Err(err) => first_error = first_error.or(Some(err)),
            }
        }
        return Err(first_error.unwrap_or_else(|| anyhow!("no value to set")));
    }
    let path = config_path(vault);
    let database = vault.join(".parachute/parachute.db");
    if parachute_runtime::store::Db::in_use(&database) {
        bail!(
            "a parachute server is serving {} but does not answer at {}: pass its address with --url (and --token)",
            vault.display(),
            api.base
        );
    }
    // A new vault starts from the commented example, as `parachute serve` would write it.
    if crate::serve::ensure_config(&vault.join(".parachute"), &path)? {
        println!("wrote the example config {}", path.display());
    }
    let current = load_file(&path).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    let mut first_error = None;
    for candidate in candidates {
        match apply_patch(&current, &key_patch(key, candidate)?) {
            Ok(updated) => {
                let how = match save_keeping_comments(&path, &current, &updated)
                    .map_err(|err| anyhow!("cannot save {}: {err}", path.display()))?
                {
                    Saved::Edited => "only that key was edited",
                    Saved::Rewritten => "the file was written anew, without its comments",
                };
                println!(
                    "{key}: saved to {} ({how}); no server is running at {}: the next start applies it",
                    path.display(),
                    api.base
                );
                return Ok(());
            }
            Err(err) => first_error = first_error.or(Some(err)),
        }
    }
    match first_error {
        Some(err) => bail!("{err} (nothing was saved)"),
        None => bail!("no value to set"),
    }
}

/// The values `raw` may mean: as YAML where that reading keeps what was typed (`true`, `5`,
/// `[a, b]`, `null`, `"quoted text"`), then as the plain text itself for a key that wants
/// text. A reading that would change the text (`4.10` as 4.1, `0x1F` as 31, `a # b` as `a`)
/// is not offered: the text is taken as it is.
fn value_candidates(raw: &str) -> Vec<Value> {
    let mut out = Vec::new();
    match serde_yaml::from_str::<Value>(raw) {
        Ok(value) if keeps_the_text(raw, &value) => out.push(value),
        Ok(_) => {}
        // `[@alice, @bob]`: YAML reserves `@`, a list of names is meant.
        Err(_) => {
            if let Some(items) = raw.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let unquote = |item: &str| item.trim().trim_matches(['"', '\'']).to_owned();
                let items = items.split(',').map(unquote).filter(|i| !i.is_empty());
                out.push(Value::Array(items.map(Value::String).collect()));
            }
        }
    }
    let text = Value::String(raw.to_owned());
    if !out.contains(&text) {
        out.push(text);
    }
    out
}

/// Whether the YAML reading `value` of `raw` says what was typed.
fn keeps_the_text(raw: &str, value: &Value) -> bool {
    let typed = raw.trim();
    match value {
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => true,
        Value::Null => matches!(typed, "null" | "~"),
        Value::Number(n) => n.to_string() == typed,
        Value::String(s) => s == typed || (typed.len() >= 2 && typed.starts_with(['"', '\'']) && !typed.contains(" #")),
    }
}

/// `{"telegram": {"enabled": true}}` from `telegram.enabled` and `true`.
fn key_patch(key: &str, value: Value) -> anyhow::Result<Value> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        bail!("`{key}` is not a config key: write <section>.<key>, e.g. telegram.enabled");
    }
    Ok(parts.iter().rev().fold(value, |inner, part| json!({ *part: inner })))
}
