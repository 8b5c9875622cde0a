//! The shape of `bots.yaml`: one section per concern, every key with a default.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

use super::secret;
use crate::duration::HumanDuration;
use crate::gating::{GateRules, GroupMentionMode, GroupRule};
use crate::ids::Platform;
use crate::tools::VaultTool;
use crate::trust::TrustLevel;

/// The whole configuration. A missing file means `BotsConfig::default()`: every connector off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotsConfig {
    /// The HTTP API and web page.
    pub server: ServerConfig,
    /// The vault folder; defaults to the folder that holds `.parachute/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    /// The AI brain that writes the answers.
    pub brain: BrainConfig,
    /// The vault tools the brain may call, by the sender's trust level.
    pub tools: ToolsConfig,
    /// Speech-to-text for voice messages; none configured means voice gets a helpful reply.
    pub transcriber: TranscriberConfig,
    /// How requests of people and rooms the bot does not know are kept.
    pub pairing: PairingConfig,
    /// The server's log: format and level (read at start).
    pub log: LogConfig,
    /// The largest voice note or audio file fetched from any platform, in bytes (decimal:
    /// 20 MB is 20000000). Checked against the size the platform announces before anything
    /// is downloaded, and again while the file streams in.
    pub max_media_bytes: u64,
    /// The Telegram connector.
    pub telegram: TelegramConfig,
    /// The Discord connector.
    pub discord: DiscordConfig,
    /// The Matrix connector.
    pub matrix: MatrixConfig,
}

impl Default for BotsConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            vault: None,
            brain: BrainConfig::default(),
            tools: ToolsConfig::default(),
            transcriber: TranscriberConfig::default(),
            pairing: PairingConfig::default(),
            log: LogConfig::default(),
            max_media_bytes: crate::media::DEFAULT_MAX_MEDIA_BYTES,
            telegram: TelegramConfig::default(),
            discord: DiscordConfig::default(),
            matrix: MatrixConfig::default(),
        }
    }
}

/// Where the HTTP API listens and how it is protected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind; anything but loopback requires `api_token`.
    pub bind: IpAddr,
    /// TCP port.
    pub port: u16,
    /// Bearer token the API requires (always, once set; mandatory off loopback).
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub api_token: Option<SecretString>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { bind: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 3333, api_token: None }
    }
}

/// Which brain answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrainKind {
    /// Replies with the text it got: the embedded default that needs no account.
    #[default]
    Echo,
    /// Runs `brain.command` per message: JSON request on stdin, answer on stdout.
    Command,
    /// Anthropic's Messages API (`POST {base_url}/v1/messages`).
    Anthropic,
    /// An OpenAI-compatible chat-completions API (`POST {base_url}/chat/completions`): OpenAI,
    /// llama.cpp server, Ollama, vLLM and the like.
    Openai,
}

impl BrainKind {
    /// The name shown in `!help` and status.
    pub fn as_str(self) -> &'static str {
        match self {
            BrainKind::Echo => "echo",
            BrainKind::Command => "command",
            BrainKind::Anthropic => "anthropic",
            BrainKind::Openai => "openai",
        }
    }
}

/// The brain and the conversation memory it is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrainConfig {
    /// Which brain.
    pub kind: BrainKind,
    /// Extra instructions given to the brain before every conversation, after the persona.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The persona file: who the companion is, the start of its system prompt, read again
    /// when it changes. Relative paths are inside the vault; unset: `.parachute/persona.md`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona_file: Option<String>,
    /// How many earlier messages of the session the brain sees.
    pub history_messages: usize,
    /// How many recent group messages (also those not addressed to the bot) it sees as context.
    pub group_context_messages: usize,
    /// The program the `command` brain runs (path or name on `PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Arguments passed to `command`.
    pub args: Vec<String>,
    /// How long one answer may take: the `command` program is killed after it; for the
    /// `anthropic` and `openai` brains it bounds each HTTP attempt.
    pub timeout: HumanDuration,
    /// Let the `command` brain answer `sandboxed` senders too (it refuses them by default).
    pub allow_sandboxed: bool,
    /// `anthropic` / `openai`: the model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `anthropic` / `openai`: the longest answer, in tokens.
    pub max_tokens: u32,
    /// `anthropic` / `openai`: the API's base URL (unset: the hosted API of the kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `anthropic` / `openai`: the API key (optional for `openai`, e.g. for local servers).
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretString>,
    /// `anthropic` / `openai`: how often a timed-out, rate-limited (429) or failed (5xx)
    /// request is tried again.
    pub max_retries: u32,
}

