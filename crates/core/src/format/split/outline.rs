//! What the splitter knows about the markdown source: lines, block starts, fenced and
//! indented code, tables, headings and inline spans not to cut into.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use crate::format::events::parser_options;

/// A fenced code block in the source.
#[derive(Debug, Clone)]
pub(super) struct Fence {
    /// Start of the line holding the opening fence.
    pub opener_line_start: usize,
    /// Where the fence characters start (after container markers and indentation).
    pub fence_start: usize,
    /// End of the opening line (its `\n`, or the end of the block).
    pub opener_line_end: usize,
    /// The fence characters of the opener (e.g. "```" or "~~~~").
    pub fence_run: String,
    /// Start of the first line after the opener.
    pub content_start: usize,
    /// The closing fence line (line start to line end), if the block has one.
    pub closing_line: Option<Range<usize>>,
    /// End of the whole block.
    pub end: usize,
}

impl Fence {
    /// End of the part that needs the fence reopened when a chunk starts in it.
    pub fn interior_end(&self) -> usize {
        self.closing_line.as_ref().map_or(self.end, |line| line.end)
    }

    /// Start of the part a chunk may begin or end in: right after the opening fence
    /// characters (a cut inside the info string still leaves the block open).
    pub fn interior_start(&self) -> usize {
        self.fence_start + self.fence_run.len()
    }

    /// Whether `position` is after the opening fence characters and before the end of the
    /// closing line.
    pub fn interior_contains(&self, position: usize) -> bool {
        self.interior_start() <= position && position < self.interior_end()
    }
}

/// An indented (four-space) code block in the source.
#[derive(Debug, Clone)]
pub(super) struct IndentedCode {
    /// Start of its first line.
    pub line_start: usize,
    /// Where its code starts on that line (after container markers and four spaces).
    pub content_start: usize,
    pub end: usize,
}

/// A table in the source.
#[derive(Debug, Clone)]
pub(super) struct TableSpan {
    /// Where the table starts on its header line (after container markers).
    pub start: usize,
    /// The header line (line start to line end).
    pub header_line: Range<usize>,
    /// The delimiter line (`|---|---|`).
    pub delimiter_line: Range<usize>,
    /// Start of the first body row's line.
    pub body_start: usize,
    pub end: usize,
}

/// The outline of one markdown document.
pub(super) struct Outline<'a> {
    pub md: &'a str,
    line_starts: Vec<usize>,
    block_line_starts: Vec<usize>,
    pub fences: Vec<Fence>,
    pub indented_code: Vec<IndentedCode>,
    pub tables: Vec<TableSpan>,
    headings: Vec<Range<usize>>,
    /// Raw HTML blocks, from the start of their first line.
    html_blocks: Vec<Range<usize>>,
    /// Inline code, links, images and inline HTML: merged, sorted.
    protected: Vec<Range<usize>>,
}

impl<'a> Outline<'a> {
    /// Reads the outline of `md` (newline-normalized).
    pub fn new(md: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(md.match_indices('\n').map(|(index, _)| index + 1));
        let mut outline = Outline {
            md,
            line_starts,
            block_line_starts: Vec::new(),
            fences: Vec::new(),
            indented_code: Vec::new(),
            tables: Vec::new(),
            headings: Vec::new(),
            html_blocks: Vec::new(),
            protected: Vec::new(),
        };
        outline.read_events();
        outline.block_line_starts.sort_unstable();
        outline.block_line_starts.dedup();
        outline.protected = merge_ranges(std::mem::take(&mut outline.protected));
        outline
    }

    fn read_events(&mut self) {
        let md = self.md;
        let mut open_fence: Option<(Fence, Option<Range<usize>>)> = None;
        for (event, range) in Parser::new_ext(md, parser_options()).into_offset_iter() {
            match event {
                Event::Start(tag) => self.start_tag(&tag, &range, &mut open_fence),
                Event::End(TagEnd::CodeBlock) => {
                    if let Some((fence, last_text)) = open_fence.take() {
                        self.fences.push(self.finish_fence(fence, last_text));
                    }
                }
                Event::Text(_) => {
                    if let Some((_, last_text)) = open_fence.as_mut() {
                        *last_text = Some(range);
                    }
                }
                Event::Rule => {
                    self.block_line_starts.push(self.line_start(range.start));
                }
                Event::Code(_) | Event::InlineHtml(_) | Event::InlineMath(_) => {
                    self.protected.push(range);
                }
                _ => {}
            }
        }
    }

    fn start_tag(
        &mut self,
        tag: &Tag<'_>,
        range: &Range<usize>,
        open_fence: &mut Option<(Fence, Option<Range<usize>>)>,
    ) {
        let line_start = self.line_start(range.start);
        match tag {
            Tag::Paragraph | Tag::BlockQuote(_) | Tag::List(_) | Tag::Item | Tag::FootnoteDefinition(_) => {
                self.block_line_starts.push(line_start)
            }
            Tag::HtmlBlock => {
                self.block_line_starts.push(line_start);
                self.html_blocks.push(line_start..range.end);
            }
            Tag::Heading { .. } => {
                self.block_line_starts.push(line_start);
                self.headings.push(range.clone());
            }
            Tag::CodeBlock(CodeBlockKind::Fenced(_)) => {
                self.block_line_starts.push(line_start);
                *open_fence = Some((self.fence_at(range), None));
            }
            Tag::CodeBlock(CodeBlockKind::Indented) => {
                self.block_line_starts.push(line_start);
                self.indented_code.push(IndentedCode { line_start, content_start: range.start, end: range.end });
            }
            Tag::Table(_) => {
                self.block_line_starts.push(line_start);
                self.tables.push(self.table_at(range));
            }
            Tag::Link { .. } | Tag::Image { .. } => self.protected.push(range.clone()),
            _ => {}
        }
    }

