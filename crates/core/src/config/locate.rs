//! Finds where a key path (`matrix.allowed_rooms[1]`) stands in a block-style YAML document.

/// Returns the 1-based line and column of the value at `path` (of the key when the value is
/// on the next lines), or `None` when the document does not spell it in block style.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segments = parse_path(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut min_indent = 0;
    let mut found = None;
    for segment in segments {
        let (line, col, indent) = match segment {
            Segment::Key(key) => find_key(&lines, start, min_indent, key)?,
            Segment::Index(index) => find_item(&lines, start, min_indent, index)?,
        };
        found = Some((line + 1, col + 1));
        start = line + 1;
        min_indent = indent + 1;
    }
    found
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, indices) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            out.push(Segment::Index(index.trim_end_matches(']').parse().ok()?));
        }
    }
    (!out.is_empty()).then_some(out)
}

pub(super) fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

pub(super) fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Finds `key:` at the shallowest indent (≥ `min_indent`) of the block that starts at `start`.
pub(super) fn find_key(lines: &[&str], start: usize, min_indent: usize, key: &str) -> Option<(usize, usize, usize)> {
    let block_indent = lines.iter().skip(start).find(|l| !is_blank(l)).map(|l| indent_of(l))?;
    if block_indent < min_indent {
        return None;
    }
    for (offset, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        let indent = indent_of(line);
        if indent < block_indent {
            return None;
        }
        if indent != block_indent {
            continue;
        }
        let body = &line[indent..];
        let Some(rest) = body.strip_prefix(key) else { continue };
        let rest_unquoted = rest.trim_start_matches(['"', '\'']);
        let Some(after_colon) = rest_unquoted.strip_prefix(':') else { continue };
        let value_offset = after_colon.len() - after_colon.trim_start().len();
        let has_value = !after_colon.trim().is_empty() && !after_colon.trim_start().starts_with('#');
        let col = if has_value { line.len() - after_colon.len() + value_offset } else { indent };
        return Some((offset, col, indent));
    }
    None
}

/// Finds the `index`-th `- item` of the block sequence that starts at `start`.
fn find_item(lines: &[&str], start: usize, min_indent: usize, index: usize) -> Option<(usize, usize, usize)> {
    let mut seen = 0;
    let mut item_indent = None;
    for (offset, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        let indent = indent_of(line);
        let body = &line[indent..];
        if !body.starts_with('-') {
            if indent < min_indent || item_indent.is_some_and(|i| indent <= i) {
                return None;
            }
            continue;
        }
        match item_indent {
            None if indent + 1 >= min_indent || indent == min_indent.saturating_sub(1) => item_indent = Some(indent),
            None => return None,
            Some(i) if indent < i => return None,
            Some(i) if indent > i => continue,
            Some(_) => {}
        }
        if seen == index {
            let value = body[1..].trim_start();
            return Some((offset, line.len() - value.len(), indent));
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
server:
  port: 3333
matrix:
  enabled: true
  homeserver_url: ftp://x
  allowed_rooms:
    - '!a:x'
    - bad
telegram:
  port: 1
";

    #[test]
    fn finds_nested_keys_and_items() {
        assert_eq!(locate(DOC, "server.port"), Some((3, 9)));
        assert_eq!(locate(DOC, "matrix.homeserver_url"), Some((6, 19)));
        assert_eq!(locate(DOC, "matrix.allowed_rooms"), Some((7, 3)));
        assert_eq!(locate(DOC, "matrix.allowed_rooms[1]"), Some((9, 7)));
        assert_eq!(locate(DOC, "telegram.port"), Some((11, 9)));
        assert_eq!(locate(DOC, "matrix.port"), None);
        assert_eq!(locate(DOC, "discord"), None);
    }
}
