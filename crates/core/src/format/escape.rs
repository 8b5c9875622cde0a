//! Escaping rules: HTML text and attributes, Discord markdown text, link targets and code
//! block language names.

/// Appends `text` with `&`, `<` and `>` escaped, for HTML text content. Only the entities
/// Telegram understands are used (`&amp;` `&lt;` `&gt;`), which Matrix clients read too.
pub(crate) fn push_html_text(out: &mut String, text: &str) {
    push_escaped(out, text, false);
}

/// Appends `value` with `&`, `<`, `>` and `"` escaped, for a double-quoted HTML attribute.
pub(crate) fn push_html_attr(out: &mut String, value: &str) {
    push_escaped(out, value, true);
}

fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    let mut plain_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' if attribute => "&quot;",
            _ => continue,
        };
        out.push_str(&text[plain_from..index]);
        out.push_str(entity);
        plain_from = index + 1;
    }
    out.push_str(&text[plain_from..]);
}

/// Whether a link target may become a clickable link: `http(s)://host…` or `mailto:…`.
/// Everything else (`javascript:`, `data:`, relative paths, anything with white space or
/// control characters, malformed hosts) is shown as text instead.
pub(crate) fn is_allowed_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("mailto") {
        return !rest.is_empty();
    }
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let Some(after_slashes) = rest.strip_prefix("//") else {
        return false;
    };
    let authority_end = after_slashes.find(['/', '?', '#', '\\']).unwrap_or(after_slashes.len());
    is_valid_authority(&after_slashes[..authority_end])
}

/// `[user[:password]@]host[:port]` with a host made of letters, digits, `-`, `_` and `.`, or
/// a bracketed IPv6 address; the port, if any, a number up to 65535.
fn is_valid_authority(authority: &str) -> bool {
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        let Some((ipv6, after)) = bracketed.split_once(']') else {
            return false;
        };
        if ipv6.is_empty() || !ipv6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => ("ipv6", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("ipv6", Some(port)),
                None => return false,
            },
        }
    } else {
        match host_and_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.chars().any(|c| c.is_alphanumeric())
        && host.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let port_ok =
        port.is_none_or(|port| port.is_empty() || (port.len() <= 5 && port.parse::<u32>().is_ok_and(|n| n <= 65_535)));
    host_ok && port_ok
}

/// The text shown for a link whose label is empty: the target without `mailto:`.
pub(crate) fn url_as_label(url: &str) -> &str {
    url.strip_prefix("mailto:").unwrap_or(url)
}

/// Whether a link label just repeats its target (autolinks), so the target is not shown twice.
pub(crate) fn label_repeats_url(label: &str, url: &str) -> bool {
    label == url || label == url_as_label(url)
}

/// The language of a fenced code block from its info string: the first word, keeping only
/// `[A-Za-z0-9_+#.-]`, at most 32 characters. `None` when nothing is left.
pub(crate) fn code_language(info: &str) -> Option<String> {
    let word = info.split_whitespace().next()?;
    let language: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '#' | '.' | '-'))
        .take(32)
        .collect();
    (!language.is_empty()).then_some(language)
}

/// Appends text for Discord so that it shows literally: markdown characters are
/// backslash-escaped (Discord drops a backslash before any ASCII punctuation), line-start
/// markers (`#`, `>`, `-`, `+`, `1.`) are escaped where a line starts, `<` is escaped so no
/// `<@id>` mention, `<#channel>` or `<t:…>` tag forms, and `@everyone`/`@here` get a
/// zero-width space so they never ping. Bare `http(s)://` URLs are copied untouched so they
/// stay clickable.
pub(crate) fn push_discord_text(out: &mut String, text: &str, mut at_line_start: bool) {
    let mut index = 0;
    while let Some(c) = text[index..].chars().next() {
        let rest = &text[index..];
        if let Some(url_len) = bare_url_len(rest) {
            out.push_str(&rest[..url_len]);
            index += url_len;
            at_line_start = false;
            continue;
        }
        if at_line_start && c.is_ascii_digit() {
            let digits = rest.len() - rest.trim_start_matches(|d: char| d.is_ascii_digit()).len();
            out.push_str(&rest[..digits]);
            index += digits;
            if let Some(marker @ ('.' | ')')) = text[index..].chars().next() {
                out.push('\\');
                out.push(marker);
                index += 1;
            }
            at_line_start = false;
            continue;
        }
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '>' | '-' | '+' if at_line_start => {
                out.push('\\');
                out.push(c);
            }
            '@' if starts_with_mass_mention(&rest[1..]) => {
                out.push('@');
                out.push('\u{200B}');
            }
            _ => out.push(c),
        }
        at_line_start = match c {
            '\n' => true,
            ' ' | '\t' => at_line_start,
            _ => false,
        };
        index += c.len_utf8();
    }
}

