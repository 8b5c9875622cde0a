//! Chat commands: `!new`, `!help`, `!journal` (Matrix, Discord) and `/new`, `/help`, `/journal`
//! (Telegram).

use crate::ids::Platform;

/// A command a user typed instead of a message for the brain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Archive the chat's session and start a fresh one.
    New,
    /// List the commands.
    Help,
    /// Append the text (trimmed; empty when none was given) to today's journal file.
    Journal(String),
}

impl Command {
    /// Every command with a one-line description, for `!help`.
    pub const ALL: [(Command, &'static str); 3] = [
        (Command::New, "start a fresh conversation (the current one is archived)"),
        (Command::Journal(String::new()), "`<text>` adds a timestamped entry to today's journal"),
        (Command::Help, "show this help"),
    ];

    /// The command's name without prefix.
    pub fn name(&self) -> &'static str {
        match self {
            Command::New => "new",
            Command::Help => "help",
            Command::Journal(_) => "journal",
        }
    }
}

/// Reads a command from a message, if it is one.
///
/// The platform's prefix (`!` on Matrix and Discord, `/` on Telegram; `!` is accepted on
/// Telegram too) must start the message. On Telegram a command may name the bot
/// (`/new@parachute_bot`); a command addressed to another bot is not ours.
pub fn parse_command(text: &str, platform: Platform, bot_username: Option<&str>) -> Option<Command> {
    let text = text.trim_start();
    let mut chars = text.chars();
    let prefix = chars.next()?;
    let accepted = prefix == platform.command_prefix() || (platform == Platform::Telegram && prefix == '!');
    if !accepted {
        return None;
    }
    let rest = chars.as_str();
    let word = rest.split_whitespace().next()?;
    let argument = rest.trim_start()[word.len()..].trim();
    let (name, addressee) = match word.split_once('@') {
        Some((name, bot)) => (name, Some(bot)),
        None => (word, None),
    };
    if let Some(addressee) = addressee {
        let ours = bot_username.is_some_and(|me| me.trim_start_matches('@').eq_ignore_ascii_case(addressee));
        if !ours {
            return None;
        }
    }
    match name.to_ascii_lowercase().as_str() {
        "new" | "reset" => Some(Command::New),
        "help" | "start" if platform == Platform::Telegram => Some(Command::Help),
        "help" => Some(Command::Help),
        "journal" | "j" => Some(Command::Journal(argument.to_owned())),
        _ => None,
    }
}

/// The text `!help` answers with: the commands with the platform's prefix, and the brain.
pub fn help_text(platform: Platform, brain_name: &str) -> String {
    let prefix = platform.command_prefix();
    let mut out = String::from("**Commands**\n\n");
    for (cmd, about) in &Command::ALL {
        out.push_str(&format!("- `{prefix}{}`: {about}\n", cmd.name()));
    }
    out.push_str(&format!("\nAnything else is passed to the `{brain_name}` brain."));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_and_discord_use_bang() {
        assert_eq!(parse_command("!new", Platform::Matrix, None), Some(Command::New));
        assert_eq!(parse_command("  !HELP please", Platform::Discord, None), Some(Command::Help));
        assert_eq!(parse_command("/new", Platform::Matrix, None), None);
        assert_eq!(parse_command("!unknown", Platform::Matrix, None), None);
        assert_eq!(parse_command("hello !new", Platform::Matrix, None), None);
        assert_eq!(parse_command("!", Platform::Matrix, None), None);
        assert_eq!(parse_command("", Platform::Matrix, None), None);
    }

    #[test]
    fn telegram_commands_may_name_the_bot() {
        let me = Some("parachute_bot");
        assert_eq!(parse_command("/new", Platform::Telegram, me), Some(Command::New));
        assert_eq!(parse_command("/new@Parachute_Bot", Platform::Telegram, me), Some(Command::New));
        assert_eq!(parse_command("/new@other_bot", Platform::Telegram, me), None);
        assert_eq!(parse_command("/start", Platform::Telegram, me), Some(Command::Help));
        assert_eq!(parse_command("!help", Platform::Telegram, me), Some(Command::Help));
    }

    #[test]
    fn journal_takes_the_rest_of_the_message() {
        let me = Some("parachute_bot");
        let journal = |t: &str| Command::Journal(t.to_owned());
        assert_eq!(parse_command("!journal  fed the cat ", Platform::Matrix, None), Some(journal("fed the cat")));
        assert_eq!(
            parse_command("!j line one\nline two", Platform::Discord, None),
            Some(journal("line one\nline two"))
        );
        assert_eq!(parse_command("!journal", Platform::Matrix, None), Some(journal("")));
        assert_eq!(parse_command("/journal@parachute_bot hi", Platform::Telegram, me), Some(journal("hi")));
        assert_eq!(parse_command("/journal@other_bot hi", Platform::Telegram, me), None);
        assert_eq!(parse_command("!journaling", Platform::Matrix, None), None);
    }

    #[test]
    fn help_lists_every_command_with_the_platform_prefix() {
        let text = help_text(Platform::Telegram, "echo");
        assert!(text.contains("`/new`") && text.contains("`/help`") && text.contains("`/journal`"));
        assert!(text.contains("echo"));
        assert!(help_text(Platform::Matrix, "echo").contains("`!new`"));
    }
}
