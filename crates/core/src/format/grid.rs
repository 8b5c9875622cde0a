//! Tables as a monospaced text grid (plain body, Telegram `<pre>`, Discord code block):
//! cells become plain text, columns are padded to their widest cell.

use pulldown_cmark::Alignment;
use unicode_segmentation::UnicodeSegmentation;

use super::escape::label_repeats_url;
use super::events::{Event, Tag};

/// Collects a table's cells as plain text while its events stream by.
pub(crate) struct TableCollector {
    alignments: Vec<Alignment>,
    rows: Vec<Vec<String>>,
    /// For each open link: where its label starts in the current cell, and its target.
    open_links: Vec<(usize, String)>,
}

impl TableCollector {
    pub(crate) fn new(alignments: Vec<Alignment>) -> Self {
        TableCollector { alignments, rows: Vec::new(), open_links: Vec::new() }
    }

    /// Feeds one event from inside the table (everything between its start and end).
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Start(Tag::TableHead | Tag::TableRow) => self.rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => {
                if let Some(row) = self.rows.last_mut() {
                    row.push(String::new());
                }
            }
            Event::Start(Tag::Link(url)) => {
                let label_start = self.cell().map_or(0, |cell| cell.len());
                self.open_links.push((label_start, url.to_string()));
            }
            Event::End(Tag::Link(_)) => {
                if let Some((label_start, url)) = self.open_links.pop()
                    && let Some(cell) = self.cell()
                {
                    let label = cell.get(label_start..).unwrap_or_default();
                    if !label_repeats_url(label, &url) {
                        cell.push_str(" (");
                        cell.push_str(&url);
                        cell.push(')');
                    }
                }
            }
            Event::Text(text) | Event::Code(text) => self.push(text),
            Event::LineBreak => self.push(" "),
            Event::TaskMarker(checked) => self.push(if *checked { "[x] " } else { "[ ] " }),
            Event::Rule | Event::Start(_) | Event::End(_) => {}
        }
    }

    fn cell(&mut self) -> Option<&mut String> {
        self.rows.last_mut().and_then(|row| row.last_mut())
    }

    fn push(&mut self, text: &str) {
        if let Some(cell) = self.cell() {
            cell.push_str(text);
        }
    }

    /// The grid, one string per line: header, a `---+---` rule, then the body rows.
    pub(crate) fn lines(&self) -> Vec<String> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(display_width(cell));
            }
        }
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        for (index, row) in self.rows.iter().enumerate() {
            lines.push(self.row_line(row, &widths));
            if index == 0 {
                let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w.max(1))).collect();
                lines.push(rule.join("-+-"));
            }
        }
        lines
    }

    fn row_line(&self, row: &[String], widths: &[usize]) -> String {
        let mut line = String::new();
        for (column, &width) in widths.iter().enumerate() {
            if column > 0 {
                line.push_str(" | ");
            }
            let cell = row.get(column).map_or("", |cell| cell.trim());
            let padding = width.saturating_sub(display_width(cell));
            let (before, after) = match self.alignments.get(column) {
                Some(Alignment::Right) => (padding, 0),
                Some(Alignment::Center) => (padding / 2, padding - padding / 2),
                _ => (0, padding),
            };
            line.extend(std::iter::repeat_n(' ', before));
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', after));
        }
        line.truncate(line.trim_end().len());
        line
    }
}

/// Width of a cell in a monospaced font, counted in grapheme clusters (wide CJK and emoji
/// glyphs count as one, so such columns may look slightly off).
fn display_width(text: &str) -> usize {
    text.trim().graphemes(true).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::events::parse;

    fn grid(md: &str) -> Vec<String> {
        let events = parse(md);
        let mut collector = None;
        for event in &events {
            match event {
                Event::Start(Tag::Table(alignments)) => {
                    collector = Some(TableCollector::new(alignments.clone()));
                }
                other => {
                    if let Some(collector) = collector.as_mut() {
                        collector.event(other);
                    }
                }
            }
        }
        collector.map(|c| c.lines()).unwrap_or_default()
    }

    #[test]
    fn pads_and_aligns_columns() {
        let lines =
            grid("| a | long head | r |\n|---|:-:|--:|\n| **x** | [y](https://e.com) | 1 |\n| zz | `c` | 100 |\n");
        assert_eq!(
            lines,
            vec![
                "a  |     long head     |   r",
                "---+-------------------+----",
                "x  | y (https://e.com) |   1",
                "zz |         c         | 100",
            ]
        );
    }
}
