#!/usr/bin/env bash
# irnn against the runtimes people use, side by side in one run, one thread
# each: PyTorch fp32 and dynamic-int8 nn.LSTM / nn.GRU, ONNX Runtime fp32
# LSTM / GRU and its int8 DynamicQuantizeLSTM, irnn's integer runtime and
# irnn's own f32 step. One step per call, state carried, input = hidden = H;
# then the sequence mode: batch 1, SEQUENCE steps per call (input product
# hoisted out of the recurrence by every runtime).
#
#   bench/peers/run.sh            # H = 256, 1024; batch 1, 16; sequence 200
#   HIDDEN=256 BATCH=1 CALLS=500 SEQUENCE=0 bench/peers/run.sh
#   ISA=avx2 bench/peers/run.sh   # irnn with the kernels `irnn kernels` names
#
# Creates bench/.venv with pinned packages from PyPI on first use, then
# prints markdown tables (µs per step, ratio to irnn's integer step, bytes)
# under a header naming the CPU and the kernel irnn ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=bench/.venv
pins=("torch==2.5.1" "onnxruntime==1.20.1" "onnx==1.17.0" "numpy==2.4.6")
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with ${pins[*]} (one-time download, several GB for torch)…" >&2
    python3 -m venv "$venv"
fi
# A no-op when the pinned versions are already there.
"$venv/bin/pip" install -q "${pins[@]}"
cargo build --release -q
hidden=${HIDDEN:-256,1024}
batch=${BATCH:-1,16}
calls=${CALLS:-2000}
sequence=${SEQUENCE:-200}
if ! [[ "$sequence" =~ ^[0-9]+$ ]] || [ "$sequence" -eq 1 ]; then
    echo "SEQUENCE must be 0 (no sequence mode) or a number of steps ≥ 2, got '$sequence'" >&2
    exit 2
fi
irnn=(target/release/irnn bench --tsv --hidden "$hidden" --batch "$batch" --calls "$calls" --sequence "$sequence")
if [ -n "${ISA:-}" ]; then
    irnn+=(--isa "$ISA")
    kernel=$ISA
else
    kernel=$(target/release/irnn kernels | sed -n 's/^detected best kernel: //p')
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" -c "import torch, onnxruntime; print(f'torch {torch.__version__}, onnxruntime {onnxruntime.__version__}')" >&2
RAYON_NUM_THREADS=1 "${irnn[@]}" > "$tmp/irnn.tsv"
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HIDDEN=$hidden BATCH=$batch CALLS=$calls SEQUENCE=$sequence \
    "$venv/bin/python" bench/peers/peers.py > "$tmp/peers.tsv"
"$venv/bin/python" bench/peers/table.py \
    --header "CPU: ${cpu:-$(uname -m)}; irnn integer kernels: $kernel; one thread each; $(date -u +%Y-%m-%d)" \
    "$tmp/irnn.tsv" "$tmp/peers.tsv"
