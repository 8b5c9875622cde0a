//! The configured `command` brain inside a real runtime: history across turns, `!new`, and
//! refusal of sandboxed senders.

use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind};
use parachute_core::ids::Platform;
use parachute_core::trust::TrustLevel;
use parachute_runtime::orchestrator::NEW_SESSION_TEXT;
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};

const WAIT: Duration = Duration::from_secs(10);

/// Prints the roles of the history it got and the message, from the JSON request on stdin.
const SCRIPT: &str = r#"grep -o '"role":"[a-z]*"\|"message":"[^"]*"' | tr '\n' ' '"#;

fn config(trust: TrustLevel) -> BotsConfig {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    config.telegram.dm_trust_level = trust;
    config.brain.kind = BrainKind::Command;
    config.brain.command = Some("sh".into());
    config.brain.args = vec!["-c".into(), SCRIPT.into()];
    config
}

#[actix::test]
async fn history_is_carried_across_turns_and_reset_by_new() {
    let rt = TestRuntime::start(config(TrustLevel::Direct), None);
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "hello", "m1"));
    fake.wait_delivered(1, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "again", "m2"));
    fake.wait_delivered(2, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "/new", "m3"));
    fake.wait_delivered(3, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "fresh", "m4"));
    let replies = fake.wait_delivered(4, WAIT).await;
    let texts: Vec<_> = replies.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            r#""message":"hello""#,
            r#""role":"user" "role":"assistant" "message":"again""#,
            NEW_SESSION_TEXT,
            r#""message":"fresh""#,
        ]
    );
}

#[actix::test]
async fn sandboxed_senders_get_a_refusal_not_the_program() {
    let rt = TestRuntime::start(config(TrustLevel::Sandboxed), None);
    let fake = rt.fake(Platform::Telegram);
    fake.wait_connected(1, WAIT).await;
    fake.inject(dm(Platform::Telegram, "42", "hello", "m1"));
    let replies = fake.wait_delivered(1, WAIT).await;
    assert!(replies[0].text.starts_with("Sorry"), "{}", replies[0].text);
    assert!(replies[0].text.contains("only answers trusted"), "{}", replies[0].text);
}
