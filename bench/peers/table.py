#!/usr/bin/env python3
"""Merge `irnn bench --tsv` and peers.py output into one markdown table."""
import csv
import sys

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        rows += list(csv.DictReader(f, delimiter="\t"))
irnn = {(r["cell"], r["hidden"], r["batch"]): float(r["median_us"])
        for r in rows if r["runtime"] == "irnn-int8"}
order = ["irnn-int8", "irnn-f32", "pytorch-fp32", "pytorch-fp32-native", "pytorch-dynamic-int8",
         "onnxruntime-fp32", "onnxruntime-int8"]
print("| cell | H | batch | runtime | µs/step median (min–max) | × irnn int8 | bytes |")
print("|---|---:|---:|---|---|---:|---:|")
key = lambda r: (r["cell"] != "lstm", int(r["hidden"]), int(r["batch"]), order.index(r["runtime"]))
for r in sorted(rows, key=key):
    base = irnn.get((r["cell"], r["hidden"], r["batch"]))
    med = float(r["median_us"])
    ratio = f"{med / base:.2f}×" if base else "-"
    print(f"| {r['cell']} | {r['hidden']} | {r['batch']} | {r['runtime']} | "
          f"{med:.1f} ({float(r['min_us']):.1f}–{float(r['max_us']):.1f}) | {ratio} | {int(r['bytes']):,} |")
