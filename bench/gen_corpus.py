#!/usr/bin/env python3
"""Writes the formatting benchmark corpus: long, AI-style markdown answers.

Deterministic (fixed seed, no third-party modules): the same files on every machine, so the
Rust bench and the Python-Markdown reference read exactly the same bytes.

Usage: python3 bench/gen_corpus.py [OUT_DIR] [COUNT]
       (default OUT_DIR: target/bench-corpus next to this repo's Cargo.toml, COUNT: 40)
"""

import os
import random
import sys

WORDS = (
    "the a to of and in is that it for on with as this be are by can you use from or your "
    "function value server request response error config file cache thread memory client "
    "token matrix message room user async await buffer stream parse render split limit "
    "chunk format table column row list item code block quote link header option default "
    "because however therefore instead usually often simply quickly safely first then next "
    "finally example result output input database index query network latency retry timeout"
).split()

LANGUAGES = ["python", "rust", "javascript", "bash", "json", "yaml", "sql", ""]

CODE_LINES = {
    "python": [
        "def handle(event, ctx):",
        "    result = process(event.body, retries=3)",
        "    if result is None:",
        "        raise ValueError(f\"bad event {event.id!r}\")",
        "    return {\"status\": \"ok\", \"items\": [x for x in result if x > 0]}",
        "for i, item in enumerate(items):  # keep order",
        "    print(i, item.name, sep=\"\\t\")",
    ],
    "rust": [
        "fn split(text: &str, limit: usize) -> Vec<String> {",
        "    let mut chunks = Vec::new();",
        "    for line in text.lines().filter(|l| !l.is_empty()) {",
        "        chunks.push(line.to_owned()); // TODO: measure",
        "    }",
        "    chunks",
        "}",
        "impl<'a> Iterator for Words<'a> { type Item = &'a str; }",
    ],
    "javascript": [
        "const res = await fetch(`${base}/api/items?limit=${n}`);",
        "if (!res.ok) throw new Error(`HTTP ${res.status}`);",
        "const data = await res.json();",
        "items.filter((x) => x.score > 0.5 && x.tags.includes('<b>'));",
        "export default function render({ title, children }) {",
        "  return <div className=\"card\">{title}{children}</div>;",
        "}",
    ],
    "bash": [
        "set -euo pipefail",
        "for f in *.md; do wc -c \"$f\"; done | sort -n",
        "curl -fsS -H 'Authorization: Bearer $TOKEN' https://example.org/api/v1/rooms",
        "grep -rn 'TODO' src/ | awk -F: '{print $1}' | uniq -c",
        "cargo build --release && ./target/release/app --port 8080 &",
    ],
    "json": [
        "{",
        "  \"name\": \"parachute\",",
        "  \"limits\": {\"matrix\": 25000, \"telegram\": 4096, \"discord\": 2000},",
        "  \"enabled\": true,",
        "  \"tags\": [\"a\", \"b\", \"<c>\"]",
        "}",
    ],
    "yaml": [
        "matrix:",
        "  homeserver: https://matrix.example.org",
        "  allowed_rooms: ['!abc:example.org', '#ops:example.org']",
        "telegram:",
        "  group_mention_mode: mention_only",
    ],
    "sql": [
        "SELECT user_id, count(*) AS n FROM messages",
        "WHERE created_at > now() - interval '7 days' AND body LIKE '%<%'",
        "GROUP BY user_id HAVING count(*) > 10 ORDER BY n DESC;",
    ],
    "": [
        "$ parachute format --to matrix --split < answer.md",
        "Error: connection refused (os error 111)",
        "    at main (index.js:12:5)",
    ],
}


