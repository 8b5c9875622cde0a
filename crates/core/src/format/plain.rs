//! Readable plain text (the Matrix `body`): no markup, links as `text (url)`, lists with
//! `-`/`1.` markers, quotes with `> `, code kept verbatim, tables as a text grid.

use super::escape::label_repeats_url;
use super::events::Event;
use super::layout::Layout;
use super::text::{RULE_TEXT, Span, TextStyle, render};

/// Renders events as plain text.
pub(crate) fn render_plain(events: &[Event<'_>], capacity: usize) -> String {
    render(events, &mut PlainStyle, capacity)
}

struct PlainStyle;

impl TextStyle for PlainStyle {
    const TRIM_BLANK_LINES: bool = true;

    fn text(&mut self, layout: &mut Layout, text: &str) {
        layout.text(text);
    }

    fn inline_code(&mut self, layout: &mut Layout, code: &str) {
        layout.text(code);
    }

    fn span(&mut self, _layout: &mut Layout, _span: Span, _starts: bool) {}

    fn link_start(&mut self, _layout: &mut Layout, _url: &str, _label: &str) -> bool {
        true
    }

    fn link_end(&mut self, layout: &mut Layout, url: &str, label: &str) {
        if !label_repeats_url(label, url) {
            layout.text(" (");
            layout.text(url);
            layout.text(")");
        }
    }

    fn heading(&mut self, _layout: &mut Layout, _level: u8, _starts: bool) {}

    fn quote(&mut self, layout: &mut Layout, _depth: usize, starts: bool) {
        if starts {
            layout.push_prefix("> ", "> ", ">");
        } else {
            layout.pop_prefix();
        }
    }

    fn list_marker(&self, _depth: usize, number: Option<u64>) -> String {
        match number {
            Some(number) => format!("{number}. "),
            None => "- ".to_owned(),
        }
    }

    fn task_marker(&self, list_marker: &str, _ordered: bool, checked: bool) -> String {
        format!("{list_marker}{}", if checked { "[x] " } else { "[ ] " })
    }

    fn code_block(&mut self, layout: &mut Layout, _language: Option<&str>, lines: &[&str]) {
        write_lines(layout, lines);
    }

    fn table(&mut self, layout: &mut Layout, lines: &[String]) {
        write_lines(layout, lines);
    }

    fn rule(&mut self, layout: &mut Layout) {
        layout.text(RULE_TEXT);
    }
}

fn write_lines<L: AsRef<str>>(layout: &mut Layout, lines: &[L]) {
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            layout.code_line_end();
        }
        // An empty first line still has to claim its place.
        if index == 0 && line.as_ref().is_empty() {
            layout.open_markup("");
        }
        layout.text(line.as_ref());
    }
}
