#!/usr/bin/env bash
# The free answers (largest-feasible, max-flops-feasible: no training, judged by the NAS-Bench-Macro truth) for a
# Raspberry Pi 4 -> Titan RTX pair over a recorded uplink, searched two ways at each threshold T:
#   static: for the trace's mean bandwidth (what a user without the trace would do), then measured over the trace;
#   aware:  with --link-trace TRACE --latency-quantile Q (each split's uplink priced at the trace's Q-quantile).
# Writes one row per (trace, T, strategy, way) to OUT/summary.csv.
#   results/trace-search/run.sh TRACES_DIR OUT [Q]
# Environment: TRACE_FILES, THRESHOLDS and STRATEGIES (space-separated) narrow the grid; SEARCH_ARGS is added to
# every search (a trained strategy needs --data and its budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
TRACES=${1:?usage: run.sh TRACES_DIR OUT [Q]}
OUT=${2:?usage: run.sh TRACES_DIR OUT [Q]}
Q=${3:-0.95}
mkdir -p "$OUT"
COMMON=(--space nbmacro --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json
        --delay 5 --encoding int8 --min-device-blocks 1 --truth truth/nas-bench-macro-cifar10.json)
echo "trace,mean_mbps,threshold_ms,strategy,way,arch,split,true_acc,regret,priced_ms,p50_ms,p95_ms,q_ms,share_within" > "$OUT/summary.csv"
for trace in ${TRACE_FILES:-TMobile-LTE-short.up ATT-LTE-driving-2016.up}; do
  TR=$TRACES/$trace
  # The trace's mean bandwidth, as nasc latency reports it.
  MEAN=$(build/nasc latency "${COMMON[@]:0:12}" --arch 00000000 --split best --link-trace "$TR" --json |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["trace"]["mean_mbps"])')
  for T in ${THRESHOLDS:-10 12 14 16 18 20 25}; do
    for s in ${STRATEGIES:-largest-feasible max-flops-feasible}; do
      for way in static aware; do
        dir=$OUT/${trace%.up}/T$T/$s/$way
        mkdir -p "$(dirname "$dir")"
        extra=(--bandwidth "$MEAN")
        [ $way = aware ] && extra+=(--link-trace "$TR" --latency-quantile "$Q")
        if ! build/nasc search "${COMMON[@]}" "${extra[@]}" ${SEARCH_ARGS:-} --strategy $s --max-latency $T --out "$dir" > "$dir.log" 2>&1; then
          echo "$trace,$MEAN,$T,$s,$way,,,,,,,,,(no network meets T: $(tail -1 "$dir.log" | cut -c1-80 | tr , ' '))" >> "$OUT/summary.csv"
          continue
        fi
        arch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["arch"])' "$dir/search.json")
        split=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["split"])' "$dir/search.json")
        build/nasc latency "${COMMON[@]:0:12}" --bandwidth "$MEAN" --arch "$arch" --split all --link-trace "$TR" \
          --max-latency $T --json > "$dir/over-trace.json"
        python3 - "$dir/search.json" "$dir/over-trace.json" "$trace" "$MEAN" "$T" "$s" "$way" "$Q" >> "$OUT/summary.csv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); o = json.load(open(sys.argv[2]))
trace, mean, T, s, way, q = sys.argv[3:9]
row = [x for x in o["splits"] if x["split"] == r["split"]][0]
qms = r["link_trace"]["measured_quantile_ms"] if "link_trace" in r else ""
print(",".join(str(v) for v in [trace, mean, T, s, way, '"' + r["arch"] + '"', r["split"], r["truth"]["true_acc"],
      round(r["truth"]["regret"], 3), round(r["latency"]["total_ms"], 3), round(row["p50_ms"], 3),
      round(row["p95_ms"], 3), qms if qms == "" else round(qms, 3), row["share_within"]]))
PY
      done
    done
  done
done
echo "rows in $OUT/summary.csv"
