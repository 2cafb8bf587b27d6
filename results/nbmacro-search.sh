# Sourced by the NAS-Bench-Macro study scripts (nbmacro-options/run.sh, nbmacro-search-epochs/reselect.sh and
# quick.sh): the `nasc search` command line of their cell, Pi 4 -> Titan RTX at 10 Mbit/s with 5 ms of delay, int8,
# privacy floor 1, 2 threads, judged by the NAS-Bench-Macro table; the caller gives the threshold and the recipe.
#   nbmacro_search DIR SEED T FLAGS...   writes DIR/search.json and DIR.log; NASC picks the binary (build/nasc)
nbmacro_search() {
  local dir=$1 seed=$2 T=$3; shift 3
  mkdir -p "$dir"
  "${NASC:-build/nasc}" search --space nbmacro --data folder:data/cifar10 --truth truth/nas-bench-macro-cifar10.json \
    --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
    --bandwidth 10 --delay 5 --encoding int8 --min-device-blocks 1 --max-latency "$T" \
    --seed "$seed" --threads 2 "$@" --out "$dir" > "$dir.log" 2>&1
}
# The NASC runs of one 10 Mbit/s quantile cell of a committed grid, e.g. nbmacro_cell nbmacro-search-epochs 0.5.
nbmacro_cell() {  # GRID Q
  echo "results/$1/runs/pi4-titanrtx/floor1/bw10/q$2/nasc"
}
# The threshold T, in ms, of that cell, as its seed-1 search.json records it.
nbmacro_threshold() {  # GRID Q
  python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["max_latency_ms"]))' "$(nbmacro_cell "$1" "$2")/seed1/search.json"
}
# The grids' recipe: a stratified 12,000 CIFAR-10 training images, 2,000 held-out ones to score the answer.
nbmacro_grid_recipe=(--train-limit 12000 --eval-limit 2000)
