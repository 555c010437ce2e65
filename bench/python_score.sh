#!/usr/bin/env bash
# Tokens/s of `model.score` and `irnn.evaluate` from Python against
# `irnn eval` from the CLI on the same model and text, alternating runs in
# one session (medians of 5). Needs .ci/python to have built the package.
#   bench/python_score.sh [MODEL.irnn]   (default: the demo's model)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-${TMPDIR:-/tmp}/irnn-demo/tinyshakespeare-char.irnn}
py=target/python-venv/bin/python
cargo build --release -q -p irnn
irnn=target/release/irnn
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $($irnn kernels | head -1)"
cli=() evaluate=() score=()
for _ in 1 2 3 4 5; do
    cli+=("$(RUST_BACKTRACE=0 $irnn eval "$model" | sed -E 's/.* ([0-9]+) tokens\/s$/\1/')")
    read -r e s < <("$py" - "$model" <<'PY'
import sys, irnn
from pathlib import Path
model = sys.argv[1]
e = irnn.evaluate(model, "embedded:tinyshakespeare")
# The same tokens as text: the embedded corpus's test split.
lm = irnn.load(model)
text = "\n".join(Path("crates/irnn-train/data/tinyshakespeare-slice.txt").read_text().splitlines()[-1500:]) + "\n"
s = lm.score(text)
print(int(e["tokens_per_second"]), int(s["tokens_per_second"]))
PY
)
    evaluate+=("$e") score+=("$s")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
c=$(median "${cli[@]}") e=$(median "${evaluate[@]}") s=$(median "${score[@]}")
echo "irnn eval (CLI)          $c tokens/s"
echo "irnn.evaluate (Python)   $e tokens/s  ($(awk "BEGIN{printf \"%.2f\", $e/$c}")x the CLI)"
echo "model.score (Python)     $s tokens/s  ($(awk "BEGIN{printf \"%.2f\", $s/$c}")x the CLI)"
