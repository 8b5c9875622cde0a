//! One chunk's markdown: its source slice, re-indented when it starts inside a nested block,
//! plus the fence or table header it reopens and the fence it closes.

use std::ops::Range;

use super::outline::{Fence, Outline};

/// One chunk of a split answer and where it came from.
///
/// `text()` is `reopen + body + close`. Only `reopen` and `close` add anything: the opening
/// fence line (or a table's header and delimiter rows) repeated at the start of a chunk
/// that begins inside a code block (table), and a closing fence at the end of a chunk that
/// ends inside a code block. `body` is the source slice with at most leading spaces
/// removed (a chunk starting inside a nested list is moved to the left margin) and
/// trailing white space trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Byte range in the input (line ends normalized to `\n`).
    pub source: Range<usize>,
    /// Added at the start: fence line or table header, or empty.
    pub reopen: String,
    /// The source slice, re-indented and trimmed.
    pub body: String,
    /// Added at the end: a line end and closing fence, or empty.
    pub close: String,
}

impl Piece {
    /// The chunk's markdown.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.reopen.len() + self.body.len() + self.close.len());
        text.push_str(&self.reopen);
        text.push_str(&self.body);
        text.push_str(&self.close);
        text
    }
}

/// How a chunk starting at some position continues the structure it starts in.
pub(super) struct Continuation<'o> {
    start: usize,
    /// Leading spaces removed from the chunk's lines (while they stay that indented).
    dedent: usize,
    reopen: String,
    /// The fenced code block the chunk starts inside, if any.
    fence: Option<&'o Fence>,
}

impl<'o> Continuation<'o> {
    /// What a chunk starting at `start` needs; without `reopen_context`, no fence or table
    /// header is repeated (when even that would not fit).
    pub fn at(outline: &'o Outline<'_>, start: usize, reopen_context: bool) -> Self {
        let md = outline.md;
        let line_start = outline.line_start(start);
        let starts_mid_line = line_start != start;
        let mut continuation =
            Continuation { start, dedent: leading_spaces(&md[line_start..]), reopen: String::new(), fence: None };
        if md[..start].trim().is_empty() {
            // The answer's own start: nothing is cut off, nothing to re-indent.
            continuation.dedent = 0;
            return continuation;
        }
        if let Some(fence) = outline.fence_interior_at(start) {
            let prefix = continuation_prefix(&md[fence.opener_line_start..fence.fence_start]);
            let dedent = leading_spaces(&prefix);
            let quote_part = &prefix[dedent..];
            continuation.dedent = dedent;
            continuation.fence = Some(fence);
            if reopen_context {
                continuation.reopen.push_str(quote_part);
                // The fence and its first info word (the language): a long info string is
                // not repeated, nor is any of it when the chunk starts inside it.
                continuation.reopen.push_str(&fence.fence_run);
                if start >= fence.content_start {
                    let info = &md[fence.interior_start()..fence.opener_line_end];
                    let language_end =
                        info.len() - info.trim_start().len() + info.split_whitespace().next().map_or(0, str::len);
                    continuation.reopen.push_str(&info[..language_end]);
                }
                continuation.reopen.push('\n');
                if starts_mid_line {
                    continuation.reopen.push_str(quote_part);
                }
            }
        } else if let Some(table) = outline.table_at_position(start) {
            let prefix = continuation_prefix(&md[table.header_line.start..table.start]);
            let dedent = leading_spaces(&prefix);
            continuation.dedent = dedent;
            if reopen_context && start >= table.body_start && !starts_mid_line {
                let reopen = &mut continuation.reopen;
                reopen.push_str(&prefix[dedent..]);
                reopen.push_str(&md[table.start..table.header_line.end]);
                reopen.push('\n');
                reopen.push_str(strip_spaces(&md[table.delimiter_line.clone()], dedent));
                reopen.push('\n');
            }
        } else if let Some(code) = outline.indented_code_at(start) {
            let prefix = continuation_prefix(&md[code.line_start..code.content_start]);
            continuation.dedent =
                if prefix.contains('>') { leading_spaces(&prefix) } else { prefix.len().saturating_sub(4) };
        }
        continuation
    }

    /// The chunk from this continuation's start to `cut`.
    pub fn piece(&self, outline: &Outline<'_>, cut: usize) -> Piece {
        let (mut body, dedent_stop) = self.dedented(outline, cut);
        body.truncate(body.trim_end().len());
        // Close a fence only if this chunk opened it (or reopened it): closing one it did
        // not open would start a new code block instead.
        let close = outline
            .fence_interior_at(cut)
            .filter(|fence| fence.opener_line_start >= self.start || self.reopens(fence))
            .map(|fence| self.closing_fence(outline, fence, dedent_stop))
            .unwrap_or_default();
        Piece { source: self.start..cut, reopen: self.reopen.clone(), body, close }
    }

