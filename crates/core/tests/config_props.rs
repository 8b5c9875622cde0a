//! Property tests: whatever text or JSON arrives as a config, reading it never panics, and a
//! rejection always says what is wrong (and where, for a key).

use parachute_core::config::{BotsConfig, ConfigError, apply_patch, parse_str};
use proptest::prelude::*;
use serde_json::{Value, json};

const VALID: &str = "\
server:
  port: 3333
matrix:
  enabled: true
  homeserver_url: https://m.example.org
  user_id: \"@bot:example.org\"
  allowed_rooms: ['!a:example.org']
telegram:
  allowed_users: ['@alice']
";

fn assert_clear(err: &ConfigError) {
    let text = err.to_string();
    assert!(!text.trim().is_empty(), "an error must say something");
    if let Some(field) = err.field() {
        assert!(text.starts_with(field), "the message names its key first: {text}");
    }
}

/// JSON values of any shape, a few levels deep, with config-like keys mixed in.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("matrix".to_owned()),
        Just("telegram".to_owned()),
        Just("server".to_owned()),
        Just("homeserver_url".to_owned()),
        Just("allowed_rooms".to_owned()),
        Just("port".to_owned()),
        Just("access_token".to_owned()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        if let Err(err) = parse_str(&text) {
            assert_clear(&err);
        }
    }

    #[test]
    fn damaged_valid_files_never_panic(cut in 0..VALID.len(), insert in ".{0,8}") {
        let mut text = VALID.to_owned();
        if text.is_char_boundary(cut) {
            text.insert_str(cut, &insert);
        }
        if let Err(err) = parse_str(&text) {
            assert_clear(&err);
        }
    }

    #[test]
    fn arbitrary_api_payloads_never_panic_and_keep_secrets(patch in any_json()) {
        let mut current = BotsConfig::default();
        current.matrix.access_token = Some(secrecy::SecretString::from("syt_keep_this_secret"));
        match apply_patch(&current, &patch) {
            Ok(merged) => {
                // Whatever was accepted is itself a valid config.
                let yaml = serde_yaml::to_string(&merged).expect("serializable");
                prop_assert!(parse_str(&yaml).is_ok());
            }
            Err(err) => {
                assert_clear(&err);
                prop_assert!(!err.to_string().contains("syt_keep_this_secret"));
            }
        }
    }
}
