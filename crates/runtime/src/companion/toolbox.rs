//! The tools one answer may use: the vault tools the sender's trust level allows
//! ([`allowed_tools`]) and, for `direct` senders only, the tools of the MCP servers,
//! described for the model and run when it asks. A call of any other tool is refused,
//! whatever the model asks; every call is logged (tool, arguments, duration, result size).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use parachute_core::config::ToolsConfig;
use parachute_core::ids::Platform;
use parachute_core::tools::{VaultTool, allowed_tools};
use parachute_core::trust::TrustLevel;
use serde_json::{Value, json};

use std::sync::Arc;

use super::mcp::{McpServers, McpTool};
use super::vault_tools;

/// The longest argument text put into the log, in characters.
const LOGGED_ARGUMENTS_CHARS: usize = 300;

/// A tool as the model is told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name it is called by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// Its arguments, as a JSON Schema object.
    pub parameters: Value,
}

/// One call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id the model gave it (its result refers to it).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (a JSON object).
    pub arguments: Value,
}

/// What a call gave back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    /// The result, or why it failed.
    pub content: String,
    /// Whether it failed (refused, bad arguments, a path out of the vault).
    pub is_error: bool,
}

/// The tools of one answer.
#[derive(Debug, Clone)]
pub struct Toolbox {
    vault: PathBuf,
    platform: Platform,
    tools: Vec<VaultTool>,
    mcp: Vec<McpTool>,
    /// Keeps the servers of `mcp` running until the answer is done, even if the config
    /// changes meanwhile.
    _servers: Option<Arc<McpServers>>,
    /// The most model requests of one answer (`tools.max_steps`).
    pub max_steps: u32,
    /// The longest one answer may take with its tool rounds (`tools.max_time`).
    pub max_time: Duration,
}

impl Toolbox {
    /// The tools `config` gives a sender of `trust`, over `vault`, with the tools of the
    /// connected `mcp` servers for a `direct` sender (a `sandboxed` one never gets them);
    /// `None` when there are none.
    pub async fn for_sender(
        config: &ToolsConfig,
        trust: TrustLevel,
        vault: PathBuf,
        platform: Platform,
        mcp: Option<&Arc<McpServers>>,
    ) -> Option<Self> {
        let tools = allowed_tools(config, trust);
        let servers = mcp.filter(|_| trust == TrustLevel::Direct).cloned();
        let mcp = match &servers {
            Some(servers) => servers.tools().await,
            None => Vec::new(),
        };
        let (max_steps, max_time) = (config.max_steps, config.max_time.0);
        let any = !tools.is_empty() || !mcp.is_empty();
        any.then_some(Self { vault, platform, tools, mcp, _servers: servers, max_steps, max_time })
    }

    /// The tools offered, described for the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let vault = self.tools.iter().map(|tool| spec(*tool));
        let mcp = self.mcp.iter().map(|tool| ToolSpec {
            name: tool.offered_name.clone(),
            description: tool.description.clone(),
            parameters: tool.input_schema.clone(),
        });
        vault.chain(mcp).collect()
    }

    /// Runs `call` if it is one of the tools offered; the outcome is the model's to read.
    pub async fn call(&self, call: &ToolCall) -> ToolOutcome {
        let started = Instant::now();
        let arguments: String = call.arguments.to_string().chars().take(LOGGED_ARGUMENTS_CHARS).collect();
        let (outcome, server) = if let Some(tool) = self.mcp.iter().find(|tool| tool.offered_name == call.name) {
            let result = tool.call(&call.arguments).await;
            (ToolOutcome { content: result.text, is_error: result.is_error }, Some(tool.server()))
        } else if let Some(tool) = VaultTool::from_name(&call.name).filter(|tool| self.tools.contains(tool)) {
            let (vault, platform, args) = (self.vault.clone(), self.platform, call.arguments.clone());
            let ran = tokio::task::spawn_blocking(move || run(tool, &vault, platform, &args)).await;
            let outcome = match ran.unwrap_or_else(|err| Err(format!("the tool failed: {err}"))) {
                Ok(content) => ToolOutcome { content, is_error: false },
                Err(content) => ToolOutcome { content, is_error: true },
            };
            (outcome, None)
        } else {
            tracing::warn!(tool = %call.name, %arguments, "tool call refused: not offered to this sender");
            return ToolOutcome {
                content: format!("The tool `{}` is not available in this conversation.", call.name),
                is_error: true,
            };
        };
        tracing::info!(
            tool = %call.name,
            server,
            %arguments,
            took_ms = started.elapsed().as_millis() as u64,
            result_bytes = outcome.content.len(),
            failed = outcome.is_error,
            "tool call"
        );
        outcome
    }
}

