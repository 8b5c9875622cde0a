//! Test helpers for parachute: a scriptable fake connector, fake brains, a fake AI provider
//! (LLM and speech-to-text APIs), generated audio, fake Telegram and Discord servers, runtime
//! launchers and log capture. Real parts stay real (SQLite, actors, HTTP); only the platforms
//! and providers are faked here.

pub mod ai_fake;
pub mod appservice;
pub mod audio;
pub mod brains;
pub mod discord_fake;
pub mod encrypting_user;
pub mod fake_connector;
pub mod images;
pub mod logs;
pub mod matrix_user;
pub mod mcp_servers;
pub mod path_variants;
pub mod reliability;
pub mod runtime;
pub mod store_probe;
pub mod synapse;
pub mod telegram_fake;

pub use fake_connector::{FakeConnector, RunScript};
pub use runtime::{TestRuntime, dm, group, wait_until};
