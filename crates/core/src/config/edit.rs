//! Saving a changed config into the owner's `bots.yaml` text: the keys that changed are
//! edited in place, so comments and layout elsewhere survive. The edited text must read back
//! as exactly the new config; otherwise (flow style, anchors, anything unusual) the whole file
//! is written from the config instead.

use std::path::Path;

use serde_json::Value;

use super::error::ConfigError;
use super::load::parse_str;
use super::locate::{find_key, indent_of, is_blank};
use super::model::BotsConfig;
use super::save::{save_atomic, write_atomic};

/// How a save went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Only the changed keys were edited; comments and layout are kept.
    Edited,
    /// The file was written anew from the config (its comments are gone).
    Rewritten,
}

/// Saves `new` (which replaces `old`) to `path` atomically with mode 0600, editing the file's
/// text in place where it can. Refuses ([`ConfigError::ChangedOnDisk`]) when the file no longer
/// reads as `old`: the change made to it meanwhile would be lost.
pub fn save_keeping_comments(path: &Path, old: &BotsConfig, new: &BotsConfig) -> Result<Saved, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return save_atomic(path, new).map(|()| Saved::Rewritten);
        }
        Err(err) => return Err(ConfigError::Io { path: path.display().to_string(), message: err.to_string() }),
    };
    let on_disk = parse_str(&text).ok().and_then(|c| serde_json::to_value(c).ok());
    if on_disk.is_none() || on_disk != serde_json::to_value(old).ok() {
        return Err(ConfigError::ChangedOnDisk { path: path.display().to_string() });
    }
    match edited_text(&text, old, new) {
        Some(edited) => write_atomic(path, &edited).map(|()| Saved::Edited),
        None => save_atomic(path, new).map(|()| Saved::Rewritten),
    }
}

/// `text` with the keys that differ between `old` and `new` edited, if the result reads back as
/// `new`.
pub fn edited_text(text: &str, old: &BotsConfig, new: &BotsConfig) -> Option<String> {
    let (before, after) = (serde_json::to_value(old).ok()?, serde_json::to_value(new).ok()?);
    let mut changes = Vec::new();
    diff(&mut Vec::new(), &before, &after, &mut changes);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (path, value) in &changes {
        set_key(&mut lines, path, value.as_ref())?;
    }
    let mut edited = lines.join("\n");
    edited.push('\n');
    let reread = parse_str(&edited).ok()?;
    (serde_json::to_value(&reread).ok()? == after).then_some(edited)
}

/// A key path and its new value (`None`: the key is gone, its default applies).
type Change = (Vec<String>, Option<Value>);

/// The leaves that differ; objects are compared key by key, anything else as a whole.
fn diff(path: &mut Vec<String>, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, new) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(old) => diff(path, old, new, out),
                    None => out.push((path.clone(), Some(new.clone()))),
                }
                path.pop();
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                path.push(key.clone());
                out.push((path.clone(), None));
                path.pop();
            }
        }
        (b, a) if b == a => {}
        (_, a) => out.push((path.clone(), Some(a.clone()))),
    }
}

/// The lines a key's value spans after its own line: more indented lines (and a block
/// sequence's `- ` items at the key's indent), without trailing comments or blank lines.
fn value_end(lines: &[String], key_line: usize, indent: usize) -> usize {
    let mut end = key_line + 1;
    let mut scan = end;
    while scan < lines.len() {
        let line = &lines[scan];
        if is_blank(line) {
            scan += 1;
            continue;
        }
        let at = indent_of(line);
        if at > indent || (at == indent && line[at..].starts_with("- ")) {
            scan += 1;
            end = scan;
        } else {
            break;
        }
    }
    end
}

