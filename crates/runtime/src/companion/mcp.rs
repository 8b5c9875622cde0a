//! The MCP servers of `tools.mcp`, through the official Rust SDK (`rmcp`): each one is kept
//! connected by a task of its own (a program spoken to over its stdin and stdout, or a
//! streamable HTTP endpoint), reconnected with a growing pause when it goes away, its tools
//! listed on every connect. The toolbox offers those tools to `direct` senders only.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use parachute_core::config::{MCP_BASE_ENVIRONMENT, McpServerConfig};
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ContentBlock, Implementation, ProtocolVersion, Tool,
};
use rmcp::service::{Peer, RoleClient, RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;
use tokio::sync::watch;

/// The first pause before connecting again; it doubles up to [`MAX_RECONNECT_PAUSE`].
const FIRST_RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two connection attempts.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(60);
/// The most text of one tool result handed to the model.
const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The most tools taken from one server.
const MAX_TOOLS_PER_SERVER: usize = 64;
/// The longest tool name the model APIs take.
const MAX_TOOL_NAME_CHARS: usize = 64;

/// One tool of a connected server, as offered to the model.
#[derive(Clone)]
pub struct McpTool {
    /// The name the model calls it by: `<server>__<tool>`.
    pub offered_name: String,
    /// What it does, as the server says.
    pub description: String,
    /// Its arguments' JSON Schema, as the server gives it.
    pub input_schema: Value,
    server: Arc<str>,
    name: String,
    peer: Peer<RoleClient>,
    timeout: Duration,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool").field("offered_name", &self.offered_name).finish_non_exhaustive()
    }
}

/// What one call gave back: the text for the model, and whether the tool reported an error.
pub struct McpResult {
    /// The result's text blocks (other blocks named), cut at 64 KiB.
    pub text: String,
    /// The tool said it failed, or the call did not complete.
    pub is_error: bool,
}

impl McpTool {
    /// The server's name.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Calls the tool with `arguments` (a JSON object), within the server's timeout.
    pub async fn call(&self, arguments: &Value) -> McpResult {
        let failed = |text: String| McpResult { text, is_error: true };
        let Value::Object(arguments) = arguments.clone() else {
            return failed("the arguments must be a JSON object".into());
        };
        let params = CallToolRequestParams::new(self.name.clone()).with_arguments(arguments);
        let result = match tokio::time::timeout(self.timeout, self.peer.call_tool(params)).await {
            Err(_) => return failed(format!("the {} server did not answer within {:?}", self.server, self.timeout)),
            Ok(Err(err)) => return failed(format!("the {} server failed the call: {err}", self.server)),
            Ok(Ok(result)) => result,
        };
        let mut text = result.content.iter().map(block_text).collect::<Vec<_>>().join("\n");
        if text.is_empty()
            && let Some(structured) = &result.structured_content
        {
            text = structured.to_string();
        }
        McpResult { text: cut(text), is_error: result.is_error.unwrap_or(false) }
    }
}

/// A content block as text: text as it is, anything else named.
fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(_) => "[an image]".into(),
        ContentBlock::Audio(_) => "[an audio clip]".into(),
        ContentBlock::Resource(_) => "[an embedded resource]".into(),
        ContentBlock::ResourceLink(link) => format!("[a resource: {}]", link.uri),
        _ => "[content of a kind parachute does not read]".into(),
    }
}

/// `text` within [`MAX_RESULT_BYTES`], at a character boundary, with a note when cut.
fn cut(mut text: String) -> String {
    if text.len() > MAX_RESULT_BYTES {
        let mut end = MAX_RESULT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n[cut: the result was longer than 64 KiB]");
    }
    text
}

/// Where a server stands.
#[derive(Clone)]
enum Connection {
    /// Its first connection attempt is under way.
    Starting,
    /// Connected, with the tools it offers.
    Up(Vec<McpTool>),
    /// Not connected (why); the task tries again.
    Down(String),
}

