//! Golden tests: markdown → Discord markdown.

use parachute_core::format::to_discord;

fn check(md: &str, expected: &str) {
    assert_eq!(to_discord(md), expected, "markdown: {md:?}");
}

#[test]
fn inline_markup_passes() {
    check("Plain *em* **strong** ~~del~~ `code` text.", "Plain *em* **strong** ~~del~~ `code` text.");
}

#[test]
fn headings_three_levels_then_bold() {
    check("# One\n\n### Three *x*\n\n#### Four", "# One\n\n### Three *x*\n\n**Four**");
}

#[test]
fn lists_nested_ordered_and_tasks() {
    check("- a\n  - b\n\n1. c", "- a\n  - b\n\n1. c");
    check("7. seven\n8. eight", "7. seven\n8. eight");
    check("- [ ] a\n- [x] b", "- ☐ a\n- ☑ b");
}

#[test]
fn code_blocks_pass_and_cannot_be_closed_early() {
    check("```rust\nfn main() {}\n```", "```rust\nfn main() {}\n```");
    check("````md\n```\ninner\n```\n````", "```md\n``\u{200B}`\ninner\n``\u{200B}`\n```");
    check("`` a`b ``", "`` a`b ``");
}

#[test]
fn code_inside_list_and_quote() {
    check("1. Run:\n   ```sh\n   ls\n   ```", "1. Run:\n   ```sh\n   ls\n   ```");
    check("> ```\n> x\n>\n> y\n> ```", "> ```\n> x\n> \n> y\n> ```");
}

#[test]
fn tables_become_code_blocks() {
    check("| a | b |\n|---|---|\n| 1 | **2** |", "```\na | b\n--+--\n1 | 2\n```");
}

#[test]
fn markdown_characters_in_text_are_escaped() {
    check(
        "Use \\*literal\\* stars, snake_case, a\\|b and \\`tick\\`",
        "Use \\*literal\\* stars, snake\\_case, a\\|b and \\`tick\\`",
    );
}

#[test]
fn line_start_markers_are_escaped() {
    check(
        "\\# not heading\n\n\\- not list\n\n1\\. not list\n\n\\> not quote",
        "\\# not heading\n\n\\- not list\n\n1\\. not list\n\n\\> not quote",
    );
}

#[test]
fn mentions_never_ping() {
    check("hey @everyone and @here, <@123>", "hey @\u{200B}everyone and @\u{200B}here, \\<@123>");
}

#[test]
fn links() {
    check(
        "[site](https://e.com/a_(b)) and <https://e.com/x_y>",
        "[site](https://e.com/a_%28b%29) and https://e.com/x_y",
    );
    check("[**bold** link](https://e.com)", "[**bold** link](https://e.com)");
    check("mail <me@e.com> or [me](mailto:me@e.com)", "mail me@e.com or me (me@e.com)");
}

#[test]
fn quotes_are_flattened() {
    check("> a\n>\n> b", "> a\n> \n> b");
    check("> a\n>\n> > b", "> a\n> \n> b");
}

#[test]
fn rule() {
    check("a\n\n***\n\nb", "a\n\n──────────\n\nb");
}
