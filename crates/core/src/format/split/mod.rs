//! Splitting an answer into markdown chunks that each render within a platform's limit.
//!
//! Greedy, one chunk at a time: find how far the chunk could reach (each probe is rendered
//! and measured the way the platform counts), then cut at the best boundary in
//! the last half of that reach — between blocks, else at a line end, after a sentence,
//! before a word — or, failing that, at the best boundary anywhere in it; between grapheme
//! clusters only when nothing else exists. The chosen chunk is rendered and measured
//! again, so a chunk is never over the limit. Code blocks cut across chunks are closed and
//! reopened with their language; tables cut across chunks repeat their header.

mod boundaries;
mod measure;
mod outline;
mod piece;
mod splitter;

pub use measure::ChunkLimit;
pub use piece::Piece;

pub(crate) use measure::Rendered;
use measure::{Fit, measure};
use outline::Outline;
use splitter::{Splitter, skip_blank};

use super::Target;
use super::events::normalize_newlines;

/// Splits `md` into markdown chunks for `target`; each chunk renders within the target's
/// limit ([`Target::limit`], and for Matrix the event size). Whitespace-only input gives no
/// chunk; no chunk is empty.
pub fn split_markdown(md: &str, target: Target) -> Vec<String> {
    split_markdown_with_limit(md, target, ChunkLimit::of(target))
}

/// [`split_markdown`] with another limit (tests use small ones so splitting is exercised).
pub fn split_markdown_with_limit(md: &str, target: Target, limit: ChunkLimit) -> Vec<String> {
    split_pieces(md, target, limit).iter().map(Piece::text).collect()
}

/// The chunks with where each came from and what was added to it (see [`Piece`]).
/// Offsets are into `md` with line ends normalized to `\n`.
pub fn split_pieces(md: &str, target: Target, limit: ChunkLimit) -> Vec<Piece> {
    split_rendered(md, target, limit).into_iter().map(|(piece, _)| piece).collect()
}

/// The chunks, each with its rendering for `target` (rendered once, while measuring).
pub(crate) fn split_rendered(md: &str, target: Target, limit: ChunkLimit) -> Vec<(Piece, Rendered)> {
    let md = normalize_newlines(md);
    let start = skip_blank(&md, 0);
    if start >= md.len() {
        return Vec::new();
    }
    // Most answers fit whole: no outline needed. At the start of the answer nothing is
    // cut off, so the chunk is the answer itself.
    let whole = Piece {
        source: start..md.len(),
        reopen: String::new(),
        body: md[start..].trim_end().to_owned(),
        close: String::new(),
    };
    let (measurement, rendered) = measure(target, limit, &whole.text());
    match measurement.fit {
        Fit::Fits => return vec![(whole, rendered)],
        Fit::Empty => return Vec::new(),
        Fit::TooLong => {}
    }
    let outline = Outline::new(&md);
    Splitter::new(&outline, target, limit).run(start)
}
