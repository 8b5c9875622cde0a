//! Markdown → the small event list every renderer walks, with the input policy applied:
//! raw HTML becomes text, images become links, links to anything but `http(s)`/`mailto`
//! lose their target, and empty link labels show the target.

use std::borrow::Cow;

use pulldown_cmark::{self as md, Alignment, CodeBlockKind, CowStr, Options, Parser};

use super::escape::{code_language, is_allowed_url, url_as_label};

/// The markdown dialect of answers: CommonMark plus tables, strikethrough and task lists.
pub(crate) fn parser_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// `\r\n` and lone `\r` become `\n`, so offsets and renderers only ever see one kind of line
/// end, and NUL becomes U+FFFD (as CommonMark requires; HTML parsers drop it).
pub(crate) fn normalize_newlines(md: &str) -> Cow<'_, str> {
    if md.contains(['\r', '\0']) {
        Cow::Owned(md.replace("\r\n", "\n").replace('\r', "\n").replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(md)
    }
}

/// A container or span the renderers open and close.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tag<'a> {
    Paragraph,
    /// Level 1–6.
    Heading(u8),
    Quote,
    /// A code block with its (sanitized) language, if any.
    CodeBlock(Option<String>),
    /// `start` is `Some` for ordered lists. A tight list has no paragraphs in its items.
    List {
        start: Option<u64>,
        tight: bool,
    },
    Item,
    Table(Vec<Alignment>),
    TableHead,
    TableRow,
    TableCell,
    Emphasis,
    Strong,
    Strikethrough,
    /// A link whose target passed [`is_allowed_url`].
    Link(CowStr<'a>),
}

