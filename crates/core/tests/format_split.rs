//! Splitting at the real platform limits: boundaries chosen, structure carried across
//! chunks, every chunk measured the way its platform counts.

mod format_support;

use format_support::{assert_fences_closed, non_whitespace, parsed_utf16_len};
use parachute_core::format::{
    ChunkLimit, Target, discord_chunks, matrix_chunks, split_markdown, split_markdown_with_limit, split_pieces,
    telegram_chunks, telegram_visible_len, to_discord, to_telegram_html,
};
use unicode_segmentation::UnicodeSegmentation;

/// Deterministic filler prose: sentence `index` of a paragraph.
fn sentence(index: usize) -> String {
    const WORDS: [&str; 12] = [
        "river", "lantern", "quietly", "builds", "seven", "maps", "over", "ancient", "copper", "hills", "while",
        "nobody",
    ];
    let words: Vec<&str> = (0..9).map(|i| WORDS[(index * 7 + i * 5) % WORDS.len()]).collect();
    let mut sentence = words.join(" ");
    sentence[..1].make_ascii_uppercase();
    sentence.push('.');
    sentence
}

fn paragraph(index: usize, sentences: usize) -> String {
    (0..sentences).map(|i| sentence(index * 31 + i)).collect::<Vec<_>>().join(" ")
}

#[test]
fn short_answer_is_one_chunk() {
    let md = "\n\nHello **there**.\n\n- a\n- b\n\n";
    for target in Target::ALL {
        assert_eq!(split_markdown(md, target), vec!["Hello **there**.\n\n- a\n- b"]);
    }
    assert_eq!(discord_chunks(md), vec![to_discord(md)]);
    assert_eq!(telegram_chunks(md), vec![to_telegram_html(md)]);
    assert_eq!(matrix_chunks(md).len(), 1);
}

#[test]
fn whitespace_only_answer_has_no_chunk() {
    for md in ["", "  \n\n\t\n"] {
        for target in Target::ALL {
            assert!(split_markdown(md, target).is_empty());
        }
        assert!(matrix_chunks(md).is_empty());
    }
}

#[test]
fn long_prose_splits_between_paragraphs_and_every_chunk_fits() {
    let paragraphs: Vec<String> = (0..40).map(|i| paragraph(i, 3 + i % 4)).collect();
    let md = paragraphs.join("\n\n");
    let chunks = discord_chunks(&md);
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    for chunk in &chunks {
        assert!(chunk.chars().count() <= 2000, "{}", chunk.chars().count());
        // Cut between paragraphs: a chunk is a run of whole paragraphs.
        for part in chunk.split("\n\n") {
            assert!(paragraphs.iter().any(|p| p == part), "cut inside a paragraph: {part}");
        }
    }
    assert_eq!(non_whitespace(&chunks.concat()), non_whitespace(&md));
}

#[test]
fn early_chunks_are_never_over_the_limit() {
    // The old splitter only checked the last chunk; paragraphs just under the limit made
    // the early ones overflow once joined.
    let md: Vec<String> = (0..6).map(|i| paragraph(i, 25)).collect();
    let md = md.join("\n\n");
    for (target, chunks) in [(Target::Discord, discord_chunks(&md)), (Target::Telegram, telegram_chunks(&md))] {
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            let len = match target {
                Target::Telegram => telegram_visible_len(chunk),
                _ => chunk.chars().count(),
            };
            assert!(len <= target.limit(), "{target}: {len}");
        }
    }
}

#[test]
fn every_chunk_is_formatted_not_only_the_first() {
    let md: Vec<String> = (0..30).map(|i| format!("**Point {i}.** {} `code{i}`", paragraph(i, 4))).collect();
    let md = md.join("\n\n");
    let telegram = telegram_chunks(&md);
    let matrix = matrix_chunks(&md);
    let discord = discord_chunks(&md);
    assert!(telegram.len() > 1 && discord.len() > 1);
    for chunk in &telegram {
        assert!(chunk.contains("<b>Point") && chunk.contains("<code>code"), "{chunk}");
    }
    for chunk in &discord {
        assert!(chunk.contains("**Point") && chunk.contains("`code"), "{chunk}");
    }
    for chunk in &matrix {
        assert!(chunk.formatted_body.contains("<strong>Point"));
        assert!(!chunk.body.contains("**"));
    }
}

