#!/usr/bin/env bash
# The 12-epoch NASC searches of this grid's 10 Mbit/s q = 0.5 cell again as stand-alone `nasc search` runs that keep
# their checkpoints (the grid deletes them), then the answer chosen again from each checkpoint (--resume, no training)
# with --rescore K: the mode and K feasible samples of theta scored by held-out loss.
# --rescore was removed after this study (2026-12-07): run it with NASC=path/to/nasc built at commit bf77d02.
#   results/nbmacro-search-epochs/rescore.sh OUT "SEEDS" "KS"   e.g. rescore.sh runs/e12 "1 2 3" "16 64"
# The searches are deterministic on one CPU, so each seed's checkpoint is the grid run's (same answer, checked below).
set -euo pipefail
out=${1:?OUT}; seeds=${2:?SEEDS}; ks=${3:?KS}
nasc=${NASC:-build/nasc}
grid=results/nbmacro-search-epochs/runs/pi4-titanrtx/floor1/bw10/q0.5/nasc
T=$(python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["max_latency_ms"]))' "$grid/seed1/search.json")
search() {  # DIR SEED FLAGS...
  local dir=$1 seed=$2; shift 2
  mkdir -p "$dir"
  "$nasc" search --space nbmacro --data folder:data/cifar10 --truth truth/nas-bench-macro-cifar10.json \
    --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
    --bandwidth 10 --delay 5 --encoding int8 --min-device-blocks 1 --max-latency "$T" \
    --epochs 12 --train-limit 12000 --eval-limit 2000 --seed "$seed" --threads 2 "$@" --out "$dir" > "$dir.log" 2>&1
}
for seed in $seeds; do
  [ -f "$out/seed$seed/search.json" ] || search "$out/seed$seed" "$seed"
  python3 - "$out/seed$seed/search.json" "$grid/seed$seed/search.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
if (a["arch"], a["split"]) != (b["arch"], b["split"]):
    sys.exit(f"{sys.argv[1]}: {a['arch']} at {a['split']}, the grid's run found {b['arch']} at {b['split']} (another CPU?)")
PY
  for k in $ks; do
    d=$out/rescore$k/seed$seed
    [ -f "$d/search.json" ] && continue
    rm -rf "$d"; mkdir -p "$(dirname "$d")"; cp -r "$out/seed$seed" "$d"
    search "$d" "$seed" --resume --rescore "$k"
  done
done