/// Sets (or with `None` removes) the key at `path` in block-style YAML lines; `None` when the
/// document does not spell the way there in block style.
fn set_key(lines: &mut Vec<String>, path: &[String], value: Option<&Value>) -> Option<()> {
    let (mut start, mut min_indent, mut parent_indent) = (0usize, 0usize, None::<usize>);
    for (depth, key) in path.iter().enumerate() {
        let view: Vec<&str> = lines.iter().map(String::as_str).collect();
        let last = depth + 1 == path.len();
        let found = if start < view.len() { find_key(&view, start, min_indent, key) } else { None };
        match found {
            Some((line, _, indent)) if last => {
                let end = value_end(lines, line, indent);
                match value {
                    Some(value) => {
                        let comment = trailing_comment(&lines[line]);
                        let rendered = format!("{}{key}: {}{comment}", " ".repeat(indent), render(value)?);
                        lines.splice(line..end, [rendered]);
                    }
                    None => drop(lines.drain(line..end)),
                }
                return Some(());
            }
            Some((line, _, indent)) => {
                let after_colon = lines[line][indent + key.len()..].trim_start_matches(['"', '\'']);
                let inline = after_colon.strip_prefix(':')?.trim();
                if !inline.is_empty() && !inline.starts_with('#') {
                    return None; // `telegram: {…}`: flow style, not edited in place.
                }
                start = line + 1;
                min_indent = indent + 1;
                parent_indent = Some(indent);
            }
            None => {
                // Removing a key that is not written leaves nothing to do.
                let Some(value) = value else { return Some(()) };
                return insert_key(lines, path, depth, start, parent_indent, value);
            }
        }
    }
    Some(())
}

/// Writes `path[depth..]` with `value` where `path[depth]` is missing: under its parent (whose
/// children start at line `start`), or at the end of the document for a missing top-level key.
fn insert_key(
    lines: &mut Vec<String>,
    path: &[String],
    depth: usize,
    start: usize,
    parent_indent: Option<usize>,
    value: &Value,
) -> Option<()> {
    let indent = match parent_indent {
        None => 0,
        Some(parent) => lines
            .iter()
            .skip(start)
            .find(|l| !is_blank(l))
            .map(|l| indent_of(l))
            .filter(|&i| i > parent)
            .unwrap_or(parent + 2),
    };
    let mut block = Vec::new();
    for (level, key) in path[depth..].iter().enumerate() {
        let pad = " ".repeat(indent + 2 * level);
        if depth + level + 1 == path.len() {
            block.push(format!("{pad}{key}: {}", render(value)?));
        } else {
            block.push(format!("{pad}{key}:"));
        }
    }
    let at = if parent_indent.is_some() { start } else { lines.len() };
    lines.splice(at..at, block);
    Some(())
}

/// A value on one line: JSON, which YAML reads as flow style (`"text"`, `[1, 2]`, `true`).
fn render(value: &Value) -> Option<String> {
    serde_json::to_string(value).ok()
}

