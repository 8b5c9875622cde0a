//! The bot token travels in every REST request's header and in IDENTIFY/RESUME: it must not
//! show up in logs or statuses, whatever fails. Its own process, since log capture is global.

use std::sync::Arc;
use std::time::Duration;

use parachute_core::ids::Platform;
use parachute_discord::DiscordFactory;
use parachute_runtime::status::ConnectorState;
use parachute_testkit::TestRuntime;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::discord_fake::{DiscordFake, FAKE_TOKEN, Failure, dm_text};
use parachute_testkit::logs::{capture_logs, captured_logs};
use parachute_testkit::runtime::config_with_tokens;

const WAIT: Duration = Duration::from_secs(10);

#[actix::test]
async fn token_never_appears_in_trace_logs_or_status() {
    capture_logs();
    let fake = DiscordFake::start();
    fake.set_heartbeat_interval(Duration::from_millis(200));
    let mut config = config_with_tokens();
    config.discord.enabled = true;
    config.discord.api_url = fake.api_url();
    config.discord.gateway_url = fake.gateway_url();
    config.discord.allowed_users = vec!["42".into()];
    let rt = TestRuntime::start_with(config, Some(Arc::new(RecordingBrain::new())), vec![Arc::new(DiscordFactory)]);
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
    fake.fail_next("createMessage", Failure::Server(503));
    fake.push_message(dm_text(fake.next_id(), 500, 42, "alice", "one"));
    fake.wait_calls("createMessage", 2, WAIT, |_| true).await;
    fake.wait_frames(1, 2, WAIT, |_| true).await;
    fake.gateway_down();
    let down = rt.wait_status(Platform::Discord, WAIT, |s| s.failure_count >= 1 && s.last_error.is_some()).await;
    fake.gateway_up();
    fake.wait_frames(6, 1, WAIT, |_| true).await;
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;

    let secret = FAKE_TOKEN.rsplit('.').next().unwrap();
    assert_eq!(secret, "token-value-0123");
    assert!(!down.last_error.unwrap_or_default().contains(secret));
    let logs = captured_logs();
    assert!(logs.contains("discord connected") && logs.contains("sending identify"), "logs were captured at TRACE");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
    assert!(leaks.is_empty(), "token found in logs: {leaks:#?}");
}
