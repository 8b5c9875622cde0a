//! `Target` names and limits, and what `parachute format` prints.

use parachute_core::format::{Target, cli_output, to_discord, to_matrix, to_telegram_html};
use serde_json::Value;

#[test]
fn targets_parse_from_their_names() {
    assert_eq!("matrix".parse::<Target>(), Ok(Target::Matrix));
    assert_eq!(" Telegram ".parse::<Target>(), Ok(Target::Telegram));
    assert_eq!("DISCORD".parse::<Target>(), Ok(Target::Discord));
    let error = "slack".parse::<Target>().err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("unknown format target \"slack\": expected one of matrix, telegram, discord"));
    for target in Target::ALL {
        assert_eq!(target.to_string().parse::<Target>(), Ok(target));
    }
}

#[test]
fn limits() {
    assert_eq!(Target::Matrix.limit(), 25_000);
    assert_eq!(Target::Telegram.limit(), 4_096);
    assert_eq!(Target::Discord.limit(), 2_000);
}

#[test]
fn matrix_prints_one_object() {
    let md = "# Hi\n\n**bold** <tag>";
    let out = cli_output(Target::Matrix, false, md);
    assert!(out.ends_with("}\n"));
    let json: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let expected = to_matrix(md);
    assert_eq!(json["body"], expected.body);
    assert_eq!(json["formatted_body"], expected.formatted_body);
    assert_eq!(json.as_object().map(|o| o.len()), Some(2));
}

#[test]
fn text_targets_print_the_text() {
    let md = "*hi* `x`";
    assert_eq!(cli_output(Target::Telegram, false, md), format!("{}\n", to_telegram_html(md)));
    assert_eq!(cli_output(Target::Discord, false, md), format!("{}\n", to_discord(md)));
}

#[test]
fn split_prints_a_json_array_of_chunks() {
    let md: Vec<String> = (0..400).map(|i| format!("Paragraph {i} with **bold** words in it.")).collect();
    let md = md.join("\n\n");

    let matrix: Value = serde_json::from_str(&cli_output(Target::Matrix, true, &md)).unwrap_or(Value::Null);
    let matrix = matrix.as_array().cloned().unwrap_or_default();
    assert_eq!(matrix.len(), 1);
    assert!(matrix[0]["formatted_body"].as_str().is_some_and(|html| html.contains("<strong>bold</strong>")));

    let discord: Value = serde_json::from_str(&cli_output(Target::Discord, true, &md)).unwrap_or(Value::Null);
    let discord = discord.as_array().cloned().unwrap_or_default();
    assert!(discord.len() >= 8, "{}", discord.len());
    for chunk in &discord {
        let text = chunk.as_str().unwrap_or_default();
        assert!(!text.is_empty() && text.chars().count() <= 2000);
    }

    let telegram: Value = serde_json::from_str(&cli_output(Target::Telegram, true, &md)).unwrap_or(Value::Null);
    assert!(telegram.as_array().is_some_and(|chunks| chunks.len() >= 4));
}

#[test]
fn output_is_stable_pretty_json() {
    assert_eq!(
        cli_output(Target::Matrix, false, "*a*"),
        "{\n  \"body\": \"a\",\n  \"formatted_body\": \"<p><em>a</em></p>\"\n}\n"
    );
    assert_eq!(cli_output(Target::Discord, true, "a"), "[\n  \"a\"\n]\n");
    assert_eq!(cli_output(Target::Telegram, true, "  \n"), "[]\n");
}
