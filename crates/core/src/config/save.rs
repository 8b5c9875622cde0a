//! Writing `bots.yaml` atomically (temp file + rename) with owner-only permissions.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::error::ConfigError;
use super::model::BotsConfig;

const HEADER: &str = "# parachute bot configuration (written by parachute; see config/bots.example.yaml)\n";

/// Writes the config so that readers see the old file or the new one, never a mix: the text
/// goes to a temp file (mode 0600) in the same folder, is flushed to disk, then renamed over
/// the target. The folder is created (mode 0700) if missing.
pub fn save_atomic(path: &Path, config: &BotsConfig) -> Result<(), ConfigError> {
    let yaml = serde_yaml::to_string(config)
        .map_err(|err| ConfigError::invalid("", format!("cannot serialize config: {err}")))?;
    write_atomic(path, &format!("{HEADER}{yaml}"))
}

/// Writes `text` to `path` the same way: temp file (mode 0600), fsync, rename, fsync of the
/// folder (created with mode 0700 if missing).
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<(), ConfigError> {
    let io_err = |err: std::io::Error| ConfigError::Io { path: path.display().to_string(), message: err.to_string() };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_err)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
    }
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("bots.yaml");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    // The new file keeps the old one's owner: a command run as root on a service's vault must
    // not leave a file the service cannot read.
    let owner = fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = owner
            && fs::metadata(&tmp)?.uid() != uid
        {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_file;
    use secrecy::{ExposeSecret, SecretString};

    #[test]
    fn round_trips_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".parachute").join("bots.yaml");
        let mut config = BotsConfig::default();
        config.matrix.homeserver_url = "https://m.example.org".into();
        config.matrix.access_token = Some(SecretString::from("syt_keep_me"));
        config.telegram.allowed_users = vec!["@alice".into()];
        save_atomic(&path, &config).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load_file(&path).unwrap();
        assert_eq!(back.matrix.homeserver_url, "https://m.example.org");
        assert_eq!(back.matrix.access_token.unwrap().expose_secret(), "syt_keep_me");
        assert_eq!(back.telegram.allowed_users, vec!["@alice".to_owned()]);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }
}
