//! The command line: `serve`, `bot …`, `pairing …`, `chat …`, `config check`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

/// Puts an AI companion into Matrix, Telegram and Discord chats.
///
/// Not `Debug`: it holds the API token (itself a `SecretString`, which prints redacted).
#[derive(Parser)]
#[command(name = "parachute", version, about)]
pub struct Cli {
    /// Address of the running server, for the client commands.
    #[arg(long, global = true, env = "PARACHUTE_URL", default_value = "http://127.0.0.1:3333")]
    pub url: String,
    /// Bearer token of the server's API (server.api_token), if it requires one.
    #[arg(long, global = true, env = "PARACHUTE_API_TOKEN", hide_env_values = true, value_parser = secret)]
    pub token: Option<SecretString>,
    /// Print the server's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API, web page, connectors).
    Serve(ServeArgs),
    /// Control and inspect the platform connectors of a running server.
    #[command(subcommand)]
    Bot(BotCommand),
    /// Approve or deny people and rooms waiting to talk to the bot.
    #[command(subcommand)]
    Pairing(PairingCommand),
    /// The owner's settings for single chats: a system prompt addition, the group mention
    /// mode, the model (through the running server).
    #[command(subcommand)]
    Chat(ChatCommand),
    /// Work with the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The bot's Matrix account on this machine (works on the vault while the server is stopped).
    #[command(subcommand)]
    Matrix(MatrixCommand),
    /// Preview how a markdown answer (on stdin) is sent to a platform.
    Format {
        /// matrix (JSON {body, formatted_body}), telegram (HTML) or discord (markdown).
        #[arg(long)]
        to: parachute_core::format::Target,
        /// Split at the platform's limit and print a JSON array of chunks.
        #[arg(long)]
        split: bool,
    },
}

/// `parachute serve` options; flags override the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The vault folder; the config is VAULT/.parachute/bots.yaml.
    #[arg(long, env = "PARACHUTE_VAULT", default_value = "vault")]
    pub vault: PathBuf,
    /// Address to listen on (default from the config: 127.0.0.1).
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Port to listen on (default from the config: 3333; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Let the HTTP API set the keys that start programs (`brain.kind: command`,
    /// `brain.command`, `brain.args`). Off by default: then only bots.yaml sets them, so the
    /// API token alone never runs a program on this machine.
    #[arg(long)]
    pub allow_api_programs: bool,
    /// `text` or `json` (one object per line); default from the config's `log.format`.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for parachute_core::config::LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => Self::Text,
            LogFormatArg::Json => Self::Json,
        }
    }
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

/// `parachute bot …`
#[derive(Debug, Subcommand)]
pub enum BotCommand {
    /// State of every connector (or one).
    Status {
        /// telegram, discord or matrix.
        platform: Option<String>,
    },
    /// Start a connector (without a platform: every one that has a token).
    Start {
        /// telegram, discord or matrix.
        platform: Option<String>,
    },
    /// Stop a connector (without a platform: every running one).
    Stop {
        /// telegram, discord or matrix.
        platform: Option<String>,
    },
    /// Check a connector's credentials (without a platform: every one that has a token).
    Test {
        /// telegram, discord or matrix.
        platform: Option<String>,
    },
    /// Show the config (secrets are shown only as set / not set), or change one key.
    Config {
        #[command(subcommand)]
        action: Option<BotConfigAction>,
    },
}

/// `parachute bot config …`
#[derive(Debug, Subcommand)]
pub enum BotConfigAction {
    /// Set one key, e.g. `telegram.enabled true`, `discord.catch_up_max_age 2h`,
    /// `telegram.allowed_users '[@alice, "42"]'`, `brain.model null` (back to the default).
    /// Through the running server when there is one (saved and applied at once), otherwise in
    /// the vault's bots.yaml (a start or a reload applies it), validated like the file.
    Set {
        /// `<section>.<key>` (`telegram.enabled`, `pairing.max_pending`) or a top-level key
        /// (`max_media_bytes`).
        key: String,
        /// The value, read as YAML (`true`, `5`, `[a, b]`, `null`); `-` reads it from stdin,
        /// which keeps a token out of the shell history and the process list.
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// The vault folder, used when no server is running.
        #[arg(long, env = "PARACHUTE_VAULT", default_value = "vault")]
        vault: PathBuf,
    },
}

