#!/usr/bin/env python3
"""Print the recurrent-step benchmark as a markdown table from criterion's
saved medians. Run after: cargo bench -p irnn-train --bench step"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
print("| H | cell | implementation | median µs | f32 / int8 |")
print("|---:|---|---|---:|---:|")
for group in sorted(root.glob("step_H*"), key=lambda p: int(p.name[6:])):
    h = int(group.name[6:])
    for cell in ("lstm", "gru"):
        med = {}
        for est in (group / cell).glob("*/new/estimates.json"):
            med[est.parts[-3]] = json.loads(est.read_text())["median"]["point_estimate"] / 1e3
        for impl in sorted(med, key=lambda k: med[k]):
            # Names end in -b<batch>; compare with the f32 step of that batch
            # (older runs have no suffix).
            batch = impl.rsplit("-b", 1)[1] if "-b" in impl else None
            f32 = med.get(f"f32-gemm-b{batch}" if batch else "f32-gemm")
            ratio = f"{f32 / med[impl]:.2f}×" if f32 else "-"
            print(f"| {h} | {cell.upper()} | {impl} | {med[impl]:.1f} | {ratio} |")
