//! Pure logic of parachute: configuration, typed ids, trust levels, formatting and the
//! decisions the actors take (who is answered, what is a command). Nothing here does I/O
//! except loading and saving the config file.

pub mod chat_settings;
pub mod commands;
pub mod config;
pub mod duration;
pub mod format;
pub mod gating;
pub mod ids;
pub mod media;
pub mod pairing;
pub mod redact;
pub mod sanitize;
pub mod time;
pub mod tools;
pub mod trust;
