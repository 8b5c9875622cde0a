//! Golden tests: markdown → Matrix `formatted_body` (HTML allow-list) and `body` (plain).

mod format_support;

use format_support::assert_matrix_html_clean;
use parachute_core::format::{MatrixText, to_matrix};

/// Renders `md` and checks both fields; the HTML must also pass the allow-list parser check.
fn check(md: &str, html: &str, body: &str) {
    let rendered = to_matrix(md);
    assert_eq!(rendered, MatrixText { body: body.to_owned(), formatted_body: html.to_owned() }, "markdown: {md:?}");
    assert_matrix_html_clean(&rendered.formatted_body);
}

#[test]
fn inline_markup() {
    check(
        "Plain *em* **strong** ~~del~~ `code` text.",
        "<p>Plain <em>em</em> <strong>strong</strong> <del>del</del> <code>code</code> text.</p>",
        "Plain em strong del code text.",
    );
}

#[test]
fn headings_all_levels() {
    check(
        "# One\n## Two *em*\n### Three\n#### Four\n##### Five\n###### Six",
        "<h1>One</h1>\n<h2>Two <em>em</em></h2>\n<h3>Three</h3>\n<h4>Four</h4>\n<h5>Five</h5>\n<h6>Six</h6>",
        "One\n\nTwo em\n\nThree\n\nFour\n\nFive\n\nSix",
    );
}

#[test]
fn soft_and_hard_line_breaks_are_kept() {
    check(
        "line one\nline two  \nline three\\\nfour",
        "<p>line one<br>\nline two<br>\nline three<br>\nfour</p>",
        "line one\nline two\nline three\nfour",
    );
}

#[test]
fn thematic_break() {
    check("above\n\n---\n\nbelow", "<p>above</p>\n<hr>\n<p>below</p>", "above\n\n──────────\n\nbelow");
}

#[test]
fn ordered_list_keeps_its_start() {
    check("3. three\n4. four", "<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>", "3. three\n4. four");
    check("1. one", "<ol>\n<li>one</li>\n</ol>", "1. one");
}

#[test]
fn nested_lists() {
    check(
        "- a\n  - b\n    1. c\n- d",
        "<ul>\n<li>a<ul>\n<li>b<ol>\n<li>c</li>\n</ol>\n</li>\n</ul>\n</li>\n<li>d</li>\n</ul>",
        "- a\n  - b\n    1. c\n- d",
    );
}

#[test]
fn loose_list_items_are_paragraphs() {
    check("- a\n\n- b", "<ul>\n<li><p>a</p>\n</li>\n<li><p>b</p>\n</li>\n</ul>", "- a\n\n- b");
}

#[test]
fn task_list() {
    check("- [ ] todo\n- [x] done", "<ul>\n<li>☐ todo</li>\n<li>☑ done</li>\n</ul>", "- [ ] todo\n- [x] done");
}

#[test]
fn list_inside_quote() {
    check(
        "> intro\n>\n> - a\n> - b",
        "<blockquote>\n<p>intro</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n</blockquote>",
        "> intro\n>\n> - a\n> - b",
    );
}

#[test]
fn nested_quotes() {
    check(
        "> a\n>\n> > b",
        "<blockquote>\n<p>a</p>\n<blockquote>\n<p>b</p>\n</blockquote>\n</blockquote>",
        "> a\n>\n> > b",
    );
}

#[test]
fn code_block_inside_list() {
    check(
        "1. Run:\n   ```sh\n   ls -la\n   ```\n2. Done",
        "<ol>\n<li>Run:<pre><code class=\"language-sh\">ls -la\n</code></pre>\n</li>\n<li>Done</li>\n</ol>",
        "1. Run:\n   ls -la\n2. Done",
    );
}

#[test]
fn code_block_with_language_is_escaped_verbatim() {
    check(
        "```rust\nlet x = a < b && c;\n    indented();\n```",
        "<pre><code class=\"language-rust\">let x = a &lt; b &amp;&amp; c;\n    indented();\n</code></pre>",
        "let x = a < b && c;\n    indented();",
    );
}

#[test]
fn indented_code_block() {
    check("    plain code", "<pre><code>plain code</code></pre>", "plain code");
    check("    a\n    b\n\nafter", "<pre><code>a\nb\n</code></pre>\n<p>after</p>", "a\nb\n\nafter");
}

#[test]
fn table_with_inline_markup() {
    check(
        "| Name | Link |\n|:--|--:|\n| **bold** `x` | [site](https://e.com) |",
        "<table>\n<thead>\n<tr><th>Name</th><th>Link</th></tr>\n</thead>\n<tbody>\n\
         <tr><td><strong>bold</strong> <code>x</code></td><td><a href=\"https://e.com\">site</a></td></tr>\n\
         </tbody>\n</table>",
        "Name   |                 Link\n-------+---------------------\nbold x | site (https://e.com)",
    );
}

#[test]
fn table_without_body_rows() {
    check(
        "| a | b |\n|---|---|",
        "<table>\n<thead>\n<tr><th>a</th><th>b</th></tr>\n</thead>\n</table>",
        "a | b\n--+--",
    );
}

#[test]
fn emphasis_inside_links() {
    check(
        "[*em* and **strong**](https://e.com)",
        "<p><a href=\"https://e.com\"><em>em</em> and <strong>strong</strong></a></p>",
        "em and strong (https://e.com)",
    );
}

#[test]
fn autolinks_and_matrix_to() {
    check(
        "<https://e.com> and <me@e.com>, [Alice](https://matrix.to/#/@alice:example.org)",
        "<p><a href=\"https://e.com\">https://e.com</a> and <a href=\"mailto:me@e.com\">me@e.com</a>, \
         <a href=\"https://matrix.to/#/@alice:example.org\">Alice</a></p>",
        "https://e.com and me@e.com, Alice (https://matrix.to/#/@alice:example.org)",
    );
}

#[test]
fn empty_link_label_shows_the_target() {
    check("[](https://e.com)", "<p><a href=\"https://e.com\">https://e.com</a></p>", "https://e.com");
}

#[test]
fn everything_nested_stays_well_formed() {
    let md = "# Plan\n\n> 1. **Step** with `code` and [a *link*](https://e.com)\n>    ```py\n>    print(1)\n>    ```\n>    - [x] sub\n>\n> | a | b |\n> |---|---|\n> | ~~c~~ | d |\n\n---\n\nEnd  \nnow";
    let rendered = to_matrix(md);
    assert_matrix_html_clean(&rendered.formatted_body);
    assert!(rendered.formatted_body.contains("<blockquote>\n<ol>\n<li><strong>Step</strong>"));
    assert!(rendered.body.contains("> 1. Step with code and a link (https://e.com)"));
    assert!(rendered.body.contains(">    print(1)"));
}

#[test]
fn event_bytes_count_json_escaping() {
    let text = to_matrix("a \"quoted\" line\nnext");
    let json = serde_json::to_string(&text.body).map(|s| s.len()).unwrap_or(0)
        + serde_json::to_string(&text.formatted_body).map(|s| s.len()).unwrap_or(0);
    assert_eq!(text.event_bytes(), 300 + json);
}
