#!/bin/bash
# The weight-path study of results/nbmacro-search-fair: NASC with feasible sampling and each way of training the
# weights, at the two f = 0.5 cells of configs/nbmacro-truth.json (same thresholds, hardware, budget), judged by the
# truth. Run from the repository root: results/nbmacro-search-fair/weight-paths/run.sh OUT_DIR SEEDS...
# fs-theta is what results/nbmacro-search ran through the experiment (the same searches, seeds and thresholds).
set -euo pipefail
out=${1:?usage: run.sh OUT_DIR SEED...}; shift
mkdir -p "$out"
run() {  # name flags bandwidth threshold seed
  local dir=$out/$1-bw$3-s$5 extra=""
  [ -f "$dir/search.json" ] && return
  case $1 in *-rescore16)  # the same search, chosen from again: resumed from its checkpoint
    rm -rf "$dir"; cp -r "$out/${1%-rescore16}-bw$3-s$5" "$dir"; rm -f "$dir/search.json"; extra=--resume;; esac
  build/nasc search --space nbmacro --data folder:data/cifar10 --truth truth/nas-bench-macro-cifar10.json \
    --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
    --bandwidth "$3" --delay 5 --encoding int8 --min-device-blocks 1 --epochs 3 --train-limit 12000 \
    --eval-limit 2000 --seed "$5" --threads 2 --max-latency "$4" --strategy nasc $2 $extra --out "$dir" \
    > "$dir.log" 2>&1
}
for seed in "$@"; do
  for v in "fs-theta|--ranking feasible --weight-paths theta" \
           "fs-fair|--ranking feasible --weight-paths fair" "fs-fair-rescore16|--ranking feasible --weight-paths fair --rescore 16"; do
    # fs-zir (--zero-init-residual), fs-warmup1 (--warmup-epochs 1) and fs-uniform(-rescore16) (--weight-paths
    # uniform) were run too; the options are removed since (no gain over their base); their rows stay in summary.csv.
    run "${v%%|*}" "${v#*|}" 100 8.161064506 "$seed"
    run "${v%%|*}" "${v#*|}" 10 13.18462384 "$seed"
  done
done
