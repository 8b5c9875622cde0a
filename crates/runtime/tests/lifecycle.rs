//! Connector lifecycle through the real harness and supervisor, driven by the fake connector.

use std::time::Duration;

use parachute_core::ids::Platform;
use parachute_runtime::connector::ConnectorError;
use parachute_runtime::messages::{ControlError, Start, Stop, Test};
use parachute_runtime::status::{ConnectorState, ConnectorStatus};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{RunScript, TestRuntime};

const WAIT: Duration = Duration::from_secs(5);

/// Follows every status change (`step` sees each one) until `step` returns a value; panics
/// after [`WAIT`] with `what`.
async fn follow<T>(
    rx: &mut tokio::sync::watch::Receiver<ConnectorStatus>,
    what: &str,
    mut step: impl FnMut(ConnectorStatus) -> Option<T>,
) -> T {
    let followed = tokio::time::timeout(WAIT, async {
        loop {
            rx.changed().await.unwrap();
            let status = rx.borrow_and_update().clone();
            if let Some(done) = step(status) {
                return done;
            }
        }
    });
    followed.await.unwrap_or_else(|_| panic!("{what}"))
}

fn enabled_matrix() -> parachute_core::config::BotsConfig {
    let mut config = config_with_tokens();
    config.matrix.enabled = true;
    config
}

#[actix::test]
async fn enabled_connector_starts_and_connects_others_stay_stopped() {
    let rt = TestRuntime::start(enabled_matrix(), None);
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected).await;
    assert!(status.connected_since.is_some());
    assert_eq!(status.identity.unwrap().user_id, "fake-matrix-bot");
    assert_eq!(rt.status(Platform::Telegram).state, ConnectorState::Stopped);
    assert_eq!(rt.fake(Platform::Telegram).runs(), 0);
}

#[actix::test]
async fn transient_failures_back_off_with_growing_delays_then_connect() {
    let config = config_with_tokens();
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Telegram);
    fake.script((0..3).map(|i| RunScript::Fail(ConnectorError::Transient(format!("connection refused {i}")))));
    let mut rx = rt.handle.router.watch_status(Platform::Telegram).unwrap();
    rt.handle.supervisor.send(Start(Platform::Telegram)).await.unwrap().unwrap();

    let mut delays = Vec::new();
    let connected = follow(&mut rx, "connects after the failures", |status| match status.state {
        ConnectorState::Reconnecting { attempt, next_retry_in_ms } if delays.len() < attempt as usize => {
            delays.push(next_retry_in_ms);
            None
        }
        ConnectorState::Connected => Some(status),
        ConnectorState::Failed { reason } => panic!("failed: {reason}"),
        _ => None,
    })
    .await;
    assert_eq!(delays, vec![20, 40, 80], "exponential delays from the test policy");
    assert_eq!(connected.failure_count, 3);
    assert_eq!(connected.last_error, None, "the error is over once connected");
    assert_eq!(fake.runs(), 4);
}

#[actix::test]
async fn auth_failure_fails_fast_without_retrying() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let fake = rt.fake(Platform::Discord);
    fake.script([RunScript::Fail(ConnectorError::Auth("401 Unauthorized".into()))]);
    rt.handle.supervisor.send(Start(Platform::Discord)).await.unwrap().unwrap();
    let status = rt.wait_status(Platform::Discord, WAIT, |s| matches!(s.state, ConnectorState::Failed { .. })).await;
    let ConnectorState::Failed { reason } = status.state else { unreachable!() };
    assert_eq!(reason, "authentication failed: 401 Unauthorized");
    // Give a retry the chance to happen if it were (wrongly) scheduled: 10× the first delay.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.runs(), 1, "an auth failure is not retried");
    // A failed connector can be started again by hand.
    rt.handle.supervisor.send(Start(Platform::Discord)).await.unwrap().unwrap();
    rt.wait_status(Platform::Discord, WAIT, |s| s.state == ConnectorState::Connected).await;
}

#[actix::test]
async fn a_panicking_connector_is_restarted() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let fake = rt.fake(Platform::Matrix);
    fake.script([RunScript::Panic("boom in the sync loop".into())]);
    let mut rx = rt.handle.router.watch_status(Platform::Matrix).unwrap();
    rt.handle.supervisor.send(Start(Platform::Matrix)).await.unwrap().unwrap();
    let mut errors = Vec::new();
    let status = follow(&mut rx, "restarted after the panic", |status| {
        errors.extend(status.last_error.clone());
        (status.state == ConnectorState::Connected).then_some(status)
    })
    .await;
    assert_eq!((fake.runs(), status.failure_count), (2, 1));
    assert!(errors.iter().any(|e| e.contains("connector panicked: boom in the sync loop")), "{errors:?}");
    // The runtime is still answering after the panic.
    let status = rt.handle.supervisor.send(parachute_runtime::messages::GetStatus).await.unwrap();
    assert_eq!(status.len(), 3);
}