fn starts_with_mass_mention(after_at: &str) -> bool {
    ["everyone", "here"]
        .iter()
        .any(|word| after_at.get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word)))
}

/// Length of a bare `http://` or `https://` URL at the start of `text` (up to white space).
fn bare_url_len(text: &str) -> Option<usize> {
    let scheme_len = ["https://", "http://"].iter().find_map(|scheme| {
        text.get(..scheme.len()).filter(|head| head.eq_ignore_ascii_case(scheme)).map(|_| scheme.len())
    })?;
    let len = text.find(|c: char| c.is_whitespace() || c == '<').unwrap_or(text.len());
    (len > scheme_len).then_some(len)
}

/// A link target for a Discord masked link: characters that would end `(…)` early are
/// percent-encoded.
pub(crate) fn discord_link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            _ => out.push(c),
        }
    }
    out
}

/// Appends code for inside a Discord code block: a run of three backticks would close the
/// block, so a zero-width space is put before every third backtick in a row.
pub(crate) fn push_discord_code_line(out: &mut String, line: &str) {
    let mut run = 0;
    for c in line.chars() {
        if c == '`' {
            run += 1;
            if run == 3 {
                out.push('\u{200B}');
                run = 1;
            }
        } else {
            run = 0;
        }
        out.push(c);
    }
}

/// Discord inline code: single backticks, or double ones (with spaces) when the code holds
/// a backtick; runs of two or more backticks inside are broken with zero-width spaces.
pub(crate) fn push_discord_inline_code(out: &mut String, code: &str) {
    if !code.contains('`') {
        out.push('`');
        out.push_str(code);
        out.push('`');
        return;
    }
    out.push_str("`` ");
    let mut previous_backtick = false;
    for c in code.chars() {
        if c == '`' && previous_backtick {
            out.push('\u{200B}');
        }
        previous_backtick = c == '`';
        out.push(c);
    }
    out.push_str(" ``");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_escapes_only_three_characters() {
        let mut out = String::new();
        push_html_text(&mut out, r#"a<b>&"c'"#);
        assert_eq!(out, r#"a&lt;b&gt;&amp;"c'"#);
        let mut attr = String::new();
        push_html_attr(&mut attr, r#"x"y&"#);
        assert_eq!(attr, "x&quot;y&amp;");
    }

    #[test]
    fn allowed_urls() {
        for ok in [
            "https://example.com",
            "http://a.b/c?d=e#f",
            "HTTPS://EXAMPLE.COM/x",
            "https://matrix.to/#/@alice:example.org",
            "mailto:someone@example.com",
            "https://user:pw@host:8080/p",
            "https://[::1]:80/",
        ] {
            assert!(is_allowed_url(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:x",
            "/relative",
            "example.com",
            "#anchor",
            "http://",
            "https:example.com",
            "https://exa mple.com",
            "https://host:port/",
            "ftp://example.com",
            "mailto:",
        ] {
            assert!(!is_allowed_url(bad), "{bad}");
        }
    }

    #[test]
    fn code_language_keeps_first_safe_word() {
        assert_eq!(code_language("rust title=x").as_deref(), Some("rust"));
        assert_eq!(code_language("c++"), Some("c++".to_owned()));
        assert_eq!(code_language("\"><script>"), Some("script".to_owned()));
        assert_eq!(code_language("  "), None);
        assert_eq!(code_language("<>"), None);
    }

    #[test]
    fn discord_text_escapes() {
        let mut out = String::new();
        push_discord_text(&mut out, "# a *b* _c_ `d` |e| ~f~ [g](h) <@1> @everyone 1. x", true);
        assert_eq!(out, "\\# a \\*b\\* \\_c\\_ \\`d\\` \\|e\\| \\~f\\~ \\[g\\](h) \\<@1> @\u{200B}everyone 1. x");
        let mut line_start = String::new();
        push_discord_text(&mut line_start, "12. item", true);
        assert_eq!(line_start, "12\\. item");
        let mut url = String::new();
        push_discord_text(&mut url, "see https://x.y/a_b*c and a_b", false);
        assert_eq!(url, "see https://x.y/a_b*c and a\\_b");
    }

    #[test]
    fn discord_code_cannot_close_early() {
        let mut out = String::new();
        push_discord_code_line(&mut out, "a ```` b");
        assert_eq!(out, "a ``\u{200B}`` b");
        assert!(!out.contains("```"));
        let mut inline = String::new();
        push_discord_inline_code(&mut inline, "a``b");
        assert_eq!(inline, "`` a`\u{200B}`b ``");
    }
}
