//! Discord markdown: headings (`#`–`###`, deeper ones bold), lists, quotes, code blocks and
//! masked links pass; tables become a code block grid; text is escaped so Discord shows it
//! literally (no accidental formatting, mentions or pings).

use super::escape::{
    discord_link_target, label_repeats_url, push_discord_code_line, push_discord_inline_code, push_discord_text,
};
use super::events::{normalize_newlines, parse};
use super::layout::Layout;
use super::text::{RULE_TEXT, Span, TextStyle, render};

/// Renders markdown as Discord message markdown.
pub fn to_discord(md: &str) -> String {
    let md = normalize_newlines(md);
    let events = parse(&md);
    render(&events, &mut DiscordStyle, md.len() + md.len() / 8)
}

struct DiscordStyle;

impl TextStyle for DiscordStyle {
    /// Discord needs `> ` (with the space) for an empty line to stay inside a quote.
    const TRIM_BLANK_LINES: bool = false;

    fn text(&mut self, layout: &mut Layout, text: &str) {
        let mut escaped = String::with_capacity(text.len() + 8);
        push_discord_text(&mut escaped, text, layout.at_line_start());
        layout.text(&escaped);
    }

    fn inline_code(&mut self, layout: &mut Layout, code: &str) {
        if code.is_empty() {
            return;
        }
        let mut out = String::with_capacity(code.len() + 6);
        push_discord_inline_code(&mut out, code);
        layout.text(&out);
    }

    fn span(&mut self, layout: &mut Layout, span: Span, starts: bool) {
        let marker = match span {
            Span::Emphasis => "*",
            Span::Strong => "**",
            Span::Strikethrough => "~~",
        };
        if starts {
            layout.open_markup(marker);
        } else {
            layout.close_markup(marker);
        }
    }

    /// A link whose label is its URL is written bare (Discord links it); mail links show
    /// their label and address as text; others become masked links `[label](url)`.
    fn link_start(&mut self, layout: &mut Layout, url: &str, label: &str) -> bool {
        if is_mailto(url) {
            return true;
        }
        if label_repeats_url(label, url) {
            layout.text(&discord_link_target(url));
            return false;
        }
        layout.open_markup("[");
        true
    }

    fn link_end(&mut self, layout: &mut Layout, url: &str, label: &str) {
        if is_mailto(url) {
            if !label_repeats_url(label, url) {
                self.text(layout, " (");
                self.text(layout, url.get("mailto:".len()..).unwrap_or(url));
                self.text(layout, ")");
            }
            return;
        }
        if label_repeats_url(label, url) {
            return;
        }
        layout.close_markup("](");
        layout.close_markup(&discord_link_target(url));
        layout.close_markup(")");
    }

    fn heading(&mut self, layout: &mut Layout, level: u8, starts: bool) {
        match (level, starts) {
            (1..=3, true) => {
                let marker = format!("{} ", "#".repeat(usize::from(level)));
                layout.text(&marker);
            }
            (1..=3, false) => {}
            (_, true) => layout.open_markup("**"),
            (_, false) => layout.close_markup("**"),
        }
    }

    fn quote(&mut self, layout: &mut Layout, depth: usize, starts: bool) {
        // Discord has one level of quote; inner quotes stay inside it.
        match (depth, starts) {
            (0, true) => layout.push_prefix("> ", "> ", "> "),
            (0, false) => layout.pop_prefix(),
            _ => {}
        }
    }

    fn list_marker(&self, _depth: usize, number: Option<u64>) -> String {
        match number {
            Some(number) => format!("{number}. "),
            None => "- ".to_owned(),
        }
    }

    fn task_marker(&self, list_marker: &str, _ordered: bool, checked: bool) -> String {
        format!("{list_marker}{}", if checked { "☑ " } else { "☐ " })
    }

    fn code_block(&mut self, layout: &mut Layout, language: Option<&str>, lines: &[&str]) {
        write_code_block(layout, language, lines);
    }

    fn table(&mut self, layout: &mut Layout, lines: &[String]) {
        write_code_block(layout, None, lines);
    }

    fn rule(&mut self, layout: &mut Layout) {
        layout.text(RULE_TEXT);
    }
}

fn is_mailto(url: &str) -> bool {
    url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
}

fn write_code_block<L: AsRef<str>>(layout: &mut Layout, language: Option<&str>, lines: &[L]) {
    let mut fence = String::from("```");
    fence.push_str(language.unwrap_or_default());
    layout.text(&fence);
    let mut line_text = String::new();
    for line in lines {
        layout.code_line_end();
        line_text.clear();
        push_discord_code_line(&mut line_text, line.as_ref());
        layout.text(&line_text);
    }
    layout.code_line_end();
    layout.text("```");
}
