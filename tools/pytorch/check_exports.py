"""Runs what `irnn export` wrote in the tools it is for: the ONNX graph in
ONNX Runtime, the safetensors state_dict loaded into PyTorch's model; both
against PyTorch's logits of the original fixture.

    for n in lstm-2x5 gru-2x5; do
        irnn import fixtures/pytorch/$n.safetensors --vocab fixtures/pytorch/vocab.json -o /tmp/$n.safetensors
        irnn export /tmp/$n.safetensors --format onnx -o /tmp/$n-irnn.onnx
        irnn export /tmp/$n.safetensors --format safetensors -o /tmp/$n-irnn.safetensors
    done
    bench/.venv/bin/python tools/pytorch/check_exports.py /tmp
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from make_fixtures import TOKENS, RNNModel  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pytorch"


def main():
    out = Path(sys.argv[1])
    tokens = np.array(TOKENS, dtype=np.int64).reshape(-1, 1)
    for name, cell in [("lstm-2x5", "LSTM"), ("gru-2x5", "GRU")]:
        ref = np.array(json.loads((FIXTURES / f"{name}.json").read_text())["logits"])
        session = onnxruntime.InferenceSession(str(out / f"{name}-irnn.onnx"), providers=["CPUExecutionProvider"])
        (onnx_logits,) = session.run(None, {"tokens": tokens})
        model = RNNModel(cell, 14, 6, 5, 2)
        model.load_state_dict(load_file(str(out / f"{name}-irnn.safetensors")))
        model.eval()
        with torch.no_grad():
            torch_logits = model(torch.tensor(TOKENS).unsqueeze(1)).reshape(-1).numpy()
        a = np.abs(onnx_logits.reshape(-1) - ref).max()
        b = np.abs(torch_logits - ref).max()
        print(f"{name}: ONNX Runtime on irnn's ONNX {a:.1e}, PyTorch on irnn's safetensors {b:.1e} (max |Δ| vs PyTorch's logits)")
        assert a <= 1e-5 and b <= 1e-5


if __name__ == "__main__":
    main()
