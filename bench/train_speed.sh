#!/usr/bin/env bash
# Training speed, side by side in one run: PyTorch (pinned, from PyPI, in a
# venv this script creates) and irnn, same model, same data, 2 threads each.
#
#   bench/train_speed.sh [PTB_DIR] [WINDOWS]
#
# Prints tokens/s for each and the ratio irnn / PyTorch for the 2×200 and
# 2×650 LSTM language models (batch 20, bptt 35, SGD, clip 5).
set -euo pipefail
cd "$(dirname "$0")/.."
ptb=${1:-../shared/data/ptb}
windows=${2:-60}
torch_version=2.5.1
venv=bench/.venv

if [ ! -d "$ptb" ]; then
    echo "error: PTB directory '$ptb' not found (pass it as the first argument)" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "creating $venv with torch==$torch_version (one-time download)…"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "torch==$torch_version" numpy
fi
cargo build --release -q

printf '| model | PyTorch tok/s | irnn tok/s | irnn / PyTorch |\n|---|---:|---:|---:|\n'
for hidden in 200 650; do
    w=$windows
    [ "$hidden" = 650 ] && w=$((windows / 3))
    py=$("$venv/bin/python" bench/pytorch_lm_speed.py --data "$ptb" --hidden "$hidden" --windows "$w" --threads 2 | sed -n 's/.*= \([0-9]*\) tokens\/s/\1/p')
    ir=$(RAYON_NUM_THREADS=2 ./target/release/irnn train lm --data "$ptb" --hidden "$hidden" --max-windows "$w" \
        --out "$(mktemp -d)/speed.safetensors" | sed -n 's/.*= \([0-9]*\) tokens\/s/\1/p')
    ratio=$(python3 -c "print(f'{$ir / $py:.2f}')")
    printf '| LSTM 2×%s | %s | %s | %s× |\n' "$hidden" "$py" "$ir" "$ratio"
done
