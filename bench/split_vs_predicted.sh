#!/usr/bin/env bash
# Measured against predicted end-to-end latency of a real split deployment: trains (or reuses) a small fmnist
# network, exports it at a split, serves the tail on loopback and runs the head through emulated 1, 10 and
# 100 Mbit/s links, printing measured median total, predicted total and their ratio per link. The two processes
# talk TLS 1.3 with mutual authentication (certificates from scripts/make-certs.sh in WORK_DIR/certs); TLS=0
# runs them in plaintext instead.
# Run: bench/split_vs_predicted.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, runs/bench-split)
set -euo pipefail
BUILD=${1:-build}
WORK=${2:-runs/bench-split}
NASC=$BUILD/nasc
SPLIT=${SPLIT:-5}
LIMIT=${LIMIT:-300}
DELAY=${DELAY:-5}
PORT=${PORT:-19473}
TLS=${TLS:-1}

mkdir -p "$WORK"
if [ ! -f "$WORK/train/result.json" ]; then
  "$NASC" train --space fmnist --data fmnist --epochs 1 --train-limit 10000 --out "$WORK/train" >/dev/null
fi
rm -rf "$WORK/export"
"$NASC" export --from "$WORK/train" --split "$SPLIT" --encoding int8 --bandwidth 10 --delay "$DELAY" \
  --device-profile profiles/cpu1-fmnist.json --server-profile profiles/cpu2-fmnist.json --out "$WORK/export" >/dev/null

SECURE=()
if [ "$TLS" = 1 ]; then
  [ -f "$WORK/certs/device.crt" ] || "$(dirname "$0")/../scripts/make-certs.sh" "$WORK/certs" >/dev/null
  SECURE=(--tls "$WORK/certs")
fi
"$NASC" serve --model "$WORK/export" --listen 127.0.0.1:$PORT --device cpu --threads 1 "${SECURE[@]}" \
  >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q serving "$WORK/serve.log" && break; sleep 0.1; done

[ "$TLS" = 1 ] && echo "link: TLS 1.3, mutual authentication" || echo "link: plaintext"
printf "%-10s %12s %12s %12s %8s %9s\n" "link" "payload B" "measured ms" "predicted ms" "ratio" "accuracy"
for bw in 1 10 100; do
  "$NASC" client --model "$WORK/export" --server 127.0.0.1:$PORT --limit "$LIMIT" --bandwidth $bw --delay "$DELAY" \
    "${SECURE[@]}" --json 2>/dev/null >"$WORK/client-$bw.json"
  python3 - "$WORK/client-$bw.json" "$bw" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); m = r["measured"]; p = r["predicted"]
print("%-10s %12d %12.3f %12.3f %8.3f %8.2f%%" % (sys.argv[2] + " Mbit/s", m["payload_bytes"], m["total"]["median_ms"],
      p["total_ms"], m["total"]["median_ms"] / p["total_ms"], 100 * m["accuracy"]))
EOF
done