class Answer:
    def __init__(self, rng):
        self.rng = rng
        self.parts = []

    def words(self, low, high):
        return [self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high))]

    def inline(self, low=6, high=18):
        out = []
        for word in self.words(low, high):
            roll = self.rng.random()
            if roll < 0.05:
                out.append(f"**{word}**")
            elif roll < 0.09:
                out.append(f"*{word}*")
            elif roll < 0.14:
                out.append(f"`{word}_{self.rng.randint(1, 99)}()`")
            elif roll < 0.16:
                out.append(f"[{word} docs](https://docs.example.org/{word}/{self.rng.randint(1, 500)})")
            elif roll < 0.17:
                out.append(f"~~{word}~~")
            elif roll < 0.18:
                out.append(f"{word} & {self.rng.choice(WORDS)} <{self.rng.choice(WORDS)}>")
            else:
                out.append(word)
        text = " ".join(out)
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", ".", "!", "?", ":"])

    def paragraph(self):
        sentences = [self.inline() for _ in range(self.rng.randint(2, 6))]
        joiner = "\n" if self.rng.random() < 0.2 else " "
        return joiner.join(sentences)

    def heading(self):
        level = self.rng.choice([2, 2, 3, 3, 4])
        return "#" * level + " " + " ".join(self.words(2, 6)).capitalize()

    def code(self, indent=""):
        language = self.rng.choice(LANGUAGES)
        pool = CODE_LINES[language]
        lines = [self.rng.choice(pool) for _ in range(self.rng.randint(5, 45))]
        body = "\n".join(indent + line for line in lines)
        return f"{indent}```{language}\n{body}\n{indent}```"

    def list_block(self, depth=0, indent=""):
        ordered = self.rng.random() < 0.5
        start = self.rng.choice([1, 1, 1, 3])
        task = not ordered and self.rng.random() < 0.15
        items = []
        for index in range(self.rng.randint(3, 8)):
            marker = f"{start + index}. " if ordered else "- "
            box = self.rng.choice(["[ ] ", "[x] "]) if task else ""
            items.append(f"{indent}{marker}{box}{self.inline(4, 14)}")
            child_indent = indent + " " * len(marker)
            roll = self.rng.random()
            if depth < 2 and roll < 0.2:
                items.append(self.list_block(depth + 1, child_indent))
            elif depth == 0 and roll < 0.28:
                items.append(self.code(child_indent))
        return "\n".join(items)

    def table(self):
        columns = self.rng.randint(3, 6)
        header = [" ".join(self.words(1, 2)).title() for _ in range(columns)]
        align = [self.rng.choice(["---", ":--", "--:", ":-:"]) for _ in range(columns)]
        rows = []
        for _ in range(self.rng.randint(4, 25)):
            cells = []
            for _ in range(columns):
                roll = self.rng.random()
                if roll < 0.2:
                    cells.append(f"`{self.rng.choice(WORDS)}`")
                elif roll < 0.3:
                    cells.append(f"**{self.rng.randint(0, 99999)}**")
                elif roll < 0.35:
                    cells.append(f"[link](https://example.org/{self.rng.choice(WORDS)})")
                else:
                    cells.append(" ".join(self.words(1, 5)))
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + rows)

    def quote(self):
        inner = self.paragraph() if self.rng.random() < 0.7 else self.list_block()
        return "\n".join(("> " + line).rstrip() for line in inner.split("\n"))

    def build(self, target_bytes):
        self.parts.append(self.inline(8, 20) + " " + self.paragraph())
        size = len(self.parts[0])
        makers = [
            (self.paragraph, 30),
            (self.heading, 10),
            (self.code, 14),
            (self.list_block, 16),
            (self.table, 8),
            (self.quote, 5),
            (lambda: "---", 2),
        ]
        population = [maker for maker, weight in makers for _ in range(weight)]
        while size < target_bytes:
            part = self.rng.choice(population)()
            self.parts.append(part)
            size += len(part) + 2
        return "\n\n".join(self.parts) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "target", "bench-corpus")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20240611)
    total = 0
    for index in range(count):
        target_bytes = rng.choice([4_000, 8_000, 12_000, 20_000, 30_000, 45_000])
        text = Answer(random.Random(rng.random())).build(target_bytes)
        path = os.path.join(out_dir, f"answer-{index:03}.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        total += len(text.encode("utf-8"))
    print(f"wrote {count} answers, {total} bytes, to {os.path.normpath(out_dir)}")


if __name__ == "__main__":
    main()
