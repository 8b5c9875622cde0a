//! The walk shared by the text-like outputs (plain body, Telegram, Discord): block
//! structure, list numbering, blank lines and tables live here; a [`TextStyle`] decides how
//! each construct looks on its platform.

use super::events::{Event, Tag};
use super::grid::TableCollector;
use super::layout::Layout;

/// How one platform writes each construct. Text passed in is raw; the style escapes it.
pub(crate) trait TextStyle {
    /// Strip trailing spaces of prefix-only lines.
    const TRIM_BLANK_LINES: bool;

    /// Ordinary text (no line ends).
    fn text(&mut self, layout: &mut Layout, text: &str);
    /// Inline code.
    fn inline_code(&mut self, layout: &mut Layout, code: &str);
    /// Emphasis, strong or strikethrough starts or ends.
    fn span(&mut self, layout: &mut Layout, span: Span, starts: bool);
    /// A link starts; returns whether its label events are to be rendered.
    fn link_start(&mut self, layout: &mut Layout, url: &str, label: &str) -> bool;
    /// A link ends.
    fn link_end(&mut self, layout: &mut Layout, url: &str, label: &str);
    /// A heading of level 1–6 starts or ends.
    fn heading(&mut self, layout: &mut Layout, level: u8, starts: bool);
    /// A quote starts or ends; `depth` 0 is the outermost.
    fn quote(&mut self, layout: &mut Layout, depth: usize, starts: bool);
    /// The marker of a list item: bullet (`number` is `None`) or number, at nesting `depth`.
    fn list_marker(&self, depth: usize, number: Option<u64>) -> String;
    /// The marker of a task item, given its list marker.
    fn task_marker(&self, list_marker: &str, ordered: bool, checked: bool) -> String;
    /// A whole code block, line by line.
    fn code_block(&mut self, layout: &mut Layout, language: Option<&str>, lines: &[&str]);
    /// A table, already laid out as grid lines.
    fn table(&mut self, layout: &mut Layout, lines: &[String]);
    /// A thematic break.
    fn rule(&mut self, layout: &mut Layout);
}

/// An inline span with start and end markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    Emphasis,
    Strong,
    Strikethrough,
}

/// Visible marker of a thematic break.
pub(crate) const RULE_TEXT: &str = "──────────";

enum ContainerKind {
    Quote,
    List { next_number: Option<u64>, tight: bool },
    Item { tight: bool },
}

struct Container {
    kind: ContainerKind,
    /// The layout's size when the container opened: has it shown anything yet?
    opened_at: usize,
}