/// One server as `bot status` and the page show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct McpServerStatus {
    /// Its name in `tools.mcp`.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    /// `not_started` (no `direct` sender was answered since the list was set: servers start
    /// with the first answer that may use them), `starting`, `connected` or `down`.
    pub state: &'static str,
    /// The tools it offers while connected.
    pub tools: Vec<String>,
    /// Why it is down (redacted), while it is.
    pub last_error: Option<String>,
}

/// The servers of one `tools.mcp` list. Dropping it stops their tasks (and ends the programs).
pub struct McpServers {
    servers: Vec<(McpServerConfig, watch::Receiver<Connection>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.servers.iter().map(|(config, _)| config.name.as_str()).collect();
        f.debug_struct("McpServers").field("servers", &names).finish()
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl McpServers {
    /// Starts a task per server of `configs`. Must be called inside a tokio runtime.
    pub fn start(configs: &[McpServerConfig]) -> Self {
        let mut servers = Vec::new();
        let mut tasks = Vec::new();
        for config in configs {
            let (state, watched) = watch::channel(Connection::Starting);
            tasks.push(tokio::spawn(keep_connected(config.clone(), state)));
            servers.push((config.clone(), watched));
        }
        Self { servers, tasks }
    }

    /// Where each server stands.
    pub fn status(&self) -> Vec<McpServerStatus> {
        self.servers
            .iter()
            .map(|(config, state)| {
                let (state, tools, last_error) = match &*state.borrow() {
                    Connection::Starting => ("starting", Vec::new(), None),
                    Connection::Up(tools) => {
                        ("connected", tools.iter().map(|t| t.offered_name.clone()).collect(), None)
                    }
                    Connection::Down(reason) => {
                        // The server's token never reaches the status, whatever an error says.
                        let token = config.bearer_token_env.as_ref().and_then(|v| std::env::var(v).ok());
                        let secrets: Vec<&str> = token.as_deref().into_iter().collect();
                        ("down", Vec::new(), Some(parachute_core::redact::redact(reason, &secrets)))
                    }
                };
                McpServerStatus { name: config.name.clone(), transport: transport_of(config), state, tools, last_error }
            })
            .collect()
    }

    /// The tools of every connected server. A server still making its first connection is
    /// waited for, at most its timeout (all of them at once), so the first answer after a
    /// start has their tools.
    pub async fn tools(&self) -> Vec<McpTool> {
        let settled = self.servers.iter().map(|(config, state)| async move {
            let mut state = state.clone();
            let first = state.wait_for(|s| !matches!(s, Connection::Starting));
            match tokio::time::timeout(config.timeout.0, first).await {
                Ok(Ok(connection)) => match &*connection {
                    Connection::Up(tools) => tools.clone(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            }
        });
        futures_util::future::join_all(settled).await.into_iter().flatten().collect()
    }
}

fn transport_of(config: &McpServerConfig) -> &'static str {
    if config.command.is_some() { "stdio" } else { "http" }
}

/// Connects `config`'s server, lists its tools and waits while it stays up; then pauses
/// (doubling up to a minute) and connects again, until the task is aborted.
async fn keep_connected(config: McpServerConfig, state: watch::Sender<Connection>) {
    let server: Arc<str> = config.name.as_str().into();
    let mut pause = FIRST_RECONNECT_PAUSE;
    loop {
        match tokio::time::timeout(config.timeout.0, connect(&config, &server)).await {
            Ok(Ok((service, tools))) => {
                let names: Vec<&str> = tools.iter().map(|t| t.offered_name.as_str()).collect();
                tracing::info!(server = %server, tools = ?names, "MCP server connected");
                state.send_replace(Connection::Up(tools));
                let connected = tokio::time::Instant::now();
                let reason = service.waiting().await;
                // A server that stayed up a while starts over; one that crashes at once waits longer each time.
                if connected.elapsed() >= MAX_RECONNECT_PAUSE {
                    pause = FIRST_RECONNECT_PAUSE;
                }
                tracing::warn!(server = %server, reason = ?reason.ok(), "MCP server went away; connecting again");
            }
            Ok(Err(reason)) => {
                tracing::warn!(server = %server, %reason, "MCP server not connected");
                state.send_replace(Connection::Down(reason));
            }
            Err(_) => {
                tracing::warn!(server = %server, timeout = ?config.timeout.0, "MCP server not connected in time");
                state.send_replace(Connection::Down(format!("not connected within {:?}", config.timeout.0)));
            }
        }
        if matches!(&*state.borrow(), Connection::Up(_)) {
            state.send_replace(Connection::Down("the server went away".into()));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
    }
}

type Service = RunningService<RoleClient, ClientConfig>;

/// Who parachute says it is, speaking the last protocol revision with an `initialize`
/// handshake (what servers of today answer).
fn client_info() -> ClientConfig {
    let mut info =
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("parachute", env!("CARGO_PKG_VERSION")));
    info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
    info
}

/// One connection: the handshake, then the tools the server lists (those of
/// `allowed_tools`, when given).
async fn connect(config: &McpServerConfig, server: &Arc<str>) -> Result<(Service, Vec<McpTool>), String> {
    let service = if let Some(command) = &config.command {
        let mut program = tokio::process::Command::new(command);
        program.args(&config.args).env_clear().envs(passed_environment(config, std::env::vars()));
        // A group of its own: stopping the server (a config change, parachute's exit) ends the
        // programs it started too (`npx` and `uvx` run the real server as their child).
        let mut program = CommandWrap::from(program);
        program.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
        let (transport, _) = TokioChildProcess::builder(program)
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start `{command}`: {err}"))?;
        client_info().serve(transport).await.map_err(|err| format!("the handshake failed: {err}"))?
    } else {
        let url = config.url.as_deref().unwrap_or_default();
        let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url);
        if let Some(variable) = &config.bearer_token_env {
            let token =
                std::env::var(variable).map_err(|_| format!("the environment variable {variable} is not set"))?;
            transport_config = transport_config.auth_header(token);
        }
        let transport = StreamableHttpClientTransport::from_config(transport_config);
        client_info().serve(transport).await.map_err(|err| format!("the handshake failed: {err}"))?
    };
    let listed = service.peer().list_all_tools().await.map_err(|err| format!("tools/list failed: {err}"))?;
    let tools = offered_tools(config, server, listed, service.peer());
    Ok((service, tools))
}

/// What a stdio server gets of parachute's environment `vars`: the variables of
/// [`MCP_BASE_ENVIRONMENT`], those starting with `LC_` or `XDG_`, and those `config.env` names.
fn passed_environment(config: &McpServerConfig, vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter(|(name, _)| {
        MCP_BASE_ENVIRONMENT.contains(&name.as_str())
            || name.starts_with("LC_")
            || name.starts_with("XDG_")
            || config.env.iter().any(|wanted| wanted == name)
    })
    .collect()
}

/// The listed tools `config` allows, named for the model.
fn offered_tools(
    config: &McpServerConfig,
    server: &Arc<str>,
    listed: Vec<Tool>,
    peer: &Peer<RoleClient>,
) -> Vec<McpTool> {
    let allowed = |name: &str| config.allowed_tools.as_ref().is_none_or(|allowed| allowed.iter().any(|a| a == name));
    let mut seen = HashSet::new();
    listed
        .into_iter()
        .filter(|tool| allowed(&tool.name))
        .take(MAX_TOOLS_PER_SERVER)
        .filter_map(|tool| {
            let offered_name = offered_name(server, &tool.name);
            // Two names that read the same once tidied: the first one wins.
            seen.insert(offered_name.clone()).then(|| McpTool {
                offered_name,
                description: tool.description.as_deref().unwrap_or_default().to_owned(),
                input_schema: Value::Object((*tool.input_schema).clone()),
                server: server.clone(),
                name: tool.name.to_string(),
                peer: peer.clone(),
                timeout: config.timeout.0,
            })
        })
        .collect()
}

/// `<server>__<tool>`, with characters the model APIs refuse in a tool name as `_`, at most
/// 64 characters.
pub fn offered_name(server: &str, tool: &str) -> String {
    let tidy = |c: char| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' };
    format!("{server}__{tool}").chars().map(tidy).take(MAX_TOOL_NAME_CHARS).collect()
}

/// The servers of the current `tools.mcp` list, started again when the list changes.
#[derive(Default)]
pub struct McpSlot {
    running: Mutex<Option<(Vec<McpServerConfig>, Arc<McpServers>)>>,
}

impl McpSlot {
    /// Stops the running servers when `configs` (the config's list now) no longer names them,
    /// without starting new ones: a changed list starts with the next answer that needs it.
    pub fn retire_unless(&self, configs: &[McpServerConfig]) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|(current, _)| current.as_slice() != configs) {
            tracing::info!("tools.mcp changed: the servers of the old list stop");
            *running = None;
        }
    }

