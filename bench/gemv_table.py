#!/usr/bin/env python3
"""Print the GEMV benchmark as a markdown table, from criterion's saved
medians (target/criterion/<group>/<function>/<param>/new/estimates.json).

Run after: cargo bench -p irnn-train --bench gemv
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = []
for group in sorted(root.glob("gemv_*")):
    m = re.match(r"gemv_(\d+)x(\d+)_batch(\d+)", group.name)
    if not m:
        continue
    r, c, b = map(int, m.groups())
    macs = r * c * b
    medians = {}
    for est in group.glob("*/*/new/estimates.json"):
        name = f"{est.parts[-4]}/{est.parts[-3]}"
        medians[name] = json.loads(est.read_text())["median"]["point_estimate"] / 1e3  # µs
    rows.append((r, c, b, macs, medians))

rows.sort(key=lambda x: (x[2], x[0] * x[1]))
print("| shape (rows×cols, batch) | kernel | median µs | GMAC/s | f32 best / this |")
print("|---|---|---:|---:|---:|")
for r, c, b, macs, med in rows:
    f32_best = min(v for k, v in med.items() if k.startswith("f32/"))
    for name in sorted(med, key=lambda k: med[k]):
        us = med[name]
        print(f"| {r}×{c}, {b} | {name} | {us:.1f} | {macs / us / 1e3:.1f} | {f32_best / us:.2f}× |")
