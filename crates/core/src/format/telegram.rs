//! Telegram HTML parse mode: b, i, s, code, pre (+ `code class="language-x"`), a and
//! blockquote; headings as bold lines, lists as text bullets, tables as a `<pre>` grid.
//!
//! Telegram's nesting rules are kept: code is never inside bold/italic/strike (those are
//! closed around it and reopened after), code inside a link is plain text, and quotes are
//! not nested (an inner quote is marked with `> ` instead).

use super::escape::{push_html_attr, push_html_text};
use super::events::{normalize_newlines, parse};
use super::layout::Layout;
use super::text::{RULE_TEXT, Span, TextStyle, render};

/// Renders markdown as Telegram HTML (`parse_mode: HTML`).
pub fn to_telegram_html(md: &str) -> String {
    let md = normalize_newlines(md);
    let events = parse(&md);
    let mut style = TelegramStyle::default();
    render(&events, &mut style, md.len() + md.len() / 4)
}

/// Length of a Telegram HTML message as Telegram counts it: the text after entity parsing,
/// in UTF-16 code units. Tags count nothing; `&lt;` `&gt;` `&amp;` `&quot;` count one.
pub fn telegram_visible_len(html: &str) -> usize {
    let mut len = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let tag_end = rest.find('>').map_or(rest.len(), |end| end + 1);
            rest = &rest[tag_end..];
            continue;
        }
        if c == '&'
            && let Some(entity) = ["&lt;", "&gt;", "&amp;", "&quot;"].iter().find(|entity| rest.starts_with(**entity))
        {
            len += 1;
            rest = &rest[entity.len()..];
            continue;
        }
        len += c.len_utf16();
        rest = &rest[c.len_utf8()..];
    }
    len
}

/// Inline tags wanted open (`<b>`, `<i>`, `<s>`, `<a …>`) and how many of them are really
/// written: tags are opened lazily before text, so they can be closed around inline code.
#[derive(Default)]
struct TelegramStyle {
    wanted: Vec<InlineTag>,
    written: usize,
}

struct InlineTag {
    open: String,
    close: &'static str,
    is_link: bool,
}

impl TelegramStyle {
    fn want(&mut self, open: String, close: &'static str, is_link: bool) {
        self.wanted.push(InlineTag { open, close, is_link });
    }

    fn unwant(&mut self, layout: &mut Layout) {
        if self.written == self.wanted.len() && self.written > 0 {
            self.written -= 1;
            if let Some(tag) = self.wanted.last() {
                layout.close_markup(tag.close);
            }
        }
        self.wanted.pop();
    }

    fn open_wanted(&mut self, layout: &mut Layout) {
        while let Some(tag) = self.wanted.get(self.written) {
            layout.open_markup(&tag.open);
            self.written += 1;
        }
    }

    fn close_written(&mut self, layout: &mut Layout) {
        while self.written > 0 {
            self.written -= 1;
            if let Some(tag) = self.wanted.get(self.written) {
                layout.close_markup(tag.close);
            }
        }
    }

    fn in_link(&self) -> bool {
        self.wanted.iter().any(|tag| tag.is_link)
    }

    fn escaped_text(&mut self, layout: &mut Layout, text: &str) {
        if text.is_empty() {
            return;
        }
        self.open_wanted(layout);
        let mut escaped = String::with_capacity(text.len() + 8);
        push_html_text(&mut escaped, text);
        layout.text(&escaped);
    }
}

impl TextStyle for TelegramStyle {
    const TRIM_BLANK_LINES: bool = true;

    fn text(&mut self, layout: &mut Layout, text: &str) {
        self.escaped_text(layout, text);
    }

    fn inline_code(&mut self, layout: &mut Layout, code: &str) {
        if code.is_empty() {
            return;
        }
        if self.in_link() {
            self.escaped_text(layout, code);
            return;
        }
        self.close_written(layout);
        layout.open_markup("<code>");
        let mut escaped = String::with_capacity(code.len() + 8);
        push_html_text(&mut escaped, code);
        layout.text(&escaped);
        layout.close_markup("</code>");
    }

    fn span(&mut self, layout: &mut Layout, span: Span, starts: bool) {
        if !starts {
            self.unwant(layout);
            return;
        }
        let (open, close) = match span {
            Span::Emphasis => ("<i>", "</i>"),
            Span::Strong => ("<b>", "</b>"),
            Span::Strikethrough => ("<s>", "</s>"),
        };
        self.want(open.to_owned(), close, false);
    }

    fn link_start(&mut self, _layout: &mut Layout, url: &str, _label: &str) -> bool {
        let mut open = String::from("<a href=\"");
        push_html_attr(&mut open, url);
        open.push_str("\">");
        self.want(open, "</a>", true);
        true
    }

    fn link_end(&mut self, layout: &mut Layout, _url: &str, _label: &str) {
        self.unwant(layout);
    }

    fn heading(&mut self, layout: &mut Layout, _level: u8, starts: bool) {
        if starts {
            self.want("<b>".to_owned(), "</b>", false);
        } else {
            self.unwant(layout);
        }
    }

    fn quote(&mut self, layout: &mut Layout, depth: usize, starts: bool) {
        match (depth, starts) {
            (0, true) => layout.open_markup("<blockquote>"),
            (0, false) => layout.close_markup("</blockquote>"),
            (_, true) => layout.push_prefix("&gt; ", "&gt; ", "&gt;"),
            (_, false) => layout.pop_prefix(),
        }
    }

    fn list_marker(&self, depth: usize, number: Option<u64>) -> String {
        match number {
            Some(number) => format!("{number}. "),
            None => ["• ", "◦ ", "▪ "][depth % 3].to_owned(),
        }
    }

    fn task_marker(&self, list_marker: &str, ordered: bool, checked: bool) -> String {
        let task = if checked { "☑ " } else { "☐ " };
        if ordered { format!("{list_marker}{task}") } else { task.to_owned() }
    }

    fn code_block(&mut self, layout: &mut Layout, language: Option<&str>, lines: &[&str]) {
        match language {
            Some(language) => {
                let mut open = String::from("<pre><code class=\"language-");
                push_html_attr(&mut open, language);
                open.push_str("\">");
                layout.open_markup(&open);
            }
            None => layout.open_markup("<pre>"),
        }
        write_preformatted(layout, lines);
        layout.close_markup(if language.is_some() { "</code></pre>" } else { "</pre>" });
    }

    fn table(&mut self, layout: &mut Layout, lines: &[String]) {
        layout.open_markup("<pre>");
        write_preformatted(layout, lines);
        layout.close_markup("</pre>");
    }

    fn rule(&mut self, layout: &mut Layout) {
        layout.text(RULE_TEXT);
    }
}

/// Lines inside `<pre>`: escaped, without list indentation (the block stands on its own).
fn write_preformatted<L: AsRef<str>>(layout: &mut Layout, lines: &[L]) {
    layout.suppress_prefixes(true);
    let mut escaped = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            layout.code_line_end();
        }
        escaped.clear();
        push_html_text(&mut escaped, line.as_ref());
        layout.text(&escaped);
    }
    layout.suppress_prefixes(false);
}