/// ` # comment` after an unquoted inline value, kept when the value is replaced.
fn trailing_comment(line: &str) -> String {
    let Some((_, value)) = line.split_once(':') else { return String::new() };
    if value.contains(['"', '\'']) {
        return String::new();
    }
    match value.find(" #") {
        // From the end of the value: the run of spaces before the `#` stays as it was.
        Some(at) => {
            let kept = value[..at].trim_end().len();
            value[kept..].to_owned()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::apply_patch;
    use serde_json::json;

    const DOC: &str = "\
# my bot
server:
  port: 3333   # the usual port

telegram:
  # From @BotFather.
  enabled: false
  allowed_users:
    - '@alice'
  # the end of telegram
discord:
  enabled: false
";

    fn edit(patch: Value) -> String {
        let old = parse_str(DOC).unwrap();
        let new = apply_patch(&old, &patch).unwrap();
        edited_text(DOC, &old, &new).expect("edited in place")
    }

    #[test]
    fn a_changed_scalar_keeps_every_comment() {
        let text = edit(json!({"telegram": {"enabled": true}, "server": {"port": 4000}}));
        assert!(text.contains("  enabled: true\n"), "{text}");
        assert!(text.contains("  port: 4000   # the usual port\n"), "{text}");
        assert!(text.contains("# my bot\n") && text.contains("  # From @BotFather.\n"), "{text}");
        assert!(text.contains("discord:\n  enabled: false\n"), "{text}");
    }

    #[test]
    fn a_list_replaces_its_block_and_new_keys_and_sections_are_added() {
        let text = edit(json!({
            "telegram": {"allowed_users": ["@alice", "@bob"], "ack_emoji": ""},
            "pairing": {"max_pending": 5},
            "max_media_bytes": 1000
        }));
        assert!(text.contains("  allowed_users: [\"@alice\",\"@bob\"]\n  # the end of telegram\n"), "{text}");
        assert!(text.contains("telegram:\n  ack_emoji: \"\"\n"), "{text}");
        assert!(text.contains("\npairing:\n  max_pending: 5\n"), "{text}");
        assert!(text.contains("\nmax_media_bytes: 1000\n"), "{text}");
    }

    #[test]
    fn a_reset_to_the_default_reads_back_as_the_default() {
        let text = edit(json!({"telegram": {"allowed_users": null}}));
        assert_eq!(parse_str(&text).unwrap().telegram.allowed_users, Vec::<String>::new());
        assert!(text.contains("# the end of telegram"), "{text}");
    }

    #[test]
    fn the_shipped_example_is_edited_in_place() {
        let example = include_str!("../../../../config/bots.example.yaml");
        let old = parse_str(example).unwrap();
        let patch = json!({
            "telegram": {"enabled": true, "bot_token": "123:abc", "allowed_users": ["@alice"]},
            "matrix": {"homeserver_url": "https://matrix.example.org", "user_id": "@bot:example.org"},
            "brain": {"system_prompt": "Be brief.\nBe kind."},
            "log": {"format": "json"}
        });
        let new = apply_patch(&old, &patch).unwrap();
        let text = edited_text(example, &old, &new).expect("edited in place");
        let comments = |t: &str| t.lines().filter(|l| l.trim_start().starts_with('#')).count();
        assert_eq!(comments(&text), comments(example), "every comment is kept");
        assert_eq!(parse_str(&text).unwrap().brain.system_prompt.as_deref(), Some("Be brief.\nBe kind."));
    }

    #[test]
    fn the_shipped_example_shows_every_key() {
        let example = include_str!("../../../../config/bots.example.yaml");
        assert_eq!(
            serde_json::to_value(parse_str(example).unwrap()).unwrap(),
            serde_json::to_value(crate::config::BotsConfig::default()).unwrap(),
            "the example's values are the defaults"
        );
        let shown = |key: &str| {
            example.lines().any(|line| line.trim_start().trim_start_matches("# ").starts_with(&format!("{key}:")))
        };
        let mut missing = Vec::new();
        let defaults = serde_json::to_value(crate::config::BotsConfig::default()).unwrap();
        for (section, value) in defaults.as_object().unwrap() {
            if !shown(section) {
                missing.push(section.clone());
            }
            for key in value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if !shown(&key) {
                    missing.push(format!("{section}.{key}"));
                }
            }
        }
        assert!(missing.is_empty(), "keys the example does not show: {missing:?}");
    }

    #[test]
    fn a_file_changed_behind_the_servers_back_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bots.yaml");
        std::fs::write(&path, DOC).unwrap();
        let old = parse_str(DOC).unwrap();
        let new = apply_patch(&old, &json!({"discord": {"enabled": true}})).unwrap();
        let edited_by_hand = DOC.replace("port: 3333", "port: 4444");
        std::fs::write(&path, &edited_by_hand).unwrap();
        let err = save_keeping_comments(&path, &old, &new).unwrap_err();
        assert!(matches!(err, ConfigError::ChangedOnDisk { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited_by_hand, "the owner's change stays");
        std::fs::write(&path, DOC).unwrap();
        assert_eq!(save_keeping_comments(&path, &old, &new).unwrap(), Saved::Edited);
    }

    #[test]
    fn flow_style_sections_are_not_edited_in_place() {
        let doc = "telegram: {enabled: false}\n";
        let old = parse_str(doc).unwrap();
        let new = apply_patch(&old, &json!({"telegram": {"enabled": true}})).unwrap();
        assert_eq!(edited_text(doc, &old, &new), None);
    }
}
