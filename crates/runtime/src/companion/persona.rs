//! The persona file (`vault/.parachute/persona.md` unless `brain.persona_file` says
//! otherwise): who the companion is, the start of every system prompt. It is read again
//! whenever its modification time or size changes, so edits apply to the next message
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use parachute_core::config::{BotsConfig, DEFAULT_PERSONA_FILE};

/// The most of the persona file that is used, in bytes (a persona is a page, not a book).
pub const PERSONA_MAX_BYTES: usize = 32 * 1024;

/// The persona file's text, kept until the file changes.
#[derive(Debug, Default)]
pub struct PersonaFile {
    read: Mutex<Option<Read>>,
}

#[derive(Debug, Clone)]
struct Read {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    text: Option<String>,
}

impl PersonaFile {
    /// The persona's path for `config`, inside `vault` when relative.
    pub fn path(config: &BotsConfig, vault: &Path) -> PathBuf {
        let configured = config.brain.persona_file.as_deref().map(str::trim).filter(|p| !p.is_empty());
        vault.join(configured.unwrap_or(DEFAULT_PERSONA_FILE))
    }

    /// The persona's text (trimmed, at most [`PERSONA_MAX_BYTES`]), `None` when the file is
    /// missing or empty. Reads the file only when it changed since the last call.
    pub async fn text(&self, path: &Path) -> Option<String> {
        let metadata = tokio::fs::metadata(path).await.ok();
        let (modified, len) = metadata.as_ref().map_or((None, 0), |m| (m.modified().ok(), m.len()));
        if let Some(read) = self.read.lock().ok().and_then(|read| read.clone())
            && read.path == path
            && read.modified == modified
            && read.len == len
        {
            return read.text;
        }
        let text = match metadata {
            None => None,
            Some(_) => match tokio::fs::read(path).await {
                Ok(bytes) => persona_text(&bytes),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot read the persona file");
                    None
                }
            },
        };
        if metadata.is_some() {
            tracing::info!(path = %path.display(), chars = text.as_ref().map_or(0, |t| t.chars().count()), "persona read");
        }
        if let Ok(mut read) = self.read.lock() {
            *read = Some(Read { path: path.to_owned(), modified, len, text: text.clone() });
        }
        text
    }
}

/// The persona in `bytes`: valid UTF-8 up to [`PERSONA_MAX_BYTES`], trimmed; `None` when
/// nothing is left.
fn persona_text(bytes: &[u8]) -> Option<String> {
    let kept = &bytes[..bytes.len().min(PERSONA_MAX_BYTES)];
    let text = String::from_utf8_lossy(kept);
    let text = text.trim_end_matches('\u{FFFD}').trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_is_read_again_when_it_changes_and_missing_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("persona.md");
        let persona = PersonaFile::default();
        assert_eq!(persona.text(&path).await, None);
        std::fs::write(&path, "You are Ada, a calm gardener.\n").unwrap();
        assert_eq!(persona.text(&path).await.as_deref(), Some("You are Ada, a calm gardener."));
        std::fs::write(&path, "You are Ada, a calm gardener who loves ferns.\n").unwrap();
        assert_eq!(persona.text(&path).await.as_deref(), Some("You are Ada, a calm gardener who loves ferns."));
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(persona.text(&path).await, None);
    }

    #[test]
    fn a_huge_file_is_cut_without_breaking_a_character() {
        let text = "é".repeat(PERSONA_MAX_BYTES);
        let kept = persona_text(text.as_bytes()).unwrap();
        assert_eq!(kept.len(), PERSONA_MAX_BYTES);
        let odd = format!("a{}", "é".repeat(PERSONA_MAX_BYTES));
        assert!(persona_text(odd.as_bytes()).unwrap().len() < PERSONA_MAX_BYTES);
    }

    #[test]
    fn a_relative_path_is_inside_the_vault() {
        let mut config = BotsConfig::default();
        assert_eq!(PersonaFile::path(&config, Path::new("/v")), Path::new("/v/.parachute/persona.md"));
        config.brain.persona_file = Some("me/persona.md".into());
        assert_eq!(PersonaFile::path(&config, Path::new("/v")), Path::new("/v/me/persona.md"));
        config.brain.persona_file = Some("/etc/parachute/persona.md".into());
        assert_eq!(PersonaFile::path(&config, Path::new("/v")), Path::new("/etc/parachute/persona.md"));
    }
}