/// Anthropic's API, the `anthropic` brain's default `base_url` (`/v1/messages` is appended).
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// OpenAI's API, the `openai` brain's default `base_url` (`/chat/completions` is appended).
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

impl BrainConfig {
    /// The base URL to use: the configured one, else the kind's hosted API; no trailing `/`.
    pub fn effective_base_url(&self) -> &str {
        let configured = self.base_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let url = match (configured, self.kind) {
            (Some(url), _) => url,
            (None, BrainKind::Anthropic) => ANTHROPIC_DEFAULT_BASE_URL,
            (None, _) => OPENAI_DEFAULT_BASE_URL,
        };
        url.trim_end_matches('/')
    }
}

impl Default for BrainConfig {
    fn default() -> Self {
        Self {
            kind: BrainKind::Echo,
            system_prompt: None,
            persona_file: None,
            history_messages: 20,
            group_context_messages: 10,
            command: None,
            args: Vec::new(),
            timeout: HumanDuration(std::time::Duration::from_secs(120)),
            allow_sandboxed: false,
            model: None,
            max_tokens: 1024,
            base_url: None,
            api_key: None,
            max_retries: 2,
        }
    }
}

/// The persona file's place in the vault when `brain.persona_file` is not set.
pub const DEFAULT_PERSONA_FILE: &str = ".parachute/persona.md";

/// The vault tools the `anthropic` and `openai` brains may call, by trust level, and the
/// bounds of one answer's tool use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// The tools offered while answering `direct` senders (default: all of them).
    pub direct: Vec<VaultTool>,
    /// The tools offered while answering `sandboxed` senders: read-only ones at most
    /// (`search_notes`, `read_note`, `recent_journal`); default none.
    pub sandboxed: Vec<VaultTool>,
    /// The most model requests one answer may make (each tool round is one more).
    pub max_steps: u32,
    /// The longest one answer may take with its tool rounds.
    pub max_time: HumanDuration,
    /// MCP servers whose tools are offered while answering `direct` senders (never
    /// `sandboxed` ones).
    pub mcp: Vec<McpServerConfig>,
}

/// An MCP server: a program spoken to over its stdin and stdout (`command`), or a streamable
/// HTTP endpoint (`url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The server's name: lower-case letters, digits, `-` and `_`; its tools are offered to
    /// the model as `<name>__<tool>`.
    pub name: String,
    /// The program of a stdio server, started by parachute in a process group of its own with
    /// a plain environment ([`MCP_BASE_ENVIRONMENT`] and the variables of `env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The program's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Names of further environment variables of parachute's the program gets (its API key,
    /// say); none other is passed on, so one server never sees another's token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The endpoint of a streamable HTTP server, e.g. `http://127.0.0.1:8000/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The environment variable holding the bearer token sent to `url`, so that the token is
    /// neither in this file nor in the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// The server's tools offered (by their own names); unset: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// The longest one call (and connecting) may take.
    #[serde(default = "default_mcp_timeout")]
    pub timeout: HumanDuration,
}

/// The environment variables every stdio MCP server gets from parachute's, when set (those
/// starting with `LC_` and `XDG_` too): what programs need to find themselves and their files.
pub const MCP_BASE_ENVIRONMENT: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SHELL"];

