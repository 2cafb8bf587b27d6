#!/usr/bin/env bash
# The search options nasc search still offered beside its defaults, each on its own, at the 10 Mbit/s q = 0.5 cell
# of the quantile grid (configs/nbmacro-search-quantiles.json: T = 19.392 ms, 6 supernet epochs on a stratified
# 12,000 CIFAR-10 images, 2,000 held-out images, fair paths, feasible ranking), judged by the NAS-Bench-Macro table.
#   results/nbmacro-options/run.sh OUT "SEEDS" ["NAMES"]   e.g. run.sh runs/options "1"; run.sh runs/options "2 3" sandwich
# NAMES: only these variants (default, fill0.9, sandwich, theta-batch512); all when left out. The committed
# rescore16 and shared-kernels runs were made with this script at commit bf77d02, before --rescore and
# --shared-kernels were removed. Each search keeps its checkpoint in OUT, so the selection option --fill-budget is
# chosen again from the default search's checkpoint without training (--resume).
set -euo pipefail
out=${1:?OUT}; seeds=${2:?SEEDS}; names=${3:-default fill0.9 sandwich theta-batch512}
nasc=${NASC:-build/nasc}
# T is the grid's own threshold for the cell (its 0.5 quantile of the space's latency at 10 Mbit/s, 19.392 ms).
T=$(python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["max_latency_ms"]))' \
  results/nbmacro-search-quantiles/runs/pi4-titanrtx/floor1/bw10/q0.5/nasc/seed1/search.json)
[[ " $names " == *" fill0.9 "* ]] && names="$names default"  # it needs the default's checkpoint
search() {  # NAME SEED FLAGS...
  local name=$1 seed=$2; shift 2
  [[ " $names " == *" $name "* ]] || return 0
  local dir=$out/$name/seed$seed
  [ -f "$dir/search.json" ] && [ "${1:-}" != --resume ] && return 0
  mkdir -p "$dir"
  "$nasc" search --space nbmacro --data folder:data/cifar10 --truth truth/nas-bench-macro-cifar10.json \
    --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
    --bandwidth 10 --delay 5 --encoding int8 --min-device-blocks 1 --max-latency "$T" \
    --epochs 6 --train-limit 12000 --eval-limit 2000 --seed "$seed" --threads 2 "$@" --out "$dir" \
    > "$dir.log" 2>&1
}
for seed in $seeds; do
  search default "$seed"
  for v in "fill0.9|--fill-budget 0.9"; do  # chosen again from default's checkpoint
    name=${v%%|*}
    [[ " $names " == *" $name "* ]] || continue
    [ -f "$out/$name/seed$seed/search.json" ] && continue
    mkdir -p "$out/$name"; rm -rf "$out/$name/seed$seed"; cp -r "$out/default/seed$seed" "$out/$name/seed$seed"
    search "$name" "$seed" --resume ${v#*|}
  done
  search sandwich "$seed" --sandwich
  search theta-batch512 "$seed" --theta-batch-size 512
done
