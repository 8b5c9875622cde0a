//! Hostile input: raw HTML, script URLs, images and data URLs never reach a client as markup.

mod format_support;

use format_support::{assert_matrix_html_clean, assert_telegram_html_clean};
use parachute_core::format::{to_discord, to_matrix, to_telegram_html};

/// Renders `md` for both HTML targets, checks the allow-lists, and returns (matrix html,
/// matrix body, telegram html, discord).
fn render_all(md: &str) -> (String, String, String, String) {
    let matrix = to_matrix(md);
    let telegram = to_telegram_html(md);
    assert_matrix_html_clean(&matrix.formatted_body);
    assert_telegram_html_clean(&telegram);
    (matrix.formatted_body, matrix.body, telegram, to_discord(md))
}

/// No tag in `html` is a dangerous element or carries a script URL or event handler
/// (escaped text may mention them; only real tags matter).
fn assert_no_live_html(html: &str) {
    for tag in html.split('<').skip(1).filter_map(|rest| rest.split_once('>')) {
        let tag = tag.0.to_ascii_lowercase();
        for needle in ["script", "img", "iframe", "svg", "onerror", "onclick", "javascript:", "data:"] {
            assert!(!tag.contains(needle), "live {needle} in <{tag}> of {html}");
        }
    }
}

#[test]
fn script_block_is_shown_as_text() {
    let (html, body, telegram, discord) = render_all("<script>alert(1)</script>\n\nafter");
    assert_eq!(html, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<p>after</p>");
    assert_eq!(body, "<script>alert(1)</script>\n\nafter");
    assert_eq!(telegram, "&lt;script&gt;alert(1)&lt;/script&gt;\n\nafter");
    assert_eq!(discord, "\\<script>alert(1)\\</script>\n\nafter");
}

#[test]
fn inline_html_with_event_handler_is_escaped() {
    let md = "a <img src=x onerror=alert(1)> b <a href=\"javascript:alert(1)\">c</a>";
    let (html, _, telegram, discord) = render_all(md);
    assert_no_live_html(&html);
    assert_no_live_html(&telegram);
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(telegram.contains("&lt;a href=\"javascript:alert(1)\"&gt;c&lt;/a&gt;"));
    assert!(discord.contains("\\<img src=x onerror=alert(1)>"));
}

#[test]
fn script_links_become_text() {
    for md in [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](<javascript:alert(1)>)",
        "[click](vbscript:msgbox)",
        "[click](data:text/html,<script>alert(1)</script>)",
        "[click](/relative/path)",
    ] {
        let (html, body, telegram, discord) = render_all(md);
        assert_eq!(html, "<p>click</p>", "{md}");
        assert_eq!(body, "click", "{md}");
        assert_eq!(telegram, "click", "{md}");
        assert_eq!(discord, "click", "{md}");
    }
}

#[test]
fn images_become_links_or_text() {
    let (html, body, telegram, discord) = render_all("![a cat](https://e.com/cat.png)");
    assert_eq!(html, "<p><a href=\"https://e.com/cat.png\">a cat</a></p>");
    assert_eq!(body, "a cat (https://e.com/cat.png)");
    assert_eq!(telegram, "<a href=\"https://e.com/cat.png\">a cat</a>");
    assert_eq!(discord, "[a cat](https://e.com/cat.png)");

    let (html, body, telegram, discord) = render_all("![pixel](data:image/png;base64,iVBORw0KGgo=)");
    assert_eq!(html, "<p>pixel</p>");
    assert_eq!(body, "pixel");
    assert_eq!(telegram, "pixel");
    assert_eq!(discord, "pixel");

    let (html, ..) = render_all("![x](javascript:alert(1)) ![](https://e.com/i.png)");
    assert_eq!(html, "<p>x <a href=\"https://e.com/i.png\">https://e.com/i.png</a></p>");
}

#[test]
fn image_inside_link_does_not_nest_anchors() {
    let (html, _, telegram, _) = render_all("[![logo](https://e.com/l.png) home](https://e.com)");
    assert_eq!(html, "<p><a href=\"https://e.com\">logo home</a></p>");
    assert_eq!(telegram, "<a href=\"https://e.com\">logo home</a>");
}

#[test]
fn html_inside_code_stays_code() {
    let md = "`<b>not bold</b>`\n\n```html\n</code></pre><script>alert(1)</script>\n```";
    let (html, body, telegram, _) = render_all(md);
    assert_eq!(
        html,
        "<p><code>&lt;b&gt;not bold&lt;/b&gt;</code></p>\n<pre><code class=\"language-html\">\
         &lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>"
    );
    assert_eq!(body, "<b>not bold</b>\n\n</code></pre><script>alert(1)</script>");
    assert_eq!(
        telegram,
        "<code>&lt;b&gt;not bold&lt;/b&gt;</code>\n\n<pre><code class=\"language-html\">\
         &lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code></pre>"
    );
}

#[test]
fn code_language_cannot_break_out_of_the_attribute() {
    let (html, _, telegram, discord) = render_all("```\"><script>alert(1)</script>\nx\n```");
    assert_eq!(html, "<pre><code class=\"language-scriptalert1script\">x\n</code></pre>");
    assert_eq!(telegram, "<pre><code class=\"language-scriptalert1script\">x</code></pre>");
    assert_eq!(discord, "```scriptalert1script\nx\n```");
}

#[test]
fn link_target_cannot_break_out_of_the_attribute() {
    let (html, _, telegram, _) = render_all("[x](https://e.com/\"onmouseover=\"alert(1))");
    assert_eq!(html, "<p><a href=\"https://e.com/&quot;onmouseover=&quot;alert(1)\">x</a></p>");
    assert_eq!(telegram, "<a href=\"https://e.com/&quot;onmouseover=&quot;alert(1)\">x</a>");
}

#[test]
fn comments_entities_and_telegram_tags_are_text() {
    let md = "a <!-- hidden --> &lt;b&gt; <tg-spoiler>secret</tg-spoiler> &copy;";
    let (html, body, telegram, _) = render_all(md);
    assert_eq!(html, "<p>a &lt;!-- hidden --&gt; &lt;b&gt; &lt;tg-spoiler&gt;secret&lt;/tg-spoiler&gt; ©</p>");
    assert_eq!(body, "a <!-- hidden --> <b> <tg-spoiler>secret</tg-spoiler> ©");
    assert_eq!(telegram, "a &lt;!-- hidden --&gt; &lt;b&gt; &lt;tg-spoiler&gt;secret&lt;/tg-spoiler&gt; ©");
    // A line starting with a comment is an HTML block: shown exactly as written.
    let (html, ..) = render_all("<!-- &lt;b&gt; -->");
    assert_eq!(html, "<p>&lt;!-- &amp;lt;b&amp;gt; --&gt;</p>");
}

#[test]
fn the_allow_list_check_rejects_bad_html() {
    // The checker used everywhere above must be able to fail.
    for bad in [
        "<script>x</script>",
        "<p>unclosed",
        "<b><i>crossed</b></i>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"https://e.com\" onclick=\"x\">x</a>",
        "<code class=\"evil\">x</code>",
        "<img src=\"https://e.com/i.png\">",
        "<table><td>x</td></table>",
    ] {
        let result = std::panic::catch_unwind(|| assert_matrix_html_clean(bad));
        assert!(result.is_err(), "accepted: {bad}");
    }
    let result = std::panic::catch_unwind(|| assert_telegram_html_clean("<p>x</p>"));
    assert!(result.is_err(), "Telegram accepted <p>");
}
