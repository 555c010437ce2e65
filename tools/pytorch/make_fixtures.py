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
    # What irnn must refuse, by name.
    write(out, "lstm-proj", RNNModel("LSTM", v, 6, 5, 1, proj_size=3), seed=5)
    write(out, "lstm-bidirectional", RNNModel("LSTM", v, 6, 5, 1, bidirectional=True), seed=7)
    write(out, "lstm-no-bias", RNNModel("LSTM", v, 6, 5, 1, bias=False), seed=8)


if __name__ == "__main__":
    main()
