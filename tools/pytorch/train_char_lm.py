"""Trains a character language model in PyTorch, the way a user would, for
irnn's import pipeline figures (docs/RESULTS.md).

The model is word_language_model's (`encoder`, `rnn`, `decoder`). The data
is split the way irnn splits one file (90/5/5 by lines) and written as
train.txt / valid.txt / test.txt so both tools read the same splits; the
vocabulary is in order of first appearance in the training text (irnn's
order) and written as vocab.json. The test figure is computed as `irnn
eval` computes it: the test tokens cut into 10 streams, each run from the
zero state, every token predicting the next.

    python tools/pytorch/train_char_lm.py DATA.txt OUT_DIR --cell LSTM --layers 2 --hidden 256
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, cell, ntoken, ninp, nhid, nlayers, dropout):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, cell)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, state=None):
        out, state = self.rnn(self.drop(self.encoder(x)), state)
        return self.decoder(self.drop(out)), state


def tokens_of(text):
    """irnn's character tokens: each line's characters, then a line break."""
    out = []
    for line in text.split("\n")[: -1 if text.endswith("\n") else None]:
        out.extend(line)
        out.append("\n")
    return out


def detach(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def stream_nll(model, ids, streams=10):
    """Mean NLL (nats) of `ids` in `streams` streams from the zero state."""
    n = len(ids) // streams
    x = torch.tensor(ids[: n * streams]).view(streams, n).t()  # [n, streams]
    model.eval()
    with torch.no_grad():
        logits, _ = model(x[:-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[1:].reshape(-1))
    return loss.item()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("data")
    a.add_argument("out")
    a.add_argument("--cell", default="LSTM", choices=["LSTM", "GRU"])
    a.add_argument("--layers", type=int, default=2)
    a.add_argument("--hidden", type=int, default=256)
    a.add_argument("--embedding", type=int, default=64)
    a.add_argument("--epochs", type=int, default=3)
    a.add_argument("--batch", type=int, default=32)
    a.add_argument("--bptt", type=int, default=100)
    a.add_argument("--lr", type=float, default=2e-3)
    a.add_argument("--dropout", type=float, default=0.1)
    a.add_argument("--seed", type=int, default=1)
    args = a.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = Path(args.data).read_text().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    t_end = max(1, min(len(lines), len(lines) * 90 // 100))
    v_end = max(t_end, len(lines) * 95 // 100)
    splits = {"train": lines[:t_end], "valid": lines[t_end:v_end], "test": lines[v_end:]}
    for name, part in splits.items():
        (out / f"{name}.txt").write_text("".join(l + "\n" for l in part))
    train_tokens = tokens_of((out / "train.txt").read_text())
    vocab = list(dict.fromkeys(train_tokens))
    (out / "vocab.json").write_text(json.dumps(vocab))
    index = {t: i for i, t in enumerate(vocab)}
    ids = {k: [index[t] for t in tokens_of((out / f"{k}.txt").read_text())] for k in splits}

    model = RNNModel(args.cell, len(vocab), args.embedding, args.hidden, args.layers, args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(ids["train"]) // args.batch
    data = torch.tensor(ids["train"][: n * args.batch]).view(args.batch, n).t()
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        state = None
        for i in range(0, n - 1, args.bptt):
            x, y = data[i : i + args.bptt], data[i + 1 : i + 1 + args.bptt]
            x = x[: len(y)]
            if state is not None:
                state = detach(state)
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        valid = stream_nll(model, ids["valid"])
        print(f"epoch {epoch + 1}: valid {valid / math.log(2):.4f} bpc ({time.time() - start:.0f} s)", flush=True)
    test = stream_nll(model, ids["test"])
    name = f"{args.cell.lower()}-{args.layers}x{args.hidden}"
    save_file(model.state_dict(), str(out / f"{name}.safetensors"))
    report = {"model": name, "test_bpc": test / math.log(2), "valid_bpc": valid / math.log(2),
              "torch": torch.__version__, "seconds": time.time() - start, "args": vars(args)}
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    print(f"{name}: PyTorch test {test / math.log(2):.4f} bpc; wrote {out / name}.safetensors")


if __name__ == "__main__":
    main()
