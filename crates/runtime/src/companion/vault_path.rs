//! Confines the paths a model asks for to the vault: relative paths only, no `..`, no hidden
//! folders (`.parachute/` holds the config and its tokens), and nothing that leads out of the
//! vault through a symbolic link.

use std::path::{Component, Path, PathBuf};

/// Why a path the model asked for is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    /// Empty, or made of nothing but `.`.
    #[error("the path is empty")]
    Empty,
    /// Starts at the root (or a drive).
    #[error("the path must be relative to the vault, not absolute")]
    Absolute,
    /// Has a `..` component.
    #[error("the path must not go up with `..`")]
    GoesUp,
    /// Goes through a hidden file or folder (`.parachute`, `.git`, …).
    #[error("hidden files and folders are not open to tools")]
    Hidden,
    /// Resolves (through a symbolic link) to a place outside the vault.
    #[error("the path leads out of the vault")]
    OutsideVault,
    /// Has a character a note name never has (NUL, a control character).
    #[error("the path has a control character")]
    ControlCharacter,
    /// The file or folder does not exist.
    #[error("there is no such note")]
    Missing,
}

/// `asked` as a path inside `vault`, checked by its text only (nothing is touched on disk).
pub fn lexical(vault: &Path, asked: &str) -> Result<PathBuf, PathRefused> {
    if asked.chars().any(char::is_control) {
        return Err(PathRefused::ControlCharacter);
    }
    let asked = Path::new(asked.trim());
    let mut inside = PathBuf::new();
    for component in asked.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => return Err(PathRefused::Absolute),
            Component::ParentDir => return Err(PathRefused::GoesUp),
            Component::CurDir => {}
            Component::Normal(part) if part.to_string_lossy().starts_with('.') => return Err(PathRefused::Hidden),
            Component::Normal(part) => inside.push(part),
        }
    }
    if inside.as_os_str().is_empty() {
        return Err(PathRefused::Empty);
    }
    Ok(vault.join(inside))
}

/// `asked` as an existing path inside `vault`, with symbolic links resolved: a link that
/// leads out of the vault (or into a hidden folder of it) is refused.
pub fn existing(vault: &Path, asked: &str) -> Result<PathBuf, PathRefused> {
    let joined = lexical(vault, asked)?;
    let root = vault.canonicalize().map_err(|_| PathRefused::Missing)?;
    let resolved = joined.canonicalize().map_err(|_| PathRefused::Missing)?;
    check_inside(&root, &resolved)?;
    Ok(resolved)
}

/// A folder inside `vault` (created when missing), with symbolic links resolved and refused
/// when they lead out.
pub fn folder(vault: &Path, asked: &str) -> Result<PathBuf, PathRefused> {
    let joined = lexical(vault, asked)?;
    std::fs::create_dir_all(&joined).map_err(|_| PathRefused::Missing)?;
    existing(vault, asked)
}

/// Whether the resolved `path` lies under the resolved vault `root`, outside its hidden
/// folders.
fn check_inside(root: &Path, path: &Path) -> Result<(), PathRefused> {
    let relative = path.strip_prefix(root).map_err(|_| PathRefused::OutsideVault)?;
    if relative.components().any(|part| part.as_os_str().to_string_lossy().starts_with('.')) {
        return Err(PathRefused::Hidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_are_refused_by_their_text() {
        let vault = Path::new("/v");
        assert_eq!(lexical(vault, "notes/a.md"), Ok(PathBuf::from("/v/notes/a.md")));
        assert_eq!(lexical(vault, "./notes/./a.md"), Ok(PathBuf::from("/v/notes/a.md")));
        assert_eq!(lexical(vault, "/etc/passwd"), Err(PathRefused::Absolute));
        assert_eq!(lexical(vault, "notes/../../etc/passwd"), Err(PathRefused::GoesUp));
        assert_eq!(lexical(vault, ".parachute/bots.yaml"), Err(PathRefused::Hidden));
        assert_eq!(lexical(vault, "notes/.git/config"), Err(PathRefused::Hidden));
        assert_eq!(lexical(vault, "a\0b"), Err(PathRefused::ControlCharacter));
        assert_eq!(lexical(vault, " . "), Err(PathRefused::Empty));
    }

    #[test]
    fn symbolic_links_out_of_the_vault_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "outside").unwrap();
        let vault = tempfile::tempdir().unwrap();
        std::fs::write(vault.path().join("in.md"), "inside").unwrap();
        std::fs::create_dir(vault.path().join(".parachute")).unwrap();
        std::fs::write(vault.path().join(".parachute/bots.yaml"), "token").unwrap();
        std::os::unix::fs::symlink(outside.path(), vault.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(vault.path().join(".parachute/bots.yaml"), vault.path().join("config.md")).unwrap();
        std::os::unix::fs::symlink(vault.path().join("in.md"), vault.path().join("alias.md")).unwrap();
        assert!(existing(vault.path(), "in.md").is_ok());
        assert!(existing(vault.path(), "alias.md").is_ok());
        assert_eq!(existing(vault.path(), "elsewhere/secret.md"), Err(PathRefused::OutsideVault));
        assert_eq!(existing(vault.path(), "config.md"), Err(PathRefused::Hidden));
        assert_eq!(existing(vault.path(), "nothing.md"), Err(PathRefused::Missing));
        assert_eq!(folder(vault.path(), "elsewhere"), Err(PathRefused::OutsideVault));
        assert!(folder(vault.path(), "memory").is_ok());
    }

    proptest! {
        /// Whatever the model asks for, an accepted path stays under the vault, below no
        /// hidden folder.
        #[test]
        fn accepted_paths_stay_inside(parts in prop::collection::vec("(\\.\\.|\\.|[a-z]{1,3}|\\.[a-z]{1,3}|/|~)", 1..8)) {
            let asked = parts.join("/");
            if let Ok(path) = lexical(Path::new("/v"), &asked) {
                let relative = path.strip_prefix("/v").unwrap();
                prop_assert!(relative.components().all(|c| matches!(c, Component::Normal(p) if !p.to_string_lossy().starts_with('.'))), "{asked} -> {path:?}");
            }
        }
    }
}