#[actix::test]
async fn stop_during_a_backoff_wait_stops_at_once() {
    let mut config = config_with_tokens();
    config.telegram.enabled = false;
    let rt = TestRuntime::start(config, None);
    let fake = rt.fake(Platform::Telegram);
    fake.script([RunScript::Fail(ConnectorError::RateLimited(Duration::from_secs(3600)))]);
    rt.handle.supervisor.send(Start(Platform::Telegram)).await.unwrap().unwrap();
    let status =
        rt.wait_status(Platform::Telegram, WAIT, |s| matches!(s.state, ConnectorState::Reconnecting { .. })).await;
    assert_eq!(
        status.state,
        ConnectorState::Reconnecting { attempt: 1, next_retry_in_ms: 3_600_000 },
        "retry-after honoured"
    );
    rt.handle.supervisor.send(Stop(Platform::Telegram)).await.unwrap().unwrap();
    assert_eq!(rt.status(Platform::Telegram).state, ConnectorState::Stopped);
    // Start again: the old hour-long wait does not linger; a fresh run connects.
    rt.handle.supervisor.send(Start(Platform::Telegram)).await.unwrap().unwrap();
    rt.wait_status(Platform::Telegram, WAIT, |s| s.state == ConnectorState::Connected).await;
    assert_eq!(fake.runs(), 2);
}

#[actix::test]
async fn stop_while_connecting_cancels_the_run() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let fake = rt.fake(Platform::Matrix);
    fake.script([RunScript::Hang]);
    rt.handle.supervisor.send(Start(Platform::Matrix)).await.unwrap().unwrap();
    fake.wait_runs(1, WAIT).await;
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Starting);
    rt.handle.supervisor.send(Stop(Platform::Matrix)).await.unwrap().unwrap();
    assert_eq!(rt.status(Platform::Matrix).state, ConnectorState::Stopped);
}

#[actix::test]
async fn dropped_connection_reconnects_and_healthy_spell_resets_attempts() {
    let rt = TestRuntime::start(enabled_matrix(), None);
    let fake = rt.fake(Platform::Matrix);
    fake.wait_connected(1, WAIT).await;
    fake.drop_connection(Err(ConnectorError::Transient("sync timed out".into())));
    let status =
        rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected && s.failure_count == 1).await;
    assert_eq!(status.reconnect_attempts, 1);
    fake.wait_connected(2, WAIT).await;
    // Stay connected longer than the test policy's healthy spell (1 s), then drop again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.drop_connection(Err(ConnectorError::Transient("reset".into())));
    let status = rt.wait_status(Platform::Matrix, WAIT, |s| s.failure_count == 2).await;
    assert_eq!(status.reconnect_attempts, 1, "attempts restart from 1 after a healthy spell");
}

#[actix::test]
async fn start_refusals_are_specific() {
    let mut config = config_with_tokens();
    config.discord.bot_token = None;
    let rt = TestRuntime::start(config, None);
    let err = rt.handle.supervisor.send(Start(Platform::Discord)).await.unwrap().unwrap_err();
    assert_eq!(err, ControlError::NoToken(Platform::Discord));
    rt.handle.supervisor.send(Start(Platform::Matrix)).await.unwrap().unwrap();
    let err = rt.handle.supervisor.send(Start(Platform::Matrix)).await.unwrap().unwrap_err();
    assert_eq!(err, ControlError::AlreadyRunning(Platform::Matrix));
}

#[actix::test]
async fn test_reports_identity_or_a_redacted_error() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let identity = rt.handle.supervisor.send(Test(Platform::Telegram)).await.unwrap().unwrap();
    assert_eq!(identity.username.as_deref(), Some("parachute_bot"));
    rt.fake(Platform::Telegram)
        .set_test_result(Err(ConnectorError::Auth("bad token 123456:TEST-telegram-token-value".into())));
    let err = rt.handle.supervisor.send(Test(Platform::Telegram)).await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("authentication failed") && !text.contains("TEST-telegram-token-value"), "{text}");
}

#[actix::test]
async fn a_platform_that_stops_answering_is_stalled_and_reconnected_through_the_backoff() {
    let rt = TestRuntime::start(config_with_tokens(), None);
    let fake = rt.fake(Platform::Telegram);
    fake.script([RunScript::ConnectThenStall(Duration::from_millis(300))]);
    let mut rx = rt.handle.router.watch_status(Platform::Telegram).unwrap();
    rt.handle.supervisor.send(Start(Platform::Telegram)).await.unwrap().unwrap();
    let mut seen = Vec::new();
    let reconnected = follow(&mut rx, "stalled and reconnected", |status| {
        if seen.last() != Some(&status.state.name()) {
            seen.push(status.state.name());
        }
        if let ConnectorState::Stalled { silent_for_ms, attempt, .. } = status.state {
            assert!(silent_for_ms >= 300, "declared only past the bound: {silent_for_ms} ms");
            assert_eq!(attempt, 1);
            assert!(status.last_error.as_deref().is_some_and(|e| e.starts_with("stalled")), "{status:?}");
        }
        (status.state == ConnectorState::Connected && seen.contains(&"stalled")).then_some(status)
    })
    .await;
    assert_eq!(fake.runs(), 2, "the stalled run was ended and a new one started");
    assert_eq!((reconnected.stalls, reconnected.reconnects), (1, 1));
    assert_eq!(reconnected.last_error, None, "the error is over once connected again");
    assert_eq!(reconnected.failure_count, 1, "the history stays in the counters");
    assert!(reconnected.last_progress_time.is_some());
}
