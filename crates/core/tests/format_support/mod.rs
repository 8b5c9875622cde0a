//! Helpers shared by the format tests: HTML allow-list checks through a real parser
//! (ammonia/html5ever), Telegram length as a parser sees it, and markdown structure checks.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};

/// The Matrix spec's HTML allow-list, as far as parachute uses it.
const MATRIX_TAGS: [&str; 26] = [
    "b",
    "strong",
    "i",
    "em",
    "del",
    "strike",
    "code",
    "pre",
    "blockquote",
    "p",
    "br",
    "hr",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
];
const MATRIX_TABLE_CELLS: [&str; 2] = ["th", "td"];

/// Telegram's HTML parse mode subset used by parachute.
const TELEGRAM_TAGS: [&str; 8] = ["b", "i", "s", "u", "code", "pre", "a", "blockquote"];

fn sanitizer(tags: HashSet<&'static str>) -> Builder<'static> {
    let mut builder = Builder::empty();
    builder
        .tags(tags)
        .generic_attributes(HashSet::new())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href"])),
            ("ol", HashSet::from(["start"])),
            ("code", HashSet::from(["class"])),
        ]))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(None)
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("code", "class") => {
                let language = value.strip_prefix("language-")?;
                let safe =
                    !language.is_empty() && language.chars().all(|c| c.is_ascii_alphanumeric() || "_+#.-".contains(c));
                safe.then_some(Cow::Borrowed(value))
            }
            ("ol", "start") => value.parse::<u64>().ok().map(|_| Cow::Borrowed(value)),
            _ => Some(Cow::Borrowed(value)),
        });
    builder
}

/// Runs `html` through a sanitizer allowing exactly `tags` and compares: any tag, attribute,
/// URL scheme or class outside the list, and any mis-nesting the HTML parser would repair,
/// changes the output.
fn assert_unchanged_by(builder: &Builder<'_>, html: &str, what: &str) {
    let cleaned = builder.clean(html).to_string().replace("&nbsp;", "\u{a0}");
    assert_eq!(cleaned, html, "{what} HTML is not well-formed inside its allow-list");
}

/// Asserts `html` is well-formed Matrix HTML inside the allow-list.
pub fn assert_matrix_html_clean(html: &str) {
    let tags = MATRIX_TAGS.into_iter().chain(MATRIX_TABLE_CELLS).collect();
    assert_unchanged_by(&sanitizer(tags), html, "Matrix");
}

/// Asserts `html` is well-formed Telegram HTML inside its allow-list.
pub fn assert_telegram_html_clean(html: &str) {
    let tags = TELEGRAM_TAGS.into_iter().collect();
    assert_unchanged_by(&sanitizer(tags), html, "Telegram");
}

/// The text of `html` after entity parsing, in UTF-16 code units, computed by an HTML
/// parser (independent of the crate's own counter).
pub fn parsed_utf16_len(html: &str) -> usize {
    let text = Builder::empty().clean(html).to_string();
    let decoded = text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&");
    decoded.encode_utf16().count()
}

/// The non-white-space characters of `text`, in order.
pub fn non_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// How many fenced code blocks of `markdown` lack a closing fence line.
pub fn unclosed_fences(markdown: &str) -> usize {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS);
    let mut unclosed = 0;
    for (event, range) in parser.into_offset_iter() {
        if let Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) = event {
            let block = &markdown[range.clone()];
            let fence_char = block.chars().next().unwrap_or('`');
            let run = block.chars().take_while(|&c| c == fence_char).count();
            let last_line = block.lines().last().unwrap_or_default();
            let closer = last_line.trim_start_matches(['>', ' ', '\t']).trim_end();
            let closed =
                block.lines().count() > 1 && closer.chars().all(|c| c == fence_char) && closer.chars().count() >= run;
            if !closed {
                unclosed += 1;
            }
        }
    }
    unclosed
}

/// Every fenced code block of `chunk` ends with a closing fence line.
pub fn assert_fences_closed(chunk: &str) {
    assert_eq!(unclosed_fences(chunk), 0, "unclosed fence in chunk:\n{chunk}");
}
