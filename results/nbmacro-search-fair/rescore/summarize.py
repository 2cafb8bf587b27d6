#!/usr/bin/env python3
"""Regret of each rescore run's answer had it rescored 0, 16 or 64 candidates (the first K+1 of search.json's
"rescored" list: the mode first, then theta's feasible samples in draw order), judged by the truth table.
   results/nbmacro-search-fair/rescore/summarize.py RUNS [--csv FILE]"""
import csv, json, statistics, sys
from pathlib import Path

OPS = {"skip": "0", "k3_e3": "1", "k5_e6": "2"}
runs = Path(sys.argv[1])
truth = json.loads(Path(__file__).resolve().parents[3].joinpath("truth/nas-bench-macro-cifar10.json").read_text())
acc = lambda arch: truth["".join(OPS[o] for o in arch.split(","))]["mean_acc"]

rows = []
for f in sorted(runs.glob("e*/bw*/f*/seed*/search.json")):
    r = json.loads(f.read_text())
    epochs, bw, frac = f.parts[-5], f.parts[-4], f.parts[-3]
    cands, best = r["rescored"], r["truth"]["best_true_acc"]
    row = {"epochs": epochs[1:], "bandwidth_mbps": bw[2:], "fraction": frac[1:], "seed": r["seed"],
           "supernet_val_acc": r["supernet_val_acc"], "search_s": round(r["timings"]["search_seconds"], 1)}
    for k in (0, 16, 64):
        pick = max(cands[:k + 1], key=lambda c: c["supernet_val_acc"])
        row["regret_rescore%d" % k] = round(best - acc(pick["arch"]), 2)
    row["regret_best_candidate"] = round(best - max(acc(c["arch"]) for c in cands), 2)
    row["candidates"] = len(cands)
    rows.append(row)

if "--csv" in sys.argv:
    with open(sys.argv[sys.argv.index("--csv") + 1], "w", newline="") as out:
        w = csv.DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

cols = ["regret_rescore0", "regret_rescore16", "regret_rescore64", "regret_best_candidate"]
print("| epochs | link | f | " + " | ".join(c.replace("regret_", "") for c in cols) + " |")
print("|---|---|---|" + "---|" * len(cols))
groups = {}
for r in rows:
    groups.setdefault((int(r["epochs"]), -float(r["bandwidth_mbps"]), r["fraction"]), []).append(r)
for (e, bw, frac), rs in sorted(groups.items()):
    cells = []
    for c in cols:
        v = [r[c] for r in sorted(rs, key=lambda r: r["seed"])]
        mean = " (%.2f ± %.2f)" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else ""
        cells.append(" / ".join("%.2f" % x for x in v) + mean)
    print("| %d | %g Mbit/s | %s | %s |" % (e, -bw, frac, " | ".join(cells)))
