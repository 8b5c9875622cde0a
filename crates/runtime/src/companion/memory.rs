//! The companion's memory: Markdown notes under `vault/memory/` that it writes with the
//! `write_memory` tool and reads as context in every conversation with a `direct` sender, so
//! they outlive `!new`.

use std::path::{Path, PathBuf};

use super::vault_path::{self, PathRefused};

/// The memory folder, inside the vault.
pub const MEMORY_DIR: &str = "memory";
/// The most memory text put into one system prompt, in bytes; the newest notes come first.
pub const MEMORY_CONTEXT_MAX_BYTES: usize = 16 * 1024;
/// The longest memory note, in bytes.
pub const MEMORY_NOTE_MAX_BYTES: usize = 8 * 1024;
/// The longest memory note name, in characters.
pub const MEMORY_NAME_MAX_CHARS: usize = 64;

/// Why a memory note was not written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The name is not a plain word or phrase.
    #[error("the name must be 1 to {MEMORY_NAME_MAX_CHARS} letters, digits, spaces, '-' or '_'")]
    BadName,
    /// The note is longer than [`MEMORY_NOTE_MAX_BYTES`].
    #[error("the note is {0} bytes; at most {MEMORY_NOTE_MAX_BYTES} are kept")]
    TooLong(usize),
    /// The memory folder leads out of the vault.
    #[error("{0}")]
    Path(#[from] PathRefused),
    /// Writing failed.
    #[error("cannot write the note: {0}")]
    Io(#[from] std::io::Error),
}

/// The file name of the note called `name`: lower case, spaces as `-`, `.md`.
pub fn note_file_name(name: &str) -> Result<String, MemoryError> {
    let name = name.trim();
    let plain = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_');
    if name.is_empty() || name.chars().count() > MEMORY_NAME_MAX_CHARS || !name.chars().all(plain) {
        return Err(MemoryError::BadName);
    }
    let slug: String = name.to_lowercase().split_whitespace().collect::<Vec<_>>().join("-");
    Ok(format!("{slug}.md"))
}

/// Writes (or replaces) the memory note `name` with `text`, atomically; its path.
pub fn write_note(vault: &Path, name: &str, text: &str) -> Result<PathBuf, MemoryError> {
    let file_name = note_file_name(name)?;
    if text.len() > MEMORY_NOTE_MAX_BYTES {
        return Err(MemoryError::TooLong(text.len()));
    }
    let folder = vault_path::folder(vault, MEMORY_DIR)?;
    let path = folder.join(&file_name);
    let temporary = folder.join(format!(".{file_name}.tmp"));
    std::fs::write(&temporary, format!("{}\n", text.trim()))?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

/// The memory notes as context: `### name` and the text of each, newest first, within
/// [`MEMORY_CONTEXT_MAX_BYTES`]; `None` when there are none.
pub fn context(vault: &Path) -> Option<String> {
    let folder = vault_path::existing(vault, MEMORY_DIR).ok()?;
    let mut notes: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".md"))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|entry| {
            let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some((metadata.modified().ok()?, entry.path()))
        })
        .collect();
    notes.sort_by_key(|note| std::cmp::Reverse(note.0));
    let mut out = String::new();
    for (_, path) in notes {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let section = format!("### {name}\n{}\n\n", text.trim());
        if out.len() + section.len() > MEMORY_CONTEXT_MAX_BYTES {
            break;
        }
        out.push_str(&section);
    }
    let out = out.trim_end();
    (!out.is_empty()).then(|| out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_written_under_memory_and_read_back_newest_first() {
        let vault = tempfile::tempdir().unwrap();
        assert_eq!(context(vault.path()), None);
        write_note(vault.path(), "Garden plans", "Plant ferns in March.").unwrap();
        let path = write_note(vault.path(), "cat", "The cat is called Miso.").unwrap();
        assert_eq!(path, vault.path().canonicalize().unwrap().join("memory/cat.md"));
        let context = context(vault.path()).unwrap();
        assert!(context.contains("### garden-plans\nPlant ferns in March."), "{context}");
        assert!(context.contains("### cat\nThe cat is called Miso."), "{context}");
    }

    #[test]
    fn bad_names_and_long_notes_are_refused() {
        let vault = tempfile::tempdir().unwrap();
        for name in ["", "../x", "a/b", ".hidden", &"x".repeat(65)] {
            assert!(matches!(write_note(vault.path(), name, "t"), Err(MemoryError::BadName)), "{name}");
        }
        let long = "x".repeat(MEMORY_NOTE_MAX_BYTES + 1);
        assert!(matches!(write_note(vault.path(), "long", &long), Err(MemoryError::TooLong(_))));
    }

    #[test]
    fn a_memory_folder_linked_out_of_the_vault_is_neither_written_nor_read() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.md"), "outside").unwrap();
        let vault = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), vault.path().join("memory")).unwrap();
        assert!(matches!(write_note(vault.path(), "x", "t"), Err(MemoryError::Path(PathRefused::OutsideVault))));
        assert_eq!(context(vault.path()), None);
    }
}