#[test]
fn long_code_block_is_closed_and_reopened_with_its_language() {
    let lines: Vec<String> = (0..300).map(|i| format!("    let value_{i} = compute({i}) * 2; // step {i}")).collect();
    let md = format!("Here is the code:\n\n```rust\n{}\n```\n\nDone.", lines.join("\n"));
    let chunks = split_markdown(&md, Target::Discord);
    assert!(chunks.len() >= 3);
    for (index, chunk) in chunks.iter().enumerate() {
        assert_fences_closed(chunk);
        let rendered = to_discord(chunk);
        assert!(rendered.chars().count() <= 2000);
        if index > 0 {
            assert!(chunk.starts_with("```rust\n"), "chunk {index}: {chunk:.40}");
        }
        if index + 1 < chunks.len() {
            assert!(chunk.ends_with("\n```"), "chunk {index} not closed");
        }
    }
    // Code lines are never cut in the middle.
    for chunk in &chunks {
        for line in chunk.lines().filter(|line| line.contains("let value_")) {
            assert!(lines.iter().any(|source| source == line), "broken line {line}");
        }
    }
}

#[test]
fn code_block_in_list_item_is_reopened_at_the_margin() {
    let lines: Vec<String> = (0..200).map(|i| format!("   echo step-{i}")).collect();
    let md = format!("1. Run this:\n   ```sh\n{}\n   ```\n2. Then rest.", lines.join("\n"));
    let chunks = split_markdown_with_limit(&md, Target::Telegram, ChunkLimit::with_length(1000));
    assert!(chunks.len() >= 3);
    for chunk in &chunks[1..] {
        if chunk.contains("echo") {
            assert!(chunk.starts_with("```sh\necho step-"), "{chunk:.60}");
        }
        assert_fences_closed(chunk);
        let html = to_telegram_html(chunk);
        assert!(telegram_visible_len(&html) <= 1000);
        assert_eq!(telegram_visible_len(&html), parsed_utf16_len(&html));
    }
    assert!(chunks[chunks.len() - 1].ends_with("2. Then rest."));
}

#[test]
fn long_table_repeats_its_header() {
    let rows: Vec<String> = (0..150).map(|i| format!("| row {i} | **{}** | {} |", i * i, sentence(i))).collect();
    let md = format!("| Name | Square | Note |\n|---|--:|---|\n{}", rows.join("\n"));
    let chunks = split_markdown(&md, Target::Discord);
    assert!(chunks.len() >= 3);
    for chunk in &chunks {
        assert!(chunk.starts_with("| Name | Square | Note |\n|---|--:|---|\n| row "));
        let rendered = to_discord(chunk);
        assert!(rendered.starts_with("```\nName "), "{rendered:.40}");
        assert!(rendered.ends_with("\n```"));
        assert!(rendered.chars().count() <= 2000);
    }
}

#[test]
fn one_long_paragraph_splits_after_sentences() {
    let md = paragraph(3, 60);
    let chunks = split_markdown(&md, Target::Discord);
    assert!(chunks.len() >= 2);
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(chunk.ends_with('.'), "not at a sentence end: …{}", &chunk[chunk.len() - 20..]);
    }
}

#[test]
fn words_are_kept_whole_when_there_is_no_sentence_end() {
    let words: Vec<String> = (0..900).map(|i| format!("word{i}")).collect();
    let md = words.join(" ");
    let chunks = split_markdown(&md, Target::Discord);
    assert!(chunks.len() >= 3);
    let rejoined: Vec<&str> = chunks.iter().flat_map(|c| c.split(' ')).collect();
    assert_eq!(rejoined, words);
}

#[test]
fn a_word_longer_than_the_limit_is_hard_cut() {
    let md = "x".repeat(4500);
    let chunks = split_markdown(&md, Target::Discord);
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|c| c.chars().count() <= 2000));
    assert_eq!(chunks.concat(), md);
}

