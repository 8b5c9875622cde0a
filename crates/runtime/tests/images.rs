//! Images inside a real runtime: a photo is fetched only after the gate, scaled to the
//! model's limits and shown to the `anthropic` and `openai` brains in their request shapes
//! (image block, `image_url` data URL) with its caption; a brain without image input says so
//! without downloading anything; an image over `max_media_bytes` is refused before download.

use std::time::Duration;

use parachute_core::config::{BotsConfig, BrainKind};
use parachute_core::ids::Platform;
use parachute_runtime::image_input::{MAX_IMAGE_PIXELS_SENT, MAX_IMAGE_SIDE};
use parachute_runtime::messages::{Content, Inbound, MediaRef};
use parachute_testkit::ai_fake::{AiFake, Api, Scripted};
use parachute_testkit::runtime::config_with_tokens;
use parachute_testkit::{TestRuntime, dm, images};

const WAIT: Duration = Duration::from_secs(10);
const KEY: &str = "sk-images-test-key-0123456789";

fn config(kind: Option<BrainKind>, fake: &AiFake) -> BotsConfig {
    let mut config = config_with_tokens();
    config.telegram.enabled = true;
    config.telegram.allowed_users = vec!["42".into()];
    if let Some(kind) = kind {
        fake.configure_brain(&mut config.brain, kind, KEY);
    }
    config
}

fn photo(user: &str, source: &str, size: usize, caption: Option<&str>, event: &str) -> Inbound {
    let media = MediaRef {
        mime_type: "image/png".into(),
        file_name: "photo.png".into(),
        size: Some(size as u64),
        source: source.into(),
    };
    Inbound { content: Content::image(media, caption.map(str::to_owned)), ..dm(Platform::Telegram, user, "", event) }
}

#[actix::test]
async fn a_photo_is_scaled_and_shown_to_the_model_with_its_caption() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        fake.script(Api::of(kind), Scripted::Answer("A red square on a gradient.".into()));
        fake.script(Api::of(kind), Scripted::Answer("You sent a photo.".into()));
        let rt = TestRuntime::start(config(Some(kind), &fake), None);
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        let png = images::png(3000, 2000);
        chat.add_media("photo-1", png.clone());
        chat.inject(photo("42", "photo-1", png.len(), Some("what is this?"), "m1"));
        assert_eq!(chat.wait_delivered(1, WAIT).await[0].text, "A red square on a gradient.", "{kind:?}");
        chat.inject(dm(Platform::Telegram, "42", "what did I send?", "m2"));
        chat.wait_delivered(2, WAIT).await;

        let calls = fake.calls(Api::of(kind));
        assert!(calls.iter().all(|c| c.rejected.is_none()), "{calls:#?}");
        let shown = calls[0].shown_image().expect("an image first in the last turn");
        assert_eq!((shown.media_type.as_str(), shown.text.as_str()), ("image/jpeg", "what is this?"), "{kind:?}");
        let sent = image::load_from_memory(&shown.bytes).unwrap();
        assert!(sent.width() <= MAX_IMAGE_SIDE && sent.height() <= MAX_IMAGE_SIDE, "{kind:?}");
        assert!(u64::from(sent.width()) * u64::from(sent.height()) <= MAX_IMAGE_PIXELS_SENT);
        assert!(
            (sent.width() * 2).abs_diff(sent.height() * 3) <= 3,
            "the shape is kept: {}x{}",
            sent.width(),
            sent.height()
        );
        let corner = sent.to_rgb8().get_pixel(10, 10).0;
        assert!(corner[0] > 180 && corner[1] < 70, "the picture is the one sent: {corner:?}");
        // Later turns remember that an image was there, as words.
        let history = calls[1].body["messages"].to_string();
        assert!(history.contains("[image] what is this?"), "{history}");
        assert!(!history.contains("base64"), "no pixels in the history: {history}");
    }
}

