//! Golden tests: markdown → Telegram HTML parse mode.

mod format_support;

use format_support::{assert_telegram_html_clean, parsed_utf16_len};
use parachute_core::format::{telegram_visible_len, to_telegram_html};

fn check(md: &str, expected: &str) {
    let html = to_telegram_html(md);
    assert_eq!(html, expected, "markdown: {md:?}");
    assert_telegram_html_clean(&html);
    assert_eq!(telegram_visible_len(&html), parsed_utf16_len(&html), "{html}");
}

#[test]
fn inline_markup() {
    check(
        "Plain *em* **strong** ~~del~~ `code` text.",
        "Plain <i>em</i> <b>strong</b> <s>del</s> <code>code</code> text.",
    );
}

#[test]
fn headings_become_bold_lines() {
    check("# One\n\ntext\n\n### Three *x*", "<b>One</b>\n\ntext\n\n<b>Three <i>x</i></b>");
}

#[test]
fn code_is_never_inside_bold() {
    check("# Use `cargo`", "<b>Use </b><code>cargo</code>");
    check("**a `b` c**", "<b>a </b><code>b</code><b> c</b>");
}

#[test]
fn code_inside_link_is_plain_text() {
    check("[`fn` **x**](https://e.com)", "<a href=\"https://e.com\">fn <b>x</b></a>");
}

#[test]
fn code_blocks() {
    check("```python\nprint('<hi>')\n```", "<pre><code class=\"language-python\">print('&lt;hi&gt;')</code></pre>");
    check("```\nx & y\n\nz\n```", "<pre>x &amp; y\n\nz</pre>");
}

#[test]
fn nested_lists_use_text_bullets() {
    check("- a\n  - b\n    - c\n- d", "• a\n  ◦ b\n    ▪ c\n• d");
}

#[test]
fn ordered_lists_keep_numbers_and_tasks_get_boxes() {
    check("3. x\n4. [x] y", "3. x\n4. ☑ y");
    check("- [ ] a\n- [x] b", "☐ a\n☑ b");
}

#[test]
fn code_inside_list_item() {
    check(
        "1. Run:\n   ```sh\n   ls\n   pwd\n   ```\n2. Done",
        "1. Run:\n   <pre><code class=\"language-sh\">ls\npwd</code></pre>\n2. Done",
    );
}

#[test]
fn quotes_are_not_nested() {
    check("> quote\n> - item\n>\n> > inner", "<blockquote>quote\n\n• item\n\n&gt; inner</blockquote>");
}

#[test]
fn table_is_a_preformatted_grid() {
    check("| a | b |\n|---|--:|\n| 1 & 2 | **22** |", "<pre>a     |  b\n------+---\n1 &amp; 2 | 22</pre>");
}

#[test]
fn rule_and_line_breaks() {
    check("a\nb\n\n---\n\nc", "a\nb\n\n──────────\n\nc");
}

#[test]
fn link_target_is_attribute_escaped() {
    check("[x](https://e.com/?q=\"a\"&b=1)", "<a href=\"https://e.com/?q=&quot;a&quot;&amp;b=1\">x</a>");
}

#[test]
fn visible_length_counts_utf16_after_entities() {
    assert_eq!(telegram_visible_len("<b>a&amp;b</b>"), 3);
    assert_eq!(telegram_visible_len("😀 &lt;"), 4);
    assert_eq!(telegram_visible_len("<a href=\"https://e.com\">é</a>"), 1);
    let html = to_telegram_html("**😀** and `<x>` 日本");
    assert_eq!(telegram_visible_len(&html), 2 + 5 + 3 + 3);
}
