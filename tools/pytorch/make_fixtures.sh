#!/usr/bin/env bash
# Writes fixtures/pytorch/: tiny PyTorch language models (LSTM, GRU, tied
# embeddings, a prefixed module, and layouts irnn must refuse) saved with
# safetensors, and the logits PyTorch computes for a fixed input. Run once;
# the files are committed and the Rust tests compare irnn's import against
# them. The test suite itself never needs PyTorch.
#
# Uses bench/.venv (the pinned packages of bench/peers/run.sh, plus
# safetensors), created on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=bench/.venv
pins=("torch==2.5.1" "onnxruntime==1.20.1" "onnx==1.17.0" "numpy==2.4.6" "safetensors==0.8.0")
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "${pins[@]}"
"$venv/bin/python" tools/pytorch/make_fixtures.py fixtures/pytorch
