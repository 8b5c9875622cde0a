//! Line writer for the text-like outputs (plain body, Telegram, Discord): nested line
//! prefixes (list markers, quote marks), blank lines between blocks, and markup that is
//! written where the next text goes.

/// What a container puts at the start of its lines.
struct LinePrefix {
    /// On the container's first line (e.g. `- `).
    first: String,
    /// On its following lines (e.g. two spaces).
    rest: String,
    /// On an empty line inside it (e.g. `>` in a quote).
    blank: String,
    first_used: bool,
}

/// Builds line-oriented text. Callers pass already-escaped strings without line ends and
/// ask for line breaks; the layout writes prefixes, and blank lines between blocks, only
/// when more content follows, so output never ends with stray prefixes or newlines.
pub(crate) struct Layout {
    out: String,
    prefixes: Vec<LinePrefix>,
    pending_breaks: usize,
    started: bool,
    line_has_text: bool,
    prefixes_suppressed: bool,
    trim_blank_lines: bool,
}

impl Layout {
    /// `trim_blank_lines`: strip trailing spaces from prefix-only lines (`> ` → `>`).
    pub(crate) fn new(capacity: usize, trim_blank_lines: bool) -> Self {
        Layout {
            out: String::with_capacity(capacity),
            prefixes: Vec::new(),
            pending_breaks: 0,
            started: false,
            line_has_text: false,
            prefixes_suppressed: false,
            trim_blank_lines,
        }
    }

    /// Opens a container whose lines start with `first` (its first line), `rest` (the
    /// others) or `blank` (its empty lines).
    pub(crate) fn push_prefix(&mut self, first: &str, rest: &str, blank: &str) {
        self.prefixes.push(LinePrefix {
            first: first.to_owned(),
            rest: rest.to_owned(),
            blank: blank.to_owned(),
            first_used: false,
        });
    }

    /// Closes the innermost container.
    pub(crate) fn pop_prefix(&mut self) {
        self.prefixes.pop();
    }

    /// Replaces the innermost container's prefixes if its first line is not written yet
    /// (a task box replacing a bullet).
    pub(crate) fn replace_first_prefix(&mut self, first: &str, rest: &str) {
        if let Some(prefix) = self.prefixes.last_mut()
            && !prefix.first_used
        {
            prefix.first = first.to_owned();
            prefix.rest = rest.to_owned();
        }
    }

    /// The innermost container's first-line prefix, if it is not written yet.
    pub(crate) fn pending_first_prefix(&self) -> Option<&str> {
        self.prefixes.last().filter(|prefix| !prefix.first_used).map(|prefix| prefix.first.as_str())
    }

    /// While suppressed, new lines get no prefix (Telegram `<pre>` content).
    pub(crate) fn suppress_prefixes(&mut self, suppressed: bool) {
        self.prefixes_suppressed = suppressed;
    }

    /// The next text starts a new line.
    pub(crate) fn break_line(&mut self) {
        self.request_breaks(1);
    }

    /// A block ended: `gap` 2 leaves a blank line before the next block, 1 only a new line.
    pub(crate) fn end_block(&mut self, gap: usize) {
        self.request_breaks(gap);
    }

    /// One more line end, exactly (code lines, where empty lines count).
    pub(crate) fn code_line_end(&mut self) {
        if self.started {
            self.pending_breaks += 1;
        }
    }

    fn request_breaks(&mut self, breaks: usize) {
        if self.started {
            self.pending_breaks = self.pending_breaks.max(breaks);
        }
    }

    /// Whether the next text is the first on its line (after prefixes).
    pub(crate) fn at_line_start(&self) -> bool {
        !self.started || self.pending_breaks > 0 || !self.line_has_text
    }

    /// Writes visible text (no line ends). Empty text writes nothing.
    pub(crate) fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.flush();
        self.out.push_str(text);
        self.line_has_text = true;
    }

    /// Writes markup that opens something, where the next text goes (after pending breaks).
    pub(crate) fn open_markup(&mut self, markup: &str) {
        self.flush();
        self.out.push_str(markup);
    }

    /// Writes markup that closes something, right after the last text.
    pub(crate) fn close_markup(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    /// Bytes written so far (to tell whether anything was written since).
    pub(crate) fn size(&self) -> usize {
        self.out.len()
    }

    /// The text written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn flush(&mut self) {
        if !self.started {
            self.started = true;
            self.write_line_prefix();
            return;
        }
        if self.pending_breaks == 0 {
            return;
        }
        for remaining in (0..self.pending_breaks).rev() {
            self.out.push('\n');
            if remaining > 0 && !self.prefixes_suppressed {
                self.write_blank_prefix();
            }
        }
        self.pending_breaks = 0;
        self.line_has_text = false;
        if !self.prefixes_suppressed {
            self.write_line_prefix();
        }
    }

    fn write_line_prefix(&mut self) {
        for prefix in &mut self.prefixes {
            if prefix.first_used {
                self.out.push_str(&prefix.rest);
            } else {
                self.out.push_str(&prefix.first);
                prefix.first_used = true;
            }
        }
    }

    fn write_blank_prefix(&mut self) {
        let line_start = self.out.len();
        // Containers whose first line is not written yet start after this blank line.
        for prefix in self.prefixes.iter().filter(|prefix| prefix.first_used) {
            self.out.push_str(&prefix.blank);
        }
        if self.trim_blank_lines {
            let kept = self.out[line_start..].trim_end().len();
            self.out.truncate(line_start + kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn prefixes_and_blank_lines() {
        let mut layout = Layout::new(0, true);
        layout.push_prefix("> ", "> ", "> ");
        layout.text("quote");
        layout.end_block(2);
        layout.push_prefix("- ", "  ", "");
        layout.text("item");
        layout.break_line();
        layout.text("more");
        layout.pop_prefix();
        layout.end_block(2);
        layout.pop_prefix();
        layout.end_block(2);
        assert_eq!(layout.finish(), "> quote\n>\n> - item\n>   more");
    }

    #[test]
    fn markup_opens_after_breaks_and_closes_before() {
        let mut layout = Layout::new(0, true);
        layout.text("a");
        layout.end_block(2);
        layout.open_markup("<b>");
        layout.text("b");
        layout.close_markup("</b>");
        layout.end_block(2);
        assert_eq!(layout.finish(), "a\n\n<b>b</b>");
    }

    #[test]
    fn code_lines_keep_empty_lines() {
        let mut layout = Layout::new(0, false);
        layout.push_prefix("> ", "> ", "> ");
        layout.text("x");
        layout.code_line_end();
        layout.code_line_end();
        layout.text("y");
        assert_eq!(layout.finish(), "> x\n> \n> y");
    }
}
