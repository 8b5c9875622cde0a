//! The built-in vault tools, as blocking functions over the vault folder: each takes the
//! model's arguments, stays inside the vault ([`vault_path`](super::vault_path)) and within
//! its size limits, and returns the text the model is given.

use std::path::{Path, PathBuf};

use parachute_core::ids::Platform;

use super::memory;
use super::vault_path;
use crate::journal::{JournalEntry, append_entry};

/// The most of a note `read_note` returns, in bytes.
pub const READ_NOTE_MAX_BYTES: usize = 64 * 1024;
/// The most matches `search_notes` returns.
pub const SEARCH_MAX_RESULTS: usize = 10;
/// The most files `search_notes` looks through, and the largest it reads.
pub const SEARCH_MAX_FILES: usize = 5_000;
const SEARCH_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most entries `recent_journal` returns.
pub const RECENT_JOURNAL_MAX_ENTRIES: usize = 50;
/// The longest journal entry `append_journal` writes, in characters.
pub const JOURNAL_ENTRY_MAX_CHARS: usize = 4_000;

/// A tool's failure, told to the model as the tool's result.
pub type ToolFailure = String;

/// The note at `path` (relative to the vault), cut at [`READ_NOTE_MAX_BYTES`].
pub fn read_note(vault: &Path, path: &str) -> Result<String, ToolFailure> {
    let file = vault_path::existing(vault, path).map_err(|e| format!("{path}: {e}"))?;
    if !file.is_file() {
        return Err(format!("{path}: not a file"));
    }
    let bytes = std::fs::read(&file).map_err(|e| format!("{path}: {e}"))?;
    let kept = &bytes[..bytes.len().min(READ_NOTE_MAX_BYTES)];
    let text = String::from_utf8_lossy(kept);
    if bytes.len() > READ_NOTE_MAX_BYTES {
        return Ok(format!(
            "{}\n\n[cut: the note has {} bytes, the first {READ_NOTE_MAX_BYTES} are shown]",
            text.trim_end_matches('\u{FFFD}'),
            bytes.len()
        ));
    }
    Ok(text.into_owned())
}

/// The notes (`.md` and `.txt`, outside hidden folders) that contain every word of `query`,
/// ignoring case: each path with its first matching line.
pub fn search_notes(vault: &Path, query: &str) -> Result<String, ToolFailure> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Err("the query is empty".to_owned());
    }
    let root = vault.canonicalize().map_err(|e| format!("the vault: {e}"))?;
    let mut matches = Vec::new();
    for file in note_files(&root) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let lower = text.to_lowercase();
        if !words.iter().all(|word| lower.contains(word.as_str())) {
            continue;
        }
        // The line with the most of the words (the first of those).
        let hits = |line: &str| words.iter().filter(|w| line.to_lowercase().contains(w.as_str())).count();
        let line = text.lines().rev().max_by_key(|line| hits(line));
        let line: String = line.unwrap_or_default().trim().chars().take(200).collect();
        let relative = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        matches.push(format!("- {relative}: {line}"));
        if matches.len() == SEARCH_MAX_RESULTS {
            break;
        }
    }
    if matches.is_empty() {
        return Ok(format!("No note contains {query:?}."));
    }
    Ok(matches.join("\n"))
}

/// The vault's note files, depth first in name order, without following symbolic links or
/// entering hidden folders; at most [`SEARCH_MAX_FILES`].
fn note_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.file_name()));
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if name.starts_with('.') || kind.is_symlink() {
                continue;
            }
            if kind.is_dir() {
                folders.push(entry.path());
            } else if (name.ends_with(".md") || name.ends_with(".txt"))
                && entry.metadata().is_ok_and(|m| m.len() <= SEARCH_MAX_FILE_BYTES)
            {
                found.push(entry.path());
                if found.len() == SEARCH_MAX_FILES {
                    return found;
                }
            }
        }
    }
    found
}

/// The latest `count` journal entries (at most [`RECENT_JOURNAL_MAX_ENTRIES`]), oldest first,
/// each under its day.
pub fn recent_journal(vault: &Path, count: usize) -> Result<String, ToolFailure> {
    let count = count.clamp(1, RECENT_JOURNAL_MAX_ENTRIES);
    let Ok(folder) = vault_path::existing(vault, "journal") else {
        return Ok("The journal is empty.".to_owned());
    };
    let mut days: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| format!("journal: {e}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md") && path.is_file())
        .collect();
    days.sort();
    let mut entries: Vec<String> = Vec::new();
    for day in days.iter().rev() {
        let Ok(text) = std::fs::read_to_string(day) else { continue };
        let date = day.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut items: Vec<String> = Vec::new();
        for line in text.lines() {
            match items.last_mut() {
                Some(item) if line.starts_with("  ") => {
                    item.push('\n');
                    item.push_str(line);
                }
                _ if line.starts_with("- ") => items.push(format!("{date} {}", &line[2..])),
                _ => {}
            }
        }
        for item in items.into_iter().rev() {
            entries.push(item);
            if entries.len() == count {
                break;
            }
        }
        if entries.len() == count {
            break;
        }
    }
    if entries.is_empty() {
        return Ok("The journal is empty.".to_owned());
    }
    entries.reverse();
    Ok(entries.into_iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n"))
}

