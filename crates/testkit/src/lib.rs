//! Test helpers for parachute: a scriptable fake connector, fake brains, runtime launchers,
//! fake Telegram and Discord servers and log capture. Real parts stay real (SQLite, actors,
//! HTTP); only the platform is faked here.

pub mod brains;
pub mod discord_fake;
pub mod fake_connector;
pub mod logs;
pub mod matrix_user;
pub mod runtime;
pub mod synapse;
pub mod telegram_fake;

pub use fake_connector::{FakeConnector, RunScript};
pub use runtime::{TestRuntime, dm, group, wait_until};
