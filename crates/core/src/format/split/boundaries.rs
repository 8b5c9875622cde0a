//! Where a chunk may end, and how good each place is: between blocks, at a line end, after
//! a sentence, before a word, and only as a last resort between two grapheme clusters.

use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

use super::outline::Outline;

/// Kinds of cut, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Boundary {
    /// Between blocks: a blank line, a new list item, heading, code block, table…
    Block = 0,
    /// At the start of a line (inside a paragraph, code block or table body).
    Line = 1,
    /// After a sentence (and the spaces that follow it).
    Sentence = 2,
    /// Before a word in prose.
    Word = 3,
    /// Before a word inside code, a table row or a heading (breaks a line of it).
    StructureWord = 4,
    /// Between two grapheme clusters anywhere.
    Grapheme = 5,
}

const KINDS: usize = 6;

/// For each kind, the last place in a window where a cut of that kind or better is possible.
pub(super) struct BestCuts {
    last_by_kind: [Option<usize>; KINDS],
}

impl BestCuts {
    /// Scans the cut places in `start < position <= end`.
    pub fn scan(outline: &Outline<'_>, start: usize, end: usize) -> Self {
        let mut last_exact: [Option<usize>; KINDS] = [None; KINDS];
        let mut note = |position: usize, kind: Boundary| {
            let slot = &mut last_exact[kind as usize];
            *slot = Some(slot.map_or(position, |last| last.max(position)));
        };
        let md = outline.md;
        // Line starts, last first: the last block boundary is the best cut of every kind
        // up to there, so nothing before it needs a look.
        let mut floor = start;
        for (offset, _) in md[start..end].rmatch_indices('\n') {
            let line_start = start + offset + 1;
            if line_start > end || line_start >= md.len() {
                continue;
            }
            let kind = line_start_kind(outline, line_start);
            note(line_start, kind);
            if kind == Boundary::Block {
                floor = line_start;
                break;
            }
        }
        let tail = &md[floor..end];
        let sentence_ends = sentence_ends(tail, floor);
        for (offset, c) in tail.char_indices().skip(1) {
            let position = floor + offset;
            let after_blank = matches!(md[..position].chars().next_back(), Some(' ' | '\t'));
            if !after_blank
                || c.is_whitespace()
                || !is_safe_chunk_start(outline, position)
                || !is_safe_chunk_end(outline, position)
                || !is_grapheme_boundary(md, position)
            {
                continue;
            }
            let is_sentence = sentence_ends.binary_search(&position).is_ok();
            note(position, word_kind(outline, position, is_sentence));
        }
        if let Some(position) = last_grapheme_boundary(outline, start, end) {
            note(position, Boundary::Grapheme);
        }
        let mut last_by_kind = [None; KINDS];
        let mut best_so_far: Option<usize> = None;
        for (kind, exact) in last_exact.iter().enumerate() {
            best_so_far = best_so_far.max(*exact);
            last_by_kind[kind] = best_so_far;
        }
        BestCuts { last_by_kind }
    }

    /// The last cut of `kind` or better, if any.
    pub fn last(&self, kind: Boundary) -> Option<usize> {
        self.last_by_kind[kind as usize]
    }
}

fn line_start_kind(outline: &Outline<'_>, line_start: usize) -> Boundary {
    if let Some(fence) = outline.fence_interior_at(line_start) {
        // Cutting right after the opener or right before the closer leaves an empty block.
        let at_edge = line_start == fence.content_start
            || fence.closing_line.as_ref().is_some_and(|closing| closing.start == line_start);
        return if at_edge { Boundary::Grapheme } else { Boundary::Line };
    }
    if let Some(table) = outline.table_at_position(line_start) {
        // Keep the header, the delimiter and the first row together.
        return if line_start > table.body_start { Boundary::Line } else { Boundary::Grapheme };
    }
    if outline.indented_code_at(line_start).is_some_and(|code| code.line_start < line_start) {
        return Boundary::Line;
    }
    if outline.inside_protected_span(line_start) {
        return Boundary::Grapheme;
    }
    if outline.inside_heading(line_start) || outline.inside_html_block(line_start) {
        return Boundary::StructureWord;
    }
    let previous_line = &outline.md[outline.line_start(line_start - 1)..line_start - 1];
    let after_blank_line = previous_line.chars().all(|c| c.is_whitespace() || c == '>');
    if after_blank_line || outline.is_block_line(line_start) {
        Boundary::Block
    } else if is_safe_chunk_start(outline, line_start) {
        Boundary::Line
    } else {
        Boundary::Grapheme
    }
}

/// Whether the next chunk may start at `position` without what follows changing meaning:
/// text inside a paragraph must not become a heading, quote, list item, thematic break,
/// HTML block, link definition or fence once it starts a chunk (code may start with
/// anything but a fence, since the fence is reopened before it).
fn is_safe_chunk_start(outline: &Outline<'_>, position: usize) -> bool {
    let md = outline.md;
    if outline.fence_interior_at(position).is_some() || outline.indented_code_at(position).is_some() {
        return !opens_fence(md, position);
    }
    let rest = md[position..].trim_start_matches([' ', '\t']);
    // At a line start, quote marks are the source's own; what follows them matters.
    let rest = if outline.line_start(position) == position { rest.trim_start_matches(['>', ' ', '\t']) } else { rest };
    !starts_block_syntax(rest)
}

