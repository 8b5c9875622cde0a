//! How big a rendered chunk is, counted the way each platform counts.

use crate::format::matrix::{MATRIX_MAX_EVENT_BYTES, MatrixText, to_matrix};
use crate::format::telegram::{telegram_visible_len, to_telegram_html};
use crate::format::{Target, to_discord};

/// The size a chunk must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimit {
    /// Longest message as the platform counts it (see [`Target::limit`]).
    pub length: usize,
    /// Matrix only: largest event, `body` and `formatted_body` JSON-escaped plus the
    /// envelope allowance.
    pub matrix_event_bytes: usize,
}

impl ChunkLimit {
    /// The platform's real limits.
    pub fn of(target: Target) -> Self {
        ChunkLimit::with_length(target.limit())
    }

    /// A custom length, with Matrix's real event size limit.
    pub fn with_length(length: usize) -> Self {
        ChunkLimit { length, matrix_event_bytes: MATRIX_MAX_EVENT_BYTES }
    }
}

/// Whether a rendered chunk fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    Fits,
    TooLong,
    /// It shows nothing (only white space).
    Empty,
}

/// A rendered chunk against its limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measurement {
    pub fit: Fit,
    /// Size over limit (1.0 = exactly full); for Matrix the fuller of characters and bytes.
    pub fullness: f64,
}

/// A chunk rendered for its platform (kept so it is not rendered twice).
#[derive(Debug, Clone)]
pub(crate) enum Rendered {
    Matrix(MatrixText),
    Text(String),
}

/// Renders `md` for `target` and measures it against `limit`.
pub(super) fn measure(target: Target, limit: ChunkLimit, md: &str) -> (Measurement, Rendered) {
    let (length, event_bytes, shows_something, rendered) = match target {
        Target::Matrix => {
            let text = to_matrix(md);
            let (length, bytes, shows) = (text.body.chars().count(), text.event_bytes(), !text.body.trim().is_empty());
            (length, bytes, shows, Rendered::Matrix(text))
        }
        Target::Telegram => {
            let html = to_telegram_html(md);
            (telegram_visible_len(&html), 0, html_shows_something(&html), Rendered::Text(html))
        }
        Target::Discord => {
            let text = to_discord(md);
            (text.chars().count(), 0, !text.trim().is_empty(), Rendered::Text(text))
        }
    };
    let fit = if length > limit.length || event_bytes > limit.matrix_event_bytes {
        Fit::TooLong
    } else if shows_something {
        Fit::Fits
    } else {
        Fit::Empty
    };
    let fullness = ratio(length, limit.length).max(ratio(event_bytes, limit.matrix_event_bytes));
    (Measurement { fit, fullness }, rendered)
}

fn ratio(size: usize, limit: usize) -> f64 {
    size as f64 / limit.max(1) as f64
}

/// Whether Telegram HTML has visible text other than white space.
fn html_shows_something(html: &str) -> bool {
    let mut in_tag = false;
    html.chars().any(|c| {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag && !c.is_whitespace() => return true,
            _ => {}
        }
        false
    })
}
