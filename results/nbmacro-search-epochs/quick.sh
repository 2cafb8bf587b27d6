#!/usr/bin/env bash
# NASC at one of this grid's 10 Mbit/s cells with `nasc search`'s own quick budget (8 supernet epochs on all 50,000
# CIFAR-10 training images, 2,000 held-out images to score the answer) instead of the grid's 12 epochs on 12,000:
# about 2.8x the image-epochs.
#   results/nbmacro-search-epochs/quick.sh OUT Q "SEEDS" [FLAGS...]   e.g. quick.sh runs/quick 0.5 "1"
set -euo pipefail
out=${1:?OUT}; q=${2:?Q}; seeds=${3:?SEEDS}; shift 3
source "$(dirname "$0")/../nbmacro-search.sh"
T=$(nbmacro_threshold nbmacro-search-epochs "$q")
for seed in $seeds; do
  [ -f "$out/seed$seed/search.json" ] || nbmacro_search "$out/seed$seed" "$seed" "$T" --budget quick "$@"
done