/// Whether a chunk may end at `position`, in the middle of a line: not on a line that
/// starts like a fence but is text because of a backtick later in the line (cutting
/// before that backtick would turn the line into an opening fence).
fn is_safe_chunk_end(outline: &Outline<'_>, position: usize) -> bool {
    let line_start = outline.line_start(position);
    if line_start == position || outline.fence_interior_at(position).is_some() {
        return true;
    }
    let line = outline.md[line_start..position].trim_start_matches([' ', '\t', '>']);
    let after_run = line.trim_start_matches('`');
    line.len() - after_run.len() < 3 || after_run.contains('`')
}

fn starts_block_syntax(rest: &str) -> bool {
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let marker_end = matches!(chars.next(), None | Some(' ' | '\t'));
    match first {
        '#' | '>' | '<' => true,
        '`' | '~' => rest.starts_with("```") || rest.starts_with("~~~"),
        '-' | '*' | '+' => marker_end || rest.starts_with("---") || rest.starts_with("***"),
        '_' => rest.starts_with("___"),
        '[' => rest.lines().next().is_some_and(|line| line.contains("]:")),
        '0'..='9' => {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let after = &rest[digits..];
            digits <= 9
                && (after.starts_with('.') || after.starts_with(')'))
                && matches!(after[1..].chars().next(), None | Some(' ' | '\t'))
        }
        _ => false,
    }
}

fn word_kind(outline: &Outline<'_>, position: usize, is_sentence: bool) -> Boundary {
    if outline.inside_protected_span(position) {
        return Boundary::Grapheme;
    }
    let in_structure = outline.fence_interior_at(position).is_some()
        || outline.indented_code_at(position).is_some()
        || outline.table_at_position(position).is_some()
        || outline.inside_heading(position)
        || outline.inside_html_block(position);
    match (in_structure, is_sentence) {
        (true, _) => Boundary::StructureWord,
        (false, true) => Boundary::Sentence,
        (false, false) => Boundary::Word,
    }
}

/// Absolute positions where a sentence ends in `window` (which starts at `offset`).
fn sentence_ends(window: &str, offset: usize) -> Vec<usize> {
    window
        .split_sentence_bound_indices()
        .map(|(index, _)| offset + index)
        .filter(|&position| position > offset)
        .collect()
}

fn is_grapheme_boundary(md: &str, position: usize) -> bool {
    GraphemeCursor::new(position, md.len(), true).is_boundary(md, 0).unwrap_or(false)
}

/// Whether text after a cut at `position` would start a code fence, which would turn the
/// rest of the next chunk into code (or close a reopened fence).
fn opens_fence(md: &str, position: usize) -> bool {
    let rest = &md[position..];
    rest.starts_with("```") || rest.starts_with("~~~")
}

/// The last grapheme cluster boundary in `start < position <= end` where the next chunk
/// may start (see [`is_safe_chunk_start`]), or the end of the text.
fn last_grapheme_boundary(outline: &Outline<'_>, start: usize, end: usize) -> Option<usize> {
    let md = outline.md;
    let mut cursor = GraphemeCursor::new(end, md.len(), true);
    let mut position = if is_grapheme_boundary(md, end) { end } else { cursor.prev_boundary(md, 0).ok()?? };
    while position > start {
        if position == md.len() || (is_safe_chunk_start(outline, position) && is_safe_chunk_end(outline, position)) {
            return Some(position);
        }
        cursor.set_cursor(position);
        position = cursor.prev_boundary(md, 0).ok()??;
    }
    None
}

/// The last grapheme cluster boundary in `start < position <= end`, wherever it is (for a
/// forced cut, when no place is safe).
pub(super) fn last_grapheme_boundary_anywhere(md: &str, start: usize, end: usize) -> Option<usize> {
    if is_grapheme_boundary(md, end) {
        return (end > start).then_some(end);
    }
    match GraphemeCursor::new(end, md.len(), true).prev_boundary(md, 0) {
        Ok(Some(position)) if position > start => Some(position),
        _ => None,
    }
}

/// The first grapheme cluster boundary after `start` (for a forced cut).
pub(super) fn next_grapheme_boundary(md: &str, start: usize) -> usize {
    let mut cursor = GraphemeCursor::new(start, md.len(), true);
    match cursor.next_boundary(md, 0) {
        Ok(Some(position)) if position > start => position,
        _ => md.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(md: &str) -> BestCuts {
        let outline = Outline::new(md);
        BestCuts::scan(&outline, 0, md.len())
    }

    #[test]
    fn prefers_block_boundaries() {
        let md = "para one\nline two\n\npara two. More words here";
        let best = cuts(md);
        assert_eq!(best.last(Boundary::Block), Some(md.find("para two").unwrap_or(0)));
        assert_eq!(best.last(Boundary::Sentence), Some(md.find("More").unwrap_or(0)));
        assert_eq!(best.last(Boundary::Word), Some(md.find("here").unwrap_or(0)));
    }

    #[test]
    fn code_lines_are_line_cuts_and_edges_are_not() {
        let md = "```\na\nb\n```\n";
        let best = cuts(md);
        assert_eq!(best.last(Boundary::Block), None);
        assert_eq!(best.last(Boundary::Line), Some(6));
    }

    #[test]
    fn never_inside_a_grapheme_cluster() {
        let md = "e\u{301}e\u{301} x\u{301}";
        let best = cuts(md);
        assert_eq!(best.last(Boundary::Grapheme), Some(md.len()));
        assert_eq!(best.last(Boundary::Word), Some(md.find('x').unwrap_or(0)));
        let outline = Outline::new(md);
        let inside = BestCuts::scan(&outline, 0, 1);
        assert_eq!(inside.last(Boundary::Grapheme), None);
    }
}