/// Renders the events with `style`; `capacity` is a size hint.
pub(crate) fn render<S: TextStyle>(events: &[Event<'_>], style: &mut S, capacity: usize) -> String {
    let mut walker = Walker {
        layout: Layout::new(capacity, S::TRIM_BLANK_LINES),
        style,
        containers: Vec::new(),
        code: None,
        table: None,
        link: None,
        skipping_link_label: false,
    };
    for (index, event) in events.iter().enumerate() {
        walker.event(event, &events[index + 1..]);
    }
    walker.layout.finish()
}

/// The plain text of a link's label: the text until its end.
fn link_label(events: &[Event<'_>]) -> String {
    let mut label = String::new();
    for event in events {
        match event {
            Event::End(Tag::Link(_)) => break,
            Event::Text(text) | Event::Code(text) => label.push_str(text),
            Event::LineBreak => label.push(' '),
            _ => {}
        }
    }
    label
}

struct Walker<'s, S> {
    layout: Layout,
    style: &'s mut S,
    containers: Vec<Container>,
    /// Inside a code block: its language and the text so far.
    code: Option<(Option<String>, String)>,
    table: Option<TableCollector>,
    /// Inside a link: its target and label.
    link: Option<(String, String)>,
    /// The style shows the link without its label (e.g. a bare URL).
    skipping_link_label: bool,
}

impl<S: TextStyle> Walker<'_, S> {
    /// Handles one event; `following` are the events after it (a link's label is read ahead).
    fn event(&mut self, event: &Event<'_>, following: &[Event<'_>]) {
        if self.skipping_link_label {
            if !matches!(event, Event::End(Tag::Link(_))) {
                return;
            }
            self.skipping_link_label = false;
        }
        if let Some(table) = self.table.as_mut() {
            if let Event::End(Tag::Table(_)) = event {
                let lines = table.lines();
                self.table = None;
                self.style.table(&mut self.layout, &lines);
                self.end_block();
            } else {
                table.event(event);
            }
            return;
        }
        if let Some((_, code)) = self.code.as_mut() {
            match event {
                Event::Text(text) => code.push_str(text),
                Event::End(_) => self.end_code_block(),
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag, following),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.style.text(&mut self.layout, text),
            Event::Code(code) => self.style.inline_code(&mut self.layout, code),
            Event::LineBreak => self.layout.break_line(),
            Event::Rule => {
                self.start_block();
                self.style.rule(&mut self.layout);
                self.end_block();
            }
            Event::TaskMarker(checked) => self.task_marker(*checked),
        }
    }

    fn start(&mut self, tag: &Tag<'_>, following: &[Event<'_>]) {
        if matches!(
            tag,
            Tag::Paragraph | Tag::Heading(_) | Tag::Quote | Tag::CodeBlock(_) | Tag::List { .. } | Tag::Table(_)
        ) {
            self.start_block();
        }
        match tag {
            Tag::Paragraph | Tag::TableHead | Tag::TableRow | Tag::TableCell => {}
            Tag::Heading(level) => self.style.heading(&mut self.layout, *level, true),
            Tag::Quote => {
                let depth = self.quote_depth();
                self.style.quote(&mut self.layout, depth, true);
                self.open_container(ContainerKind::Quote);
            }
            Tag::CodeBlock(language) => self.code = Some((language.clone(), String::new())),
            Tag::List { start, tight } => {
                self.open_container(ContainerKind::List { next_number: *start, tight: *tight })
            }
            Tag::Item => self.start_item(),
            Tag::Table(alignments) => self.table = Some(TableCollector::new(alignments.clone())),
            Tag::Emphasis => self.style.span(&mut self.layout, Span::Emphasis, true),
            Tag::Strong => self.style.span(&mut self.layout, Span::Strong, true),
            Tag::Strikethrough => self.style.span(&mut self.layout, Span::Strikethrough, true),
            Tag::Link(url) => {
                let label = link_label(following);
                let render_label = self.style.link_start(&mut self.layout, url, &label);
                self.skipping_link_label = !render_label;
                self.link = Some((url.to_string(), label));
            }
        }
    }

    fn end(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Paragraph => self.end_block(),
            Tag::Heading(level) => {
                self.style.heading(&mut self.layout, *level, false);
                self.end_block();
            }
            Tag::Quote => {
                self.containers.pop();
                let depth = self.quote_depth();
                self.style.quote(&mut self.layout, depth, false);
                self.end_block();
            }
            Tag::List { .. } => {
                self.containers.pop();
                self.end_block();
            }
            Tag::Item => self.end_item(),
            Tag::Emphasis => self.style.span(&mut self.layout, Span::Emphasis, false),
            Tag::Strong => self.style.span(&mut self.layout, Span::Strong, false),
            Tag::Strikethrough => self.style.span(&mut self.layout, Span::Strikethrough, false),
            Tag::Link(_) => {
                if let Some((url, label)) = self.link.take() {
                    self.style.link_end(&mut self.layout, &url, &label);
                }
            }
            Tag::CodeBlock(_) | Tag::Table(_) | Tag::TableHead | Tag::TableRow | Tag::TableCell => {}
        }
    }

    fn start_item(&mut self) {
        let depth = self.list_depth().saturating_sub(1);
        let (number, tight) = match self.containers.last_mut().map(|c| &mut c.kind) {
            Some(ContainerKind::List { next_number, tight }) => {
                let number = *next_number;
                *next_number = number.map(|n| n.saturating_add(1));
                (number, *tight)
            }
            _ => (None, true),
        };
        let marker = self.style.list_marker(depth, number);
        let indent = " ".repeat(marker.chars().count());
        self.layout.push_prefix(&marker, &indent, "");
        self.open_container(ContainerKind::Item { tight });
    }

    fn end_item(&mut self) {
        let tight = matches!(self.containers.pop().map(|c| c.kind), Some(ContainerKind::Item { tight: true }));
        if self.layout.pending_first_prefix().is_some() {
            // An empty item still shows its marker.
            self.layout.open_markup("");
        }
        self.layout.pop_prefix();
        self.layout.end_block(if tight { 1 } else { 2 });
    }

    fn task_marker(&mut self, checked: bool) {
        let ordered = matches!(
            self.containers.iter().rev().nth(1).map(|c| &c.kind),
            Some(ContainerKind::List { next_number: Some(_), .. })
        );
        if let Some(marker) = self.layout.pending_first_prefix() {
            let task = self.style.task_marker(marker, ordered, checked);
            let indent = " ".repeat(task.chars().count());
            self.layout.replace_first_prefix(&task, &indent);
        }
    }

    fn end_code_block(&mut self) {
        if let Some((language, code)) = self.code.take() {
            let mut lines: Vec<&str> = code.split('\n').collect();
            // Empty lines around the code carry nothing and would only pad the block.
            while lines.len() > 1 && lines.last().is_some_and(|line| line.trim().is_empty()) {
                lines.pop();
            }
            let leading_empty = lines.iter().take_while(|line| line.trim().is_empty()).count();
            lines.drain(..leading_empty.min(lines.len() - 1));
            self.style.code_block(&mut self.layout, language.as_deref(), &lines);
            self.end_block();
        }
    }

    fn open_container(&mut self, kind: ContainerKind) {
        self.containers.push(Container { kind, opened_at: self.layout.size() });
    }

    /// Blocks are separated by a blank line, except directly inside a tight list item.
    fn gap(&self) -> usize {
        match self.containers.last().map(|c| &c.kind) {
            Some(ContainerKind::Item { tight: true }) => 1,
            _ => 2,
        }
    }

    fn end_block(&mut self) {
        self.layout.end_block(self.gap());
    }

    /// A block starting after content of its container (text of a tight list item, say)
    /// goes on a new line.
    fn start_block(&mut self) {
        let has_content = self.containers.last().is_none_or(|container| self.layout.size() > container.opened_at);
        if has_content {
            self.end_block();
        }
    }

    fn quote_depth(&self) -> usize {
        self.containers.iter().filter(|c| matches!(c.kind, ContainerKind::Quote)).count()
    }

    fn list_depth(&self) -> usize {
        self.containers.iter().filter(|c| matches!(c.kind, ContainerKind::List { .. })).count()
    }
}
