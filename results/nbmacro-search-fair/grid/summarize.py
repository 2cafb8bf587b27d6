#!/usr/bin/env python3
"""Regret per cell and strategy of a NAS-Bench-Macro grid, from its run folders (finished runs only); cells are
   threshold fractions (f0.5/) or quantiles (q0.5/).
   results/nbmacro-search-fair/grid/summarize.py [GRID_DIR]"""
import json, statistics, sys
from pathlib import Path

grid = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
cells = {}
for f in sorted(grid.glob("runs/*/floor*/bw*/[fq]*/*/seed*/search.json")):
    r = json.loads(f.read_text())
    bw, frac, strategy = f.parts[-5], f.parts[-4], r["strategy"]
    cells.setdefault((bw, frac), {}).setdefault(strategy, []).append(
        (r["seed"], r["truth"]["regret"], r["max_latency_ms"], r["truth"]["best_true_acc"]))
order = ["nasc", "random:8", "largest-feasible", "max-flops-feasible"]
print("| link | cell | T ms | best % | " + " | ".join(order) + " |")
print("|---|---|---|---|" + "---|" * len(order))
for (bw, frac), by in sorted(cells.items(), key=lambda kv: (float(kv[0][0][2:]), kv[0][1])):
    any_run = next(iter(by.values()))[0]
    row = [bw[2:] + " Mbit/s", frac[0] + " = " + frac[1:], "%.3f" % any_run[2], "%.2f" % any_run[3]]
    for s in order:
        runs = sorted(by.get(s, []))
        if not runs:
            row.append("-"); continue
        regs = [x[1] for x in runs]
        per = " / ".join("%.2f" % x for x in regs)
        if len(regs) > 1 and len(set(regs)) > 1:
            row.append("%s (%.2f ± %.2f)" % (per, statistics.mean(regs), statistics.stdev(regs)))
        elif len(regs) > 1:
            row.append("%s (%.2f)" % (per, regs[0]))
        else:
            row.append(per)
    print("| " + " | ".join(row) + " |")
