#!/usr/bin/env bash
# A character model trained in PyTorch (train_char_lm.py) through irnn:
# import, the float figure, post-training quantization, QAT (LSTM), each on
# the same test split PyTorch reported.
#
#   tools/pytorch/pipeline.sh DIR NAME [QAT options…]
#   e.g. tools/pytorch/pipeline.sh /tmp/pt-char-long lstm-2x256 --epochs 1
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?usage: pipeline.sh DIR NAME [QAT options]}
name=${2:?usage: pipeline.sh DIR NAME [QAT options]}
shift 2
cargo build --release -q -p irnn
irnn=target/release/irnn
out=$dir/irnn
mkdir -p "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $($irnn kernels | head -1)"
python3 -c "import json,sys; r=json.load(open('$dir/$name.json')); print(f\"PyTorch {r['torch']}: test {r['test_bpc']:.4f} bpc\")"
$irnn import "$dir/$name.safetensors" --vocab "$dir/vocab.json" --level char -o "$out/$name.safetensors"
$irnn eval "$out/$name.safetensors" --data "$dir"
$irnn convert "$out/$name.safetensors" --data "$dir" -o "$out/$name-ptq.irnn"
$irnn eval "$out/$name-ptq.irnn" --data "$dir"
case $name in
    lstm*)
        $irnn qat "$out/$name.safetensors" --data "$dir" "$@" -o "$out/$name-qat.safetensors"
        $irnn eval "$out/$name-qat.irnn" --data "$dir" ;;
    *) echo "QAT: not for $name (language-model QAT covers LSTMs only so far)" ;;
esac
