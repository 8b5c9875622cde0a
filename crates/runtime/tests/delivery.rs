//! Reply delivery through the real harness, driven by the fake connector: a lane per chat (a
//! rate-limited chat does not hold up another), bounded retries reported as failed replies,
//! and the durable inbox handed on again on every reconnect without double answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parachute_core::ids::Platform;
use parachute_runtime::connector::ConnectorError;
use parachute_testkit::brains::RecordingBrain;
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm, wait_until};

const WAIT: Duration = Duration::from_secs(5);

async fn telegram(brain: &RecordingBrain) -> TestRuntime {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into(), "43".into()];
    let rt = TestRuntime::start(config, Some(Arc::new(brain.clone())));
    rt.fake(Platform::Telegram).wait_connected(1, WAIT).await;
    rt
}

fn texts_in(replies: &[parachute_runtime::messages::Reply], chat: &str) -> Vec<String> {
    replies.iter().filter(|r| r.chat.as_str() == chat).map(|r| r.text.clone()).collect()
}

#[actix::test]
async fn a_rate_limited_chat_does_not_hold_up_another_chat_of_the_platform() {
    let brain = RecordingBrain::new();
    let rt = telegram(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    let retry_after = Duration::from_secs(20);
    fake.fail_deliveries_in("dm-42", [ConnectorError::RateLimited(retry_after)]);
    let limited_at = Instant::now();
    fake.inject(dm(Platform::Telegram, "42", "slow lane", "l1"));
    assert!(wait_until(WAIT, || async { fake.scripted_failures_left() == 0 }).await, "the platform was asked");

    let asked = Instant::now();
    fake.inject(dm(Platform::Telegram, "43", "fast lane", "l2"));
    let replies = fake.wait_delivered(1, Duration::from_secs(1)).await;
    assert_eq!(texts_in(&replies, "dm-43"), ["43 name: fast lane"], "answered within {:?}", asked.elapsed());

    let replies = fake.wait_delivered(2, retry_after + WAIT).await;
    assert!(limited_at.elapsed() >= retry_after, "sent again only after retry_after");
    assert_eq!(texts_in(&replies, "dm-42"), ["42 name: slow lane"]);
    fake.inject(dm(Platform::Telegram, "42", "marker", "l3"));
    let replies = fake.wait_delivered(3, WAIT).await;
    assert_eq!(texts_in(&replies, "dm-42"), ["42 name: slow lane", "42 name: marker"], "the retried reply came once");
    assert_eq!(rt.handle.metrics.counts(Platform::Telegram).rate_limited, 1);
}

#[actix::test]
async fn a_reply_whose_retries_run_out_is_reported_failed_and_counted() {
    let brain = RecordingBrain::new();
    let rt = telegram(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    let attempts = parachute_runtime::backoff_policy::DELIVERY_MAX_ATTEMPTS;
    fake.fail_deliveries_in("dm-42", (0..attempts).map(|_| ConnectorError::RateLimited(Duration::from_millis(10))));
    fake.inject(dm(Platform::Telegram, "42", "doomed", "x1"));
    let status = rt.wait_status(Platform::Telegram, WAIT, |s| s.failed_replies == 1).await;
    assert_eq!(fake.scripted_failures_left(), 0, "every allowed attempt was made");
    assert!(fake.delivered().is_empty());
    assert_eq!(rt.handle.metrics.counts(Platform::Telegram).delivery_failures, 1);
    assert!(
        !parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Telegram, "x1").await,
        "not recorded as answered"
    );
    assert_eq!(status.state.name(), "connected", "a failed reply does not touch the connection");

    // A retry_after longer than the budget fails the reply at once instead of waiting.
    fake.fail_deliveries_in("dm-43", [ConnectorError::RateLimited(Duration::from_secs(3600))]);
    let asked = Instant::now();
    fake.inject(dm(Platform::Telegram, "43", "later, maybe", "x2"));
    rt.wait_status(Platform::Telegram, WAIT, |s| s.failed_replies == 2).await;
    assert!(asked.elapsed() < WAIT);
    assert_eq!(rt.handle.metrics.counts(Platform::Telegram).delivery_failures, 2);

    // The chat's lane goes on with the next reply.
    fake.inject(dm(Platform::Telegram, "42", "next", "x3"));
    assert_eq!(texts_in(&fake.wait_delivered(1, WAIT).await, "dm-42"), ["42 name: next"]);
}

#[actix::test]
async fn a_message_being_answered_when_the_inbox_is_handed_on_again_is_answered_once() {
    let brain = RecordingBrain::new();
    brain.delay_chat("dm-42", Duration::from_millis(800));
    let rt = telegram(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    fake.inject_accepted(dm(Platform::Telegram, "42", "in flight", "i1")).await;
    assert!(wait_until(WAIT, || async { brain.requests().len() == 1 }).await, "the brain is working on it");

    fake.drop_connection(Err(ConnectorError::Transient("network went away".into())));
    fake.wait_connected(2, WAIT).await;
    // The reconnect handed the unfinished inbox entry on again; the orchestrator, still
    // answering it, dropped the copy.
    let metrics = &rt.handle.metrics;
    assert!(
        wait_until(WAIT, || async { metrics.counts(Platform::Telegram).duplicates_dropped == 1 }).await,
        "the inbox was handed on again on the reconnect"
    );
    fake.wait_delivered(1, WAIT).await;
    let store = &rt.handle.store;
    assert!(
        wait_until(WAIT, || async {
            parachute_testkit::store_probe::event_done(store, Platform::Telegram, "i1").await
        })
        .await
    );
    assert!(parachute_testkit::store_probe::inbox(store, Platform::Telegram).await.is_empty(), "the inbox is empty");

    fake.inject(dm(Platform::Telegram, "42", "marker", "i2"));
    let replies = fake.wait_delivered(2, WAIT).await;
    assert_eq!(texts_in(&replies, "dm-42"), ["42 name: in flight", "42 name: marker"]);
    assert_eq!(brain.requests().len(), 2, "the brain was asked once per message");
}

#[actix::test]
async fn a_reply_given_up_is_answered_again_after_the_next_reconnect() {
    let brain = RecordingBrain::new();
    let rt = telegram(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    let attempts = parachute_runtime::backoff_policy::DELIVERY_MAX_ATTEMPTS;
    fake.fail_deliveries_in("dm-42", (0..attempts).map(|_| ConnectorError::RateLimited(Duration::from_millis(10))));
    fake.inject_accepted(dm(Platform::Telegram, "42", "eventually", "g1")).await;
    rt.wait_status(Platform::Telegram, WAIT, |s| s.failed_replies == 1).await;
    assert!(fake.delivered().is_empty());

    fake.drop_connection(Err(ConnectorError::Transient("network went away".into())));
    let replies = fake.wait_delivered(1, WAIT).await;
    assert_eq!(texts_in(&replies, "dm-42"), ["42 name: eventually"], "answered from the inbox after the reconnect");
    let store = &rt.handle.store;
    assert!(
        wait_until(WAIT, || async {
            parachute_testkit::store_probe::event_done(store, Platform::Telegram, "g1").await
        })
        .await
    );
}

#[actix::test]
async fn a_drain_at_shutdown_lets_running_answers_finish_and_starts_no_other() {
    let brain = RecordingBrain::new();
    brain.delay_chat("dm-42", Duration::from_millis(400));
    let rt = telegram(&brain).await;
    let fake = rt.fake(Platform::Telegram);
    fake.inject_accepted(dm(Platform::Telegram, "42", "in progress", "d1")).await;
    assert!(wait_until(WAIT, || async { brain.requests().len() == 1 }).await, "the brain was asked");
    // The drain comes first: the gate may still hand these to the orchestrator after it.
    let drained = rt.handle.orchestrator.send(parachute_runtime::messages::Drain);
    fake.inject_accepted(dm(Platform::Telegram, "42", "waiting behind it", "d2")).await;
    fake.inject_accepted(dm(Platform::Telegram, "43", "not started yet", "d3")).await;

    drained.await.unwrap();
    // When the drain answers, the running message is delivered and recorded; nothing else ran.
    assert_eq!(texts_in(&fake.delivered(), "dm-42"), ["42 name: in progress"]);
    assert!(parachute_testkit::store_probe::event_done(&rt.handle.store, Platform::Telegram, "d1").await);
    let waiting = parachute_testkit::store_probe::inbox(&rt.handle.store, Platform::Telegram).await;
    let mut left: Vec<_> = waiting.iter().map(|inbound| inbound.event_id.as_str().to_owned()).collect();
    left.sort();
    assert_eq!(left, ["d2", "d3"], "the others wait in the inbox for the next start");
    assert_eq!(brain.requests().len(), 1);
}