#[actix::test]
async fn a_brain_without_image_input_says_so_and_nothing_is_downloaded() {
    let fake = AiFake::start(Some(KEY));
    let rt = TestRuntime::start(config(None, &fake), None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.add_media("photo-1", images::png(40, 40));
    chat.inject(photo("42", "photo-1", 500, None, "m1"));
    let reply = &chat.wait_delivered(1, WAIT).await[0].text;
    assert_eq!(reply, "I can't see images with the echo brain; tell me in words what it shows.");
    assert!(chat.fetches().is_empty());
}

#[actix::test]
async fn an_image_over_the_limit_or_from_a_stranger_is_never_downloaded() {
    let fake = AiFake::start(Some(KEY));
    let mut config = config(Some(BrainKind::Anthropic), &fake);
    config.max_media_bytes = 1_000_000;
    let rt = TestRuntime::start(config, None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.add_media("big", images::png(40, 40));
    chat.inject(photo("42", "big", 5_000_000, None, "m1"));
    let reply = &chat.wait_delivered(1, WAIT).await[0].text;
    assert_eq!(reply, "That image is 5 MB; I can take files up to 1 MB.");
    chat.inject(photo("777", "big", 500, Some("hi"), "m2"));
    chat.wait_delivered(2, WAIT).await;
    assert!(chat.fetches().is_empty(), "{:?}", chat.fetches());
    assert!(fake.calls(Api::Anthropic).is_empty());
}

#[actix::test]
async fn a_caption_is_answered_when_its_picture_cannot_be_seen() {
    // The echo brain sees no images: the caption is answered below a line saying so.
    let fake = AiFake::start(Some(KEY));
    let rt = TestRuntime::start(config(None, &fake), None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.add_media("photo-1", images::png(40, 40));
    chat.inject(photo("42", "photo-1", 500, Some("what colour is my new door?"), "m1"));
    let reply = &chat.wait_delivered(1, WAIT).await[0].text;
    assert_eq!(
        reply,
        "_I can't see images with the echo brain, so I read only its caption._\n\nwhat colour is my new door?"
    );
    assert!(chat.fetches().is_empty(), "nothing downloaded for a brain that cannot look");

    // A model brain, a file that is no picture: the model gets the caption as text.
    let mut config = config(Some(BrainKind::Anthropic), &fake);
    config.telegram.stream = parachute_core::config::StreamMode::Off;
    let rt = TestRuntime::start(config, None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.add_media("broken", b"not a picture".to_vec());
    fake.script(Api::Anthropic, Scripted::Answer("Tell me the colour and I'll remember it.".into()));
    chat.inject(photo("42", "broken", 13, Some("what colour is my new door?"), "m2"));
    let reply = &chat.wait_delivered(1, WAIT).await[0].text;
    assert!(
        reply
            .starts_with("_I couldn't read the image (JPEG, PNG, WebP and GIF work), so I read only its caption._\n\n")
    );
    assert!(reply.ends_with("Tell me the colour and I'll remember it."), "{reply}");
    let call = fake.wait_calls(Api::Anthropic, 1, WAIT).await.remove(0);
    assert!(call.shown_image().is_none(), "no image block");
    assert_eq!(call.body["messages"][0]["content"], "what colour is my new door?");
}

#[actix::test]
async fn a_group_picture_not_addressed_to_the_bot_is_kept_with_its_caption() {
    let fake = AiFake::start(Some(KEY));
    let mut config = config(Some(BrainKind::Anthropic), &fake);
    config.telegram.allowed_groups = vec!["-100".into()];
    config.telegram.stream = parachute_core::config::StreamMode::Off;
    let rt = TestRuntime::start(config, None);
    let chat = rt.fake(Platform::Telegram);
    chat.wait_connected(1, WAIT).await;
    chat.add_media("cake", images::png(40, 40));
    let media = MediaRef {
        mime_type: "image/png".into(),
        file_name: "cake.png".into(),
        size: Some(500),
        source: "cake".into(),
    };
    let picture = Inbound {
        content: Content::image(media, Some("my birthday cake".into())),
        ..parachute_testkit::group(Platform::Telegram, "-100", "7", "", "g1", false)
    };
    chat.inject(picture);
    chat.inject(parachute_testkit::group(Platform::Telegram, "-100", "8", "what was on the cake?", "g2", true));
    let call = fake.wait_calls(Api::Anthropic, 1, WAIT).await.remove(0);
    let conversation = call.body["messages"].to_string();
    assert!(conversation.contains("[image] my birthday cake"), "{conversation}");
    assert!(chat.fetches().is_empty(), "a picture kept as context is not downloaded");
}
