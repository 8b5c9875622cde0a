//! The vault's daily journal: `!journal <text>` appends a timestamped line to
//! `VAULT/journal/YYYY-MM-DD.md` (dates and times in UTC).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parachute_core::ids::Platform;
use parachute_core::time::civil_from_days;

/// What `!journal` without text answers.
pub const JOURNAL_USAGE_TEXT: &str = "Usage: `!journal <text>` (`/journal <text>` on Telegram) adds a timestamped \
entry to today's journal file in the vault (`journal/YYYY-MM-DD.md`, UTC).";

/// One journal entry, before it is written.
#[derive(Debug, Clone)]
pub struct JournalEntry<'a> {
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Where it came from.
    pub platform: Platform,
    /// Who wrote it (display name; line breaks are removed).
    pub author: &'a str,
    /// What was written (may span several lines; continuation lines are indented).
    pub text: &'a str,
}

impl JournalEntry<'_> {
    /// The file name of the entry's day, `YYYY-MM-DD.md`.
    pub fn file_name(&self) -> String {
        let (year, month, day) = civil_from_days(self.at_ms.div_euclid(1000).div_euclid(86_400));
        format!("{year:04}-{month:02}-{day:02}.md")
    }

    /// The Markdown list item: `- HH:MM (platform, author) text\n`, continuation lines
    /// indented so they stay inside the item.
    pub fn render(&self) -> String {
        let secs_of_day = self.at_ms.div_euclid(1000).rem_euclid(86_400);
        let author: String =
            self.author.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
        let mut out =
            format!("- {:02}:{:02} ({}, {author})", secs_of_day / 3600, secs_of_day % 3600 / 60, self.platform);
        for (i, line) in self.text.trim().lines().enumerate() {
            out.push_str(if i == 0 { " " } else { "\n  " });
            out.push_str(line.trim_end());
        }
        out.push('\n');
        out
    }
}

/// Appends `entry` to its day's file under `vault/journal/`, creating folder and file when
/// missing. The whole entry goes out in one `write(2)` on a file opened with `O_APPEND`, so
/// concurrent appends (from this process or another) never interleave or overwrite.
pub fn append_entry(vault: &Path, entry: &JournalEntry<'_>) -> io::Result<PathBuf> {
    let dir = vault.join("journal");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(entry.file_name());
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let bytes = entry.render().into_bytes();
    let written = file.write(&bytes)?;
    if written != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {written} of {} bytes", bytes.len()),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-25T06:21:40Z
    const AT: i64 = 1_795_587_700_123;

    #[test]
    fn renders_time_platform_author_and_indented_lines() {
        let entry = JournalEntry { at_ms: AT, platform: Platform::Matrix, author: "Ann\nB", text: " one\ntwo \n" };
        assert_eq!(entry.file_name(), "2026-11-25.md");
        assert_eq!(entry.render(), "- 06:21 (matrix, Ann B) one\n  two\n");
    }

    #[test]
    fn appends_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let first = JournalEntry { at_ms: AT, platform: Platform::Telegram, author: "a", text: "first" };
        let path = append_entry(dir.path(), &first).unwrap();
        append_entry(dir.path(), &JournalEntry { text: "second", ..first.clone() }).unwrap();
        assert_eq!(path, dir.path().join("journal/2026-11-25.md"));
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "- 06:21 (telegram, a) first\n- 06:21 (telegram, a) second\n"
        );
    }

    #[test]
    fn concurrent_appends_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(3000);
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (vault, long) = (dir.path(), &long);
                scope.spawn(move || {
                    for i in 0..50 {
                        let text = format!("{t}-{i} {long}");
                        let entry = JournalEntry { at_ms: AT, platform: Platform::Discord, author: "w", text: &text };
                        append_entry(vault, &entry).unwrap();
                    }
                });
            }
        });
        let content = std::fs::read_to_string(dir.path().join("journal/2026-11-25.md")).unwrap();
        let lines: Vec<_> = content.lines().collect();
        assert_eq!(lines.len(), 400);
        for line in lines {
            assert!(line.starts_with("- 06:21 (discord, w) ") && line.ends_with(&long), "torn entry: {line:.60}");
        }
    }
}