fn default_mcp_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            direct: VaultTool::ALL.to_vec(),
            sandboxed: Vec::new(),
            max_steps: 8,
            max_time: HumanDuration(std::time::Duration::from_secs(300)),
            mcp: Vec::new(),
        }
    }
}

/// An OpenAI-compatible speech-to-text server (`POST {base_url}/audio/transcriptions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriberConfig {
    /// Base URL including the API version, e.g. `http://127.0.0.1:8000/v1`; unset: voice
    /// messages are not transcribed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The model name the server expects (`whisper-1` for OpenAI).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretString>,
    /// Optional ISO-639-1 language hint (e.g. `en`); unset lets the server detect it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// How long one transcription request may take.
    pub timeout: HumanDuration,
    /// How often a timed-out, rate-limited (429) or failed (5xx) request is tried again.
    pub max_retries: u32,
}

impl Default for TranscriberConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "whisper-1".to_owned(),
            api_key: None,
            language: None,
            timeout: HumanDuration(std::time::Duration::from_secs(60)),
            max_retries: 2,
        }
    }
}

impl TranscriberConfig {
    /// The configured base URL without a trailing `/`, if any.
    pub fn effective_base_url(&self) -> Option<&str> {
        self.base_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(|u| u.trim_end_matches('/'))
    }
}

/// Pairing requests: how long an undecided one lasts, and how many may wait at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairingConfig {
    /// A request the owner has not decided within this is forgotten; the sender's next
    /// message makes a new one (and gets the pairing text again).
    pub expire_after: HumanDuration,
    /// Most requests waiting at once; past it, further strangers and room invites get no
    /// request and no answer (they are counted in the log and `/metrics`).
    pub max_pending: usize,
}

impl Default for PairingConfig {
    fn default() -> Self {
        Self { expire_after: HumanDuration(std::time::Duration::from_secs(7 * 86_400)), max_pending: 50 }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the same fields as the text form.
    Json,
}

/// The least severe log lines written (`RUST_LOG`, when set, wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what the owner should look at.
    Warn,
    /// Also one line per handled message and each connection change.
    #[default]
    Info,
    /// Also the decisions behind each message (never its text).
    Debug,
    /// Everything, including the libraries' protocol traffic.
    Trace,
}

impl LogLevel {
    /// The level's name as `RUST_LOG` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// The server's log, read at start (a change applies at the next start).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`; `parachute serve --log-format` overrides it.
    pub format: LogFormat,
    /// `error`, `warn`, `info` (default), `debug` or `trace`.
    pub level: LogLevel,
}

fn default_ack_emoji() -> String {
    "👀".to_owned()
}

/// How an answer that a brain writes bit by bit is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// The answer is sent once it is complete.
    Off,
    /// The first text is sent as a message as soon as it is written, and that message is
    /// edited as the answer grows (at most once per `stream_edit_interval`); the default.
    #[default]
    Edit,
}

impl StreamMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Off => "off",
            StreamMode::Edit => "edit",
        }
    }
}

/// The shortest wait between two edits of a streamed answer the config accepts.
pub const MIN_STREAM_EDIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// The default wait between two edits of a streamed answer.
fn default_stream_edit_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(1))
}

/// The Telegram connector's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Start with the server.
    pub enabled: bool,
    /// Token from @BotFather.
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<SecretString>,
    /// Users answered in DMs without pairing: numeric ids or @usernames.
    pub allowed_users: Vec<String>,
    /// Groups and supergroups the bot talks in, by chat id (e.g. `-1001234567890`). Any
    /// other group the bot is added to becomes a room pairing request the owner decides.
    pub allowed_groups: Vec<String>,
    /// Trust level of DM senders (approved users may have their own).
    pub dm_trust_level: TrustLevel,
    /// Trust level in groups.
    pub group_trust_level: TrustLevel,
    /// Which group messages are answered.
    pub group_mention_mode: GroupMentionMode,
    /// Reaction added to a message that will be answered, removed after the reply; empty for none.
    pub ack_emoji: String,
    /// `edit` (default): a streamed answer is shown as it is written, one message edited in
    /// place; `off`: sent once complete.
    pub stream: StreamMode,
    /// The shortest time between two edits of a streamed answer in one chat.
    pub stream_edit_interval: HumanDuration,
    /// Base URL of the Bot API server (a self-hosted `telegram-bot-api` or a test server).
    pub api_url: String,
}