/// Runs one vault tool with the model's `args`.
fn run(tool: VaultTool, vault: &std::path::Path, platform: Platform, args: &Value) -> Result<String, String> {
    let text =
        |key: &str| args.get(key).and_then(Value::as_str).ok_or_else(|| format!("`{key}` (a string) is required"));
    match tool {
        VaultTool::SearchNotes => vault_tools::search_notes(vault, text("query")?),
        VaultTool::ReadNote => vault_tools::read_note(vault, text("path")?),
        VaultTool::RecentJournal => {
            let count = args.get("count").and_then(Value::as_u64).unwrap_or(10);
            vault_tools::recent_journal(vault, usize::try_from(count).unwrap_or(usize::MAX))
        }
        VaultTool::AppendJournal => vault_tools::append_journal(vault, platform, text("text")?, crate::store::now_ms()),
        VaultTool::WriteMemory => vault_tools::write_memory(vault, text("name")?, text("text")?),
    }
}

/// How the model is told about `tool`.
fn spec(tool: VaultTool) -> ToolSpec {
    let string = |description: &str| json!({"type": "string", "description": description});
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false});
    let (description, parameters) = match tool {
        VaultTool::SearchNotes => (
            "Search the notes of the vault (Markdown and text files) for ones containing every word of the query; returns up to 10 paths with a matching line.",
            object(json!({"query": string("Words that must all appear in the note, any case.")}), &["query"]),
        ),
        VaultTool::ReadNote => (
            "Read one note of the vault by its path relative to the vault, e.g. `notes/garden.md`.",
            object(json!({"path": string("The note's path, relative to the vault.")}), &["path"]),
        ),
        VaultTool::RecentJournal => (
            "List the latest entries of the owner's daily journal, oldest first, with their dates.",
            object(
                json!({"count": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many entries (default 10)."}}),
                &[],
            ),
        ),
        VaultTool::AppendJournal => (
            "Add an entry to today's journal in the vault.",
            object(json!({"text": string("The entry, in Markdown.")}), &["text"]),
        ),
        VaultTool::WriteMemory => (
            "Save a memory note that you will see in every later conversation with the owner (it survives !new). Writing a name again replaces that note.",
            object(
                json!({"name": string("A short name, e.g. `plants` or `family`."), "text": string("The whole note, at most 8 KB.")}),
                &["name", "text"],
            ),
        ),
    };
    ToolSpec { name: tool.name().to_owned(), description: description.to_owned(), parameters }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall { id: "call_1".into(), name: name.into(), arguments }
    }

    #[tokio::test]
    async fn a_sandboxed_sender_gets_no_tools_and_a_forbidden_call_never_runs() {
        let vault = tempfile::tempdir().unwrap();
        let config = ToolsConfig::default();
        assert!(
            Toolbox::for_sender(&config, TrustLevel::Sandboxed, vault.path().into(), Platform::Matrix, None)
                .await
                .is_none()
        );
        let config = ToolsConfig { sandboxed: vec![VaultTool::ReadNote], ..ToolsConfig::default() };
        let toolbox = Toolbox::for_sender(&config, TrustLevel::Sandboxed, vault.path().into(), Platform::Matrix, None)
            .await
            .unwrap();
        assert_eq!(toolbox.specs().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["read_note"]);
        let outcome = toolbox.call(&call("write_memory", json!({"name": "x", "text": "pwned"}))).await;
        assert!(outcome.is_error && outcome.content.contains("not available"), "{outcome:?}");
        assert!(!vault.path().join("memory").exists());
    }

    #[tokio::test]
    async fn a_direct_sender_writes_memory_and_bad_arguments_are_the_models_to_read() {
        let vault = tempfile::tempdir().unwrap();
        let toolbox = Toolbox::for_sender(
            &ToolsConfig::default(),
            TrustLevel::Direct,
            vault.path().into(),
            Platform::Discord,
            None,
        )
        .await
        .unwrap();
        assert_eq!(toolbox.specs().len(), VaultTool::ALL.len());
        let outcome = toolbox.call(&call("write_memory", json!({"name": "cat", "text": "Miso"}))).await;
        assert!(!outcome.is_error, "{outcome:?}");
        assert_eq!(std::fs::read_to_string(vault.path().join("memory/cat.md")).unwrap(), "Miso\n");
        let outcome = toolbox.call(&call("read_note", json!({"file": "memory/cat.md"}))).await;
        assert_eq!(outcome, ToolOutcome { content: "`path` (a string) is required".into(), is_error: true });
        let outcome = toolbox.call(&call("read_note", json!({"path": "../../etc/passwd"}))).await;
        assert!(outcome.is_error && outcome.content.contains(".."), "{outcome:?}");
    }

    #[test]
    fn every_spec_is_a_json_schema_object() {
        for tool in VaultTool::ALL {
            let spec = spec(tool);
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
            assert!(spec.parameters["properties"].is_object());
        }
    }
}
