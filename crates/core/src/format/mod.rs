//! Markdown answers → what each chat platform shows (Matrix HTML + plain body, Telegram HTML,
//! Discord markdown), and splitting long answers into chunks each platform accepts.
//!
//! Everything is rendered from pulldown-cmark events (tables, strikethrough and task lists
//! enabled), never by pattern replacement. Raw HTML and images in the input are never passed
//! through: HTML is shown as text, images become links. Links keep only `http`, `https` and
//! `mailto` targets; anything else is shown as its text.
//!
//! Module map: `events` turns markdown into the small event list the renderers share (and
//! applies the HTML/link policy), `escape` holds the escaping rules, `text` is the walk the
//! text-like outputs share, `layout` their line writer and `grid` their table drawing; one
//! module per output (`matrix` for HTML, `plain`, `telegram`, `discord`); `split` cuts
//! markdown into chunks that fit; `cli` is what `parachute format` prints.

mod cli;
mod discord;
mod escape;
mod events;
mod grid;
mod layout;
mod matrix;
mod plain;
mod split;
mod target;
mod telegram;
mod text;

pub use cli::cli_output;
pub use discord::to_discord;
pub use matrix::{MATRIX_EVENT_ENVELOPE_BYTES, MATRIX_MAX_EVENT_BYTES, MatrixText, to_matrix};
use split::Rendered;
pub use split::{ChunkLimit, Piece, split_markdown, split_markdown_with_limit, split_pieces};
pub use target::{Target, UnknownTarget};
pub use telegram::{telegram_visible_len, to_telegram_html};

/// Splits `md` for Matrix and renders every chunk (`body` + `formatted_body`). Each chunk's
/// body is at most 25,000 characters and its whole event stays under 65,535 bytes.
/// Whitespace-only input gives no chunk.
pub fn matrix_chunks(md: &str) -> Vec<MatrixText> {
    split::split_rendered(md, Target::Matrix, ChunkLimit::of(Target::Matrix))
        .into_iter()
        .map(|(piece, rendered)| match rendered {
            Rendered::Matrix(text) => text,
            Rendered::Text(_) => to_matrix(&piece.text()),
        })
        .collect()
}

/// Splits `md` for Telegram and renders every chunk as Telegram HTML; each chunk's visible
/// text is at most 4,096 UTF-16 code units. Whitespace-only input gives no chunk.
pub fn telegram_chunks(md: &str) -> Vec<String> {
    text_chunks(md, Target::Telegram, to_telegram_html)
}

/// Splits `md` for Discord and renders every chunk as Discord markdown of at most 2,000
/// characters. Whitespace-only input gives no chunk.
pub fn discord_chunks(md: &str) -> Vec<String> {
    text_chunks(md, Target::Discord, to_discord)
}

/// The chunks as the splitter rendered them while measuring (not rendered a second time).
fn text_chunks(md: &str, target: Target, render: fn(&str) -> String) -> Vec<String> {
    split::split_rendered(md, target, ChunkLimit::of(target))
        .into_iter()
        .map(|(piece, rendered)| match rendered {
            Rendered::Text(text) => text,
            Rendered::Matrix(_) => render(&piece.text()),
        })
        .collect()
}