/// The public Bot API.
pub const TELEGRAM_DEFAULT_API_URL: &str = "https://api.telegram.org";

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            dm_trust_level: TrustLevel::Sandboxed,
            group_trust_level: TrustLevel::Sandboxed,
            group_mention_mode: GroupMentionMode::MentionOnly,
            ack_emoji: default_ack_emoji(),
            stream: StreamMode::Edit,
            stream_edit_interval: default_stream_edit_interval(),
            api_url: TELEGRAM_DEFAULT_API_URL.to_owned(),
        }
    }
}

/// The Discord connector's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Start with the server.
    pub enabled: bool,
    /// Bot token from the developer portal.
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<SecretString>,
    /// Users answered in DMs without pairing: numeric user ids.
    pub allowed_users: Vec<String>,
    /// Trust level of DM senders (approved users may have their own).
    pub dm_trust_level: TrustLevel,
    /// Trust level in guild channels.
    pub group_trust_level: TrustLevel,
    /// Which guild messages are answered.
    pub group_mention_mode: GroupMentionMode,
    /// Reaction added to a message that will be answered, removed after the reply; empty for none.
    pub ack_emoji: String,
    /// `edit` (default): a streamed answer is shown as it is written, one message edited in
    /// place; `off`: sent once complete.
    pub stream: StreamMode,
    /// The shortest time between two edits of a streamed answer in one chat.
    pub stream_edit_interval: HumanDuration,
    /// Guild (server) ids the bot talks in; empty = every guild it is in.
    pub allowed_guilds: Vec<String>,
    /// Channel (or thread) ids the bot talks in within guilds; empty = every channel.
    pub allowed_channels: Vec<String>,
    /// Base URL of the REST API (scheme, host and port; the client adds `/api/v10`).
    pub api_url: String,
    /// URL of the gateway WebSocket (Discord's, a gateway proxy, or a test server).
    pub gateway_url: String,
    /// After a restart, messages that arrived while down are answered if younger than this.
    pub catch_up_max_age: HumanDuration,
}

/// Discord's REST API host.
pub const DISCORD_DEFAULT_API_URL: &str = "https://discord.com";
/// Discord's gateway.
pub const DISCORD_DEFAULT_GATEWAY_URL: &str = "wss://gateway.discord.gg";

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            allowed_users: Vec::new(),
            dm_trust_level: TrustLevel::Sandboxed,
            group_trust_level: TrustLevel::Sandboxed,
            group_mention_mode: GroupMentionMode::MentionOnly,
            ack_emoji: default_ack_emoji(),
            stream: StreamMode::Edit,
            stream_edit_interval: default_stream_edit_interval(),
            allowed_guilds: Vec::new(),
            allowed_channels: Vec::new(),
            api_url: DISCORD_DEFAULT_API_URL.to_owned(),
            gateway_url: DISCORD_DEFAULT_GATEWAY_URL.to_owned(),
            catch_up_max_age: HumanDuration(std::time::Duration::from_secs(600)),
        }
    }
}

