//! The greedy loop behind splitting: for each chunk, how far it can reach and where in
//! that reach to cut.

use super::boundaries::{BestCuts, Boundary, last_grapheme_boundary_anywhere, next_grapheme_boundary};
use super::measure::{ChunkLimit, Fit, Measurement, Rendered, measure};
use super::outline::Outline;
use super::piece::{Continuation, Piece};
use crate::format::Target;

/// Splits one answer, through its outline, for one target and limit.
pub(super) struct Splitter<'o, 'a> {
    outline: &'o Outline<'a>,
    target: Target,
    limit: ChunkLimit,
}

/// A chosen chunk: where it ends, its markdown, and whether it shows anything.
struct Chosen {
    cut: usize,
    piece: Piece,
    fit: Fit,
    rendered: Rendered,
}

impl<'o, 'a> Splitter<'o, 'a> {
    pub(super) fn new(outline: &'o Outline<'a>, target: Target, limit: ChunkLimit) -> Self {
        Splitter { outline, target, limit }
    }

    /// Cuts the answer from `start` (its first non-blank position) into chunks.
    pub(super) fn run(&self, mut start: usize) -> Vec<(Piece, Rendered)> {
        let md = self.outline.md;
        let mut chunks: Vec<(Piece, Rendered)> = Vec::new();
        while start < md.len() {
            let chosen = self.next_piece(start);
            match chosen.fit {
                Fit::Empty => self.merge_invisible(&mut chunks, chosen.piece),
                Fit::Fits | Fit::TooLong => chunks.push((chosen.piece, chosen.rendered)),
            }
            start = skip_blank(md, chosen.cut);
        }
        chunks
    }

    fn measure(&self, continuation: &Continuation<'_>, cut: usize) -> (Piece, Measurement, Rendered) {
        let piece = continuation.piece(self.outline, cut);
        let (measurement, rendered) = measure(self.target, self.limit, &piece.text());
        (piece, measurement, rendered)
    }

    /// The chunk starting at `start`.
    fn next_piece(&self, start: usize) -> Chosen {
        let md = self.outline.md;
        let mut furthest = None;
        for reopen_context in [true, false] {
            let continuation = Continuation::at(self.outline, start, reopen_context);
            let reach = self.reach(&continuation, start);
            if let Some(whole) = reach.whole {
                return whole;
            }
            if reach.fitting > start
                && let Some(found) = self.best_cut(&continuation, start, reach.fitting)
            {
                return found;
            }
            furthest = furthest.max(Some(reach.fitting));
        }
        // No place to cut that keeps the next chunk's meaning (one long line of markup):
        // cut as far as fits; if not even one grapheme cluster fits, the limit is smaller
        // than that cluster and it goes alone.
        let cut = furthest
            .and_then(|reach| last_grapheme_boundary_anywhere(md, start, reach))
            .unwrap_or_else(|| next_grapheme_boundary(md, start));
        let (piece, measurement, rendered) = self.measure(&Continuation::at(self.outline, start, false), cut);
        Chosen { cut, piece, fit: measurement.fit, rendered }
    }

    /// How far a chunk from `start` can reach: the furthest end found whose chunk still
    /// fits (or shows nothing). The rendered size grows about linearly with the source, so
    /// each probe aims where the last one predicts the limit is, bisecting when that does
    /// not narrow things down; it stops within about 2% of the true reach.
    fn reach(&self, continuation: &Continuation<'_>, start: usize) -> Reach {
        let md = self.outline.md;
        let mut fitting = start;
        let mut too_long: Option<usize> = None;
        let mut probe = md.floor_char_boundary(start.saturating_add(self.limit.length).min(md.len()));
        for _ in 0..40 {
            if probe <= fitting {
                break;
            }
            let (piece, measurement, rendered) = self.measure(continuation, probe);
            if measurement.fit == Fit::TooLong {
                too_long = Some(probe);
            } else if probe == md.len() {
                let whole = Chosen { cut: probe, piece, fit: measurement.fit, rendered };
                return Reach { fitting: probe, whole: Some(whole) };
            } else {
                fitting = probe;
            }
            let upper = too_long.unwrap_or(md.len() + 1);
            let tolerance = ((fitting - start) / 48).max(4);
            if upper - fitting <= tolerance {
                break;
            }
            let span = (probe - start) as f64;
            let predicted = if measurement.fullness > 0.0 {
                start.saturating_add((span / measurement.fullness) as usize)
            } else {
                start.saturating_add((span * 2.0) as usize)
            };
            let next = if predicted > fitting && predicted < upper {
                predicted
            } else if too_long.is_some() {
                fitting + (upper - fitting) / 2
            } else {
                fitting.saturating_add(((fitting - start) / 8).max(16))
            };
            probe = md.floor_char_boundary(next.min(upper - 1).min(md.len()));
            if probe <= fitting {
                probe = md.ceil_char_boundary(fitting + 1);
            }
            if probe >= upper {
                break;
            }
        }
        Reach { fitting, whole: None }
    }

    /// The best cut in `start < cut <= reach` whose chunk fits and shows something.
    fn best_cut(&self, continuation: &Continuation<'_>, start: usize, reach: usize) -> Option<Chosen> {
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
            let (piece, measurement, rendered) = self.measure(continuation, cut);
            if measurement.fit == Fit::Fits {
                return Some(Chosen { cut, piece, fit: Fit::Fits, rendered });
            }
        }
        // The rendered size is not monotonic in rare cases (a cut that opens a span, or
        // a closing fence that is added): walk back boundary by boundary.
        let md = self.outline.md;
        let mut end = reach;
        for _ in 0..64 {
            let before = md.floor_char_boundary(end.checked_sub(1)?).max(start);
            let cut = BestCuts::scan(self.outline, start, before).last(Boundary::Grapheme)?;
            let (piece, measurement, rendered) = self.measure(continuation, cut);
            if measurement.fit == Fit::Fits {
                return Some(Chosen { cut, piece, fit: Fit::Fits, rendered });
            }
            end = cut;
        }
        None
    }

    /// A chunk that shows nothing (only link definitions, say) joins the previous chunk if
    /// that still fits, and is dropped otherwise.
    fn merge_invisible(&self, chunks: &mut [(Piece, Rendered)], piece: Piece) {
        let Some((previous, _)) = chunks.last() else {
            return;
        };
        let continuation = Continuation::at(self.outline, previous.source.start, true);
        let (merged, measurement, rendered) = self.measure(&continuation, piece.source.end);
        if measurement.fit == Fit::Fits
            && let Some(last) = chunks.last_mut()
        {
            *last = (merged, rendered);
        }
    }
}

/// How far a chunk can reach, and the whole rest as a chunk when it fits.
struct Reach {
    fitting: usize,
    whole: Option<Chosen>,
}

/// Skips white space after a cut: blanks on the rest of the line and whole blank lines.
pub(super) fn skip_blank(md: &str, mut position: usize) -> usize {
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
