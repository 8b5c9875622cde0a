//! Matrix messages: `formatted_body` in the spec's HTML allow-list, `body` as plain text,
//! and the size of the event that carries them.

use serde::Serialize;

use super::escape::{push_html_attr, push_html_text};
use super::events::{Event, Tag, normalize_newlines, parse};
use super::plain::render_plain;

/// Largest Matrix event the homeserver accepts, in bytes.
pub const MATRIX_MAX_EVENT_BYTES: usize = 65_535;

/// Bytes reserved for everything in a message event besides `body` and `formatted_body`
/// (msgtype, format, relations, room/event ids, signatures).
pub const MATRIX_EVENT_ENVELOPE_BYTES: usize = 300;

/// A Matrix `m.text` content pair: `body` is readable plain text, `formatted_body` is HTML
/// (`format: org.matrix.custom.html`) using only the tags the Matrix spec allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixText {
    /// Plain text for clients without HTML and for notifications.
    pub body: String,
    /// HTML: b/strong, i/em, del, code, pre (+ `code class="language-x"`), blockquote, p,
    /// br, hr, ul/ol(start)/li, a (http, https, mailto), h1–h6, table/thead/tbody/tr/th/td.
    pub formatted_body: String,
}

impl MatrixText {
    /// Bytes of an event carrying this text: both strings JSON-escaped and quoted, plus
    /// [`MATRIX_EVENT_ENVELOPE_BYTES`].
    pub fn event_bytes(&self) -> usize {
        MATRIX_EVENT_ENVELOPE_BYTES + json_string_len(&self.body) + json_string_len(&self.formatted_body)
    }
}

/// Renders markdown for Matrix: plain `body` and allow-listed HTML `formatted_body`.
pub fn to_matrix(md: &str) -> MatrixText {
    let md = normalize_newlines(md);
    let events = parse(&md);
    MatrixText { body: render_plain(&events, md.len()), formatted_body: render_html(&events, md.len() + md.len() / 4) }
}

/// Length of `text` as a JSON string literal (with quotes), as serde_json writes it.
pub(crate) fn json_string_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0C => 2,
            0x00..=0x1F => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Renders events as Matrix HTML.
pub(crate) fn render_html(events: &[Event<'_>], capacity: usize) -> String {
    let mut html = HtmlWriter { out: String::with_capacity(capacity), in_table_head: false, table_body_open: false };
    for event in events {
        html.event(event);
    }
    let trimmed = html.out.trim_end_matches('\n').len();
    html.out.truncate(trimmed);
    html.out
}

struct HtmlWriter {
    out: String,
    in_table_head: bool,
    table_body_open: bool,
}

impl HtmlWriter {
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => push_html_text(&mut self.out, text),
            Event::Code(code) => {
                self.out.push_str("<code>");
                push_html_text(&mut self.out, code);
                self.out.push_str("</code>");
            }
            Event::LineBreak => self.out.push_str("<br>\n"),
            Event::Rule => self.out.push_str("<hr>\n"),
            Event::TaskMarker(checked) => self.out.push_str(if *checked { "☑ " } else { "☐ " }),
        }
    }

    fn start(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Paragraph => self.out.push_str("<p>"),
            Tag::Heading(level) => {
                self.out.push_str("<h");
                self.out.push(heading_digit(*level));
                self.out.push('>');
            }
            Tag::Quote => self.out.push_str("<blockquote>\n"),
            Tag::CodeBlock(Some(language)) => {
                self.out.push_str("<pre><code class=\"language-");
                push_html_attr(&mut self.out, language);
                self.out.push_str("\">");
            }
            Tag::CodeBlock(None) => self.out.push_str("<pre><code>"),
            Tag::List { start: None, .. } => self.out.push_str("<ul>\n"),
            Tag::List { start: Some(1), .. } => self.out.push_str("<ol>\n"),
            Tag::List { start: Some(start), .. } => {
                self.out.push_str("<ol start=\"");
                self.out.push_str(&start.to_string());
                self.out.push_str("\">\n");
            }
            Tag::Item => self.out.push_str("<li>"),
            Tag::Table(_) => self.out.push_str("<table>\n"),
            Tag::TableHead => {
                self.in_table_head = true;
                self.out.push_str("<thead>\n<tr>");
            }
            Tag::TableRow => {
                if !self.table_body_open {
                    self.table_body_open = true;
                    self.out.push_str("<tbody>\n");
                }
                self.out.push_str("<tr>");
            }
            Tag::TableCell => self.out.push_str(if self.in_table_head { "<th>" } else { "<td>" }),
            Tag::Emphasis => self.out.push_str("<em>"),
            Tag::Strong => self.out.push_str("<strong>"),
            Tag::Strikethrough => self.out.push_str("<del>"),
            Tag::Link(url) => {
                self.out.push_str("<a href=\"");
                push_html_attr(&mut self.out, url);
                self.out.push_str("\">");
            }
        }
    }

    fn end(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Paragraph => self.out.push_str("</p>\n"),
            Tag::Heading(level) => {
                self.out.push_str("</h");
                self.out.push(heading_digit(*level));
                self.out.push_str(">\n");
            }
            Tag::Quote => self.out.push_str("</blockquote>\n"),
            Tag::CodeBlock(_) => self.out.push_str("</code></pre>\n"),
            Tag::List { start: None, .. } => self.out.push_str("</ul>\n"),
            Tag::List { start: Some(_), .. } => self.out.push_str("</ol>\n"),
            Tag::Item => self.out.push_str("</li>\n"),
            Tag::Table(_) => {
                if self.table_body_open {
                    self.out.push_str("</tbody>\n");
                }
                self.table_body_open = false;
                self.out.push_str("</table>\n");
            }
            Tag::TableHead => {
                self.in_table_head = false;
                self.out.push_str("</tr>\n</thead>\n");
            }
            Tag::TableRow => self.out.push_str("</tr>\n"),
            Tag::TableCell => self.out.push_str(if self.in_table_head { "</th>" } else { "</td>" }),
            Tag::Emphasis => self.out.push_str("</em>"),
            Tag::Strong => self.out.push_str("</strong>"),
            Tag::Strikethrough => self.out.push_str("</del>"),
            Tag::Link(_) => self.out.push_str("</a>"),
        }
    }
}

fn heading_digit(level: u8) -> char {
    char::from(b'0' + level.clamp(1, 6))
}

#[cfg(test)]
mod tests {
    use super::json_string_len;

    #[test]
    fn json_length_matches_serde_json() {
        for text in ["", "plain", "quote \" and \\ back", "ctl \u{1}\u{1f}\n\t\r\u{8}\u{c}", "ü 日本 👩‍👩‍👧 \u{7f}"]
        {
            let serialized = serde_json::to_string(text).map(|s| s.len()).unwrap_or_default();
            assert_eq!(json_string_len(text), serialized, "{text:?}");
        }
    }
}
