//! `parachute chat …`: the owner's settings for single chats, through the running server.

use std::io::Read;

use anyhow::Context as _;
use parachute_core::ids::Platform;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::cli::ChatCommand;
use crate::client::{Api, percent_encode};

/// The API path of one chat's settings.
fn chat_path(platform: &str, chat: &str) -> anyhow::Result<String> {
    let platform: Platform = platform.parse()?;
    Ok(format!("/api/bots/chats/{platform}/{}", percent_encode(chat)))
}

/// Runs one `chat` command and prints the answer.
pub async fn run(api: &Api, as_json: bool, cmd: ChatCommand) -> anyhow::Result<()> {
    let answer = match cmd {
        ChatCommand::List => {
            let list = api.ok(Method::GET, "/api/bots/chats", None).await?;
            if !as_json {
                print_chats(&list);
                return Ok(());
            }
            list
        }
        ChatCommand::Show { platform, chat } => api.ok(Method::GET, &chat_path(&platform, &chat)?, None).await?,
        ChatCommand::Set { platform, chat, system_prompt, mention_mode, model } => {
            let mut body = Map::new();
            if let Some(prompt) = system_prompt {
                let prompt = if prompt == "-" { read_stdin()? } else { prompt };
                body.insert("system_prompt".into(), json!(prompt));
            }
            if let Some(mode) = mention_mode {
                body.insert("mention_mode".into(), json!(mode));
            }
            if let Some(model) = model {
                body.insert("model".into(), json!(model));
            }
            if body.is_empty() {
                anyhow::bail!("nothing to set: give --system-prompt, --mention-mode or --model");
            }
            let path = chat_path(&platform, &chat)?;
            api.ok(Method::PUT, &path, Some(Value::Object(body))).await?["chat"].take()
        }
        ChatCommand::Reset { platform, chat, system_prompt, mention_mode, model } => {
            let path = chat_path(&platform, &chat)?;
            if !(system_prompt || mention_mode || model) {
                api.ok(Method::DELETE, &path, None).await?["chat"].take()
            } else {
                let mut body = Map::new();
                for (named, key) in [(system_prompt, "system_prompt"), (mention_mode, "mention_mode"), (model, "model")]
                {
                    if named {
                        body.insert(key.into(), Value::Null);
                    }
                }
                api.ok(Method::PUT, &path, Some(Value::Object(body))).await?["chat"].take()
            }
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!(
            "{} {}: {}",
            answer["platform"].as_str().unwrap_or("?"),
            answer["chat_id"].as_str().unwrap_or("?"),
            summary(&answer)
        );
    }
    Ok(())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read the system prompt from stdin")?;
    Ok(text)
}

/// One line naming what a chat's settings set (`follows the config` when nothing is).
pub fn summary(settings: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(mode) = settings["mention_mode"].as_str() {
        parts.push(format!("mention mode {mode}"));
    }
    if let Some(model) = settings["model"].as_str() {
        parts.push(format!("model {model}"));
    }
    if let Some(prompt) = settings["system_prompt"].as_str() {
        let mut start: String = prompt.chars().take(50).collect::<String>().replace('\n', " ");
        if prompt.chars().count() > 50 {
            start.push('…');
        }
        parts.push(format!("prompt \"{start}\""));
    }
    if parts.is_empty() { "follows the config".to_owned() } else { parts.join(", ") }
}

fn print_chats(list: &Value) {
    let chats = list["chats"].as_array().cloned().unwrap_or_default();
    if chats.is_empty() {
        println!("no chat has settings of its own");
        return;
    }
    println!("{:<9} {:<46} SETTINGS", "PLATFORM", "CHAT");
    for chat in chats {
        println!(
            "{:<9} {:<46} {}",
            chat["platform"].as_str().unwrap_or("?"),
            chat["chat_id"].as_str().unwrap_or("?"),
            summary(&chat)
        );
    }
}
