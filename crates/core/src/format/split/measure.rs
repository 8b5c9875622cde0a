//! How big a rendered chunk is, counted the way each platform counts.

use crate::format::matrix::{MATRIX_MAX_EVENT_BYTES, to_matrix};
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

/// Renders `md` for `target` and measures it against `limit`.
pub(super) fn measure(target: Target, limit: ChunkLimit, md: &str) -> Fit {
    let (length, shows_something, extra_ok) = match target {
        Target::Matrix => {
            let text = to_matrix(md);
            let length = text.body.chars().count();
            let event_ok = text.event_bytes() <= limit.matrix_event_bytes;
            (length, !text.body.trim().is_empty(), event_ok)
        }
        Target::Telegram => {
            let html = to_telegram_html(md);
            let visible = telegram_visible_len(&html);
            let shows = html_shows_something(&html);
            (visible, shows, true)
        }
        Target::Discord => {
            let text = to_discord(md);
            (text.chars().count(), !text.trim().is_empty(), true)
        }
    };
    if length > limit.length || !extra_ok {
        Fit::TooLong
    } else if shows_something {
        Fit::Fits
    } else {
        Fit::Empty
    }
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
