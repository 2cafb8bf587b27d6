#!/usr/bin/env bash
# The 12-epoch NASC searches of one of this grid's 10 Mbit/s cells again as stand-alone `nasc search` runs that keep
# their checkpoints (the grid deletes them), then the answer chosen again from each checkpoint (--resume, no training)
# with a selection option (FLAGS: give --fill-budget too, else the answer is chosen with nasc search's default 0.9).
#   results/nbmacro-search-epochs/reselect.sh OUT Q "SEEDS" NAME FLAGS...
#   e.g. reselect.sh runs/e12-q0.75 0.75 "2 3" fill0.9 --fill-budget 0.9
# The rescore study (reselect.sh runs/e12 0.5 "1 2 3" rescore16 --rescore 16, and 64) needs NASC=path/to/nasc built
# at commit bf77d02: --rescore was removed after it.
# The searches are deterministic on one CPU, so each seed's checkpoint is the grid run's (same answer, checked below).
set -euo pipefail
out=${1:?OUT}; q=${2:?Q}; seeds=${3:?SEEDS}; name=${4:?NAME}; shift 4
source "$(dirname "$0")/../nbmacro-search.sh"
grid=$(nbmacro_cell nbmacro-search-epochs "$q")
T=$(nbmacro_threshold nbmacro-search-epochs "$q")
search() { nbmacro_search "$1" "$2" "$T" --epochs 12 "${nbmacro_grid_recipe[@]}" "${@:3}"; }  # DIR SEED FLAGS...
for seed in $seeds; do
  [ -f "$out/seed$seed/search.json" ] || search "$out/seed$seed" "$seed" --fill-budget 0  # as the grid
  python3 - "$out/seed$seed/search.json" "$grid/seed$seed/search.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
if (a["arch"], a["split"]) != (b["arch"], b["split"]):
    sys.exit(f"{sys.argv[1]}: {a['arch']} at {a['split']}, the grid's run found {b['arch']} at {b['split']} (another CPU?)")
PY
  d=$out/$name/seed$seed
  [ -f "$d/search.json" ] && continue
  rm -rf "$d"; mkdir -p "$(dirname "$d")"; cp -r "$out/seed$seed" "$d"
  search "$d" "$seed" --resume "$@"
done