/// One step of a document, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event<'a> {
    Start(Tag<'a>),
    /// Closes the most recent open tag (a copy of it, with final data such as tightness).
    End(Tag<'a>),
    /// Text; inside a code block it may hold several lines.
    Text(CowStr<'a>),
    /// Inline code.
    Code(CowStr<'a>),
    /// A soft or hard line break: chat readers expect a new line where the answer had one.
    LineBreak,
    Rule,
    /// A task list item's box, checked or not.
    TaskMarker(bool),
}

struct Open {
    /// Index of the emitted `Start`, or `None` when the tag was dropped.
    emitted_at: Option<usize>,
    is_link: bool,
}

/// Parses `md` (already newline-normalized) into the renderers' event list.
pub(crate) fn parse(md: &str) -> Vec<Event<'_>> {
    let mut builder = Builder { out: Vec::with_capacity(md.len() / 8), open: Vec::new(), link_depth: 0 };
    let mut source = Parser::new_ext(md, parser_options()).peekable();
    while let Some(event) = source.next() {
        match event {
            md::Event::Start(tag) => {
                let label_is_empty = matches!(source.peek(), Some(md::Event::End(_)));
                builder.start(tag, label_is_empty);
            }
            md::Event::End(end) => builder.end(end),
            md::Event::Text(text) => builder.push_text(text),
            md::Event::Code(code) => builder.out.push(Event::Code(code)),
            md::Event::InlineMath(math) | md::Event::DisplayMath(math) => {
                builder.out.push(Event::Code(math));
            }
            md::Event::Html(html) | md::Event::InlineHtml(html) => builder.html_as_text(html),
            md::Event::FootnoteReference(name) => {
                builder.push_text(format!("[^{name}]").into());
            }
            md::Event::SoftBreak | md::Event::HardBreak => builder.out.push(Event::LineBreak),
            md::Event::Rule => builder.out.push(Event::Rule),
            md::Event::TaskListMarker(checked) => builder.out.push(Event::TaskMarker(checked)),
        }
    }
    builder.out
}

struct Builder<'a> {
    out: Vec<Event<'a>>,
    open: Vec<Open>,
    link_depth: usize,
}

impl<'a> Builder<'a> {
    fn start(&mut self, tag: md::Tag<'a>, label_is_empty: bool) {
        let mut is_link = false;
        let mut empty_label_url = None;
        let converted = match tag {
            md::Tag::Paragraph => {
                self.mark_enclosing_list_loose();
                Some(Tag::Paragraph)
            }
            md::Tag::Heading { level, .. } => Some(Tag::Heading(level as u8)),
            md::Tag::BlockQuote(_) => Some(Tag::Quote),
            md::Tag::CodeBlock(CodeBlockKind::Fenced(info)) => Some(Tag::CodeBlock(code_language(&info))),
            md::Tag::CodeBlock(CodeBlockKind::Indented) => Some(Tag::CodeBlock(None)),
            md::Tag::HtmlBlock => Some(Tag::Paragraph),
            md::Tag::List(start) => Some(Tag::List { start, tight: true }),
            md::Tag::Item => Some(Tag::Item),
            md::Tag::Table(alignments) => Some(Tag::Table(alignments)),
            md::Tag::TableHead => Some(Tag::TableHead),
            md::Tag::TableRow => Some(Tag::TableRow),
            md::Tag::TableCell => Some(Tag::TableCell),
            md::Tag::Emphasis => Some(Tag::Emphasis),
            md::Tag::Strong => Some(Tag::Strong),
            md::Tag::Strikethrough => Some(Tag::Strikethrough),
            md::Tag::Link { link_type, dest_url, .. } | md::Tag::Image { link_type, dest_url, .. } => {
                is_link = true;
                // An e-mail autolink's target is the bare address.
                let dest_url = if link_type == md::LinkType::Email {
                    CowStr::from(format!("mailto:{dest_url}"))
                } else {
                    dest_url
                };
                // A link keeps its target only when allowed and not inside another link.
                let keep = self.link_depth == 0 && is_allowed_url(&dest_url);
                if keep && label_is_empty {
                    empty_label_url = Some(url_as_label(&dest_url).to_owned());
                }
                keep.then_some(Tag::Link(dest_url))
            }
            md::Tag::FootnoteDefinition(_)
            | md::Tag::DefinitionList
            | md::Tag::DefinitionListTitle
            | md::Tag::DefinitionListDefinition
            | md::Tag::Superscript
            | md::Tag::Subscript
            | md::Tag::MetadataBlock(_) => None,
        };
        if is_link {
            self.link_depth += 1;
        }
        let emitted_at = converted.map(|tag| {
            self.out.push(Event::Start(tag));
            self.out.len() - 1
        });
        // An empty label would make the link invisible: show the target instead.
        if let Some(label) = empty_label_url {
            self.out.push(Event::Text(label.into()));
        }
        self.open.push(Open { emitted_at, is_link });
    }

    fn end(&mut self, end: md::TagEnd) {
        let Some(open) = self.open.pop() else {
            return;
        };
        if open.is_link {
            self.link_depth = self.link_depth.saturating_sub(1);
        }
        if end == md::TagEnd::HtmlBlock && matches!(self.out.last(), Some(Event::LineBreak)) {
            self.out.pop();
        }
        if let Some(Event::Start(tag)) = open.emitted_at.and_then(|at| self.out.get(at)) {
            let tag = tag.clone();
            self.out.push(Event::End(tag));
        }
    }

    /// Raw HTML is shown as the text it is; its line ends become line breaks.
    fn html_as_text(&mut self, html: CowStr<'a>) {
        let mut lines = html.split('\n').peekable();
        while let Some(line) = lines.next() {
            if !line.is_empty() {
                self.push_text(line.to_owned().into());
            }
            if lines.peek().is_some() {
                self.out.push(Event::LineBreak);
            }
        }
    }

    /// Adjacent text is joined (the parser splits it at escapes and entities), so
    /// renderers see a line start followed by what is on it.
    fn push_text(&mut self, text: CowStr<'a>) {
        if let Some(Event::Text(previous)) = self.out.last_mut() {
            let mut joined = String::with_capacity(previous.len() + text.len());
            joined.push_str(previous);
            joined.push_str(&text);
            *previous = joined.into();
        } else {
            self.out.push(Event::Text(text));
        }
    }

    /// A paragraph directly inside a list item makes that list loose.
    fn mark_enclosing_list_loose(&mut self) {
        let mut emitted = self.open.iter().rev().filter_map(|open| open.emitted_at);
        let (Some(item_at), Some(list_at)) = (emitted.next(), emitted.next()) else {
            return;
        };
        if !matches!(self.out.get(item_at), Some(Event::Start(Tag::Item))) {
            return;
        }
        if let Some(Event::Start(Tag::List { tight, .. })) = self.out.get_mut(list_at) {
            *tight = false;
        }
    }
}
