//! Splitting an answer into markdown chunks that each render within a platform's limit.
//!
//! Greedy, one chunk at a time: find how far the chunk could reach (each candidate is
//! rendered and measured the way the platform counts), then cut at the best boundary in
//! the last half of that reach — between blocks, else at a line end, after a sentence,
//! before a word — or, failing that, at the best boundary anywhere in it; between grapheme
//! clusters only when nothing else exists. The chosen chunk is rendered and measured
//! again, so a chunk is never over the limit. Code blocks cut across chunks are closed and
//! reopened with their language; tables cut across chunks repeat their header.

mod boundaries;
mod measure;
mod outline;
mod piece;

pub use measure::ChunkLimit;
pub use piece::Piece;

use boundaries::{BestCuts, Boundary, next_grapheme_boundary};
use measure::{Fit, measure};
use outline::Outline;
use piece::Continuation;

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
    let md = normalize_newlines(md);
    let outline = Outline::new(&md);
    let splitter = Splitter { outline: &outline, target, limit };
    splitter.run()
}

struct Splitter<'o, 'a> {
    outline: &'o Outline<'a>,
    target: Target,
    limit: ChunkLimit,
}

impl Splitter<'_, '_> {
    fn run(&self) -> Vec<Piece> {
        let md = self.outline.md;
        let mut pieces: Vec<Piece> = Vec::new();
        let mut start = skip_blank(md, 0);
        while start < md.len() {
            let (cut, piece) = self.next_piece(start);
            match measure(self.target, self.limit, &piece.text()) {
                Fit::Empty => self.merge_invisible(&mut pieces, piece),
                Fit::Fits | Fit::TooLong => pieces.push(piece),
            }
            start = skip_blank(md, cut);
        }
        pieces
    }

    /// The chunk starting at `start` and where it ends.
    fn next_piece(&self, start: usize) -> (usize, Piece) {
        let md = self.outline.md;
        for reopen_context in [true, false] {
            let continuation = Continuation::at(self.outline, start, reopen_context);
            let whole = continuation.piece(self.outline, md.len());
            if measure(self.target, self.limit, &whole.text()) != Fit::TooLong {
                return (md.len(), whole);
            }
            let reach = self.reach(&continuation, start);
            if reach > start
                && let Some(found) = self.best_cut(&continuation, start, reach)
            {
                return found;
            }
        }
        // Nothing fits, not even one grapheme cluster: the limit is smaller than that.
        let cut = next_grapheme_boundary(md, start);
        let continuation = Continuation::at(self.outline, start, false);
        (cut, continuation.piece(self.outline, cut))
    }

    fn fits(&self, continuation: &Continuation<'_>, cut: usize) -> bool {
        let piece = continuation.piece(self.outline, cut);
        measure(self.target, self.limit, &piece.text()) == Fit::Fits
    }

    /// The furthest end whose chunk still fits (or renders empty): doubling steps, then
    /// bisection. Returns `start` when nothing fits.
    fn reach(&self, continuation: &Continuation<'_>, start: usize) -> usize {
        let md = self.outline.md;
        let fits_or_empty = |cut: usize| {
            let piece = continuation.piece(self.outline, cut);
            measure(self.target, self.limit, &piece.text()) != Fit::TooLong
        };
        let mut fitting = start;
        let mut too_long = md.len();
        let mut step = self.limit.length.max(16);
        loop {
            let probe = md.floor_char_boundary(start.saturating_add(step).min(md.len()));
            if probe <= fitting || probe >= too_long {
                break;
            }
            if fits_or_empty(probe) {
                fitting = probe;
                step = step.saturating_mul(2);
            } else {
                too_long = probe;
                break;
            }
        }
        while too_long - fitting > 1 {
            let middle = md.floor_char_boundary(fitting + (too_long - fitting) / 2);
            let middle = if middle <= fitting { md.ceil_char_boundary(fitting + 1) } else { middle };
            if middle >= too_long {
                break;
            }
            if fits_or_empty(middle) {
                fitting = middle;
            } else {
                too_long = middle;
            }
        }
        fitting
    }

    /// The best cut in `start < cut <= reach` whose chunk fits and shows something.
    fn best_cut(&self, continuation: &Continuation<'_>, start: usize, reach: usize) -> Option<(usize, Piece)> {
        let best = BestCuts::scan(self.outline, start, reach);
        let half = start + (reach - start) / 2;
        let good_kinds = [Boundary::Block, Boundary::Line, Boundary::Sentence, Boundary::Word];
        let all_kinds = [
            Boundary::Block,
            Boundary::Line,
            Boundary::Sentence,
            Boundary::Word,
            Boundary::StructureWord,
            Boundary::Grapheme,
        ];
        let preferred = good_kinds.iter().filter_map(|&kind| best.last(kind).filter(|&cut| cut >= half));
        let anywhere = all_kinds.iter().filter_map(|&kind| best.last(kind));
        let mut tried = Vec::new();
        for cut in preferred.chain(anywhere) {
            if tried.contains(&cut) {
                continue;
            }
            tried.push(cut);
            if self.fits(continuation, cut) {
                return Some((cut, continuation.piece(self.outline, cut)));
            }
        }
        // The rendered size is not monotonic in rare cases (a cut that opens a span, or
        // a closing fence that is added): walk back boundary by boundary.
        let md = self.outline.md;
        let mut end = reach;
        for _ in 0..64 {
            let before = md.floor_char_boundary(end.checked_sub(1)?).max(start);
            let cut = BestCuts::scan(self.outline, start, before).last(Boundary::Grapheme)?;
            if self.fits(continuation, cut) {
                return Some((cut, continuation.piece(self.outline, cut)));
            }
            end = cut;
        }
        None
    }

    /// A chunk that shows nothing (only link definitions, say) joins the previous chunk if
    /// that still fits, and is dropped otherwise.
    fn merge_invisible(&self, pieces: &mut [Piece], piece: Piece) {
        let Some(previous) = pieces.last() else {
            return;
        };
        let continuation = Continuation::at(self.outline, previous.source.start, true);
        let merged = continuation.piece(self.outline, piece.source.end);
        if measure(self.target, self.limit, &merged.text()) == Fit::Fits
            && let Some(last) = pieces.last_mut()
        {
            *last = merged;
        }
    }
}

/// Skips white space after a cut: blanks on the rest of the line and whole blank lines.
fn skip_blank(md: &str, mut position: usize) -> usize {
    let rest = &md[position..];
    let line_rest = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if md[position + line_rest..].starts_with('\n') || position + line_rest == md.len() {
        position += line_rest;
        if position < md.len() {
            position += 1;
        }
    } else if position > 0 && !md[..position].ends_with('\n') {
        // Mid-line: only the blanks before the next word.
        return position + line_rest;
    }
    // At a line start: skip whole blank lines, keep the indentation of the next one.
    loop {
        let line_end = md[position..].find('\n').map_or(md.len(), |end| position + end);
        if position >= md.len() || !md[position..line_end].trim().is_empty() {
            return position;
        }
        position = (line_end + 1).min(md.len());
    }
}

#[cfg(test)]
mod tests {
    use super::skip_blank;

    #[test]
    fn skip_blank_keeps_indentation() {
        assert_eq!(skip_blank("\n\n    code", 0), 2);
        assert_eq!(skip_blank("a  \n  \n  b", 1), 7);
        assert_eq!(skip_blank("a   b", 1), 4);
        assert_eq!(skip_blank("  x", 0), 0);
        assert_eq!(skip_blank("   ", 0), 3);
    }
}
