//! `!journal`: entries land in the vault's daily file, usage without text, and the brain never
//! sees the command.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::ids::Platform;
use parachute_runtime::journal::JOURNAL_USAGE_TEXT;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};

const WAIT: Duration = Duration::from_secs(5);

async fn started(brain: &RecordingBrain) -> TestRuntime {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    let rt = TestRuntime::start(config, Some(Arc::new(brain.clone())));
    rt.fake(Platform::Telegram).wait_connected(1, WAIT).await;
    rt
}

fn journal_files(rt: &TestRuntime) -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir(rt.vault.join("journal")) else { return Vec::new() };
    let mut files: Vec<_> = dir
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[actix::test]
async fn journal_entries_are_appended_to_the_daily_file_and_confirmed() {
    let brain = RecordingBrain::new();
    let rt = started(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    let mut first = dm(Platform::Telegram, "42", "/journal walked the dog", "j1");
    first.sender_display = "Alice\nSmith".into();
    fake.inject(first);
    let replies = fake.wait_delivered(1, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "!j line one\nline two", "j2"));
    let replies_after = fake.wait_delivered(2, WAIT).await;

    let files = journal_files(&rt);
    assert_eq!(files.len(), 1, "{files:?}");
    let (name, content) = &files[0];
    assert!(replies[0].text.contains(&format!("journal/{name}")), "{}", replies[0].text);
    assert!(replies_after[1].text.starts_with("Noted in the journal"));
    // YYYY-MM-DD.md
    assert_eq!(name.len(), 13);
    assert!(name.ends_with(".md") && name.as_bytes()[4] == b'-' && name.as_bytes()[7] == b'-');
    let lines: Vec<_> = content.lines().collect();
    assert_eq!(lines.len(), 3, "{content}");
    let time = &lines[0][2..7];
    assert!(time.as_bytes()[2] == b':' && time.chars().filter(char::is_ascii_digit).count() == 4, "{time}");
    assert!(lines[0].ends_with("(telegram, Alice Smith) walked the dog"), "{}", lines[0]);
    assert!(lines[1].ends_with("line one"), "{}", lines[1]);
    assert_eq!(lines[2], "  line two");
    assert!(brain.requests().is_empty(), "journal commands never reach the brain");
}

#[actix::test]
async fn journal_without_text_explains_usage_and_writes_nothing() {
    let brain = RecordingBrain::new();
    let rt = started(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    fake.inject(dm(Platform::Telegram, "42", "/journal   ", "j1"));
    let replies = fake.wait_delivered(1, WAIT).await;
    assert_eq!(replies[0].text, JOURNAL_USAGE_TEXT);
    assert!(journal_files(&rt).is_empty());
}

#[actix::test]
async fn journal_entries_from_many_chats_all_arrive_whole() {
    let brain = RecordingBrain::new();
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = (0..10).map(|i| format!("10{i}")).collect();
    let rt = TestRuntime::start(config, Some(Arc::new(brain.clone())));
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    for i in 0..10 {
        fake.inject(dm(Platform::Telegram, &format!("10{i}"), &format!("!journal entry {i}"), &format!("e{i}")));
    }
    fake.wait_delivered(10, WAIT).await;
    let content: String = journal_files(&rt).into_iter().map(|(_, c)| c).collect();
    let mut entries: Vec<_> = content.lines().map(|l| l.rsplit(' ').next().unwrap().to_owned()).collect();
    entries.sort_by_key(|n| n.parse::<u32>().unwrap());
    assert_eq!(entries, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}
