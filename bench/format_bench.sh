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
python_out="$("$venv/bin/python" "$repo/bench/python_markdown_ref.py" "$corpus" 7)"
echo "$python_out" | head -n 1

echo "== parachute (criterion, release)"
(cd "$repo" && PARACHUTE_BENCH_CORPUS="$corpus" cargo bench -p parachute-core --bench format -- --noplot 2>&1) \
    | grep -E "^format/|time:|thrpt:" || true

echo "== summary ($corpus_bytes bytes of markdown; MB = 10^6 bytes)"
"$venv/bin/python" - "$target_dir/criterion/format" "$corpus_bytes" "$python_out" <<'EOF'
import json, os, re, sys

criterion_dir, corpus_bytes, python_out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
python_mean = float(re.search(r"python_markdown_mb_per_s=([0-9.]+)", python_out).group(1))
python_best = float(re.search(r"best round ([0-9.]+) MB/s", python_out).group(1))


def throughput(name):
    """(mean MB/s, best-sample MB/s) of a criterion benchmark, or None."""
    folder = os.path.join(criterion_dir, name, "new")
    if not os.path.exists(os.path.join(folder, "estimates.json")):
        return None
    with open(os.path.join(folder, "estimates.json")) as handle:
        mean_ns = json.load(handle)["mean"]["point_estimate"]
    with open(os.path.join(folder, "sample.json")) as handle:
        sample = json.load(handle)
    best_ns = min(time / iters for time, iters in zip(sample["times"], sample["iters"]))
    return corpus_bytes / mean_ns * 1e3, corpus_bytes / best_ns * 1e3


print(f"{'benchmark':<18} {'mean MB/s':>10} {'x Python':>9} {'best MB/s':>10} {'x Python':>9}")
print(f"{'python-markdown':<18} {python_mean:>10.2f} {1.0:>9.1f} {python_best:>10.2f} {1.0:>9.1f}")
for name in ["to_matrix", "to_telegram_html", "to_discord", "matrix_chunks", "telegram_chunks", "discord_chunks"]:
    result = throughput(name)
    if result:
        mean, best = result
        print(f"{name:<18} {mean:>10.2f} {mean / python_mean:>9.1f} {best:>10.2f} {best / python_best:>9.1f}")
mean, best = throughput("to_matrix")
ratio = mean / python_mean
print(f"ratio (Matrix HTML vs Python-Markdown, means): {ratio:.1f}x; best runs: {best / python_best:.1f}x "
      f"(target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
EOF
