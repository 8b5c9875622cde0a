//! The `bots.yaml` configuration: model, loading with located errors, validation, atomic save,
//! the masked view the API shows and the partial updates it accepts.

mod api_update;
mod edit;
mod error;
mod load;
mod locate;
mod merge;
mod model;
mod save;
mod secret;
mod validate;

pub use api_update::{ALLOW_PROGRAMS_FLAG, check_api_update, refuse_program_brain};
pub use edit::{Saved, edited_text, save_keeping_comments};
pub use error::ConfigError;
pub use load::{load_file, parse_str};
pub use merge::{apply_patch, masked_json};
pub use model::{
    ANTHROPIC_DEFAULT_BASE_URL, BotsConfig, BrainConfig, BrainKind, DEFAULT_PERSONA_FILE, DiscordConfig, LogConfig,
    LogFormat, LogLevel, MCP_BASE_ENVIRONMENT, MIN_STREAM_EDIT_INTERVAL, MatrixConfig, McpServerConfig,
    OPENAI_DEFAULT_BASE_URL, PairingConfig, PlatformPolicy, ServerConfig, StreamMode, TelegramConfig, ToolsConfig,
    TranscriberConfig,
};
pub use save::save_atomic;
pub use validate::validate;
pub(crate) use validate::{is_matrix_room, is_snowflake, is_telegram_chat_id};

/// Where the config file lives inside a vault.
pub fn config_path(vault: &std::path::Path) -> std::path::PathBuf {
    vault.join(".parachute").join("bots.yaml")
}
