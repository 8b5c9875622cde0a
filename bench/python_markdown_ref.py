#!/usr/bin/env python3
"""Reference throughput: Python-Markdown (tables + fenced code) over the benchmark corpus.

Renders every corpus file to HTML, `ROUNDS` times after one warm-up round, and prints
the throughput in MB/s (10^6 bytes of markdown per second), plus a machine-readable line
`python_markdown_mb_per_s=<value>`.

Usage: python3 bench/python_markdown_ref.py [CORPUS_DIR] [ROUNDS]
"""

import glob
import os
import sys
import time

import markdown


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "target", "bench-corpus")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    paths = sorted(glob.glob(os.path.join(corpus_dir, "*.md")))
    if not paths:
        sys.exit(f"no corpus in {corpus_dir}: run python3 bench/gen_corpus.py first")
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            texts.append(handle.read())
    total_bytes = sum(len(text.encode("utf-8")) for text in texts)
    renderer = markdown.Markdown(extensions=["tables", "fenced_code"])

    def render_all():
        for text in texts:
            renderer.reset()
            renderer.convert(text)

    render_all()  # warm-up
    best = float("inf")
    started = time.perf_counter()
    for _ in range(rounds):
        round_start = time.perf_counter()
        render_all()
        best = min(best, time.perf_counter() - round_start)
    mean = (time.perf_counter() - started) / rounds
    mean_mb_s = total_bytes / mean / 1e6
    print(
        f"Python-Markdown {markdown.__version__} (tables, fenced_code): {len(texts)} files, "
        f"{total_bytes} bytes, {rounds} rounds: mean {mean * 1e3:.1f} ms/round = {mean_mb_s:.2f} MB/s "
        f"(best round {total_bytes / best / 1e6:.2f} MB/s)"
    )
    print(f"python_markdown_mb_per_s={mean_mb_s:.4f}")


if __name__ == "__main__":
    main()