    fn fence_at(&self, range: &Range<usize>) -> Fence {
        let md = self.md;
        let opener_line_end = md[range.start..range.end].find('\n').map_or(range.end, |offset| range.start + offset);
        let fence_char = md[range.start..].chars().next().unwrap_or('`');
        let run_len = md[range.start..opener_line_end].len()
            - md[range.start..opener_line_end].trim_start_matches(fence_char).len();
        Fence {
            opener_line_start: self.line_start(range.start),
            fence_start: range.start,
            opener_line_end,
            fence_run: md[range.start..range.start + run_len].to_owned(),
            content_start: (opener_line_end + 1).min(range.end),
            closing_line: None,
            end: range.end,
        }
    }

    /// The closing line is the block's last line when it comes after all code text and is
    /// not the opener itself.
    fn finish_fence(&self, mut fence: Fence, last_text: Option<Range<usize>>) -> Fence {
        let last_line_start = self.line_start(fence.end.saturating_sub(1).max(fence.fence_start));
        let after_text = last_text.is_none_or(|text| text.end <= last_line_start);
        let closing_text = self.md[last_line_start..fence.end].trim();
        let looks_closing = closing_text.trim_start_matches(['>', ' ', '\t']).starts_with(&fence.fence_run);
        if last_line_start > fence.opener_line_start && after_text && looks_closing {
            fence.closing_line = Some(last_line_start..self.line_end(last_line_start));
        }
        fence
    }

    fn table_at(&self, range: &Range<usize>) -> TableSpan {
        let header_start = self.line_start(range.start);
        let header_end = self.line_end(header_start);
        let delimiter_start = (header_end + 1).min(range.end);
        let delimiter_end = self.line_end(delimiter_start).min(range.end);
        TableSpan {
            start: range.start,
            header_line: header_start..header_end,
            delimiter_line: delimiter_start..delimiter_end,
            body_start: (delimiter_end + 1).min(range.end),
            end: range.end,
        }
    }

    /// Start of the line holding `position`.
    pub fn line_start(&self, position: usize) -> usize {
        match self.line_starts.binary_search(&position) {
            Ok(index) => self.line_starts[index],
            Err(index) => self.line_starts[index.saturating_sub(1)],
        }
    }

    /// End of the line starting at or holding `position` (its `\n`, or the end of the text).
    pub fn line_end(&self, position: usize) -> usize {
        self.md[position..].find('\n').map_or(self.md.len(), |offset| position + offset)
    }

    /// Whether a block (paragraph, item, heading, code, table, quote, rule…) starts on the
    /// line starting at `line_start`.
    pub fn is_block_line(&self, line_start: usize) -> bool {
        self.block_line_starts.binary_search(&line_start).is_ok()
    }

    /// The fenced code block whose interior holds `position`.
    pub fn fence_interior_at(&self, position: usize) -> Option<&Fence> {
        let index = self.fences.partition_point(|fence| fence.interior_start() <= position);
        let fence = self.fences.get(index.checked_sub(1)?)?;
        fence.interior_contains(position).then_some(fence)
    }

    /// The indented code block holding `position` (from the start of its first line).
    pub fn indented_code_at(&self, position: usize) -> Option<&IndentedCode> {
        let index = self.indented_code.partition_point(|code| code.line_start <= position);
        let code = self.indented_code.get(index.checked_sub(1)?)?;
        (position < code.end).then_some(code)
    }

    /// The table holding `position` (from the start of its header line).
    pub fn table_at_position(&self, position: usize) -> Option<&TableSpan> {
        let index = self.tables.partition_point(|table| table.header_line.start <= position);
        let table = self.tables.get(index.checked_sub(1)?)?;
        (position < table.end).then_some(table)
    }

    /// Whether `position` is strictly inside a raw HTML block (whose lines would be read
    /// as markdown once a chunk starts among them).
    pub fn inside_html_block(&self, position: usize) -> bool {
        strictly_inside(&self.html_blocks, position)
    }

    /// Whether `position` is strictly inside a heading.
    pub fn inside_heading(&self, position: usize) -> bool {
        strictly_inside(&self.headings, position)
    }

    /// Whether `position` is strictly inside inline code, a link, an image or inline HTML.
    pub fn inside_protected_span(&self, position: usize) -> bool {
        strictly_inside(&self.protected, position)
    }
}

/// `ranges` sorted by start and not overlapping.
fn strictly_inside(ranges: &[Range<usize>], position: usize) -> bool {
    let index = ranges.partition_point(|range| range.start < position);
    index.checked_sub(1).and_then(|index| ranges.get(index)).is_some_and(|range| position < range.end)
}

fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start < last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}
