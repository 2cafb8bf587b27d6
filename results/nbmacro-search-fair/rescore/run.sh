#!/usr/bin/env bash
# The grid's NASC searches again, at EPOCHS supernet epochs, each rescoring its answer and 64 feasible samples of
# theta on the 2,000 held-out images (search.json's "rescored": the mode first, then the samples in draw order, so
# summarize.py judges rescore 0, 16 and 64 from one run). Thresholds: the grid's own (grid/results.csv).
#   results/nbmacro-search-fair/rescore/run.sh OUT EPOCHS "CELLS" "SEEDS"
#   e.g. run.sh runs/rescore 3 "bw100/f0.5 bw10/f0.5" "1 2 3"
set -euo pipefail
out=${1:?OUT}; epochs=${2:?EPOCHS}; cells=${3:?CELLS}; seeds=${4:?SEEDS}
nasc=${NASC:-build/nasc}
declare -A T=([bw10/f0.3]=10.798360921772197 [bw10/f0.5]=14.696167827751209 [bw10/f0.7]=18.59397473373022
              [bw100/f0.3]=6.842071317671687 [bw100/f0.5]=8.102351820917026 [bw100/f0.7]=9.362632324162364)
for seed in $seeds; do
  for cell in $cells; do
    dir=$out/e$epochs/$cell/seed$seed
    [ -f "$dir/search.json" ] && continue
    bw=${cell%%/*}; bw=${bw#bw}
    "$nasc" search --space nbmacro --data folder:data/cifar10 --truth truth/nas-bench-macro-cifar10.json \
      --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
      --bandwidth "$bw" --delay 5 --encoding int8 --min-device-blocks 1 --max-latency "${T[$cell]}" \
      --epochs "$epochs" --train-limit 12000 --eval-limit 2000 --rescore 64 --seed "$seed" --threads 2 \
      --out "$dir"
  done
done
