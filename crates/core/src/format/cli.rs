//! What `parachute format --to <target> [--split]` prints for a markdown answer on stdin.

use serde::Serialize;

use super::{Target, discord_chunks, matrix_chunks, telegram_chunks, to_discord, to_matrix, to_telegram_html};

/// Exactly what `parachute format --to <target> [--split]` prints, ending with a line end
/// (print it with `print!`).
///
/// Without `split`: `matrix` gives one pretty-printed JSON object
/// `{"body": …, "formatted_body": …}`; `telegram` and `discord` give the rendered text.
/// With `split`: a pretty-printed JSON array of the chunks, objects for `matrix` and strings
/// for the others (`[]` for a whitespace-only answer).
pub fn cli_output(target: Target, split: bool, md: &str) -> String {
    let mut out = match (target, split) {
        (Target::Matrix, false) => pretty_json(&to_matrix(md)),
        (Target::Telegram, false) => to_telegram_html(md),
        (Target::Discord, false) => to_discord(md),
        (Target::Matrix, true) => pretty_json(&matrix_chunks(md)),
        (Target::Telegram, true) => pretty_json(&telegram_chunks(md)),
        (Target::Discord, true) => pretty_json(&discord_chunks(md)),
    };
    out.push('\n');
    out
}

/// Strings and plain structs always serialize; the fallback only keeps this panic-free.
fn pretty_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|error| format!("{{\"error\": \"cannot serialize output: {error}\"}}"))
}
