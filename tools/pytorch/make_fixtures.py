"""Tiny PyTorch language models and their logits, for irnn's import tests.

The model class is the one of PyTorch's word_language_model example
(`encoder`, `rnn`, `decoder`; LSTM gates i, f, g, o; GRU r, z, n with the
reset applied after the recurrent product). Weights are random (seeded) and
biases non-zero, so that a misplaced gate or bias shows in the logits.

    python tools/pytorch/make_fixtures.py fixtures/pytorch
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file, save_model
from torch import nn

VOCAB = list("abcdefghij ,.\n")
TOKENS = [0, 3, 7, 11, 2, 13, 5, 5, 9, 1, 12, 4, 8, 10, 6, 0, 2, 13, 7, 3]


class RNNModel(nn.Module):
    def __init__(self, cell, ntoken, ninp, nhid, nlayers, tie=False, **rnn_kwargs):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, cell)(ninp, nhid, nlayers, **rnn_kwargs)
        width = rnn_kwargs.get("proj_size") or nhid
        self.decoder = nn.Linear(width * (2 if rnn_kwargs.get("bidirectional") else 1), ntoken)
        if tie:
            self.decoder.weight = self.encoder.weight

    def forward(self, tokens):
        emb = self.encoder(tokens)
        out, _ = self.rnn(emb)
        return self.decoder(out)


class Wrapped(nn.Module):
    """A language model inside another module: names gain a prefix."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, tokens):
        return self.lm(tokens)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 0.8 - 0.4)


def logits_of(model):
    model.eval()
    with torch.no_grad():
        x = torch.tensor(TOKENS).unsqueeze(1)  # [T, batch 1]
        return model(x).squeeze(1).reshape(-1).tolist()


def write_onnx(out, name, model):
    """The same model exported to ONNX (torch.onnx.export, opset 14), with
    the logits ONNX Runtime computes for the fixture's tokens."""
    import numpy as np
    import onnxruntime

    model.eval()
    x = torch.tensor(TOKENS).unsqueeze(1)
    path = out / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["tokens"], output_names=["logits"],
                      opset_version=14, dynamic_axes={"tokens": {0: "steps"}, "logits": {0: "steps"}})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"tokens": np.array(TOKENS, dtype=np.int64).reshape(-1, 1)})
    meta = json.loads((out / f"{name}.json").read_text())
    meta["onnxruntime_logits"] = logits.reshape(-1).astype(float).tolist()
    meta["onnxruntime"] = onnxruntime.__version__
    (out / f"{name}.json").write_text(json.dumps(meta))


def write(out, name, model, seed, tied=False):
    randomise(model, seed)
    path = out / f"{name}.safetensors"
    if tied:
        # save_file refuses shared tensors; save_model keeps one of them.
        save_model(model, str(path))
    else:
        save_file(model.state_dict(), str(path))
    meta = {
        "tokens": TOKENS,
        "logits": logits_of(model),
        "torch": torch.__version__,
    }
    (out / f"{name}.json").write_text(json.dumps(meta))
    print(name, sorted(model.state_dict().keys()))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(VOCAB))
    v = len(VOCAB)
    torch.manual_seed(0)
    # What irnn imports.
    write(out, "lstm-2x5", RNNModel("LSTM", v, 6, 5, 2), seed=1)
    write(out, "gru-2x5", RNNModel("GRU", v, 6, 5, 2), seed=2)
    write(out, "lstm-tied", RNNModel("LSTM", v, 5, 5, 1, tie=True), seed=3, tied=True)
    write(out, "gru-prefixed", Wrapped(RNNModel("GRU", v, 4, 3, 1)), seed=4)
    # The same two as ONNX graphs.
    for name, cell, seed in [("lstm-2x5", "LSTM", 1), ("gru-2x5", "GRU", 2)]:
        m = RNNModel(cell, v, 6, 5, 2)
        randomise(m, seed)
        write_onnx(out, name, m)
    # ONNX variants PyTorch does not export: a GRU with the reset before the
    # recurrent product (linear_before_reset = 0; ONNX Runtime's logits are
    # the reference) and, to be refused, an LSTM with clip.
    import numpy as np
    import onnx
    import onnxruntime

    g = onnx.load(str(out / "gru-2x5.onnx"))
    for node in g.graph.node:
        if node.op_type == "GRU":
            for a in node.attribute:
                if a.name == "linear_before_reset":
                    a.i = 0
    onnx.save(g, str(out / "gru-reset-before.onnx"))
    session = onnxruntime.InferenceSession(str(out / "gru-reset-before.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"tokens": np.array(TOKENS, dtype=np.int64).reshape(-1, 1)})
    (out / "gru-reset-before.json").write_text(json.dumps(
        {"tokens": TOKENS, "onnxruntime_logits": logits.reshape(-1).astype(float).tolist(),
         "onnxruntime": onnxruntime.__version__}))
    m = onnx.load(str(out / "lstm-2x5.onnx"))
    for node in m.graph.node:
        if node.op_type == "LSTM":
            node.attribute.append(onnx.helper.make_attribute("clip", 3.0))
    onnx.save(m, str(out / "lstm-clip.onnx"))
    bi = RNNModel("LSTM", v, 6, 5, 1, bidirectional=True)
    randomise(bi, 7)
    bi.eval()
    torch.onnx.export(bi, (torch.tensor(TOKENS).unsqueeze(1),), str(out / "lstm-bidirectional.onnx"),
                      input_names=["tokens"], output_names=["logits"], opset_version=14)
    # What irnn must refuse, by name.
    write(out, "lstm-proj", RNNModel("LSTM", v, 6, 5, 1, proj_size=3), seed=5)
    write(out, "lstm-bidirectional", RNNModel("LSTM", v, 6, 5, 1, bidirectional=True), seed=7)
    write(out, "lstm-no-bias", RNNModel("LSTM", v, 6, 5, 1, bias=False), seed=8)


if __name__ == "__main__":
    main()
