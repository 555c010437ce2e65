#!/usr/bin/env python3
"""Training speed of PyTorch's word_language_model setup (Embedding → nn.LSTM
or nn.GRU → Linear, SGD, clipping, truncated BPTT with the state carried),
in tokens per second, for comparison with `irnn train lm` on the same shapes.

Usage: pytorch_lm_speed.py --data DIR --cell lstm --layers 2 --hidden 200
       --batch 20 --bptt 35 --windows 60 --threads 2
"""
import argparse
import time

import torch
import torch.nn as nn


def load_ptb(path):
    vocab, ids = {}, []
    with open(path) as f:
        for line in f:
            for w in line.split() + ["<eos>"]:
                ids.append(vocab.setdefault(w, len(vocab)))
    return torch.tensor(ids, dtype=torch.long), len(vocab)


class Model(nn.Module):
    def __init__(self, cell, vocab, hidden, layers):
        super().__init__()
        self.encoder = nn.Embedding(vocab, hidden)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(hidden, hidden, layers)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        out, state = self.rnn(self.encoder(x), state)
        return self.decoder(out), state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--windows", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    data, vocab = load_ptb(a.data.rstrip("/") + "/ptb.train.txt")
    n = data.size(0) // a.batch
    data = data[: n * a.batch].view(a.batch, n).t().contiguous()
    model = Model(a.cell, vocab, a.hidden, a.layers)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss_fn = nn.CrossEntropyLoss()
    state = None
    start = time.perf_counter()
    for w in range(a.windows):
        i = w * a.bptt
        x, y = data[i : i + a.bptt], data[i + 1 : i + 1 + a.bptt]
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        opt.zero_grad()
        logits, state = model(x, state)
        loss = loss_fn(logits.view(-1, vocab), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    secs = time.perf_counter() - start
    tokens = a.windows * a.bptt * a.batch
    print(f"pytorch {torch.__version__}: {tokens} tokens in {secs:.2f} s = {tokens / secs:.0f} tokens/s")


if __name__ == "__main__":
    main()