#[test]
fn grapheme_clusters_are_never_split() {
    let family = "👩\u{200D}👩\u{200D}👧";
    let md = family.repeat(1000);
    let chunks = split_markdown(&md, Target::Discord);
    assert!(chunks.len() >= 3);
    for chunk in &chunks {
        assert!(to_discord(chunk).chars().count() <= 2000);
        assert!(chunk.graphemes(true).all(|g| g == family), "split inside a cluster");
    }
    assert_eq!(chunks.concat(), md);
}

#[test]
fn telegram_counts_utf16_units() {
    // 3,000 emoji = 6,000 UTF-16 units (and 3,000 characters).
    let md = "😀".repeat(3000);
    let chunks = telegram_chunks(&md);
    assert_eq!(chunks.len(), 2);
    for chunk in &chunks {
        assert!(telegram_visible_len(chunk) <= 4096);
        assert_eq!(telegram_visible_len(chunk), parsed_utf16_len(chunk));
    }
}

#[test]
fn matrix_keeps_the_event_under_64_kib() {
    // 30,000 CJK characters: under 25,000 characters per chunk would still be ~75 kB.
    let md: Vec<String> = (0..3000).map(|_| "日本語のテキスト。".to_owned()).collect();
    let md = md.join("\n");
    let chunks = matrix_chunks(&md);
    assert!(chunks.len() >= 2);
    let first = &chunks[0];
    assert!(first.event_bytes() <= 65_535, "{}", first.event_bytes());
    assert!(first.body.chars().count() < 25_000, "the byte limit did not apply");
    for chunk in &chunks {
        let json = serde_json::to_string(&chunk.body).map_or(0, |s| s.len())
            + serde_json::to_string(&chunk.formatted_body).map_or(0, |s| s.len());
        assert!(300 + json <= 65_535);
        assert!(chunk.body.chars().count() <= 25_000);
    }
}

#[test]
fn pieces_describe_what_was_added() {
    let md = format!("```py\n{}\n```", "print('x')\n".repeat(300));
    let pieces = split_pieces(&md, Target::Discord, ChunkLimit::of(Target::Discord));
    assert!(pieces.len() >= 2);
    assert_eq!(pieces[0].reopen, "");
    assert_eq!(pieces[0].close, "\n```");
    assert_eq!(pieces[1].reopen, "```py\n");
    let texts: Vec<String> = pieces.iter().map(|p| p.text()).collect();
    assert_eq!(texts, split_markdown(&md, Target::Discord));
    for pair in pieces.windows(2) {
        assert!(pair[0].source.end <= pair[1].source.start);
    }
}

#[test]
fn windows_line_ends_are_normalized() {
    let md = "a\r\n\r\n```\r\nx\r\n```\r\n";
    for target in Target::ALL {
        for chunk in split_markdown(md, target) {
            assert!(!chunk.contains('\r'));
        }
    }
    assert_eq!(to_discord(md), "a\n\n```\nx\n```");
}

#[test]
fn a_cut_never_leaves_a_fence_at_the_start_of_a_chunk() {
    // Cutting before "~~~~~" or "```" mid-line would open a code block in the next chunk.
    let md = format!("{} ~~~~~ ``` {}", "word ".repeat(60).trim_end(), "tail ".repeat(60).trim_end());
    for limit in 100..400 {
        for chunk in split_markdown_with_limit(&md, Target::Discord, ChunkLimit::with_length(limit)) {
            assert!(!chunk.starts_with("~~~") && !chunk.starts_with("```"), "{chunk}");
            assert_fences_closed(&chunk);
        }
    }
}

#[test]
fn a_cut_never_turns_paragraph_text_into_block_syntax() {
    // Starting a chunk at "1. " would make a list item, and the indented lines after it a
    // fenced code block inside that item instead of an indented code block.
    let md = format!(
        "{} 1. then # this > that - more <div> [x]: y\n\n    ```\n    code line\n    ```",
        "word ".repeat(50).trim_end()
    );
    for limit in 60..320 {
        for chunk in split_markdown_with_limit(&md, Target::Discord, ChunkLimit::with_length(limit)) {
            for marker in ["1. ", "# ", "> ", "- ", "<div", "[x]:"] {
                assert!(!chunk.starts_with(marker), "limit {limit}: chunk starts with {marker:?}");
            }
            assert_fences_closed(&chunk);
        }
    }
}
