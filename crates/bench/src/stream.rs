//! Streamed answers: how soon the first words are visible, against how long the whole
//! answer takes. The real runtime (SQLite store, orchestrator, preview, harness lane) and the
//! benchmark connector, with the Anthropic brain on the testkit's fake provider writing
//! server-sent events at 50 tokens/s (one word per event, 20 ms apart). The same answers
//! are measured with `stream: edit` (the default) and with `stream: off` (the reference: the
//! answer sent whole), one message at a time.

use std::time::{Duration, Instant};

use parachute_core::config::{BotsConfig, BrainKind, StreamMode};
use parachute_core::duration::HumanDuration;
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use secrecy::SecretString;

use crate::pipeline::{message, with_configured_runtime};
use crate::stats::Report;

const KEY: &str = "sk-bench-stream-0123456789";
/// The fake model's pace: 50 tokens (here: words) per second.
const PACE: Duration = Duration::from_millis(20);

/// What one mode measured.
pub struct StreamRun {
    /// Message in to the first text in the chat.
    pub first_text: Report,
    /// Message in to the final, whole answer.
    pub full_answer: Report,
    /// Deliveries per answer (the first send, the edits, the final one).
    pub deliveries_per_answer: f64,
}

/// `answers` answers of `words` words each, one at a time, with `mode` on the platform.
pub fn run(mode: StreamMode, answers: usize, words: usize) -> StreamRun {
    let text = (1..=words).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let scripted = text.clone();
    let configure = move |config: &mut BotsConfig| {
        let fake = AiFake::start(Some(KEY));
        for _ in 0..answers {
            fake.script(Api::Anthropic, Scripted::Paced { text: scripted.clone(), pace: PACE });
        }
        config.telegram.stream = mode;
        config.telegram.stream_edit_interval = HumanDuration(Duration::from_secs(1));
        config.brain.kind = BrainKind::Anthropic;
        config.brain.model = Some("bench-model".into());
        config.brain.api_key = Some(SecretString::from(KEY));
        config.brain.base_url = Some(fake.anthropic_url());
        config.brain.max_tokens = 4096;
        fake
    };
    with_configured_runtime(1, configure, async move |connector, mut replies, _| {
        let mut first_text = Vec::with_capacity(answers);
        let mut full_answer = Vec::with_capacity(answers);
        let mut deliveries = 0usize;
        let start = Instant::now();
        for index in 0..answers {
            let sent = Instant::now();
            connector.inject(message(0, index));
            let mut first = None;
            loop {
                let (reply, at) = tokio::time::timeout(Duration::from_secs(60), replies.recv())
                    .await
                    .expect("an answer within 60 s")
                    .expect("the runtime is running");
                deliveries += 1;
                first.get_or_insert(at - sent);
                if !reply.partial {
                    assert_eq!(reply.text, text, "the whole answer");
                    full_answer.push(at - sent);
                    break;
                }
            }
            first_text.push(first.unwrap_or_default());
        }
        let elapsed = start.elapsed();
        StreamRun {
            first_text: Report::new(elapsed, first_text),
            full_answer: Report::new(elapsed, full_answer),
            deliveries_per_answer: deliveries as f64 / answers as f64,
        }
    })
}