    /// The source slice with up to `dedent` leading spaces removed from each line, until a
    /// non-blank line is less indented than that (the chunk is back at an outer level).
    /// Returns the text and where dedenting stopped.
    fn dedented(&self, outline: &Outline<'_>, cut: usize) -> (String, usize) {
        let text = &outline.md[self.start..cut];
        if self.dedent == 0 {
            return (text.to_owned(), cut);
        }
        let mut out = String::with_capacity(text.len());
        let mut stop = cut;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let position = self.start + offset;
            offset += line.len();
            let whole_line = outline.line_start(position) == position;
            if stop == cut && whole_line {
                let spaces = leading_spaces(line);
                if spaces < self.dedent && !line.trim().is_empty() {
                    stop = position;
                } else {
                    out.push_str(&line[spaces.min(self.dedent)..]);
                    continue;
                }
            }
            out.push_str(line);
        }
        (out, stop)
    }

    /// Whether this chunk starts by reopening `fence`.
    fn reopens(&self, fence: &Fence) -> bool {
        !self.reopen.is_empty() && self.fence.is_some_and(|started_in| std::ptr::eq(started_in, fence))
    }

    fn closing_fence(&self, outline: &Outline<'_>, fence: &Fence, dedent_stop: usize) -> String {
        let md = outline.md;
        let prefix = continuation_prefix(&md[fence.opener_line_start..fence.fence_start]);
        let fence_dedented = self.fence.is_some_and(|started_in| std::ptr::eq(started_in, fence))
            || (fence.opener_line_start >= self.start && fence.opener_line_start < dedent_stop);
        let removed = if fence_dedented { self.dedent } else { 0 };
        let mut close = String::from("\n");
        close.push_str(strip_spaces(&prefix, removed));
        close.push_str(&fence.fence_run);
        close
    }
}

/// The container prefix of a block's first line as it looks on its following lines:
/// list markers become spaces, quote markers and white space stay.
fn continuation_prefix(prefix: &str) -> String {
    prefix.chars().map(|c| if c == '>' || c.is_whitespace() { c } else { ' ' }).collect()
}

fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// `text` without up to `count` leading spaces.
fn strip_spaces(text: &str, count: usize) -> &str {
    let spaces = leading_spaces(text).min(count);
    &text[spaces..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(md: &str, start: usize, cut: usize) -> Piece {
        let outline = Outline::new(md);
        Continuation::at(&outline, start, true).piece(&outline, cut)
    }

    #[test]
    fn fence_is_closed_and_reopened() {
        let md = "```rust\nlet a = 1;\nlet b = 2;\n```\n";
        let cut = md.find("let b").unwrap_or(0);
        let first = piece(md, 0, cut);
        assert_eq!(first.text(), "```rust\nlet a = 1;\n```");
        let second = piece(md, cut, md.len());
        assert_eq!(second.text(), "```rust\nlet b = 2;\n```");
    }

    #[test]
    fn fence_in_list_item_is_moved_left() {
        let md = "1. step\n   ```sh\n   one\n   two\n   ```\n2. next\n   more\n";
        let cut = md.find("   two").unwrap_or(0);
        let first = piece(md, 0, cut);
        assert_eq!(first.text(), "1. step\n   ```sh\n   one\n   ```");
        let second = piece(md, cut, md.len());
        assert_eq!(second.text(), "```sh\ntwo\n```\n2. next\n   more");
    }

    #[test]
    fn fence_in_quote_keeps_quote_marks() {
        let md = "> ```py\n> a\n> b\n> ```\n";
        let cut = md.find("> b").unwrap_or(0);
        assert_eq!(piece(md, 0, cut).text(), "> ```py\n> a\n> ```");
        assert_eq!(piece(md, cut, md.len()).text(), "> ```py\n> b\n> ```");
    }

    #[test]
    fn table_header_is_repeated() {
        let md = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n";
        let cut = md.find("| 3").unwrap_or(0);
        assert_eq!(piece(md, 0, cut).text(), "| a | b |\n|---|---|\n| 1 | 2 |");
        let second = piece(md, cut, md.len());
        assert_eq!(second.reopen, "| a | b |\n|---|---|\n");
        assert_eq!(second.body, "| 3 | 4 |");
    }

    #[test]
    fn nested_list_is_moved_left_until_an_outer_line() {
        let md = "- a\n    - deep one\n    - deep two\n- b\n  text\n";
        let cut = md.find("    - deep two").unwrap_or(0);
        let second = piece(md, cut, md.len());
        assert_eq!(second.text(), "- deep two\n- b\n  text");
    }
}
