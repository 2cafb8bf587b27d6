#!/usr/bin/env bash
# The search options nasc search still offered beside its defaults, each on its own, at the 10 Mbit/s q = 0.5 cell
# of the quantile grid (configs/nbmacro-search-quantiles.json: T = 19.392 ms, 6 supernet epochs on a stratified
# 12,000 CIFAR-10 images, 2,000 held-out images, fair paths, feasible ranking), judged by the NAS-Bench-Macro table.
#   results/nbmacro-options/run.sh OUT "SEEDS" ["NAMES"]   e.g. run.sh runs/options "1"; run.sh runs/options "2 3" fill0.9
# NAMES: only these variants (default, fill0.9); all when left out. The committed rescore16 and shared-kernels runs
# were made with this script at commit bf77d02, the sandwich and theta-batch512 runs at b9cdb98, before those
# options were removed. Each search keeps its checkpoint in OUT, so the selection option --fill-budget is chosen
# again from the default search's checkpoint without training (--resume).
set -euo pipefail
out=${1:?OUT}; seeds=${2:?SEEDS}; names=${3:-default fill0.9}
source "$(dirname "$0")/../nbmacro-search.sh"
# T is the grid's own threshold for the cell (its 0.5 quantile of the space's latency at 10 Mbit/s, 19.392 ms).
T=$(nbmacro_threshold nbmacro-search-quantiles 0.5)
[[ " $names " == *" fill0.9 "* ]] && names="$names default"  # it needs the default's checkpoint
search() {  # NAME SEED FLAGS...
  local name=$1 seed=$2; shift 2
  [[ " $names " == *" $name "* ]] || return 0
  local dir=$out/$name/seed$seed
  [ -f "$dir/search.json" ] && [ "${1:-}" != --resume ] && return 0
  nbmacro_search "$dir" "$seed" "$T" --epochs 6 "${nbmacro_grid_recipe[@]}" "$@"
}
for seed in $seeds; do
  search default "$seed" --fill-budget 0  # the default before 0.9 became it
  for v in "fill0.9|--fill-budget 0.9"; do  # chosen again from default's checkpoint
    name=${v%%|*}
    [[ " $names " == *" $name "* ]] || continue
    [ -f "$out/$name/seed$seed/search.json" ] && continue
    mkdir -p "$out/$name"; rm -rf "$out/$name/seed$seed"; cp -r "$out/default/seed$seed" "$out/$name/seed$seed"
    search "$name" "$seed" --resume ${v#*|}
  done
done