/// Adds `text` to today's journal, written by the companion.
pub fn append_journal(vault: &Path, platform: Platform, text: &str, at_ms: i64) -> Result<String, ToolFailure> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the entry is empty".to_owned());
    }
    if text.chars().count() > JOURNAL_ENTRY_MAX_CHARS {
        return Err(format!("the entry is longer than {JOURNAL_ENTRY_MAX_CHARS} characters"));
    }
    let folder = vault_path::folder(vault, "journal").map_err(|e| format!("journal: {e}"))?;
    let entry = JournalEntry { at_ms, platform, author: "parachute", text };
    let vault_of_folder = folder.parent().unwrap_or(vault);
    append_entry(vault_of_folder, &entry).map_err(|e| format!("journal: {e}"))?;
    Ok(format!("Added to journal/{}.", entry.file_name()))
}

/// Writes the memory note `name`.
pub fn write_memory(vault: &Path, name: &str, text: &str) -> Result<String, ToolFailure> {
    let path = memory::write_note(vault, name, text).map_err(|e| e.to_string())?;
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("Saved memory/{file}; it will be in your context from the next message on."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> tempfile::TempDir {
        let vault = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(vault.path().join("notes/garden")).unwrap();
        std::fs::write(vault.path().join("notes/garden/ferns.md"), "# Ferns\nMaidenhair ferns like shade.\n").unwrap();
        std::fs::write(vault.path().join("notes/cats.md"), "Miso likes the shade too.\n").unwrap();
        std::fs::create_dir_all(vault.path().join(".parachute")).unwrap();
        std::fs::write(vault.path().join(".parachute/bots.yaml"), "bot_token: shade-secret\n").unwrap();
        vault
    }

    #[test]
    fn search_finds_notes_with_every_word_and_never_looks_into_hidden_folders() {
        let vault = vault();
        let found = search_notes(vault.path(), "SHADE ferns").unwrap();
        assert_eq!(found, "- notes/garden/ferns.md: Maidenhair ferns like shade.");
        let found = search_notes(vault.path(), "shade").unwrap();
        assert!(found.contains("notes/cats.md") && found.contains("ferns.md"), "{found}");
        assert!(!found.contains("secret") && !found.contains("bots.yaml"), "{found}");
        assert_eq!(search_notes(vault.path(), "tulips").unwrap(), "No note contains \"tulips\".");
        assert!(search_notes(vault.path(), "  ").is_err());
    }

    #[test]
    fn read_note_reads_inside_and_refuses_escapes() {
        let vault = vault();
        assert_eq!(read_note(vault.path(), "notes/cats.md").unwrap(), "Miso likes the shade too.\n");
        for escape in ["../etc/passwd", "/etc/passwd", ".parachute/bots.yaml", "notes/../.parachute/bots.yaml"] {
            let refused = read_note(vault.path(), escape).unwrap_err();
            assert!(!refused.contains("shade-secret"), "{refused}");
        }
        assert!(read_note(vault.path(), "notes").unwrap_err().contains("not a file"));
        std::fs::write(vault.path().join("big.md"), "x".repeat(READ_NOTE_MAX_BYTES + 10)).unwrap();
        assert!(read_note(vault.path(), "big.md").unwrap().contains("[cut: the note has"));
    }

    #[test]
    fn the_journal_is_appended_and_its_latest_entries_listed() {
        let vault = vault();
        assert_eq!(recent_journal(vault.path(), 5).unwrap(), "The journal is empty.");
        // 2026-11-25T06:21Z and a day later.
        append_journal(vault.path(), Platform::Matrix, "watered the ferns", 1_795_587_700_000).unwrap();
        let said =
            append_journal(vault.path(), Platform::Telegram, "first line\nsecond line", 1_795_674_100_000).unwrap();
        assert_eq!(said, "Added to journal/2026-11-26.md.");
        let recent = recent_journal(vault.path(), 5).unwrap();
        assert_eq!(
            recent,
            "- 2026-11-25 06:21 (matrix, parachute) watered the ferns\n- 2026-11-26 06:21 (telegram, parachute) first line\n  second line"
        );
        assert!(recent_journal(vault.path(), 1).unwrap().starts_with("- 2026-11-26"));
        assert!(append_journal(vault.path(), Platform::Matrix, " ", 0).is_err());
    }
}
