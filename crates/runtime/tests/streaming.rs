//! Streamed answers inside a real runtime, with the fake AI provider writing its answer in
//! pieces (server-sent events of both APIs): the answer grows in one message, edited at most
//! once per interval, the final text edits it; typing shows only until the first text; a
//! stream cut mid-way ends with what came and a note; one cut before any text is tried again;
//! `stream: off` sends the answer whole.

use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind, StreamMode};
use parachute_core::duration::HumanDuration;
use parachute_core::ids::Platform;
use parachute_runtime::messages::Reply;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm};

const WAIT: Duration = Duration::from_secs(10);
const KEY: &str = "sk-stream-test-key-0123456789";

fn config(kind: BrainKind, fake: &AiFake, interval: Duration) -> BotsConfig {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    config.telegram.stream_edit_interval = HumanDuration(interval);
    fake.configure_brain(&mut config.brain, kind, KEY);
    config
}

/// `count` numbered words.
fn words(count: usize) -> String {
    (1..=count).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ")
}

#[actix::test]
async fn a_streamed_answer_grows_in_one_message_edited_at_most_once_per_interval() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let answer = words(30);
        let pace = Duration::from_millis(40);
        fake.script(Api::of(kind), Scripted::Paced { text: answer.clone(), pace });
        let interval = Duration::from_millis(300);
        let rt = TestRuntime::start(config(kind, &fake, interval), None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        let started = std::time::Instant::now();
        chat.inject(dm(Platform::Telegram, "42", "tell me", "m1"));
        let finals = chat.wait_delivered(1, WAIT).await;
        let took = started.elapsed();

        assert_eq!(finals.len(), 1, "{kind:?}");
        assert_eq!(finals[0].text, answer, "{kind:?}");
        assert_eq!(fake.calls(Api::of(kind))[0].body["stream"], true, "{kind:?}");
        let previews = chat.previews();
        assert!(!previews.is_empty(), "{kind:?}: the answer was shown while it was written");
        // The first text goes out at once, then one edit per interval at most.
        let bound = 1 + (took.as_millis() / interval.as_millis()) as usize + 1;
        assert!(previews.len() <= bound, "{kind:?}: {} previews in {took:?}, at most {bound}", previews.len());
        assert!(previews.len() >= 2, "{kind:?}: 30 pieces over {took:?} give more than one preview");
        let mut last_len = 0;
        for preview in &previews {
            assert!(answer.starts_with(&preview.text), "{kind:?}: {:?} is a start of the answer", preview.text);
            assert!(preview.text.len() > last_len, "{kind:?}: every preview shows more");
            last_len = preview.text.len();
        }
        // One message: the first preview sends it, everything after edits it.
        let all: Vec<Reply> = chat.deliveries();
        assert!(all[0].shown.is_empty(), "{kind:?}");
        assert!(
            all[1..].iter().all(|reply| reply.shown.len() == 1 && reply.shown[0].id == "fake-message-1"),
            "{kind:?}: {all:#?}"
        );
        assert!(!finals[0].partial);
        // The first text came before the notice delay: neither reaction nor typing.
        assert_eq!(chat.acks(), [], "{kind:?}");
        assert_eq!(chat.typing(), [], "{kind:?}");
    }
}

#[actix::test]
async fn typing_shows_until_the_first_text_arrives() {
    let fake = AiFake::start(Some(KEY));
    fake.script(Api::Anthropic, Scripted::Paced { text: words(3), pace: Duration::from_millis(600) });
    let rt = TestRuntime::start(config(BrainKind::Anthropic, &fake, Duration::from_millis(250)), None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.inject(dm(Platform::Telegram, "42", "slowly", "m1"));
    let finals = chat.wait_delivered(1, WAIT).await;
    assert_eq!(finals[0].text, words(3));
    let typing: Vec<bool> = chat.typing().into_iter().map(|(_, on)| on).collect();
    assert_eq!(typing, [true, false], "on after the notice delay, off with the first text, not again");
    assert_eq!(chat.acks().len(), 1, "the answer took longer than the notice delay");
    let previews = chat.previews();
    assert_eq!(previews[0].text, "word1");
}

#[actix::test]
async fn a_stream_cut_mid_way_ends_with_what_came_and_a_note() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let pace = Duration::from_millis(20);
        fake.script(Api::of(kind), Scripted::Dropped { text: words(20), pieces: 5, pace });
        let rt = TestRuntime::start(config(kind, &fake, Duration::from_millis(250)), None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "go", "m1"));
        let finals = chat.wait_delivered(1, WAIT).await;
        assert_eq!(
            finals[0].text,
            format!("{}\n\n*(The answer was cut off: the connection to the service broke.)*", words(5)),
            "{kind:?}"
        );
        assert_eq!(fake.calls(Api::of(kind)).len(), 1, "{kind:?}: text was shown, so the request is not repeated");
        assert!(finals[0].shown.len() == 1, "{kind:?}: the note edits the message that showed the text");
    }
}

#[actix::test]
async fn a_stream_cut_before_any_text_is_tried_again() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        fake.script(Api::of(kind), Scripted::Dropped { text: words(4), pieces: 0, pace: Duration::ZERO });
        let mut config = config(kind, &fake, Duration::from_millis(250));
        config.brain.max_retries = 1;
        let rt = TestRuntime::start(config, None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "again please", "m1"));
        let finals = chat.wait_delivered(1, Duration::from_secs(20)).await;
        assert_eq!(finals[0].text, "heard: again please", "{kind:?}");
        assert_eq!(fake.calls(Api::of(kind)).len(), 2, "{kind:?}");
    }
}

#[actix::test]
async fn stream_off_sends_the_answer_whole() {
    let fake = AiFake::start(Some(KEY));
    fake.script(Api::OpenAi, Scripted::Paced { text: words(10), pace: Duration::from_millis(10) });
    let mut config = config(BrainKind::Openai, &fake, Duration::from_millis(250));
    config.telegram.stream = StreamMode::Off;
    let rt = TestRuntime::start(config, None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.inject(dm(Platform::Telegram, "42", "whole", "m1"));
    let finals = chat.wait_delivered(1, WAIT).await;
    assert_eq!(finals[0].text, words(10));
    assert_eq!(chat.previews(), []);
    assert!(fake.calls(Api::OpenAi)[0].body.get("stream").is_none(), "not asked to stream");
}