/// The Matrix connector's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatrixConfig {
    /// Start with the server.
    pub enabled: bool,
    /// e.g. `https://matrix.example.org`.
    pub homeserver_url: String,
    /// The bot's user id, e.g. `@parachute:example.org`.
    pub user_id: String,
    /// Access token of the bot's device.
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretString>,
    /// Device id belonging to the access token.
    pub device_id: String,
    /// Room ids (`!…`) or aliases (`#…`) the bot joins; empty = accept every invite.
    pub allowed_rooms: Vec<String>,
    /// Trust level of DM senders (approved users may have their own).
    pub dm_trust_level: TrustLevel,
    /// Trust level in rooms.
    pub group_trust_level: TrustLevel,
    /// Which room messages are answered.
    pub group_mention_mode: GroupMentionMode,
    /// Reaction added to a message that will be answered, redacted after the reply; empty for none.
    pub ack_emoji: String,
    /// `edit` (default): a streamed answer is shown as it is written, one message edited in
    /// place; `off`: sent once complete.
    pub stream: StreamMode,
    /// The shortest time between two edits of a streamed answer in one chat.
    pub stream_edit_interval: HumanDuration,
    /// After a restart, messages that arrived while down are answered if younger than this.
    pub catch_up_max_age: HumanDuration,
    /// The recovery key `parachute matrix recovery enable` printed: a device without the
    /// account's keys (a lost store, a new machine) restores them with it at start.
    #[serde(with = "secret", skip_serializing_if = "Option::is_none")]
    pub recovery_key: Option<SecretString>,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            homeserver_url: String::new(),
            user_id: String::new(),
            access_token: None,
            device_id: String::new(),
            allowed_rooms: Vec::new(),
            dm_trust_level: TrustLevel::Sandboxed,
            group_trust_level: TrustLevel::Sandboxed,
            group_mention_mode: GroupMentionMode::MentionOnly,
            ack_emoji: default_ack_emoji(),
            stream: StreamMode::Edit,
            stream_edit_interval: default_stream_edit_interval(),
            catch_up_max_age: HumanDuration(std::time::Duration::from_secs(600)),
            recovery_key: None,
        }
    }
}

/// The part of a platform's settings the shared runtime needs (pairing, gating, trust).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPolicy {
    /// Start with the server.
    pub enabled: bool,
    /// Whether a credential is configured.
    pub has_token: bool,
    /// DM senders answered without pairing (empty for Matrix, which pairs every DM sender).
    pub allowed_users: Vec<String>,
    /// Level of DM senders.
    pub dm_trust_level: TrustLevel,
    /// Level in groups.
    pub group_trust_level: TrustLevel,
    /// Which group messages are answered.
    pub group_mention_mode: GroupMentionMode,
    /// Acknowledgement reaction; empty for none.
    pub ack_emoji: String,
    /// Number of allowed users (Telegram/Discord) or rooms (Matrix), for status.
    pub allowed_count: usize,
    /// Every group the bot is added to is talked in without the owner's approval (Matrix
    /// with an empty `allowed_rooms`, Discord with empty `allowed_guilds` and
    /// `allowed_channels`).
    pub open_to_everyone: bool,
}

impl BotsConfig {
    /// The shared settings of one platform.
    pub fn policy(&self, platform: Platform) -> PlatformPolicy {
        /// Telegram and Discord spell these keys alike.
        macro_rules! bot_policy {
            ($c:expr) => {
                PlatformPolicy {
                    enabled: $c.enabled,
                    has_token: secret::is_set(&$c.bot_token),
                    allowed_users: $c.allowed_users.clone(),
                    dm_trust_level: $c.dm_trust_level,
                    group_trust_level: $c.group_trust_level,
                    group_mention_mode: $c.group_mention_mode,
                    ack_emoji: $c.ack_emoji.clone(),
                    allowed_count: $c.allowed_users.len(),
                    open_to_everyone: self.gate_rules(platform).open_to_everyone(),
                }
            };
        }
        match platform {
            Platform::Telegram => bot_policy!(self.telegram),
            Platform::Discord => bot_policy!(self.discord),
            Platform::Matrix => {
                let c = &self.matrix;
                PlatformPolicy {
                    enabled: c.enabled,
                    has_token: secret::is_set(&c.access_token),
                    allowed_users: Vec::new(),
                    dm_trust_level: c.dm_trust_level,
                    group_trust_level: c.group_trust_level,
                    group_mention_mode: c.group_mention_mode,
                    ack_emoji: c.ack_emoji.clone(),
                    allowed_count: c.allowed_rooms.len(),
                    open_to_everyone: self.gate_rules(platform).open_to_everyone(),
                }
            }
        }
    }

