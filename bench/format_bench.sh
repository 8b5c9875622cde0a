#!/usr/bin/env bash
# Formatting throughput: parachute's renderers (criterion bench `format` in parachute-core)
# against Python-Markdown on the same generated corpus, and the ratio for Matrix HTML.
#
#   bench/format_bench.sh            # corpus in target/bench-corpus, venv in target/bench-venv
#
# Needs python3 with venv and PyPI access the first time (installs `markdown` into the venv).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
corpus="$target_dir/bench-corpus"
venv="$target_dir/bench-venv"
markdown_version="3.11.3"

echo "== corpus"
python3 "$repo/bench/gen_corpus.py" "$corpus"
corpus_bytes="$(cat "$corpus"/*.md | wc -c)"

echo "== Python-Markdown $markdown_version reference"
if ! "$venv/bin/python" -c "import markdown" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "markdown==$markdown_version"
fi
python_out="$("$venv/bin/python" "$repo/bench/python_markdown_ref.py" "$corpus" 5)"
echo "$python_out" | head -n 1
python_mb_s="$(echo "$python_out" | sed -n 's/^python_markdown_mb_per_s=//p')"

echo "== parachute (criterion, release)"
(cd "$repo" && PARACHUTE_BENCH_CORPUS="$corpus" cargo bench -p parachute-core --bench format -- --noplot 2>&1) \
    | grep -E "^format/|time:|thrpt:" || true

echo "== summary ($corpus_bytes bytes of markdown; MB = 10^6 bytes)"
"$venv/bin/python" - "$target_dir/criterion/format" "$corpus_bytes" "$python_mb_s" <<'EOF'
import json, os, sys

criterion_dir, corpus_bytes, python_mb_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print(f"{'benchmark':<20} {'ms/corpus':>10} {'MB/s':>9} {'x Python-Markdown':>18}")
print(f"{'python-markdown':<20} {corpus_bytes / python_mb_s / 1e3:>10.1f} {python_mb_s:>9.2f} {1.0:>18.1f}")
for name in ["to_matrix", "to_telegram_html", "to_discord", "matrix_chunks", "telegram_chunks", "discord_chunks"]:
    path = os.path.join(criterion_dir, name, "new", "estimates.json")
    if not os.path.exists(path):
        continue
    with open(path) as handle:
        mean_ns = json.load(handle)["mean"]["point_estimate"]
    mb_s = corpus_bytes / (mean_ns / 1e9) / 1e6
    print(f"{name:<20} {mean_ns / 1e6:>10.1f} {mb_s:>9.2f} {mb_s / python_mb_s:>18.1f}")
path = os.path.join(criterion_dir, "to_matrix", "new", "estimates.json")
with open(path) as handle:
    matrix_mb_s = corpus_bytes / (json.load(handle)["mean"]["point_estimate"] / 1e9) / 1e6
ratio = matrix_mb_s / python_mb_s
print(f"ratio (Matrix HTML vs Python-Markdown): {ratio:.1f}x (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
EOF