/// `parachute pairing …`
#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Every request, pending first.
    List,
    /// Let a person or room talk to the bot.
    Approve {
        /// The request id (from `pairing list`).
        id: String,
        /// sandboxed (default for DMs) or direct.
        #[arg(long)]
        trust_level: Option<String>,
    },
    /// Refuse a request.
    Deny {
        /// The request id (from `pairing list`).
        id: String,
    },
    /// Withdraw a person's approval.
    Revoke {
        /// telegram, discord or matrix.
        platform: String,
        /// The person's id on that platform.
        user_id: String,
    },
}

/// `parachute chat …`
#[derive(Debug, Subcommand)]
pub enum ChatCommand {
    /// Every chat with settings of its own.
    List,
    /// One chat's settings.
    Show {
        /// telegram, discord or matrix.
        platform: String,
        /// The chat's id (a Telegram chat id, a Discord channel id, a Matrix room id `!…`), as
        /// `pairing list` shows it.
        #[arg(allow_hyphen_values = true)]
        chat: String,
    },
    /// Change a chat's settings; what is not given stays as it is.
    Set {
        /// telegram, discord or matrix.
        platform: String,
        /// The chat's id, as `pairing list` shows it.
        #[arg(allow_hyphen_values = true)]
        chat: String,
        /// Added to the system prompt in this chat (after `brain.system_prompt`); `-` reads it
        /// from stdin.
        #[arg(long, allow_hyphen_values = true)]
        system_prompt: Option<String>,
        /// Which messages are answered in this group: mention_only or all_messages.
        #[arg(long)]
        mention_mode: Option<String>,
        /// The model for this chat's answers, instead of `brain.model`.
        #[arg(long)]
        model: Option<String>,
    },
    /// Clear a chat's settings (all of them, or the ones named), so it follows the config.
    Reset {
        /// telegram, discord or matrix.
        platform: String,
        /// The chat's id.
        #[arg(allow_hyphen_values = true)]
        chat: String,
        /// Clear the system prompt addition.
        #[arg(long)]
        system_prompt: bool,
        /// Clear the mention mode.
        #[arg(long)]
        mention_mode: bool,
        /// Clear the model.
        #[arg(long)]
        model: bool,
    },
}

/// `parachute matrix …`
#[derive(Debug, Subcommand)]
pub enum MatrixCommand {
    /// Sign the bot in once with its password (read from stdin, never stored): the homeserver
    /// makes a new device, whose access token is saved in bots.yaml with the homeserver and
    /// user. Run it with the server stopped; a Matrix store of an earlier device is set aside.
    Login {
        /// The homeserver's URL (default: matrix.homeserver_url of bots.yaml).
        #[arg(long)]
        homeserver: Option<String>,
        /// The bot's user id or localpart (default: matrix.user_id of bots.yaml).
        #[arg(long)]
        user: Option<String>,
        /// The vault folder.
        #[arg(long, env = "PARACHUTE_VAULT", default_value = "vault")]
        vault: PathBuf,
    },
    /// Key backup and recovery: the room keys and the bot's identity kept on the homeserver,
    /// opened by one recovery key.
    Recovery {
        #[command(subcommand)]
        command: RecoveryCommand,
        /// The vault folder (its .parachute/bots.yaml names the account).
        #[arg(long, env = "PARACHUTE_VAULT", default_value = "vault", global = true)]
        vault: PathBuf,
    },
}

/// `parachute matrix recovery …`
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Show whether backup, recovery and cross-signing are set up on this device.
    Status,
    /// Create the bot's cross-signing identity (signing its device), turn on key backup, and
    /// print the recovery key once. The account password is asked for (on stdin) only if the
    /// homeserver wants it, and never stored.
    Enable {
        /// Replace an existing identity and backup (when the recovery key is lost; keys backed
        /// up before become unreadable).
        #[arg(long)]
        reset: bool,
    },
    /// Bring the room keys and the identity back to this device (a lost store, a new machine):
    /// the recovery key is read from stdin.
    Restore,
}

/// `parachute config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and report the first problem with its line and column.
    Check {
        /// The file (default: VAULT/.parachute/bots.yaml).
        file: Option<PathBuf>,
        /// The vault folder, when no file is given.
        #[arg(long, env = "PARACHUTE_VAULT", default_value = "vault")]
        vault: PathBuf,
    },
}