    /// How the platform shows an answer that is still being written, and how often it may be
    /// edited.
    pub fn streaming(&self, platform: Platform) -> (StreamMode, std::time::Duration) {
        let (mode, interval) = match platform {
            Platform::Telegram => (self.telegram.stream, self.telegram.stream_edit_interval),
            Platform::Discord => (self.discord.stream, self.discord.stream_edit_interval),
            Platform::Matrix => (self.matrix.stream, self.matrix.stream_edit_interval),
        };
        (mode, interval.0)
    }

    /// The owner's rules the gate applies to the platform's messages: who is answered in
    /// DMs and which groups are talked in.
    pub fn gate_rules(&self, platform: Platform) -> GateRules {
        let list = |entries: &[String]| -> Vec<String> {
            entries.iter().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
        };
        let (allowed_users, groups, levels, mode) = match platform {
            Platform::Telegram => {
                let c = &self.telegram;
                let groups = GroupRule::ListedOrApproved { chats: list(&c.allowed_groups) };
                (list(&c.allowed_users), groups, (c.dm_trust_level, c.group_trust_level), c.group_mention_mode)
            }
            Platform::Discord => {
                let c = &self.discord;
                let (guilds, channels) = (list(&c.allowed_guilds), list(&c.allowed_channels));
                let groups = if guilds.is_empty() && channels.is_empty() {
                    GroupRule::Everyone
                } else {
                    GroupRule::Listed { guilds, channels }
                };
                (list(&c.allowed_users), groups, (c.dm_trust_level, c.group_trust_level), c.group_mention_mode)
            }
            Platform::Matrix => {
                let c = &self.matrix;
                let rooms = list(&c.allowed_rooms);
                let groups =
                    if rooms.is_empty() { GroupRule::Everyone } else { GroupRule::ListedOrApproved { chats: rooms } };
                (Vec::new(), groups, (c.dm_trust_level, c.group_trust_level), c.group_mention_mode)
            }
        };
        GateRules {
            allowed_users,
            groups,
            dm_trust_level: levels.0,
            group_trust_level: levels.1,
            group_mention_mode: mode,
            // The Bot API stamps messages to the second; Matrix and Discord to the millisecond.
            timestamp_resolution_ms: if platform == Platform::Telegram { 1_000 } else { 1 },
        }
    }

    /// Every configured secret, for redacting error texts before they are shown.
    pub fn secrets(&self) -> Vec<&SecretString> {
        [
            &self.server.api_token,
            &self.brain.api_key,
            &self.transcriber.api_key,
            &self.telegram.bot_token,
            &self.discord.bot_token,
            &self.matrix.access_token,
            &self.matrix.recovery_key,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `text` without any configured secret nor the `extra` ones (see [`crate::redact`]).
    pub fn redacted(&self, text: &str, extra: &[&str]) -> String {
        let mut secrets: Vec<&str> = self.secrets().into_iter().map(ExposeSecret::expose_secret).collect();
        secrets.extend_from_slice(extra);
        crate::redact::redact(text, &secrets)
    }

    /// A value that changes whenever the platform's section changes (secrets included), but
    /// not for `enabled`. Used to restart a running connector whose settings changed; never
    /// shown.
    pub fn section_fingerprint(&self, platform: Platform) -> String {
        let value = match platform {
            Platform::Telegram => serde_json::to_value(&self.telegram),
            Platform::Discord => serde_json::to_value(&self.discord),
            Platform::Matrix => serde_json::to_value(&self.matrix),
        };
        // `enabled` says whether to run, not how: flipping it restarts nothing by itself.
        let mut value = value.unwrap_or_default();
        if let Some(section) = value.as_object_mut() {
            section.remove("enabled");
        }
        value.to_string()
    }
}