    /// Where each server of `configs` stands (`not_started` while no answer needed them).
    pub fn status(&self, configs: &[McpServerConfig]) -> Vec<McpServerStatus> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match &*running {
            Some((current, servers)) if current.as_slice() == configs => servers.status(),
            _ => configs
                .iter()
                .map(|config| McpServerStatus {
                    name: config.name.clone(),
                    transport: transport_of(config),
                    state: "not_started",
                    tools: Vec::new(),
                    last_error: None,
                })
                .collect(),
        }
    }

    /// The servers of `configs`: the running ones when the list is unchanged, else new ones
    /// (the old ones stop once the answers using them are done).
    pub fn get(&self, configs: &[McpServerConfig]) -> Option<Arc<McpServers>> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if configs.is_empty() {
            *running = None;
            return None;
        }
        if let Some((current, servers)) = &*running
            && current.as_slice() == configs
        {
            return Some(servers.clone());
        }
        let servers = Arc::new(McpServers::start(configs));
        *running = Some((configs.to_vec(), servers.clone()));
        Some(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stdio_server_gets_a_plain_environment_and_what_its_env_names() {
        let config: McpServerConfig =
            serde_json::from_value(serde_json::json!({"name": "notes", "command": "notes-mcp", "env": ["NOTES_KEY"]}))
                .unwrap();
        let vars = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/ann"),
            ("LC_ALL", "C.UTF-8"),
            ("XDG_CONFIG_HOME", "/home/ann/.config"),
            ("NOTES_KEY", "k1"),
            ("SEARCH_MCP_TOKEN", "secret"),
            ("ANTHROPIC_API_KEY", "secret"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let passed: Vec<String> = passed_environment(&config, vars.into_iter()).into_iter().map(|(k, _)| k).collect();
        assert_eq!(passed, ["PATH", "HOME", "LC_ALL", "XDG_CONFIG_HOME", "NOTES_KEY"]);
    }

    #[test]
    fn offered_names_fit_the_model_apis() {
        assert_eq!(offered_name("notes", "search"), "notes__search");
        assert_eq!(offered_name("web", "fetch.url v2"), "web__fetch_url_v2");
        let long = offered_name("a-server", &"x".repeat(100));
        assert_eq!(long.chars().count(), 64);
        assert!(long.starts_with("a-server__x"));
    }

    #[test]
    fn long_results_are_cut_at_a_character_boundary_with_a_note() {
        let text = "é".repeat(MAX_RESULT_BYTES);
        let cut = cut(text);
        assert!(cut.len() < MAX_RESULT_BYTES + 60 && cut.ends_with("longer than 64 KiB]"), "{}", cut.len());
        assert_eq!(super::cut("short".into()), "short");
    }
}
