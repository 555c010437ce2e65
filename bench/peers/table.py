#!/usr/bin/env python3
"""Merge `irnn bench --tsv` and peers.py output into markdown tables: one for
the streaming mode (one step per call), one for the sequence mode (rows named
`-seq`: T steps per call, µs per step). Ratios are against irnn's int8 step
of the same mode and shape. `max |h − fp32|` is peers.py's `max_err`: an
int8 runtime's distance from its own fp32 model after 20 calls (irnn's rows
have none: its integer products are exact, tested bit-exact against the
scalar reference, and its f32 step is a different model).

    table.py [--header TEXT] FILE.tsv...
"""
import csv
import sys

args = sys.argv[1:]
header = None
if args[:1] == ["--header"]:
    header, args = args[1], args[2:]
rows = []
for path in args:
    with open(path) as f:
        rows += list(csv.DictReader(f, delimiter="\t"))
order = ["irnn-int8", "irnn-int4", "irnn-int8-2threads", "irnn-int4-2threads", "irnn-f32",
         "pytorch-fp32", "pytorch-fp32-native", "pytorch-dynamic-int8",
         "onnxruntime-fp32", "onnxruntime-int8", "onnxruntime-int8-precise"]


def mode(r):
    return "sequence" if r["runtime"].endswith("-seq") else "streaming"


def base_name(r):
    return r["runtime"].removesuffix("-seq")


def rank(name):
    # Runtimes this table does not know yet go last, in name order.
    return (order.index(name), "") if name in order else (len(order), name)


if header:
    print(header)
for m in ("streaming", "sequence"):
    part = [r for r in rows if mode(r) == m]
    if not part:
        continue
    irnn = {(r["cell"], r["hidden"], r["batch"]): float(r["median_us"])
            for r in part if base_name(r) == "irnn-int8"}
    title = ("Streaming: one step per call, state carried" if m == "streaming" else
             "Sequence mode: T steps per call (input product hoisted), µs per step")
    print(f"\n{title}\n")
    print("| cell | H | batch | runtime | µs/step median (min–max) | × irnn int8 | bytes "
          "| max \\|h − fp32\\| |")
    print("|---|---:|---:|---|---|---:|---:|---:|")
    key = lambda r: (r["cell"] != "lstm", int(r["hidden"]), int(r["batch"]), rank(base_name(r)))
    for r in sorted(part, key=key):
        base = irnn.get((r["cell"], r["hidden"], r["batch"]))
        med = float(r["median_us"])
        ratio = f"{med / base:.2f}×" if base else "-"
        print(f"| {r['cell']} | {r['hidden']} | {r['batch']} | {base_name(r)} | "
              f"{med:.1f} ({float(r['min_us']):.1f}–{float(r['max_us']):.1f}) | {ratio} | "
              f"{int(r['bytes']):,} | {r.get('max_err') or '-'} |")
